package outbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/outbox"
	"github.com/pbxkit/pbxkit/pbx/outbox/outboxtest"
)

// TestCustomSelect: a Select of one's own sees every entry with its call
// (a zero call for an entry without call id), its []byte payload is sent
// as it is, each entry's delivery in order per call; a payload that
// cannot be encoded is a dead letter without a request, which Retry
// refuses to send.
func TestCustomSelect(t *testing.T) {
	ctx := context.Background()
	j := journal.New(journal.NewMemoryStore())
	handle(t, j, callEvents("sipuni", 0)...)
	handle(t, j, pbx.CallEvent{Provider: "sipuni", Type: pbx.EventUnknown, At: t0, DedupeKey: "no-call"})
	handle(t, j, callEvents("sipuni", 1)...)
	var mu sync.Mutex
	seen := map[int64]string{}
	sel := func(e journal.Entry, c journal.Call) (any, bool) {
		mu.Lock()
		seen[e.Seq] = c.CallID
		mu.Unlock()
		switch {
		case e.Event.CallID == "call-00001" && e.Event.Type == pbx.EventCallEnded:
			return func() {}, true // cannot be encoded
		case e.Event.CallID == "":
			return []byte("not json, sent as it is"), true
		}
		return json.RawMessage(fmt.Sprintf(`{"seq":%d,"call":%q}`, e.Seq, e.Event.CallID)), true
	}
	r := outboxtest.NewReceiver(t, secret)
	ob, err := outbox.New(j, outbox.Target{Name: "crm", URL: r.URL(), Secret: secret, Select: sel},
		fastOpts(outboxtest.NewClock(t0))...)
	if err != nil {
		t.Fatal(err)
	}
	start(t, ob)
	waitFor(t, "6 deliveries and a dead letter", 10*time.Second, func() bool {
		s := ob.Stats()
		return s.Delivered == 6 && s.Dead == 1 && s.Pending == 0
	})
	mu.Lock()
	if len(seen) != 7 || seen[4] != "" || seen[1] != "call-00000" || seen[7] != "call-00001" {
		t.Errorf("Select saw %v", seen)
	}
	mu.Unlock()
	var bodies []string
	for _, a := range r.Applied() {
		bodies = append(bodies, string(a.Body))
	}
	if !strings.Contains(strings.Join(bodies, "\n"), "not json, sent as it is") {
		t.Errorf("bodies %q", bodies)
	}
	last := map[string]int{}
	for _, b := range bodies {
		var v struct {
			Seq  int
			Call string
		}
		if json.Unmarshal([]byte(b), &v) == nil {
			if v.Seq <= last[v.Call] {
				t.Errorf("call %s: entry %d delivered after %d", v.Call, v.Seq, last[v.Call])
			}
			last[v.Call] = v.Seq
		}
	}
	dls := deadLetters(t, ob)
	if len(dls) != 1 || dls[0].Seq != 7 || !strings.Contains(dls[0].Error, "encode the payload") || dls[0].Attempts != 0 {
		t.Fatalf("dead letters %+v", dls)
	}
	if r.Received(dls[0].ID) != 0 {
		t.Errorf("an unencodable payload was sent")
	}
	if err := ob.Retry(ctx, dls[0].ID); err == nil || !strings.Contains(err.Error(), "no body") {
		t.Errorf("Retry = %v", err)
	}
}

// Example: deliver the journal's calls to a receiver that checks each
// signature with Verify and reads the call document.
func Example() {
	secret := []byte("shared with the receiver")
	got := make(chan outbox.CallDocument, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if err := outbox.Verify(secret, r, body); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var doc outbox.CallDocument
		if err := json.Unmarshal(body, &doc); err != nil {
			http.Error(w, "bad document", http.StatusUnprocessableEntity)
			return
		}
		// A real receiver applies the document once by its webhook-id
		// and keeps the greatest version of each call.
		select {
		case got <- doc:
		default:
		}
	}))
	defer receiver.Close()

	j := journal.New(journal.NewMemoryStore())
	ob, err := outbox.New(j, outbox.Target{Name: "1c", URL: receiver.URL, Secret: secret})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ob.Run(ctx)

	at := time.Date(2025, 3, 14, 10, 0, 0, 0, time.FixedZone("MSK", 3*3600))
	for _, e := range []pbx.CallEvent{
		{Provider: "sipuni", CallID: "c1", Type: pbx.EventRinging, Direction: pbx.Inbound, Phone: "79991234567", Extension: "101", At: at},
		{Provider: "sipuni", CallID: "c1", Type: pbx.EventCallEnded, Direction: pbx.Inbound, Phone: "79991234567",
			Outcome: pbx.OutcomeMissed, At: at.Add(20 * time.Second)},
	} {
		if err := j.HandleEvent(ctx, e); err != nil {
			panic(err)
		}
	}
	doc := <-got
	fmt.Println(doc.CallID, doc.Outcome, doc.Missed, doc.CallDuration, doc.StartedAt.Format(time.RFC3339))
	// Output: c1 missed true 20s 2025-03-14T10:00:00+03:00
}
