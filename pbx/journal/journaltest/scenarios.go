package journaltest

import (
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
)

// Scenario is one realistic call: the events a vendor sends for it (in
// the order it sent them) and the call the journal must fold them into, in
// whatever order they arrive.
type Scenario struct {
	// Name is "vendor/what-happens".
	Name string
	// Events are the call's events; every one has a distinct DedupeKey
	// unless it is a redelivery of another.
	Events []pbx.CallEvent
	// Want is the folded call; compare with [Comparable] on both sides.
	Want journal.Call
}

// Comparable returns c with what depends on the store and on arrival
// (FirstSeq, LastSeq) zeroed and every time in UTC, so that two calls can
// be compared with ==-style equality (assert.Equal).
func Comparable(c journal.Call) journal.Call {
	c.FirstSeq, c.LastSeq = 0, 0
	u := func(t *time.Time) {
		if !t.IsZero() {
			*t = t.UTC()
		}
	}
	u(&c.StartedAt)
	u(&c.AnsweredAt)
	u(&c.EndedAt)
	u(&c.CalledBackAt)
	u(&c.LastEventAt)
	if len(c.Legs) == 0 {
		c.Legs = nil
	} else {
		legs := make([]journal.Leg, len(c.Legs))
		copy(legs, c.Legs)
		for i := range legs {
			u(&legs[i].RangAt)
			u(&legs[i].AnsweredAt)
			u(&legs[i].EndedAt)
		}
		c.Legs = legs
	}
	return c
}

const (
	client = "79991234567"
	line   = "74951112233"
)

