package journaltest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
)

// callSpec describes a call of the query data set.
type callSpec struct {
	provider, id string
	dir          pbx.Direction
	phone        string
	start        time.Time
	rung         []string // extensions that rang
	answeredBy   string
	outcome      pbx.Outcome // on call_ended; unknown: derived
	open         bool        // no call_ended
}

// events returns the call's events: one ringing per rung extension at +1 s,
// an answered at +5 s, a call_ended at +60 s.
func (c callSpec) events() []pbx.CallEvent {
	mk := func(typ pbx.EventType, d time.Duration, ext, key string) pbx.CallEvent {
		e := pbx.CallEvent{Provider: c.provider, CallID: c.id, Type: typ, Direction: c.dir, Phone: c.phone,
			Extension: ext, At: c.start.Add(d), DedupeKey: c.id + "/" + key}
		return e
	}
	var out []pbx.CallEvent
	for _, ext := range c.rung {
		out = append(out, mk(pbx.EventRinging, sec(1), ext, "ring"+ext))
	}
	if c.answeredBy != "" {
		out = append(out, mk(pbx.EventAnswered, sec(5), c.answeredBy, "answer"))
	}
	if !c.open {
		e := mk(pbx.EventCallEnded, sec(60), "", "end")
		e.Outcome, e.StartedAt = c.outcome, c.start
		out = append(out, e)
	}
	return out
}

var (
	day      = time.Date(2025, 3, 14, 0, 0, 0, 0, msk)
	hm       = func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	clientA  = "79991234567"
	clientB  = "79990000001"
	clientC  = "74950000002"
	clientD  = "79995555555"
	querySet = []callSpec{
		{"sipuni", "q1", pbx.Inbound, clientA, hm(9, 0), []string{"101", "102"}, "101", pbx.OutcomeAnswered, false},
		{"sipuni", "q2", pbx.Inbound, clientB, hm(9, 30), []string{"101", "102"}, "", pbx.OutcomeMissed, false},
		{"rostelecom", "q3", pbx.Outbound, clientA, hm(10, 30), []string{"103"}, "103", pbx.OutcomeUnknown, false},
		{"rostelecom", "q4", pbx.Inbound, clientA, hm(-6, 0), []string{"102"}, "", pbx.OutcomeUnknown, false},
		{"sipuni", "q5", pbx.Inbound, clientC, hm(11, 0), []string{"103"}, "", 0, true},
		{"sipuni", "q6", pbx.Internal, "", hm(11, 30), []string{"102"}, "102", pbx.OutcomeAnswered, false},
		// Two calls starting at the same instant: the order breaks the tie
		// by provider, then call id, both descending.
		{"sipuni", "q7a", pbx.Inbound, clientD, hm(8, 0), []string{"104"}, "104", pbx.OutcomeAnswered, false},
		{"sipuni", "q7b", pbx.Inbound, clientD, hm(8, 0), []string{"104"}, "104", pbx.OutcomeAnswered, false},
	}
)

// loadQuerySet stores the query data set.
func (s *suite) loadQuerySet(t *testing.T) (*journal.Journal, journal.Store) {
	j, st := s.newJournal(t)
	for _, c := range querySet {
		handleAll(t, j, c.events()...)
	}
	return j, st
}

// ids runs q and returns the call ids in the order yielded.
func ids(t *testing.T, j *journal.Journal, q journal.Query) []string {
	t.Helper()
	out := []string{}
	for c, err := range j.Calls(ctx(t), q) {
		require.NoError(t, err)
		out = append(out, c.CallID)
	}
	return out
}

