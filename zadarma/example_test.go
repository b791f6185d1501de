package zadarma_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/zadarma"
	"github.com/pbxkit/pbxkit/zadarma/zadarmatest"
)

// A webhook that routes a known caller to extension 102, played by the
// fake as Zadarma sends it.
func ExampleClient_WebhookHandler() {
	fake := zadarmatest.NewServer(zadarmatest.Options{})
	defer fake.Close()
	c, err := zadarma.New(fake.Config())
	if err != nil {
		panic(err)
	}
	router := pbx.RouterFunc(func(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) {
		if q.Phone == "79161234567" {
			return pbx.Route{Extension: "102", DisplayName: "ООО Ромашка"}, nil
		}
		return pbx.Route{}, nil
	})
	events := pbx.EventHandlerFunc(func(_ context.Context, e pbx.CallEvent) error {
		fmt.Println(e.Type, e.Extension, e.Outcome)
		return nil
	})
	hook := httptest.NewServer(c.WebhookHandler(events, router))
	defer hook.Close()

	played, err := fake.Play(context.Background(), hook.URL, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, Caller: "79161234567"})
	if err != nil {
		panic(err)
	}
	fmt.Println("rang", played.Rang)
	// Output:
	// call_started  unknown
	// ringing 102 unknown
	// answered 102 unknown
	// call_ended 102 answered
	// rang [102]
}

// Opening a client by DSN and placing a call.
func ExampleClient_MakeCall() {
	fake := zadarmatest.NewServer(zadarmatest.Options{})
	defer fake.Close()
	c, err := zadarma.New(fake.Config()) // or provider.Open("zadarma://KEY:SECRET@/")
	if err != nil {
		panic(err)
	}
	_, err = c.MakeCall(context.Background(), pbx.CallRequest{Extension: "101", Phone: "+7 903 123-45-67"})
	fmt.Println(err)
	fmt.Println(fake.APIRequests()[0].Params.Get("to"))
	// Output:
	// <nil>
	// 79031234567
}
