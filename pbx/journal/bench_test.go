package journal_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/journal/journaltest"
)

// BenchmarkHandleEvent is the journal's cost per event in memory: dedupe,
// append, and the refold of the event's call (calls of 5 events, as a
// Sipuni group ring sends them), with call-back marking on.
func BenchmarkHandleEvent(b *testing.B) {
	j := journal.New(journal.NewMemoryStore())
	ctx := b.Context()
	t0 := time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)
	types := []pbx.EventType{pbx.EventRinging, pbx.EventRinging, pbx.EventAnswered, pbx.EventLegEnded, pbx.EventCallEnded}
	exts := []string{"101", "102", "102", "101", "102"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		call, k := i/len(types), i%len(types)
		e := pbx.CallEvent{Provider: "sipuni", CallID: fmt.Sprint("c", call), Type: types[k], Direction: pbx.Inbound,
			Phone: "79990000001", Extension: exts[k], At: t0.Add(time.Duration(i) * time.Second), DedupeKey: fmt.Sprint(i)}
		if k == 4 {
			e.Outcome = pbx.OutcomeAnswered
		}
		if err := j.HandleEvent(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFold is the pure fold of an 8-event group-ring call.
func BenchmarkFold(b *testing.B) {
	var sc journaltest.Scenario
	for _, s := range journaltest.Scenarios() {
		if len(s.Events) > len(sc.Events) {
			sc = s
		}
	}
	entries := make([]journal.Entry, len(sc.Events))
	for i, e := range sc.Events {
		entries[i] = journal.Entry{Seq: int64(i + 1), ReceivedAt: e.At, Event: e}
	}
	b.ReportAllocs()
	for b.Loop() {
		journal.Fold(entries)
	}
}