func (s *suite) testQuery(t *testing.T) {
	j, st := s.loadQuerySet(t)
	today := journal.Query{From: day, To: day.Add(24 * time.Hour)}
	with := func(f func(q *journal.Query)) journal.Query {
		q := today
		f(&q)
		return q
	}
	cases := []struct {
		name string
		q    journal.Query
		want []string
	}{
		{"All/NewestFirst", journal.Query{}, []string{"q6", "q5", "q3", "q2", "q1", "q7b", "q7a", "q4"}},
		{"Period/Today", today, []string{"q6", "q5", "q3", "q2", "q1", "q7b", "q7a"}},
		{"Period/FromInclusiveToExclusive", journal.Query{From: hm(9, 0), To: hm(10, 30)}, []string{"q2", "q1"}},
		{"Provider", with(func(q *journal.Query) { q.Provider = "rostelecom" }), []string{"q3"}},
		{"Extension/AnyLegAnsweredOrNot", journal.Query{Extension: "102"}, []string{"q6", "q2", "q1", "q4"}},
		{"Extension/Other", journal.Query{Extension: "103"}, []string{"q5", "q3"}},
		{"Extension/Unknown", journal.Query{Extension: "999"}, []string{}},
		{"Phone/Formatted", journal.Query{Phone: "+7 (999) 123-45-67"}, []string{"q3", "q1", "q4"}},
		{"Phone/TrunkPrefix", journal.Query{Phone: "89991234567"}, []string{"q3", "q1", "q4"}},
		{"Phone/TenDigits", journal.Query{Phone: "9991234567"}, []string{"q3", "q1", "q4"}},
		{"Phone/ShortNumberMatchesOnlyEqual", journal.Query{Phone: "1234567"}, []string{}},
		{"Phone/LoginMatchesNothing", journal.Query{Phone: "ivan.petrov"}, []string{}},
		{"Direction/Outbound", journal.Query{Direction: pbx.Outbound}, []string{"q3"}},
		{"Direction/Internal", journal.Query{Direction: pbx.Internal}, []string{"q6"}},
		{"Outcome/Missed", journal.Query{Outcome: pbx.OutcomeMissed}, []string{"q2", "q4"}},
		{"Outcome/Answered", journal.Query{Outcome: pbx.OutcomeAnswered}, []string{"q6", "q3", "q1", "q7b", "q7a"}},
		{"Missed", journal.Query{Missed: true}, []string{"q2", "q4"}},
		{"Missed/Today", with(func(q *journal.Query) { q.Missed = true }), []string{"q2"}},
		{"Missed/NotCalledBack", journal.Query{Missed: true, NotCalledBack: true}, []string{"q2"}},
		{"Open", journal.Query{Open: true}, []string{"q5"}},
		{"Open/ByExtension", journal.Query{Open: true, Extension: "103"}, []string{"q5"}},
		{"Limit", journal.Query{Limit: 2}, []string{"q6", "q5"}},
		{"Limit/WithFilter", journal.Query{Limit: 1, Phone: clientA}, []string{"q3"}},
		{"Combined", with(func(q *journal.Query) { q.Provider, q.Direction, q.Extension = "sipuni", pbx.Inbound, "101" }), []string{"q2", "q1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, ids(t, j, tc.q))
		})
	}

	t.Run("Phone/DigitsOption", func(t *testing.T) {
		j4 := journal.New(st, journal.WithDigits(4))
		assert.Equal(t, []string{"q2"}, ids(t, j4, journal.Query{Phone: "80000001"}), "last 4 digits 0001")
		assert.Equal(t, []string{"q5"}, ids(t, j4, journal.Query{Phone: "12340002"}), "last 4 digits 0002")
		assert.Equal(t, []string{}, ids(t, j4, journal.Query{Phone: "0001"}), "4 digits or fewer: equal numbers only")
	})

	t.Run("Store/KeysetPaging", func(t *testing.T) {
		var got []string
		f := journal.Filter{Limit: 3}
		for range 10 {
			page, err := st.Calls(ctx(t), f)
			require.NoError(t, err)
			require.LessOrEqual(t, len(page), 3, "Calls honours Limit")
			for _, c := range page {
				got = append(got, c.CallID)
			}
			if len(page) < f.Limit {
				break
			}
			k := page[len(page)-1].Key()
			f.After = &k
		}
		assert.Equal(t, []string{"q6", "q5", "q3", "q2", "q1", "q7b", "q7a", "q4"}, got)
	})

	t.Run("Store/IdleBefore", func(t *testing.T) {
		page, err := st.Calls(ctx(t), journal.Filter{Open: true, IdleBefore: hm(11, 0).Add(sec(2)), Limit: 10})
		require.NoError(t, err)
		require.Len(t, page, 1)
		assert.Equal(t, "q5", page[0].CallID, "q5's last event is at 11:00:01")
		page, err = st.Calls(ctx(t), journal.Filter{Open: true, IdleBefore: hm(11, 0).Add(sec(1)), Limit: 10})
		require.NoError(t, err)
		assert.Empty(t, page, "IdleBefore is strict")
	})

	t.Run("CallReturnsLegs", func(t *testing.T) {
		c := mustCall(t, j, "sipuni", "q1")
		require.Len(t, c.Legs, 2)
		assert.Equal(t, "101", c.Legs[0].Extension)
		assert.True(t, c.Legs[0].Answered)
		assert.Equal(t, "102", c.Legs[1].Extension)
		assert.False(t, c.Legs[1].Answered)
		assert.Equal(t, clientA, c.Phone)
	})

	t.Run("BadQuery", func(t *testing.T) {
		for _, q := range []journal.Query{{Limit: -1}, {From: hm(10, 0), To: hm(9, 0)}} {
			var err error
			for _, e := range j.Calls(ctx(t), q) {
				err = e
			}
			assert.Error(t, err, "%+v", q)
		}
	})
}

