package prostiezvonki

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/pbxkit/pbxkit/provider"
)

// Prostie Zvonki's API is makecall alone, which is the pbx.Caller method
// (capabilities.go); what is the vendor's own is the text its spec asks a
// CRM to show when a request fails.

// UserMessage returns the text the Prostie Zvonki spec asks to show the user
// when a request to the service fails:
//
//	При выполнении запроса к Простым звонкам произошла ошибка: [текст полученной ошибки]. Пожалуйста, обратитесь в поддержку Простых звонков.
//
// The error text is the service's own (APIError.Message), else the body
// excerpt, else the HTTP status text; for other errors, err.Error() (which
// never holds a secret). A nil err gives "".
func UserMessage(err error) string {
	if err == nil {
		return ""
	}
	var text string
	var ae *provider.APIError
	if errors.As(err, &ae) {
		switch {
		case ae.Message != "":
			text = ae.Message
		case ae.Body != "":
			text = ae.Body
		default:
			text = fmt.Sprintf("HTTP %d %s", ae.StatusCode, http.StatusText(ae.StatusCode))
		}
	} else {
		text = err.Error()
	}
	text = strings.TrimRight(strings.TrimSpace(text), ".")
	return "При выполнении запроса к Простым звонкам произошла ошибка: " + text +
		". Пожалуйста, обратитесь в поддержку Простых звонков."
}
