package journal_test

import (
	"context"
	"fmt"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
)

// A journal folds a Rostelecom call, whose end event carries no outcome,
// and a Sipuni missed call into calls, and reports per employee.
func Example() {
	ctx := context.Background()
	j := journal.New(journal.NewMemoryStore())

	msk := time.FixedZone("MSK", 3*3600)
	t0 := time.Date(2025, 3, 14, 10, 0, 0, 0, msk)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	events := []pbx.CallEvent{
		// Rostelecom: new, calling, connected, end (no outcome).
		{Provider: "rostelecom", CallID: "s1", Type: pbx.EventCallStarted, Direction: pbx.Inbound, Phone: "79991234567", At: at(0), DedupeKey: "1"},
		{Provider: "rostelecom", CallID: "s1", Type: pbx.EventRinging, Direction: pbx.Inbound, Extension: "101", At: at(1), DedupeKey: "2"},
		{Provider: "rostelecom", CallID: "s1", Type: pbx.EventCallEnded, Direction: pbx.Inbound, At: at(65), DedupeKey: "4"},
		// connected arrives after end: it still counts.
		{Provider: "rostelecom", CallID: "s1", Type: pbx.EventAnswered, Direction: pbx.Inbound, Extension: "101", At: at(5), DedupeKey: "3"},
		// Sipuni: two phones rang, nobody answered.
		{Provider: "sipuni", CallID: "c9", Type: pbx.EventRinging, Direction: pbx.Inbound, Phone: "79990000001", Extension: "101", At: at(100), DedupeKey: "a"},
		{Provider: "sipuni", CallID: "c9", Type: pbx.EventRinging, Direction: pbx.Inbound, Phone: "79990000001", Extension: "102", At: at(100), DedupeKey: "b"},
		{Provider: "sipuni", CallID: "c9", Type: pbx.EventCallEnded, Direction: pbx.Inbound, Phone: "79990000001", Outcome: pbx.OutcomeMissed, At: at(130), DedupeKey: "c"},
		// A redelivery changes nothing.
		{Provider: "sipuni", CallID: "c9", Type: pbx.EventCallEnded, Direction: pbx.Inbound, Phone: "79990000001", Outcome: pbx.OutcomeMissed, At: at(130), DedupeKey: "c"},
	}
	for _, e := range events {
		if err := j.HandleEvent(ctx, e); err != nil {
			panic(err)
		}
	}

	c, err := j.Call(ctx, "rostelecom", "s1")
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Outcome, c.AnsweredBy, c.TalkDuration, c.CallDuration, c.ClosedBy)

	for c, err := range j.Calls(ctx, journal.Query{Missed: true}) {
		if err != nil {
			panic(err)
		}
		fmt.Println("missed:", c.Phone, "rang", len(c.Legs), "phones")
	}

	stats, err := j.Stats(ctx, journal.Query{From: t0.Truncate(24 * time.Hour), To: t0.Add(24 * time.Hour)})
	if err != nil {
		panic(err)
	}
	for _, s := range stats {
		fmt.Printf("%s offered %d answered %d missed %d talk %s\n", s.Extension, s.Offered, s.Answered, s.Missed, s.TalkDuration)
	}
	last, _ := j.LastSeq(ctx)
	fmt.Println("entries:", last)
	// Output:
	// answered 101 1m0s 1m5s event
	// missed: 79990000001 rang 2 phones
	// 101 offered 2 answered 1 missed 1 talk 1m0s
	// 102 offered 1 answered 0 missed 1 talk 0s
	// entries: 7
}
