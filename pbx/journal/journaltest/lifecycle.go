package journaltest

import (
	"context"
	"errors"
	"iter"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
)

// rtEvent is a Rostelecom-style inbound event from the client.
func rtEvent(id string, typ pbx.EventType, d time.Duration, ext, key string) pbx.CallEvent {
	e := ev("rostelecom", id, typ, at(d), key)
	e.Direction, e.Phone, e.Extension = pbx.Inbound, client, ext
	switch typ {
	case pbx.EventCallStarted:
		e.StartedAt = e.At
	case pbx.EventAnswered:
		e.AnsweredAt = e.At
	case pbx.EventCallEnded:
		e.EndedAt = e.At
	}
	return e
}

func handleAll(t *testing.T, j *journal.Journal, es ...pbx.CallEvent) {
	t.Helper()
	for _, e := range es {
		require.NoError(t, j.HandleEvent(ctx(t), e))
	}
}

func mustCall(t *testing.T, j *journal.Journal, provider, id string) journal.Call {
	t.Helper()
	c, err := j.Call(ctx(t), provider, id)
	require.NoError(t, err, "call %s/%s", provider, id)
	return c
}

func (s *suite) testIdleClose(t *testing.T) {
	j, _ := s.newJournal(t)
	c := ctx(t)
	handleAll(t, j,
		// A: rang, nobody answered, the end never came.
		rtEvent("A", pbx.EventCallStarted, 0, "", "a1"), rtEvent("A", pbx.EventRinging, sec(1), "101", "a2"),
		// B: answered, the end never came.
		rtEvent("B", pbx.EventCallStarted, 0, "", "b1"), rtEvent("B", pbx.EventAnswered, sec(5), "101", "b2"),
		// C: over.
		rtEvent("C", pbx.EventCallStarted, 0, "", "c1"), rtEvent("C", pbx.EventCallEnded, sec(9), "", "c2"),
		// D: started late, still recent.
		rtEvent("D", pbx.EventCallStarted, 110*time.Minute, "", "d1"),
	)

	t.Run("NotBeforeTimeout", func(t *testing.T) {
		n, err := j.CloseIdle(c, at(time.Hour))
		require.NoError(t, err)
		assert.Zero(t, n)
		assert.Equal(t, journal.CallOpen, mustCall(t, j, "rostelecom", "A").ClosedBy)
	})

	now := at(2*time.Hour + 10*time.Second)
	t.Run("ClosesQuietCallsOnly", func(t *testing.T) {
		before, err := j.LastSeq(c)
		require.NoError(t, err)
		n, err := j.CloseIdle(c, now)
		require.NoError(t, err)
		assert.Equal(t, 2, n, "A and B went quiet for 2 h; C is over; D is recent")

		a := mustCall(t, j, "rostelecom", "A")
		assert.Equal(t, journal.ClosedByTimeout, a.ClosedBy)
		assert.Equal(t, pbx.OutcomeUnknown, a.Outcome, "nobody answered: unknown, not missed")
		assert.False(t, a.Missed)
		assert.True(t, a.EndedAt.IsZero(), "the end time is not guessed")

		b := mustCall(t, j, "rostelecom", "B")
		assert.Equal(t, journal.ClosedByTimeout, b.ClosedBy)
		assert.Equal(t, pbx.OutcomeAnswered, b.Outcome, "a leg answered")
		assert.Equal(t, "101", b.AnsweredBy)

		assert.Equal(t, journal.CallOpen, mustCall(t, j, "rostelecom", "D").ClosedBy)
		assert.Equal(t, journal.ClosedByEvent, mustCall(t, j, "rostelecom", "C").ClosedBy)

		// The closes went through the log.
		var timeouts []journal.Entry
		for e, err := range j.Entries(c, before) {
			require.NoError(t, err)
			timeouts = append(timeouts, e)
		}
		require.Len(t, timeouts, 2)
		for _, e := range timeouts {
			assert.Equal(t, journal.SourceTimeout, e.Source)
			assert.Equal(t, pbx.EventCallEnded, e.Event.Type)
			assert.True(t, e.Event.At.Equal(now))
		}
	})

	t.Run("SecondRunClosesNothing", func(t *testing.T) {
		n, err := j.CloseIdle(c, now.Add(time.Minute))
		require.NoError(t, err)
		assert.Zero(t, n)
	})

	t.Run("LateTerminalEventCorrects", func(t *testing.T) {
		handleAll(t, j, rtEvent("A", pbx.EventCallEnded, sec(30), "", "a3"))
		a := mustCall(t, j, "rostelecom", "A")
		assert.Equal(t, journal.ClosedByEvent, a.ClosedBy)
		assert.Equal(t, pbx.OutcomeMissed, a.Outcome)
		assert.True(t, a.Missed)
		assert.True(t, a.EndedAt.Equal(at(sec(30))))
	})

	t.Run("IdleTimeoutOption", func(t *testing.T) {
		j10 := journal.New(j.Store(), journal.WithIdleTimeout(10*time.Minute))
		n, err := j10.CloseIdle(c, at(110*time.Minute+11*time.Minute))
		require.NoError(t, err)
		assert.Equal(t, 1, n, "D is quiet for 11 min")
		assert.Equal(t, journal.ClosedByTimeout, mustCall(t, j, "rostelecom", "D").ClosedBy)
	})
}

