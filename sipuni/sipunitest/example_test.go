package sipunitest_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/sipuni/sipunitest"
)

// Play a missed group call at a bare webhook and show what Sipuni would
// send it.
func ExampleServer_Play() {
	srv := sipunitest.NewServer(sipunitest.Options{WebhookToken: "T"})
	defer srv.Close()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Has("fromnum") {
			fmt.Println("routing question from", q.Get("fromnum"), "to", q.Get("tonum"))
			_, _ = io.WriteString(w, `{"choice":0}`)
			return
		}
		fmt.Println("event", q.Get("event"), q.Get("short_dst_num"), q.Get("status"), "token="+q.Get("token"))
		_, _ = io.WriteString(w, `{"success":true}`)
	}))
	defer hook.Close()

	_, err := srv.Play(context.Background(), hook.URL, pbxtest.Call{
		Scenario:   pbxtest.MissedIncoming,
		Caller:     "79161234567",
		Extensions: []string{"101", "102"},
		Start:      time.Date(2026, 3, 24, 10, 15, 0, 0, time.UTC),
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// routing question from 79161234567 to 74951234567
	// event 1 101  token=T
	// event 1 102  token=T
	// event 2 74951234567_id265648 NOANSWER token=T
}
