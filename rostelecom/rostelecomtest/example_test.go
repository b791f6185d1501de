package rostelecomtest_test

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

// Play a missed incoming call to a webhook that routes nobody: the fake
// rings the extensions it was given (the seeded staff has 101, 102, 103).
func ExampleServer_Play() {
	fake := rostelecomtest.NewServer(rostelecomtest.Options{})
	defer fake.Close()
	client, err := rostelecom.New(fake.Config())
	if err != nil {
		log.Fatal(err)
	}
	hook := httptest.NewServer(client.WebhookHandler(pbx.EventHandlerFunc(func(_ context.Context, e pbx.CallEvent) error {
		fmt.Printf("%s ext=%s\n", e.Type, e.Extension)
		return nil
	}), nil))
	defer hook.Close()

	res, err := fake.Play(context.Background(), hook.URL, pbxtest.Call{
		Scenario:   pbxtest.MissedIncoming,
		Extensions: []string{"101", "102"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("asked:", res.Asked, "rang:", res.Rang, "answered:", res.AnsweredBy != "")
	// Output:
	// call_started ext=
	// ringing ext=101
	// ringing ext=102
	// call_ended ext=101
	// asked: true rang: [101 102] answered: false
}

// A click-to-call that makes the fake ring: SetWebhook plays the outbound
// flow after each call_back.
func ExampleServer_SetWebhook() {
	fake := rostelecomtest.NewServer(rostelecomtest.Options{})
	defer fake.Close()
	client, err := rostelecom.New(fake.Config())
	if err != nil {
		log.Fatal(err)
	}
	hook := httptest.NewServer(client.WebhookHandler(pbx.EventHandlerFunc(func(_ context.Context, e pbx.CallEvent) error {
		fmt.Println(e.Type, e.Direction, e.Extension, e.Phone)
		return nil
	}), nil))
	defer hook.Close()
	fake.SetWebhook(hook.URL)

	if _, err := client.MakeCall(context.Background(), pbx.CallRequest{Extension: "102", Phone: "8 (999) 123-45-67"}); err != nil {
		log.Fatal(err)
	}
	if err := fake.Wait(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// call_started outbound 102 79991234567
	// ringing outbound 102 79991234567
	// answered outbound 102 79991234567
	// leg_ended outbound 102 79991234567
	// call_ended outbound 102 79991234567
}
