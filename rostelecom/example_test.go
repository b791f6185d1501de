package rostelecom_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/rostelecom"
	"github.com/pbxkit/pbxkit/rostelecom/rostelecomtest"
)

// The manual's own example: the signature of a call_back body.
func ExampleSign() {
	body := []byte(`{"request_number": "+74951234567","from_sipuri": "test_user@cloudpbx.rt.ru"}`)
	fmt.Println(rostelecom.Sign("000003C405E6525C64C184258C44EC99", body, "00000716ABDA6D4DFF10F82BCBBFC532"))
	// Output: fc95a524342dc68df90f7488e6d821c5a8a3b667d585490b50ebf939f1202c36
}

// A webhook that routes callers to their manager, fed by the fake PBX
// (whose users are pbxkit's seeded staff: PINs 101, 102, 103).
func ExampleClient_WebhookHandler() {
	fake := rostelecomtest.NewServer(rostelecomtest.Options{})
	defer fake.Close()
	client, err := rostelecom.New(fake.Config())
	if err != nil {
		log.Fatal(err)
	}
	events := pbx.EventHandlerFunc(func(_ context.Context, e pbx.CallEvent) error {
		fmt.Printf("%s %s phone=%s ext=%s\n", e.Type, e.Direction, e.Phone, e.Extension)
		return nil
	})
	router := pbx.RouterFunc(func(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) {
		if q.Phone == "79833574337" {
			return pbx.Route{Extension: "102", DisplayName: "Orlov Aleksandr"}, nil
		}
		return pbx.Route{}, nil // no decision: the PBX's own rules
	})
	hook := httptest.NewServer(client.WebhookHandler(events, router))
	defer hook.Close()

	if _, err := fake.Play(context.Background(), hook.URL, pbxtest.Call{
		Scenario: pbxtest.AnsweredIncoming, Caller: "79833574337",
	}); err != nil {
		log.Fatal(err)
	}
	// Output:
	// call_started inbound phone=79833574337 ext=
	// ringing inbound phone=79833574337 ext=102
	// answered inbound phone=79833574337 ext=102
	// leg_ended inbound phone=79833574337 ext=102
	// call_ended inbound phone=79833574337 ext=102
}

// Click to call through the capability interface.
func ExampleClient_MakeCall() {
	fake := rostelecomtest.NewServer(rostelecomtest.Options{})
	defer fake.Close()
	p, err := rostelecom.New(fake.Config())
	if err != nil {
		log.Fatal(err)
	}
	var caller pbx.Caller = p
	if _, err := caller.MakeCall(context.Background(), pbx.CallRequest{Extension: "101", Phone: "8 (999) 123-45-67"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(fake.RequestsFor(rostelecom.MethodCallBack)[0].Body))
	// Output: {"request_number":"+79991234567","from_pin":"101"}
}
