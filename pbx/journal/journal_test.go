package journal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
)

var errDiskFull = errors.New("disk full")

// failingStore wraps a Store and fails the methods whose switch is on.
type failingStore struct {
	journal.Store
	failAppend, failCall, failEntries atomic.Bool
}

func (s *failingStore) Append(ctx context.Context, e journal.Entry, fold journal.FoldFunc) (journal.Entry, bool, error) {
	if s.failAppend.Load() {
		return journal.Entry{}, false, errDiskFull
	}
	return s.Store.Append(ctx, e, fold)
}

func (s *failingStore) Call(ctx context.Context, provider, id string) (journal.Call, error) {
	if s.failCall.Load() {
		return journal.Call{}, errDiskFull
	}
	return s.Store.Call(ctx, provider, id)
}

func (s *failingStore) Entries(ctx context.Context, after int64, limit int) ([]journal.Entry, error) {
	if s.failEntries.Load() {
		return nil, errDiskFull
	}
	return s.Store.Entries(ctx, after, limit)
}

func TestHandleEventStoreFailure(t *testing.T) {
	st := &failingStore{Store: journal.NewMemoryStore()}
	j := journal.New(st)
	ctx := t.Context()
	e := pbx.CallEvent{Provider: "sipuni", CallID: "c1", Type: pbx.EventCallEnded, Direction: pbx.Inbound,
		Phone: "79990000001", At: time.Now(), DedupeKey: "k"}

	t.Run("AppendFails", func(t *testing.T) {
		st.failAppend.Store(true)
		defer st.failAppend.Store(false)
		err := j.HandleEvent(ctx, e)
		require.ErrorIs(t, err, errDiskFull, "a store failure is HandleEvent's error")
		n, err := j.LastSeq(ctx)
		require.NoError(t, err)
		assert.Zero(t, n)
	})
	t.Run("FollowUpReadFails", func(t *testing.T) {
		// The event is stored, but marking call-backs needs a read that
		// fails: the error still reaches the PBX, whose redelivery is
		// then acknowledged as a duplicate and completes the work.
		st.failCall.Store(true)
		err := j.HandleEvent(ctx, e)
		st.failCall.Store(false)
		require.ErrorIs(t, err, errDiskFull)
		require.NoError(t, j.HandleEvent(ctx, e))
		n, err := j.LastSeq(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(1), n, "stored once")
	})
	t.Run("WebhookAnswers5xx", func(t *testing.T) {
		// A provider's handler turns the error into a 5xx; this stands in
		// for one.
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := j.HandleEvent(r.Context(), e); err != nil {
				http.Error(w, "store failed", http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		st.failAppend.Store(true)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
		st.failAppend.Store(false)
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "never a 200 for an event not stored")
	})
	t.Run("SubscribeYieldsError", func(t *testing.T) {
		st.failEntries.Store(true)
		defer st.failEntries.Store(false)
		var got error
		for _, err := range j.Subscribe(ctx, 0) {
			got = err
		}
		assert.ErrorIs(t, got, errDiskFull)
		for _, err := range j.Entries(ctx, 0) {
			got = err
		}
		assert.ErrorIs(t, got, errDiskFull)
	})
	t.Run("CloseIdleFails", func(t *testing.T) {
		open := e
		open.CallID, open.Type, open.DedupeKey, open.At = "c2", pbx.EventRinging, "k2", time.Now().Add(-3*time.Hour)
		require.NoError(t, j.HandleEvent(ctx, open))
		st.failAppend.Store(true)
		defer st.failAppend.Store(false)
		_, err := j.CloseIdle(ctx, time.Now())
		assert.ErrorIs(t, err, errDiskFull)
	})
}

func TestHandleEventCancelledContext(t *testing.T) {
	j := journal.New(journal.NewMemoryStore())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := j.HandleEvent(ctx, pbx.CallEvent{Provider: "p", CallID: "c", DedupeKey: "k"})
	assert.ErrorIs(t, err, context.Canceled)
}

// unencodable is a Raw that encoding/json cannot write.
type unencodable struct{ C chan int }

func TestHandleEventCleansInput(t *testing.T) {
	var logs bytes.Buffer
	j := journal.New(journal.NewMemoryStore(), journal.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	ctx := t.Context()
	require.NoError(t, j.HandleEvent(ctx, pbx.CallEvent{Provider: "p", CallID: "c", Type: pbx.EventRinging, DedupeKey: "1",
		At: time.Now(), Raw: unencodable{make(chan int)}}))
	require.NoError(t, j.HandleEvent(ctx, pbx.CallEvent{Provider: "p", CallID: "c", Type: pbx.EventRinging, DedupeKey: "2",
		At: time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC), TalkDuration: -time.Second, Raw: json.RawMessage(`{"a":1}`)}))
	require.NoError(t, j.HandleEvent(ctx, pbx.CallEvent{Provider: "p", CallID: "c", Type: pbx.EventRinging, DedupeKey: "3",
		At: time.Now(), Raw: json.RawMessage(`{bad`)}))
	var es []journal.Entry
	for e, err := range j.Entries(ctx, 0) {
		require.NoError(t, err)
		es = append(es, e)
	}
	require.Len(t, es, 3)
	assert.Nil(t, es[0].Event.Raw, "a payload JSON cannot write is dropped, not fatal")
	assert.Contains(t, logs.String(), "cannot be stored as JSON")
	assert.True(t, es[1].Event.At.Equal(es[1].ReceivedAt), "an unreadable time becomes the receive time")
	assert.Zero(t, es[1].Event.TalkDuration)
	assert.JSONEq(t, `{"a":1}`, string(es[1].Event.Raw.(json.RawMessage)))
	assert.Nil(t, es[2].Event.Raw, "invalid JSON is dropped")
	_, err := json.Marshal(es) // what a SQL store will do
	assert.NoError(t, err)
}

func TestPhoneKey(t *testing.T) {
	for in, want := range map[string]string{
		"+7 999 123-45-67": "76543219997",
		"89991234567":      "76543219997",
		"101":              "101",
		"ivan.petrov":      "",
		"":                 "",
		"+()-":             "",
	} {
		assert.Equal(t, want, journal.PhoneKey(in), in)
	}
}

func TestCallJSONRoundTrip(t *testing.T) {
	msk := time.FixedZone("MSK", 3*3600)
	c := journal.Call{Provider: "sipuni", CallID: "1", Direction: pbx.Inbound, Phone: "79990000001",
		StartedAt: time.Date(2025, 3, 14, 10, 0, 0, 123456789, msk), EndedAt: time.Date(2025, 3, 14, 10, 1, 0, 0, msk),
		TalkDuration: 1500 * time.Millisecond, CallDuration: 60 * time.Second, Outcome: pbx.OutcomeMissed, Missed: true,
		Legs:     []journal.Leg{{Extension: "101", RangAt: time.Date(2025, 3, 14, 10, 0, 1, 0, msk)}},
		ClosedBy: journal.ClosedByHistory, LastEventAt: time.Date(2025, 3, 14, 10, 1, 0, 0, msk), FirstSeq: 3, LastSeq: 9}
	b, err := json.Marshal(c)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"talk_seconds":1.5`)
	assert.Contains(t, string(b), `"call_seconds":60`)
	assert.Contains(t, string(b), `"closed_by":"history"`)
	assert.Contains(t, string(b), `"outcome":"missed"`)
	var back journal.Call
	require.NoError(t, json.Unmarshal(b, &back))
	b2, err := json.Marshal(back)
	require.NoError(t, err)
	assert.JSONEq(t, string(b), string(b2))
	assert.True(t, back.StartedAt.Equal(c.StartedAt))
	assert.Equal(t, c.TalkDuration, back.TalkDuration)

	var open journal.Call
	require.NoError(t, json.Unmarshal([]byte(`{"closed_by":"open"}`), &open))
	assert.Equal(t, journal.CallOpen, open.ClosedBy)
	assert.Error(t, json.Unmarshal([]byte(`{"closed_by":"later"}`), &open))
}

func TestEntryJSONRoundTrip(t *testing.T) {
	e := journal.Entry{Seq: 7, ReceivedAt: time.Date(2025, 3, 14, 10, 0, 0, 1, time.UTC), Source: journal.SourceTimeout,
		Event: pbx.CallEvent{Provider: "p", CallID: "c", Type: pbx.EventCallEnded, DedupeKey: "k", Raw: json.RawMessage(`{"x":[1]}`)}}
	b, err := json.Marshal(e)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"source":"timeout"`)
	var back journal.Entry
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, e.Seq, back.Seq)
	assert.Equal(t, journal.SourceTimeout, back.Source)
	assert.Equal(t, e.Event.Raw, back.Event.Raw)
	assert.Error(t, json.Unmarshal([]byte(`{"source":"elsewhere"}`), &back))
}

