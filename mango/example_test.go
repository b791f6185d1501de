package mango_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"

	"github.com/pbxkit/pbxkit/mango"
	"github.com/pbxkit/pbxkit/mango/mangotest"
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
)

// A call arrives in the IVR of a fake PBX; the router sends it to
// extension 102 by command, and the events reach the handler.
func Example() {
	ctx := context.Background()
	fake := mangotest.NewServer(mangotest.Options{})
	defer fake.Close()
	c, err := mango.New(fake.Config())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	router := pbx.RouterFunc(func(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) {
		return pbx.Route{Extension: "102", DisplayName: "Клиент " + q.Phone}, nil
	})
	var events pbxtest.Recorder
	hook := httptest.NewServer(c.WebhookHandler(&events, router))
	defer hook.Close()

	played, err := fake.Play(ctx, hook.URL, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("routed to", played.Route.Extension, "answered by", played.AnsweredBy)
	for _, e := range events.EventsOf(played.CallID) {
		if e.Type != pbx.EventUnknown {
			fmt.Printf("%s ext=%q\n", e.Type, e.Extension)
		}
	}
	// Output:
	// routed to 102 answered by 102
	// call_started ext=""
	// leg_ended ext=""
	// ringing ext="102"
	// answered ext="102"
	// leg_ended ext="102"
	// call_ended ext="102"
}