// Scenarios returns the suite's realistic calls, one vendor's way each.
func Scenarios() []Scenario {
	t := at
	var out []Scenario

	// Rostelecom: new/calling/connected/end; end carries no outcome.
	{
		id, p := "rt-answered", "rostelecom"
		e := func(typ pbx.EventType, d int, key string) pbx.CallEvent {
			x := ev(p, id, typ, t(sec(d)), key)
			x.Direction, x.Phone = pbx.Inbound, client
			return x
		}
		started := e(pbx.EventCallStarted, 0, "r1")
		started.Line, started.StartedAt = line, t(0)
		ringing := e(pbx.EventRinging, 1, "r2")
		ringing.Extension = "101"
		answered := e(pbx.EventAnswered, 5, "r3")
		answered.Extension, answered.AnsweredAt = "101", t(sec(5))
		ended := e(pbx.EventCallEnded, 65, "r4")
		ended.Extension, ended.EndedAt, ended.HasRecording = "101", t(sec(65)), true
		out = append(out, Scenario{
			Name:   "rostelecom/inbound-answered-outcome-derived",
			Events: []pbx.CallEvent{started, ringing, answered, ended},
			Want: journal.Call{Provider: p, CallID: id, Direction: pbx.Inbound, Phone: client, Line: line,
				StartedAt: t(0), AnsweredAt: t(sec(5)), EndedAt: t(sec(65)),
				TalkDuration: sec(60), CallDuration: sec(65), Outcome: pbx.OutcomeAnswered, AnsweredBy: "101",
				Legs:         []journal.Leg{{Extension: "101", RangAt: t(sec(1)), AnsweredAt: t(sec(5)), EndedAt: t(sec(65)), Answered: true}},
				HasRecording: true, ClosedBy: journal.ClosedByEvent, LastEventAt: t(sec(65))},
		})
		// The same call with connected arriving after end.
		late := Scenario{Name: "rostelecom/answered-arrives-after-end", Want: out[len(out)-1].Want}
		for _, x := range []pbx.CallEvent{started, ringing, ended, answered} {
			x.CallID = "rt-late"
			late.Events = append(late.Events, x)
		}
		late.Want.CallID = "rt-late"
		out = append(out, late)
	}
	{
		id, p := "rt-missed", "rostelecom"
		e := func(typ pbx.EventType, d int, ext, key string) pbx.CallEvent {
			x := ev(p, id, typ, t(sec(d)), key)
			x.Direction, x.Phone, x.Extension = pbx.Inbound, client, ext
			return x
		}
		started := e(pbx.EventCallStarted, 0, "", "m1")
		started.Line, started.StartedAt = line, t(0)
		ended := e(pbx.EventCallEnded, 21, "", "m4")
		ended.EndedAt = t(sec(21))
		out = append(out, Scenario{
			Name:   "rostelecom/inbound-missed-outcome-derived",
			Events: []pbx.CallEvent{started, e(pbx.EventRinging, 1, "101", "m2"), e(pbx.EventRinging, 1, "102", "m3"), ended},
			Want: journal.Call{Provider: p, CallID: id, Direction: pbx.Inbound, Phone: client, Line: line,
				StartedAt: t(0), EndedAt: t(sec(21)), CallDuration: sec(21), Outcome: pbx.OutcomeMissed, Missed: true,
				Legs: []journal.Leg{
					{Extension: "101", RangAt: t(sec(1)), EndedAt: t(sec(21))},
					{Extension: "102", RangAt: t(sec(1)), EndedAt: t(sec(21))},
				},
				ClosedBy: journal.ClosedByEvent, LastEventAt: t(sec(21))},
		})
	}
	{
		id, p := "rt-group", "rostelecom"
		e := func(typ pbx.EventType, d int, ext, key string) pbx.CallEvent {
			x := ev(p, id, typ, t(sec(d)), key)
			x.Direction, x.Phone, x.Extension = pbx.Inbound, client, ext
			return x
		}
		started := e(pbx.EventCallStarted, 0, "", "g1")
		started.Line, started.StartedAt = line, t(0)
		answered := e(pbx.EventAnswered, 4, "102", "g5")
		answered.AnsweredAt = t(sec(4))
		ended := e(pbx.EventCallEnded, 30, "102", "g8")
		ended.EndedAt = t(sec(30))
		out = append(out, Scenario{
			Name: "rostelecom/group-ring-one-of-three-answers",
			Events: []pbx.CallEvent{started,
				e(pbx.EventRinging, 1, "101", "g2"), e(pbx.EventRinging, 1, "102", "g3"), e(pbx.EventRinging, 1, "103", "g4"),
				answered, e(pbx.EventLegEnded, 4, "101", "g6"), e(pbx.EventLegEnded, 4, "103", "g7"), ended},
			Want: journal.Call{Provider: p, CallID: id, Direction: pbx.Inbound, Phone: client, Line: line,
				StartedAt: t(0), AnsweredAt: t(sec(4)), EndedAt: t(sec(30)),
				TalkDuration: sec(26), CallDuration: sec(30), Outcome: pbx.OutcomeAnswered, AnsweredBy: "102",
				Legs: []journal.Leg{
					{Extension: "101", RangAt: t(sec(1)), EndedAt: t(sec(4))},
					{Extension: "102", RangAt: t(sec(1)), AnsweredAt: t(sec(4)), EndedAt: t(sec(30)), Answered: true},
					{Extension: "103", RangAt: t(sec(1)), EndedAt: t(sec(4))},
				},
				ClosedBy: journal.ClosedByEvent, LastEventAt: t(sec(30))},
		})
	}

	// Sipuni: the outcome comes with call_ended (event 2).
	{
		id, p := "sp-missed", "sipuni"
		e := func(typ pbx.EventType, d int, ext, key string) pbx.CallEvent {
			x := ev(p, id, typ, t(sec(d)), key)
			x.Direction, x.Phone, x.Line, x.Extension = pbx.Inbound, client, line, ext
			return x
		}
		legEnd := func(ext, key string) pbx.CallEvent {
			x := e(pbx.EventLegEnded, 25, ext, key)
			x.Outcome, x.StartedAt, x.EndedAt = pbx.OutcomeMissed, t(0), t(sec(25))
			return x
		}
		ended := e(pbx.EventCallEnded, 26, "", "s5")
		ended.Outcome, ended.StartedAt, ended.EndedAt = pbx.OutcomeMissed, t(0), t(sec(26))
		out = append(out, Scenario{
			Name: "sipuni/inbound-missed",
			Events: []pbx.CallEvent{e(pbx.EventRinging, 1, "101", "s1"), e(pbx.EventRinging, 1, "102", "s2"),
				legEnd("101", "s3"), legEnd("102", "s4"), ended},
			Want: journal.Call{Provider: p, CallID: id, Direction: pbx.Inbound, Phone: client, Line: line,
				StartedAt: t(0), EndedAt: t(sec(26)), CallDuration: sec(26), Outcome: pbx.OutcomeMissed, Missed: true,
				Legs: []journal.Leg{
					{Extension: "101", RangAt: t(sec(1)), EndedAt: t(sec(25))},
					{Extension: "102", RangAt: t(sec(1)), EndedAt: t(sec(25))},
				},
				ClosedBy: journal.ClosedByEvent, LastEventAt: t(sec(26))},
		})
	}
	{
		id, p := "sp-answered", "sipuni"
		e := func(typ pbx.EventType, d int, key string) pbx.CallEvent {
			x := ev(p, id, typ, t(sec(d)), key)
			x.Direction, x.Phone, x.Line, x.Extension = pbx.Inbound, client, line, "101"
			return x
		}
		answered := e(pbx.EventAnswered, 6, "a2")
		answered.AnsweredAt = t(sec(6))
		ended := e(pbx.EventCallEnded, 66, "a3")
		ended.Outcome, ended.StartedAt, ended.AnsweredAt, ended.EndedAt = pbx.OutcomeAnswered, t(0), t(sec(6)), t(sec(66))
		ended.RecordingURL = "https://sipuni.example/rec/sp-answered.mp3"
		redelivered := []pbx.CallEvent{e(pbx.EventRinging, 1, "a1"), answered, ended}
		out = append(out, Scenario{
			Name:   "sipuni/inbound-answered-with-redeliveries",
			Events: []pbx.CallEvent{redelivered[0], redelivered[0], redelivered[1], redelivered[2], redelivered[1]},
			Want: journal.Call{Provider: p, CallID: id, Direction: pbx.Inbound, Phone: client, Line: line,
				StartedAt: t(0), AnsweredAt: t(sec(6)), EndedAt: t(sec(66)),
				TalkDuration: sec(60), CallDuration: sec(66), Outcome: pbx.OutcomeAnswered, AnsweredBy: "101",
				Legs:         []journal.Leg{{Extension: "101", RangAt: t(sec(1)), AnsweredAt: t(sec(6)), EndedAt: t(sec(66)), Answered: true}},
				RecordingURL: "https://sipuni.example/rec/sp-answered.mp3", HasRecording: true,
				ClosedBy: journal.ClosedByEvent, LastEventAt: t(sec(66))},
		})
	}
	{
		// A call-back order: the employee's phone rings and answers first,
		// then the client does not pick up. Sipuni says NOANSWER.
		id, p := "sp-out-noanswer", "sipuni"
		e := func(typ pbx.EventType, d int, key string) pbx.CallEvent {
			x := ev(p, id, typ, t(sec(d)), key)
			x.Direction, x.Phone, x.Extension = pbx.Outbound, client, "101"
			return x
		}
		ended := e(pbx.EventCallEnded, 33, "o3")
		ended.Outcome, ended.StartedAt, ended.EndedAt = pbx.OutcomeMissed, t(0), t(sec(33))
		out = append(out, Scenario{
			Name:   "sipuni/outbound-employee-answered-client-did-not",
			Events: []pbx.CallEvent{e(pbx.EventRinging, 0, "o1"), e(pbx.EventAnswered, 3, "o2"), ended},
			Want: journal.Call{Provider: p, CallID: id, Direction: pbx.Outbound, Phone: client,
				StartedAt: t(0), EndedAt: t(sec(33)), CallDuration: sec(33), Outcome: pbx.OutcomeMissed,
				Legs:     []journal.Leg{{Extension: "101", RangAt: t(0), AnsweredAt: t(sec(3)), EndedAt: t(sec(33)), Answered: true}},
				ClosedBy: journal.ClosedByEvent, LastEventAt: t(sec(33))},
		})
	}

	// Prostie Zvonki: a group ring where a colleague answers (the other
	// phone gets CANCELLED), then cmd=history with the outcome and
	// durations.
	{
		id, p := "pz-group", "prostiezvonki"
		e := func(typ pbx.EventType, d int, ext, key string) pbx.CallEvent {
			x := ev(p, id, typ, t(sec(d)), key)
			x.Direction, x.Phone, x.Line, x.Extension = pbx.Inbound, client, line, ext
			return x
		}
		history := e(pbx.EventCallEnded, 90, "102", "z6")
		history.Outcome, history.StartedAt, history.AnsweredAt, history.EndedAt = pbx.OutcomeAnswered, t(0), t(sec(10)), t(sec(90))
		history.CallDuration, history.TalkDuration = sec(90), sec(80)
		history.RecordingURL, history.HasRecording = "https://pz.example/rec/1", true
		out = append(out, Scenario{
			Name: "prostiezvonki/group-ring-colleague-answers",
			Events: []pbx.CallEvent{e(pbx.EventRinging, 2, "101", "z1"), e(pbx.EventRinging, 2, "102", "z2"),
				e(pbx.EventAnswered, 10, "102", "z3"), e(pbx.EventLegEnded, 10, "101", "z4"),
				e(pbx.EventLegEnded, 90, "102", "z5"), history},
			Want: journal.Call{Provider: p, CallID: id, Direction: pbx.Inbound, Phone: client, Line: line,
				StartedAt: t(0), AnsweredAt: t(sec(10)), EndedAt: t(sec(90)),
				TalkDuration: sec(80), CallDuration: sec(90), Outcome: pbx.OutcomeAnswered, AnsweredBy: "102",
				Legs: []journal.Leg{
					{Extension: "101", RangAt: t(sec(2)), EndedAt: t(sec(10))},
					{Extension: "102", RangAt: t(sec(2)), AnsweredAt: t(sec(10)), EndedAt: t(sec(90)), Answered: true},
				},
				RecordingURL: "https://pz.example/rec/1", HasRecording: true,
				ClosedBy: journal.ClosedByEvent, LastEventAt: t(sec(90))},
		})
	}

	// Mango: the events of one call (entry_id) come from several legs and
	// are posted in parallel, so they arrive out of order (Mango says so);
	// listed here in an order seen that way. The IVR leg starts the call
	// and ends without an extension when the route command hands the call
	// to extension 102; events/summary is call_ended with the outcome.
	{
		id, p := "mg-routed", "mango"
		e := func(typ pbx.EventType, d int, ext, key string) pbx.CallEvent {
			x := ev(p, id, typ, t(sec(d)), key)
			x.Direction, x.Phone, x.Line, x.Extension = pbx.Inbound, client, line, ext
			return x
		}
		started := e(pbx.EventCallStarted, 0, "", "mg1")
		started.StartedAt = t(0)
		answered := e(pbx.EventAnswered, 7, "102", "mg4")
		answered.AnsweredAt = t(sec(7))
		summary := e(pbx.EventCallEnded, 67, "102", "mg6")
		summary.Outcome, summary.StartedAt, summary.AnsweredAt, summary.EndedAt = pbx.OutcomeAnswered, t(0), t(sec(7)), t(sec(67))
		summary.TalkDuration, summary.CallDuration = sec(60), sec(67)
		out = append(out, Scenario{
			Name: "mango/routed-by-command-out-of-order",
			Events: []pbx.CallEvent{answered, e(pbx.EventLegEnded, 3, "", "mg2"), summary, started,
				e(pbx.EventLegEnded, 67, "102", "mg5"), e(pbx.EventRinging, 3, "102", "mg3")},
			Want: journal.Call{Provider: p, CallID: id, Direction: pbx.Inbound, Phone: client, Line: line,
				StartedAt: t(0), AnsweredAt: t(sec(7)), EndedAt: t(sec(67)),
				TalkDuration: sec(60), CallDuration: sec(67), Outcome: pbx.OutcomeAnswered, AnsweredBy: "102",
				Legs:     []journal.Leg{{Extension: "102", RangAt: t(sec(3)), AnsweredAt: t(sec(7)), EndedAt: t(sec(67)), Answered: true}},
				ClosedBy: journal.ClosedByEvent, LastEventAt: t(sec(67))},
		})
	}
	// Mango OnHold and the Connected after it (held, resumed): the call
	// keeps its hold time, 30 s, plus a second hold the caller hung up in
	// (10 s to the end), whatever the order.
	{
		id, p := "mg-hold", "mango"
		e := func(typ pbx.EventType, d int, key string) pbx.CallEvent {
			x := ev(p, id, typ, t(sec(d)), key)
			x.Direction, x.Phone, x.Line, x.Extension = pbx.Inbound, client, line, "101"
			return x
		}
		answered := e(pbx.EventAnswered, 5, "mh2")
		answered.AnsweredAt = t(sec(5))
		summary := e(pbx.EventCallEnded, 80, "mh6")
		summary.Outcome, summary.StartedAt, summary.AnsweredAt, summary.EndedAt = pbx.OutcomeAnswered, t(0), t(sec(5)), t(sec(80))
		summary.TalkDuration, summary.CallDuration = sec(75), sec(80)
		out = append(out, Scenario{
			Name: "mango/answered-held-twice",
			Events: []pbx.CallEvent{e(pbx.EventRinging, 0, "mh1"), answered, e(pbx.EventHeld, 20, "mh3"),
				e(pbx.EventResumed, 50, "mh4"), e(pbx.EventHeld, 70, "mh5"), summary},
			Want: journal.Call{Provider: p, CallID: id, Direction: pbx.Inbound, Phone: client, Line: line,
				StartedAt: t(0), AnsweredAt: t(sec(5)), EndedAt: t(sec(80)),
				TalkDuration: sec(75), CallDuration: sec(80), HoldDuration: sec(40), Outcome: pbx.OutcomeAnswered, AnsweredBy: "101",
				Legs:     []journal.Leg{{Extension: "101", RangAt: t(0), AnsweredAt: t(sec(5)), EndedAt: t(sec(80)), Answered: true}},
				ClosedBy: journal.ClosedByEvent, LastEventAt: t(sec(80))},
		})
	}
	return out
}