// historyProvider is a pbx.Provider with a pbx.HistoryExporter serving
// fixed rows (and failing after failAfter rows when failAfter > 0).
type historyProvider struct {
	bareProvider
	rows      []pbx.CallRecord
	failAfter int
}

var errHistory = errors.New("history export failed")

func (p *historyProvider) History(ctx context.Context, q pbx.HistoryQuery) iter.Seq2[pbx.CallRecord, error] {
	return func(yield func(pbx.CallRecord, error) bool) {
		for i, r := range p.rows {
			if p.failAfter > 0 && i == p.failAfter {
				yield(pbx.CallRecord{}, errHistory)
				return
			}
			if !yield(r, nil) {
				return
			}
		}
	}
}

// bareProvider is a pbx.Provider without a history export.
type bareProvider struct{ name string }

func (p bareProvider) Name() string { return p.name }

func (p bareProvider) WebhookHandler(pbx.EventHandler, pbx.Router) http.Handler {
	return http.NotFoundHandler()
}

func (s *suite) testReconcile(t *testing.T) {
	j, _ := s.newJournal(t)
	c := ctx(t)
	handleAll(t, j,
		// K1: answered and over; the history agrees.
		rtEvent("K1", pbx.EventCallStarted, 0, "", "k1a"), rtEvent("K1", pbx.EventAnswered, sec(5), "101", "k1b"),
		rtEvent("K1", pbx.EventCallEnded, sec(65), "", "k1c"),
		// K2: still open; the history says missed.
		rtEvent("K2", pbx.EventCallStarted, 0, "", "k2a"), rtEvent("K2", pbx.EventRinging, sec(1), "102", "k2b"),
		// K3: answered, then closed by timeout; the history gives the talk time.
		rtEvent("K3", pbx.EventCallStarted, 0, "", "k3a"), rtEvent("K3", pbx.EventAnswered, sec(4), "103", "k3b"),
		// K4: over with no answer seen (derived missed); the history says answered.
		rtEvent("K4", pbx.EventCallStarted, 0, "", "k4a"), rtEvent("K4", pbx.EventRinging, sec(1), "104", "k4b"),
		rtEvent("K4", pbx.EventCallEnded, sec(40), "", "k4c"),
	)
	n, err := j.CloseIdle(c, at(3*time.Hour))
	require.NoError(t, err)
	require.Equal(t, 2, n, "K2 and K3 time out")

	row := func(id string, out pbx.Outcome, ext string, talk, call time.Duration) pbx.CallRecord {
		return pbx.CallRecord{CallID: id, Direction: pbx.Inbound, Phone: client, Line: line, Extension: ext,
			StartedAt: at(0), Outcome: out, TalkDuration: talk, CallDuration: call}
	}
	p := &historyProvider{bareProvider: bareProvider{"rostelecom"}, rows: []pbx.CallRecord{
		row("K1", pbx.OutcomeAnswered, "101", sec(60), sec(65)),
		row("K2", pbx.OutcomeMissed, "102", 0, sec(20)),
		row("K3", pbx.OutcomeAnswered, "103", sec(42), sec(50)),
		row("K4", pbx.OutcomeAnswered, "104", sec(30), sec(40)),
		row("K5", pbx.OutcomeMissed, "105", 0, sec(15)),         // never seen
		row("K6", pbx.OutcomeAnswered, "106", sec(20), sec(30)), // never seen, answered
		row("", pbx.OutcomeMissed, "107", 0, sec(9)),            // no call id
	}}
	q := pbx.HistoryQuery{From: at(-time.Hour), To: at(time.Hour)}

	before, err := j.LastSeq(c)
	require.NoError(t, err)
	rep, err := j.Reconcile(c, p, q)
	require.NoError(t, err)
	assert.Equal(t, journal.ReconcileReport{Read: 7, Added: 2, Updated: 3, Skipped: 1}, rep)

	t.Run("AgreeingCallUntouched", func(t *testing.T) {
		k1 := mustCall(t, j, "rostelecom", "K1")
		assert.Equal(t, journal.ClosedByEvent, k1.ClosedBy)
		es, err := j.CallEntries(c, "rostelecom", "K1")
		require.NoError(t, err)
		assert.Len(t, es, 3, "no history entry for a call the history agrees with")
	})
	t.Run("OpenCallClosedByHistory", func(t *testing.T) {
		k2 := mustCall(t, j, "rostelecom", "K2")
		assert.Equal(t, journal.ClosedByHistory, k2.ClosedBy)
		assert.Equal(t, pbx.OutcomeMissed, k2.Outcome)
		assert.True(t, k2.Missed)
		assert.True(t, k2.EndedAt.Equal(at(sec(20))), "end = start + call duration, got %v", k2.EndedAt)
		assert.Equal(t, sec(20), k2.CallDuration)
	})
	t.Run("TimedOutCallClosedByHistory", func(t *testing.T) {
		k3 := mustCall(t, j, "rostelecom", "K3")
		assert.Equal(t, journal.ClosedByHistory, k3.ClosedBy)
		assert.Equal(t, pbx.OutcomeAnswered, k3.Outcome)
		assert.Equal(t, sec(42), k3.TalkDuration)
		assert.Equal(t, "103", k3.AnsweredBy)
	})
	t.Run("ClosedCallOutcomeCorrected", func(t *testing.T) {
		k4 := mustCall(t, j, "rostelecom", "K4")
		assert.Equal(t, journal.ClosedByEvent, k4.ClosedBy, "a call the provider closed stays closed by event")
		assert.Equal(t, pbx.OutcomeAnswered, k4.Outcome, "the history knows better")
		assert.False(t, k4.Missed)
		assert.Equal(t, sec(30), k4.TalkDuration)
		assert.Equal(t, "104", k4.AnsweredBy)
	})
	t.Run("UnknownCallsAdded", func(t *testing.T) {
		k5 := mustCall(t, j, "rostelecom", "K5")
		assert.Equal(t, journal.ClosedByHistory, k5.ClosedBy)
		assert.Equal(t, pbx.OutcomeMissed, k5.Outcome)
		assert.True(t, k5.Missed)
		assert.Equal(t, client, k5.Phone)
		assert.True(t, k5.StartedAt.Equal(at(0)))
		require.Len(t, k5.Legs, 1)
		assert.Equal(t, "105", k5.Legs[0].Extension)
		assert.False(t, k5.Legs[0].Answered)

		k6 := mustCall(t, j, "rostelecom", "K6")
		assert.Equal(t, pbx.OutcomeAnswered, k6.Outcome)
		assert.Equal(t, "106", k6.AnsweredBy)
		assert.Equal(t, sec(20), k6.TalkDuration)
		assert.Equal(t, sec(30), k6.CallDuration)
		assert.True(t, k6.AnsweredAt.Equal(at(sec(10))), "answer = end - talk, got %v", k6.AnsweredAt)
	})
	t.Run("WrittenThroughTheLog", func(t *testing.T) {
		var hist int
		for e, err := range j.Entries(c, before) {
			require.NoError(t, err)
			if e.Source == journal.SourceHistory {
				hist++
				assert.Equal(t, pbx.EventCallEnded, e.Event.Type)
				assert.NotNil(t, e.Event.Raw, "the row goes with the entry")
			}
		}
		assert.Equal(t, 5, hist, "one entry per call added or corrected")
	})
	t.Run("SecondRunChangesNothing", func(t *testing.T) {
		last, err := j.LastSeq(c)
		require.NoError(t, err)
		rep, err := j.Reconcile(c, p, q)
		require.NoError(t, err)
		assert.Equal(t, journal.ReconcileReport{Read: 7, Skipped: 1}, rep)
		again, err := j.LastSeq(c)
		require.NoError(t, err)
		assert.Equal(t, last, again, "nothing appended")
	})
	t.Run("LaterEventDoesNotUndoHistory", func(t *testing.T) {
		handleAll(t, j, rtEvent("K2", pbx.EventCallEnded, sec(20), "", "k2c"))
		k2 := mustCall(t, j, "rostelecom", "K2")
		assert.Equal(t, journal.ClosedByEvent, k2.ClosedBy)
		assert.Equal(t, pbx.OutcomeMissed, k2.Outcome)
	})
	t.Run("NoHistoryExportIsNotSupported", func(t *testing.T) {
		_, err := j.Reconcile(c, bareProvider{"prostiezvonki"}, q)
		assert.ErrorIs(t, err, pbx.ErrNotSupported)
	})
	t.Run("ExportErrorReturned", func(t *testing.T) {
		bad := &historyProvider{bareProvider: bareProvider{"rostelecom"}, rows: p.rows, failAfter: 2}
		rep, err := j.Reconcile(c, bad, q)
		assert.ErrorIs(t, err, errHistory)
		assert.Equal(t, 2, rep.Read)
	})
}