func TestStatsTransferSplitsTalk(t *testing.T) {
	j := journal.New(journal.NewMemoryStore())
	ctx := t.Context()
	t0 := time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)
	for i, e := range []pbx.CallEvent{
		{Type: pbx.EventAnswered, Extension: "102", At: t0.Add(5 * time.Second)},
		{Type: pbx.EventLegEnded, Extension: "102", At: t0.Add(25 * time.Second)},
		{Type: pbx.EventAnswered, Extension: "101", At: t0.Add(25 * time.Second)},
		{Type: pbx.EventCallEnded, At: t0.Add(85 * time.Second)},
	} {
		e.Provider, e.CallID, e.Direction, e.DedupeKey = "p", "c", pbx.Inbound, fmt.Sprint(i)
		require.NoError(t, j.HandleEvent(ctx, e))
	}
	got, err := j.Stats(ctx, journal.Query{})
	require.NoError(t, err)
	assert.Equal(t, []journal.EmployeeStats{
		{Extension: "101", Offered: 1, Answered: 1, TalkDuration: 60 * time.Second},
		{Extension: "102", Offered: 1, Answered: 1, TalkDuration: 20 * time.Second},
	}, got)
	b, err := json.Marshal(got[0])
	require.NoError(t, err)
	assert.JSONEq(t, `{"extension":"101","offered":1,"answered":1,"missed":0,"talk_seconds":60}`, string(b))
}

