package prostiezvonki

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
	"github.com/pbxkit/pbxkit/provider"
)

// The capabilities a Client has. Prostie Zvonki has no recording, employee
// list or call-history API, so a Client implements none of
// pbx.RecordingFetcher, pbx.SubscriberLister and pbx.HistoryExporter.
var (
	_ pbx.Provider           = (*Client)(nil)
	_ pbx.Caller             = (*Client)(nil)
	_ provider.WebhookTester = (*Client)(nil)
)

// makeCallRequest is the makecall body: {"user":"100","phone":"89991234567"}.
type makeCallRequest struct {
	User  string `json:"user"`
	Phone string `json:"phone"`
}

// MakeCall asks Prostie Zvonki to ring the employee req.Extension and
// connect them with req.Phone (POST .../crmapi/v1/makecall with the
// X-API-KEY header).
//
// The phone is sent as digits only. The form 8XXXXXXXXXX of the spec's own
// example is kept as written; every other form is normalised by
// phone.Normalize ("+7 (999) 123-45-67" gives "79991234567"). Which form
// Prostie Zvonki prefers is not documented; both are Russian dialling forms.
//
// MakeCall rings a phone, so it is never retried once the request may have
// reached the service, and a redirect is never followed: it is a
// *provider.RedirectError naming where it pointed (configure that URL as
// BaseURL instead). It gives up after Config.Timeout (default 30 s) unless
// ctx ends earlier, also when the service stalls in the middle of its
// answer. A 4xx/5xx answer, or a 2xx whose JSON reports an error, gives a
// *provider.APIError with the service's text in Message (and in
// RetryAfter the wait a 429 or 503 asked for; MakeCall itself never waits
// and sends again); [UserMessage]
// turns any error into the text the spec wants shown to the user. The
// CallResult carries the call id when the answer has one (callid, call_id
// or uuid, as the ITooLabs family answers): in the family it is the callid
// the call's notifications carry, so events match it directly (OrderID
// stays empty). Prostie Zvonki's success body is not documented, and any
// 2xx without an error counts as success.
func (c *Client) MakeCall(ctx context.Context, req pbx.CallRequest) (pbx.CallResult, error) {
	const op = "makecall"
	if c.cfg.APIKey == "" {
		return pbx.CallResult{}, errors.New("prostiezvonki: makecall: Config.APIKey is empty")
	}
	ext := strings.TrimSpace(req.Extension)
	if ext == "" {
		return pbx.CallResult{}, errors.New("prostiezvonki: makecall: no extension to ring")
	}
	num, ok := dialNumber(req.Phone)
	if !ok {
		return pbx.CallResult{}, fmt.Errorf("prostiezvonki: makecall: %.40q is not a telephone number", req.Phone)
	}
	body, err := json.Marshal(makeCallRequest{User: ext, Phone: num})
	if err != nil {
		return pbx.CallResult{}, fmt.Errorf("prostiezvonki: makecall: %w", err)
	}
	a, err := c.post(ctx, op, c.makecallURL, provider.PolicyAction, body)
	if err != nil {
		return pbx.CallResult{}, err
	}
	return pbx.CallResult{CallID: a.callID}, nil
}

// dialNumber returns the digits to send for s, or false when s is not a
// telephone number.
func dialNumber(s string) (string, bool) {
	n := phone.Normalize(s)
	if n == "" {
		return "", false
	}
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return "", false
		}
	}
	if len(n) == 11 && n[0] == '7' && !strings.Contains(s, "+") {
		if i := strings.IndexAny(s, "0123456789"); i >= 0 && s[i] == '8' {
			return "8" + n[1:], true // the spec's own form, 89991234567
		}
	}
	return n, true
}
