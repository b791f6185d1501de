package journal_test

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/journal/journaltest"
)

// arrive turns events, in arrival order, into the entries a store holds:
// redeliveries (same DedupeKey) dropped, Seq and ReceivedAt by arrival.
func arrive(events []pbx.CallEvent, order []int) []journal.Entry {
	seen := make(map[string]bool)
	var out []journal.Entry
	rcv := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	for _, i := range order {
		e := events[i]
		if seen[e.DedupeKey] {
			continue
		}
		seen[e.DedupeKey] = true
		out = append(out, journal.Entry{Seq: int64(len(out) + 1), ReceivedAt: rcv.Add(time.Duration(len(out)) * time.Second), Event: e})
	}
	return out
}

// TestFoldEveryOrder folds every scenario of the conformance suite in every
// arrival order (up to 8! = 40,320 orders) and checks the expected call.
func TestFoldEveryOrder(t *testing.T) {
	for _, sc := range journaltest.Scenarios() {
		t.Run(sc.Name, func(t *testing.T) {
			perms := journaltest.Permutations(len(sc.Events), 40320)
			require.NotEmpty(t, perms)
			want := journaltest.Comparable(sc.Want)
			for _, p := range perms {
				got := journaltest.Comparable(journal.Fold(arrive(sc.Events, p)))
				if !assert.Equal(t, want, got, "arrival order %v", p) {
					return
				}
			}
		})
	}
}

// conflicting is a call whose events disagree (two outcomes, two phones,
// two recording links, a history row, a timeout, call-back notes): only a
// canonical order makes the fold independent of arrival.
func conflicting() []pbx.CallEvent {
	t0 := time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)
	mk := func(typ pbx.EventType, d int, key string, f func(*pbx.CallEvent)) pbx.CallEvent {
		e := pbx.CallEvent{Provider: "sipuni", CallID: "x", Type: typ, At: t0.Add(time.Duration(d) * time.Second), DedupeKey: key}
		if f != nil {
			f(&e)
		}
		return e
	}
	return []pbx.CallEvent{
		mk(pbx.EventRinging, 1, "a", func(e *pbx.CallEvent) { e.Extension, e.Phone, e.Direction = "101", "79990000001", pbx.Inbound }),
		mk(pbx.EventRinging, 1, "b", func(e *pbx.CallEvent) { e.Extension, e.Phone, e.Direction = "102", "79990000002", pbx.Outbound }),
		mk(pbx.EventCallEnded, 30, "c", func(e *pbx.CallEvent) { e.Outcome, e.RecordingURL = pbx.OutcomeBusy, "https://r/1" }),
		mk(pbx.EventCallEnded, 30, "d", func(e *pbx.CallEvent) { e.Outcome, e.RecordingURL = pbx.OutcomeMissed, "https://r/2" }),
		mk(pbx.EventLegEnded, 30, "e", func(e *pbx.CallEvent) { e.Extension, e.Outcome = "102", pbx.OutcomeAnswered }),
		mk(pbx.EventUnknown, 31, "f", nil),
	}
}

// TestFoldConflictingEventsEveryOrder: the canonical sort, not luck, makes
// the fold order-independent (this test fails when Fold folds in arrival
// order).
func TestFoldConflictingEventsEveryOrder(t *testing.T) {
	events := conflicting()
	var first journal.Call
	for i, p := range journaltest.Permutations(len(events), 720) {
		got := journal.Fold(arrive(events, p))
		if i == 0 {
			first = got
			continue
		}
		if !assert.Equal(t, journaltest.Comparable(first), journaltest.Comparable(got), "order %v", p) {
			return
		}
	}
}

func TestFoldEmpty(t *testing.T) {
	assert.Equal(t, journal.Call{}, journal.Fold(nil))
}