func TestStatsSortsExtensionsByValue(t *testing.T) {
	j := journal.New(journal.NewMemoryStore())
	for i, ext := range []string{"1001", "99", "101", "sales"} {
		require.NoError(t, j.HandleEvent(t.Context(), pbx.CallEvent{Provider: "p", CallID: fmt.Sprint(i), Type: pbx.EventRinging,
			Extension: ext, At: time.Now(), DedupeKey: fmt.Sprint(i)}))
	}
	got, err := j.Stats(t.Context(), journal.Query{})
	require.NoError(t, err)
	var exts []string
	for _, s := range got {
		exts = append(exts, s.Extension)
	}
	assert.Equal(t, []string{"99", "101", "1001", "sales"}, exts)
}

func TestOptionsKeepDefaultsOnBadValues(t *testing.T) {
	j := journal.New(journal.NewMemoryStore(), journal.WithDigits(0), journal.WithIdleTimeout(-1), journal.WithClock(nil), journal.WithLogger(nil))
	assert.Equal(t, 10, j.Digits())
	j = journal.New(journal.NewMemoryStore(), journal.WithDigits(7))
	assert.Equal(t, 7, j.Digits())
}

func TestCallbackWindowOff(t *testing.T) {
	j := journal.New(journal.NewMemoryStore(), journal.WithCallbackWindow(0))
	ctx := t.Context()
	t0 := time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)
	require.NoError(t, j.HandleEvent(ctx, pbx.CallEvent{Provider: "p", CallID: "in", Type: pbx.EventCallEnded, Direction: pbx.Inbound,
		Phone: "79990000001", At: t0, Outcome: pbx.OutcomeMissed, DedupeKey: "1"}))
	require.NoError(t, j.HandleEvent(ctx, pbx.CallEvent{Provider: "p", CallID: "out", Type: pbx.EventCallEnded, Direction: pbx.Outbound,
		Phone: "79990000001", At: t0.Add(time.Hour), Outcome: pbx.OutcomeAnswered, Extension: "101", DedupeKey: "2"}))
	c, err := j.Call(ctx, "p", "in")
	require.NoError(t, err)
	assert.True(t, c.CalledBackAt.IsZero())
}

func TestSourceAndCloseReasonText(t *testing.T) {
	for _, s := range []journal.Source{journal.SourceEvent, journal.SourceHistory, journal.SourceTimeout, journal.SourceCallback} {
		b, err := s.MarshalText()
		require.NoError(t, err)
		var back journal.Source
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, s, back)
		assert.Equal(t, string(b), s.String())
	}
	_, err := journal.Source(9).MarshalText()
	assert.Error(t, err)
	assert.Equal(t, "Source(9)", journal.Source(9).String())
	for _, r := range []journal.CloseReason{journal.CallOpen, journal.ClosedByEvent, journal.ClosedByTimeout, journal.ClosedByHistory} {
		b, err := r.MarshalText()
		require.NoError(t, err)
		var back journal.CloseReason
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, r, back)
	}
	assert.Equal(t, "open", journal.CallOpen.String())
	assert.Equal(t, "CloseReason(9)", journal.CloseReason(9).String())
	_, err = journal.CloseReason(9).MarshalText()
	assert.Error(t, err)
}