func (s *suite) testStats(t *testing.T) {
	j, _ := s.loadQuerySet(t)
	today := journal.Query{From: day, To: day.Add(24 * time.Hour)}
	talk := sec(55) // answered at +5 s, ended at +60 s

	t.Run("Today", func(t *testing.T) {
		got, err := j.Stats(ctx(t), today)
		require.NoError(t, err)
		assert.Equal(t, []journal.EmployeeStats{
			{Extension: "101", Offered: 2, Answered: 1, Missed: 1, TalkDuration: talk},
			{Extension: "102", Offered: 3, Answered: 1, Missed: 1, TalkDuration: talk},
			{Extension: "103", Offered: 2, Answered: 1, Missed: 0, TalkDuration: talk},
			{Extension: "104", Offered: 2, Answered: 2, Missed: 0, TalkDuration: 2 * talk},
		}, got)
	})
	t.Run("OneExtension", func(t *testing.T) {
		got, err := j.Stats(ctx(t), journal.Query{Extension: "102"})
		require.NoError(t, err)
		assert.Equal(t, []journal.EmployeeStats{
			{Extension: "102", Offered: 4, Answered: 1, Missed: 2, TalkDuration: talk},
		}, got)
	})
	t.Run("LimitIgnored", func(t *testing.T) {
		q := today
		q.Limit = 1
		got, err := j.Stats(ctx(t), q)
		require.NoError(t, err)
		assert.Len(t, got, 4)
	})
	t.Run("Empty", func(t *testing.T) {
		got, err := j.Stats(ctx(t), journal.Query{Provider: "nobody"})
		require.NoError(t, err)
		assert.Empty(t, got)
	})
}

func (s *suite) testCallback(t *testing.T) {
	j, _ := s.newJournal(t)
	c := ctx(t)
	const x, y, z = "79161110001", "79161110002", "79161110003"
	missed := func(id, ph string, start time.Time) callSpec {
		return callSpec{"sipuni", id, pbx.Inbound, ph, start, []string{"101"}, "", pbx.OutcomeMissed, false}
	}
	answeredOut := func(id, ph string, start time.Time, ext string) callSpec {
		return callSpec{"sipuni", id, pbx.Outbound, ph, start, []string{ext}, ext, pbx.OutcomeAnswered, false}
	}
	for _, cs := range []callSpec{
		missed("m1", x, hm(9, 0)),
		missed("m2", x, hm(9, 10)),
		missed("m3", y, hm(9, 20)),
		answeredOut("o0", y, hm(8, 0), "106"), // before m3: not a call-back of it
		answeredOut("o1", "+7 916 111-00-01", hm(10, 0), "105"),
	} {
		handleAll(t, j, cs.events()...)
	}

	t.Run("MissedCallsMarked", func(t *testing.T) {
		for _, id := range []string{"m1", "m2"} {
			m := mustCall(t, j, "sipuni", id)
			assert.Equal(t, "105", m.CalledBackBy, id)
			assert.True(t, m.CalledBackAt.Equal(hm(10, 0).Add(sec(5))), "%s: called back when o1 was answered, got %v", id, m.CalledBackAt)
		}
		m3 := mustCall(t, j, "sipuni", "m3")
		assert.True(t, m3.CalledBackAt.IsZero(), "an earlier outbound call is no call-back")
	})
	t.Run("NotCalledBackFilter", func(t *testing.T) {
		assert.Equal(t, []string{"m3"}, ids(t, j, journal.Query{Missed: true, NotCalledBack: true}))
	})
	t.Run("ThroughTheLog", func(t *testing.T) {
		n := 0
		for e, err := range j.Entries(c, 0) {
			require.NoError(t, err)
			if e.Source == journal.SourceCallback {
				n++
				assert.Equal(t, "105", e.Event.Extension)
			}
		}
		assert.Equal(t, 2, n)
		last, err := j.LastSeq(c)
		require.NoError(t, err)
		handleAll(t, j, answeredOut("o1", "+7 916 111-00-01", hm(10, 0), "105").events()...) // redelivered
		again, err := j.LastSeq(c)
		require.NoError(t, err)
		assert.Equal(t, last, again, "a redelivery marks nothing twice")
	})
	t.Run("MissedCallLearnedLater", func(t *testing.T) {
		handleAll(t, j, answeredOut("o2", z, hm(12, 0), "107").events()...)
		handleAll(t, j, missed("m4", z, hm(11, 0)).events()...) // delivered late
		m4 := mustCall(t, j, "sipuni", "m4")
		assert.Equal(t, "107", m4.CalledBackBy)
	})
}