// TestFoldRules checks single rules of the package doc's table.
func TestFoldRules(t *testing.T) {
	t0 := time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	type ent struct {
		src journal.Source
		e   pbx.CallEvent
	}
	mk := func(src journal.Source, typ pbx.EventType, s int, f func(*pbx.CallEvent)) ent {
		e := pbx.CallEvent{Provider: "p", CallID: "c", Type: typ, At: at(s), Direction: pbx.Inbound}
		if f != nil {
			f(&e)
		}
		return ent{src, e}
	}
	fold := func(es ...ent) journal.Call {
		var out []journal.Entry
		for i, x := range es {
			x.e.DedupeKey = fmt.Sprint(i)
			out = append(out, journal.Entry{Seq: int64(i + 1), ReceivedAt: at(1000 + i), Source: x.src, Event: x.e})
		}
		return journal.Fold(out)
	}
	ext := func(x string) func(*pbx.CallEvent) { return func(e *pbx.CallEvent) { e.Extension = x } }
	ev := journal.SourceEvent

	t.Run("LateLegEndedNeverUnanswers", func(t *testing.T) {
		c := fold(mk(ev, pbx.EventAnswered, 5, ext("101")), mk(ev, pbx.EventCallEnded, 60, nil),
			mk(ev, pbx.EventLegEnded, 70, func(e *pbx.CallEvent) { e.Extension, e.Outcome = "102", pbx.OutcomeCancelled }))
		assert.Equal(t, pbx.OutcomeAnswered, c.Outcome)
		assert.False(t, c.Missed)
	})
	t.Run("VendorOutcomeWins", func(t *testing.T) {
		c := fold(mk(ev, pbx.EventAnswered, 5, ext("101")), mk(ev, pbx.EventCallEnded, 60, func(e *pbx.CallEvent) { e.Outcome = pbx.OutcomeBusy }))
		assert.Equal(t, pbx.OutcomeBusy, c.Outcome)
		assert.Empty(t, c.AnsweredBy, "AnsweredBy only for answered calls")
		assert.Zero(t, c.TalkDuration)
		assert.True(t, c.Missed, "inbound busy is a missed call")
	})
	t.Run("OutboundUnansweredIsMissedOutcomeNotMissedCall", func(t *testing.T) {
		c := fold(mk(ev, pbx.EventCallStarted, 0, func(e *pbx.CallEvent) { e.Direction, e.Extension = pbx.Outbound, "101" }),
			mk(ev, pbx.EventCallEnded, 20, func(e *pbx.CallEvent) { e.Direction = pbx.Outbound }))
		assert.Equal(t, pbx.OutcomeMissed, c.Outcome)
		assert.False(t, c.Missed)
		require.Len(t, c.Legs, 1, "the calling employee has a leg")
	})
	t.Run("TalkFromEventWhenGiven", func(t *testing.T) {
		c := fold(mk(ev, pbx.EventAnswered, 5, ext("101")),
			mk(ev, pbx.EventCallEnded, 60, func(e *pbx.CallEvent) { e.TalkDuration, e.CallDuration = 50*time.Second, 61*time.Second }))
		assert.Equal(t, 50*time.Second, c.TalkDuration)
		assert.Equal(t, 61*time.Second, c.CallDuration)
	})
	t.Run("TransferFirstAnswerIsAnsweredBy", func(t *testing.T) {
		c := fold(mk(ev, pbx.EventAnswered, 5, ext("102")), mk(ev, pbx.EventTransferred, 20, ext("101")),
			mk(ev, pbx.EventAnswered, 22, ext("101")), mk(ev, pbx.EventLegEnded, 22, ext("102")), mk(ev, pbx.EventCallEnded, 60, nil))
		assert.Equal(t, "102", c.AnsweredBy)
		assert.True(t, c.AnsweredAt.Equal(at(5)))
		require.Len(t, c.Legs, 2)
		assert.True(t, c.Legs[0].Answered && c.Legs[1].Answered)
	})
	t.Run("TerminalExtensionOnlyWithoutDirectEvidence", func(t *testing.T) {
		c := fold(mk(ev, pbx.EventAnswered, 5, ext("102")),
			mk(ev, pbx.EventCallEnded, 60, func(e *pbx.CallEvent) { e.Extension, e.Outcome = "101", pbx.OutcomeAnswered }))
		assert.Equal(t, "102", c.AnsweredBy)
		for _, l := range c.Legs {
			assert.Equal(t, l.Extension == "102", l.Answered, l.Extension)
		}
	})
	t.Run("TimeoutThenHistory", func(t *testing.T) {
		c := fold(mk(ev, pbx.EventRinging, 1, ext("101")), mk(journal.SourceTimeout, pbx.EventCallEnded, 7300, nil),
			mk(journal.SourceHistory, pbx.EventCallEnded, 30, func(e *pbx.CallEvent) { e.Outcome, e.Extension = pbx.OutcomeMissed, "101" }))
		assert.Equal(t, journal.ClosedByHistory, c.ClosedBy)
		assert.True(t, c.Missed)
		assert.True(t, c.LastEventAt.Equal(at(30)), "synthetic timeouts do not count as activity")
	})
	t.Run("SeveralHistoryRowsAnsweredWins", func(t *testing.T) {
		h := func(s int, o pbx.Outcome, x string) ent {
			return mk(journal.SourceHistory, pbx.EventCallEnded, s, func(e *pbx.CallEvent) { e.Outcome, e.Extension = o, x })
		}
		for _, order := range [][]ent{{h(10, pbx.OutcomeMissed, "101"), h(20, pbx.OutcomeAnswered, "102")}, {h(10, pbx.OutcomeAnswered, "102"), h(20, pbx.OutcomeMissed, "101")}} {
			c := fold(order...)
			assert.Equal(t, pbx.OutcomeAnswered, c.Outcome)
			assert.Equal(t, "102", c.AnsweredBy)
		}
	})
	t.Run("CallbackOnlyOnMissed", func(t *testing.T) {
		cb := mk(journal.SourceCallback, pbx.EventUnknown, 100, ext("105"))
		c := fold(mk(ev, pbx.EventCallEnded, 20, nil), cb)
		assert.Equal(t, "105", c.CalledBackBy)
		c = fold(mk(ev, pbx.EventAnswered, 5, ext("101")), mk(ev, pbx.EventCallEnded, 20, nil), cb)
		assert.Empty(t, c.CalledBackBy, "an answered call is not called back")
		assert.True(t, c.CalledBackAt.IsZero())
	})
}

