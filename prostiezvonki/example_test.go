package prostiezvonki_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/prostiezvonki"
	"github.com/pbxkit/pbxkit/prostiezvonki/prostiezvonkitest"
	"github.com/pbxkit/pbxkit/provider"
)

// Open the provider by DSN, serve its webhook, and let the fake Prostie
// Zvonki service play an incoming call that the router sends to the
// client's manager.
func Example() {
	fake := prostiezvonkitest.NewServer(prostiezvonkitest.Options{})
	defer fake.Close()

	// In production: "prostiezvonki://:APIKEY@/?crm_token=T".
	p, err := provider.Open(fake.DSN())
	if err != nil {
		log.Fatal(err)
	}
	events := pbx.EventHandlerFunc(func(_ context.Context, e pbx.CallEvent) error {
		fmt.Println(e.Type, e.Direction, e.Phone, "ext", e.Extension, e.Outcome)
		return nil
	})
	router := pbx.RouterFunc(func(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) {
		if q.Phone == "79991234567" {
			return pbx.Route{Extension: "101", DisplayName: "ООО Альфа"}, nil
		}
		return pbx.Route{}, nil // no decision
	})
	crm := httptest.NewServer(p.WebhookHandler(events, router))
	defer crm.Close()

	res, err := fake.Play(context.Background(), crm.URL, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, Caller: "89991234567"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("smart transfer to", res.Route.Extension)
	// Output:
	// ringing inbound 79991234567 ext 101 unknown
	// answered inbound 79991234567 ext 101 unknown
	// call_ended inbound 79991234567 ext 101 answered
	// smart transfer to 101
}

// Place a call ("click to call") through the fake service.
func ExampleClient_MakeCall() {
	fake := prostiezvonkitest.NewServer(prostiezvonkitest.Options{})
	defer fake.Close()

	c, err := prostiezvonki.New(fake.Config())
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.MakeCall(context.Background(), pbx.CallRequest{Extension: "101", Phone: "8 (999) 123-45-67"}); err != nil {
		log.Fatal(prostiezvonki.UserMessage(err))
	}
	req := fake.Requests()[0]
	fmt.Println(req.Method, req.Path, string(req.Body))
	// Output:
	// POST /httpapiinteg/crmapi/v1/makecall {"user":"101","phone":"89991234567"}
}

// Answer a smart-transfer question: the handler asks the router and writes
// the answer Prostie Zvonki expects.
func ExampleClient_WebhookHandler() {
	c, err := prostiezvonki.New(prostiezvonki.Config{CRMToken: "token123"})
	if err != nil {
		log.Fatal(err)
	}
	router := pbx.RouterFunc(func(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) {
		return pbx.Route{Extension: "100"}, nil
	})
	h := c.WebhookHandler(nil, router)

	body := `{"cmd": "contact", "phone": "89991234567", "crm_token": "token123"}`
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/prostiezvonki/hs/", strings.NewReader(body)))
	fmt.Println(w.Code, w.Body.String())

	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/prostiezvonki/hs/", strings.NewReader(strings.Replace(body, "token123", "guess", 1))))
	fmt.Println(w.Code, w.Body.String())
	// Output:
	// 200 {"responsible":"100"}
	// 401 {"error":"Invalid token"}
}

// Show the user the text the spec asks for when makecall fails.
func ExampleUserMessage() {
	err := error(&provider.APIError{Provider: "prostiezvonki", Operation: "makecall", StatusCode: 400, Message: "Пользователь не найден"})
	fmt.Println(prostiezvonki.UserMessage(err))
	fmt.Println(errors.Is(err, provider.ErrUnauthorized))
	// Output:
	// При выполнении запроса к Простым звонкам произошла ошибка: Пользователь не найден. Пожалуйста, обратитесь в поддержку Простых звонков.
	// false
}

// Check a deployed receiver: build the notification Prostie Zvonki would
// send, with the client's own token, and send it.
func ExampleClient_WebhookTestRequest() {
	c, err := prostiezvonki.New(prostiezvonki.Config{CRMToken: "token123"})
	if err != nil {
		log.Fatal(err)
	}
	events := pbx.EventHandlerFunc(func(_ context.Context, e pbx.CallEvent) error {
		fmt.Println(e.Type, e.Direction, e.Phone, "ext", e.Extension, e.CallID)
		return nil
	})
	receiver := httptest.NewServer(c.WebhookHandler(events, nil))
	defer receiver.Close()

	req, err := c.WebhookTestRequest(context.Background(), receiver.URL+"/pbx/prostiezvonki", "test-1")
	if err != nil {
		log.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output:
	// ringing inbound 79990000000 ext 100 test-1
	// 200
}
