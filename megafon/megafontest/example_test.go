package megafontest_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"

	"github.com/pbxkit/pbxkit/megafon"
	"github.com/pbxkit/pbxkit/megafon/megafontest"
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
)

// Play an answered incoming call against a megafon webhook whose router
// sends the caller to extension 102, and see what reached the application.
func ExampleServer_Play() {
	fake := megafontest.NewServer(megafontest.Options{})
	defer fake.Close()
	c, err := megafon.New(fake.Config())
	if err != nil {
		log.Fatal(err)
	}
	rec := &pbxtest.Recorder{Router: pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
		return pbx.Route{Extension: "102", DisplayName: "ООО Ромашка"}, nil
	})}
	crm := httptest.NewServer(c.WebhookHandler(rec, rec))
	defer crm.Close()

	played, err := fake.Play(context.Background(), crm.URL, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("rang", played.Rang)
	for _, e := range rec.EventsOf(played.CallID) {
		fmt.Println(e.Type, e.Extension, e.Outcome, e.TalkDuration)
	}
	// Output:
	// rang [102]
	// ringing 102 unknown 0s
	// answered 102 unknown 0s
	// leg_ended 102 unknown 0s
	// call_ended 102 answered 42s
}