// fuzzEvents derives a call's events from bytes, 7 bytes an event.
func fuzzEvents(data []byte) []journal.Entry {
	t0 := time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)
	var out []journal.Entry
	for i := 0; i+7 <= len(data) && len(out) < 12; i += 7 {
		b := data[i : i+7]
		e := pbx.CallEvent{
			Provider:  "p",
			CallID:    "c",
			Type:      pbx.EventType(b[0] % 8), // 7 is out of range on purpose
			Extension: []string{"", "101", "102", "103"}[b[1]%4],
			Direction: pbx.Direction(b[1] >> 2 % 5),
			At:        t0.Add(time.Duration(b[2]) * time.Second),
			Outcome:   pbx.Outcome(b[3] % 7),
			DedupeKey: fmt.Sprint("k", len(out)),
			Phone:     []string{"", "79990000001", "79990000002", "ivan"}[b[3]>>4%4],
		}
		if b[4]&1 != 0 {
			e.AnsweredAt = e.At.Add(-time.Duration(b[4]>>1) * time.Second)
		}
		if b[4]&2 != 0 {
			e.StartedAt = e.At.Add(-time.Duration(b[4]) * time.Second)
		}
		if b[5]&1 != 0 {
			e.TalkDuration = time.Duration(binary.BigEndian.Uint16([]byte{b[5], b[6]})) * time.Millisecond
		}
		if b[5]&2 != 0 {
			e.CallDuration = time.Duration(b[6]) * time.Second
		}
		if b[5]&4 != 0 {
			e.EndedAt = e.At
		}
		if b[5]&8 != 0 {
			e.RecordingURL = fmt.Sprint("https://r/", b[6]%3)
		}
		e.HasRecording = b[5]&16 != 0
		out = append(out, journal.Entry{
			Seq:        int64(len(out) + 1),
			ReceivedAt: t0.Add(time.Hour + time.Duration(len(out))*time.Second),
			Source:     journal.Source(b[6] % 5), // 4 is out of range on purpose
			Event:      e,
		})
	}
	return out
}

// FuzzFold: any sequence of events for one call folds without panicking,
// into a call that keeps the table's invariants, and every reordering of
// the sequence folds into the same call.
func FuzzFold(f *testing.F) {
	f.Add([]byte{1, 1, 0, 0, 0, 0, 0, 2, 1, 1, 0, 0, 0, 0, 3, 1, 5, 0, 1, 0, 0, 6, 0, 60, 0, 0, 4, 0})
	f.Add([]byte{2, 2, 1, 2, 3, 9, 1, 6, 0, 30, 0x12, 0, 6, 1, 6, 0, 30, 0x21, 2, 7, 2, 4, 2, 9, 1, 0, 0, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		es := fuzzEvents(data)
		c := journal.Fold(es)
		if len(es) == 0 {
			return
		}
		if c.StartedAt.IsZero() || c.LastEventAt.IsZero() {
			t.Fatalf("zero StartedAt or LastEventAt: %+v", c)
		}
		if c.Outcome != pbx.OutcomeAnswered && (c.AnsweredBy != "" || c.TalkDuration != 0 || !c.AnsweredAt.IsZero()) {
			t.Fatalf("answer fields on an unanswered call: %+v", c)
		}
		if c.Missed && c.Direction != pbx.Inbound {
			t.Fatalf("missed but not inbound: %+v", c)
		}
		if c.TalkDuration < 0 || c.CallDuration < 0 {
			t.Fatalf("negative duration: %+v", c)
		}
		if c.FirstSeq != 1 || c.LastSeq != int64(len(es)) {
			t.Fatalf("seqs %d..%d for %d entries", c.FirstSeq, c.LastSeq, len(es))
		}
		// Reordered: reversed, and rotated by the first byte. Seq and
		// ReceivedAt follow arrival, as in a store.
		n := len(es)
		for _, perm := range [][]int{reverse(n), rotate(n, int(data[0]))} {
			re := make([]journal.Entry, n)
			for k, i := range perm {
				re[k] = es[i]
				re[k].Seq, re[k].ReceivedAt = es[k].Seq, es[k].ReceivedAt
			}
			// Times that fall back to ReceivedAt change with arrival
			// order; the journal never stores an event without At, so
			// neither does this test.
			if got := journal.Fold(re); !reflect.DeepEqual(got, c) {
				t.Fatalf("order %v changed the call:\n%+v\n%+v", perm, c, got)
			}
		}
	})
}

func reverse(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = n - 1 - i
	}
	return p
}

func rotate(n, k int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = (i + k) % n
	}
	return p
}
