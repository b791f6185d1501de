package journaltest

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
)

// vendorPayload stands for a provider's Raw type.
type vendorPayload struct {
	State   string `json:"state"`
	Session string `json:"session_id"`
}

// allEntries reads the whole log.
func allEntries(t *testing.T, j *journal.Journal) []journal.Entry {
	t.Helper()
	var out []journal.Entry
	for e, err := range j.Entries(ctx(t), 0) {
		require.NoError(t, err)
		out = append(out, e)
	}
	return out
}

func (s *suite) testLog(t *testing.T) {
	t.Run("RedeliveryStoredOnce", func(t *testing.T) {
		j, st := s.newJournal(t)
		c := ctx(t)
		e := ev("sipuni", "c1", pbx.EventRinging, at(0), "k1")
		e.Extension = "101"
		require.NoError(t, j.HandleEvent(c, e))
		require.NoError(t, j.HandleEvent(c, e))
		es := allEntries(t, j)
		require.Len(t, es, 1)
		assert.Equal(t, "k1", es[0].Event.DedupeKey)

		// Straight to the store: the duplicate comes back with its Seq.
		dup := journal.Entry{ReceivedAt: at(sec(5)), Event: e}
		got, appended, err := st.Append(c, dup, journal.Fold)
		require.NoError(t, err)
		assert.False(t, appended, "a duplicate DedupeKey must not be appended")
		assert.Equal(t, es[0].Seq, got.Seq, "the duplicate returns the stored entry")
		last, err := st.LastSeq(c)
		require.NoError(t, err)
		assert.Equal(t, es[0].Seq, last)
	})

	t.Run("DirtyTextStoredOnEveryBackend", func(t *testing.T) {
		// A NUL byte or invalid UTF-8 from a vendor must not make one
		// backend refuse what another stores (PostgreSQL's text refuses
		// both): the journal cleans the text before it reaches the store.
		j, _ := s.newJournal(t)
		c := ctx(t)
		e := ev("sipuni", "c\x00\xff1", pbx.EventRinging, at(0), "k\x00\xfe")
		e.Extension = "10\x001"
		require.NoError(t, j.HandleEvent(c, e), "dirty text is stored, not refused forever")
		require.NoError(t, j.HandleEvent(c, e), "and its redelivery is recognised")
		es := allEntries(t, j)
		require.Len(t, es, 1)
		assert.Equal(t, "c\uFFFD1", es[0].Event.CallID)
		assert.Equal(t, "k\uFFFD", es[0].Event.DedupeKey)
		assert.Equal(t, "101", es[0].Event.Extension)
		call, err := j.Call(c, "sipuni", "c\uFFFD1")
		require.NoError(t, err)
		require.Len(t, call.Legs, 1)
		assert.Equal(t, "101", call.Legs[0].Extension)
	})

	t.Run("DedupeIsPerProvider", func(t *testing.T) {
		j, _ := s.newJournal(t)
		c := ctx(t)
		require.NoError(t, j.HandleEvent(c, ev("sipuni", "c1", pbx.EventRinging, at(0), "same")))
		require.NoError(t, j.HandleEvent(c, ev("rostelecom", "c1", pbx.EventRinging, at(0), "same")))
		assert.Len(t, allEntries(t, j), 2, "the same key from two providers is two events")
	})

	t.Run("EmptyDedupeKeyDerived", func(t *testing.T) {
		j, _ := s.newJournal(t)
		c := ctx(t)
		e := ev("prostiezvonki", "c1", pbx.EventAnswered, at(0), "")
		e.Extension = "101"
		require.NoError(t, j.HandleEvent(c, e))
		require.NoError(t, j.HandleEvent(c, e)) // a redelivery
		other := e
		other.Extension = "102"
		require.NoError(t, j.HandleEvent(c, other))
		es := allEntries(t, j)
		require.Len(t, es, 2, "an identical event without a key is a redelivery; a different one is not")
		assert.NotEmpty(t, es[0].Event.DedupeKey, "the stored event carries the derived key")
		assert.NotEqual(t, es[0].Event.DedupeKey, es[1].Event.DedupeKey)
	})

	t.Run("SeqGrowsAndPages", func(t *testing.T) {
		j, st := s.newJournal(t)
		c := ctx(t)
		for i := range 7 {
			require.NoError(t, j.HandleEvent(c, ev("sipuni", fmt.Sprint("c", i%3), pbx.EventRinging, at(sec(i)), fmt.Sprint("k", i))))
		}
		es := allEntries(t, j)
		require.Len(t, es, 7)
		for i := 1; i < len(es); i++ {
			assert.Greater(t, es[i].Seq, es[i-1].Seq, "Seq only grows")
		}
		page, err := st.Entries(c, es[2].Seq, 3)
		require.NoError(t, err)
		require.Len(t, page, 3, "Entries honours limit")
		assert.Equal(t, es[3].Seq, page[0].Seq, "Entries starts after `after`")
		page, err = st.Entries(c, es[6].Seq, 10)
		require.NoError(t, err)
		assert.Empty(t, page, "nothing after the last entry")
		assert.NotNil(t, page, "no entries is an empty slice")
		last, err := j.LastSeq(c)
		require.NoError(t, err)
		assert.Equal(t, es[6].Seq, last)

		ce, err := j.CallEntries(c, "sipuni", "c1")
		require.NoError(t, err)
		require.Len(t, ce, 2)
		assert.Equal(t, []int64{es[1].Seq, es[4].Seq}, []int64{ce[0].Seq, ce[1].Seq}, "CallEntries in Seq order")
	})

	t.Run("RawStoredAsJSON", func(t *testing.T) {
		j, _ := s.newJournal(t)
		c := ctx(t)
		e := ev("rostelecom", "c1", pbx.EventCallStarted, at(0), "k1")
		e.Raw = &vendorPayload{State: "new", Session: "c1"}
		e.TalkDuration = sec(3)
		e.HasRecording = true
		require.NoError(t, j.HandleEvent(c, e))
		es := allEntries(t, j)
		require.Len(t, es, 1)
		raw, ok := es[0].Event.Raw.(json.RawMessage)
		require.True(t, ok, "Raw reads back as json.RawMessage, got %T", es[0].Event.Raw)
		assert.JSONEq(t, `{"state":"new","session_id":"c1"}`, string(raw))
		assert.Equal(t, sec(3), es[0].Event.TalkDuration)
		assert.True(t, es[0].Event.HasRecording)
		assert.True(t, es[0].Event.At.Equal(at(0)))
		assert.False(t, es[0].ReceivedAt.IsZero())
		assert.Equal(t, journal.SourceEvent, es[0].Source)
	})

	t.Run("ZeroAtBecomesReceiveTime", func(t *testing.T) {
		j, _ := s.newJournal(t)
		c := ctx(t)
		require.NoError(t, j.HandleEvent(c, ev("prostiezvonki", "c1", pbx.EventRinging, zeroTime, "k1")))
		es := allEntries(t, j)
		require.Len(t, es, 1)
		assert.True(t, es[0].Event.At.Equal(es[0].ReceivedAt))
	})

	t.Run("EventWithoutCallIDLoggedNotFolded", func(t *testing.T) {
		j, _ := s.newJournal(t)
		c := ctx(t)
		require.NoError(t, j.HandleEvent(c, ev("prostiezvonki", "", pbx.EventUnknown, at(0), "k1")))
		assert.Len(t, allEntries(t, j), 1)
		_, err := j.Call(c, "prostiezvonki", "")
		assert.ErrorIs(t, err, journal.ErrNotFound)
		n := 0
		for _, err := range j.Calls(c, journal.Query{}) {
			require.NoError(t, err)
			n++
		}
		assert.Zero(t, n)
	})

	t.Run("CallNotFound", func(t *testing.T) {
		j, _ := s.newJournal(t)
		_, err := j.Call(ctx(t), "sipuni", "nope")
		assert.True(t, errors.Is(err, journal.ErrNotFound), "got %v", err)
	})
}

var zeroTime time.Time
