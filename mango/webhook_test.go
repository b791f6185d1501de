package mango_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/mango"
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
)

// TestWebhookPaths: the handler reads Mango's path from the end of the
// request's, wherever it is mounted; unknown paths are 404; the connection
// check is 200 and reaches no user code.
func TestWebhookPaths(t *testing.T) {
	c := newClient(t, "http://127.0.0.1:1/vpbx", nil)
	var rec pbxtest.Recorder
	h := c.WebhookHandler(&rec, nil)
	js := callJSON(map[string]any{"call_state": "Appeared", "location": "abonent", "to": map[string]any{"extension": "101"}})
	for _, tc := range []struct {
		path   string
		method string
		status int
		events int
	}{
		{"/pbx/mango/events/call", http.MethodPost, 200, 1},
		{"/pbx/mango/events/call/", http.MethodPost, 200, 1},
		{"/events/call", http.MethodPost, 200, 1},
		{"events/call", http.MethodPost, 200, 1},
		{"/hooks/events/mango/events/call", http.MethodPost, 200, 1},
		{"/pbx/mango/events/unknown", http.MethodPost, 404, 0},
		{"/pbx/mango/", http.MethodPost, 404, 0},
		{"/pbx/mango/ping", http.MethodGet, 200, 0},
		{"/pbx/mango/ping", http.MethodPost, 200, 0},
		{"/pbx/mango/result/", http.MethodPost, 404, 0},
	} {
		rec.Reset()
		req := httptest.NewRequest(tc.method, "/", strings.NewReader(signedBody(js)))
		req.URL.Path = tc.path
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		assert.Equal(t, tc.status, w.Code, tc.path)
		assert.Len(t, rec.Events(), tc.events, tc.path)
	}
}

// TestWebhookNotifications: every kind of notification reaches the
// handler with its Raw type; command results go to OnResult only.
func TestWebhookNotifications(t *testing.T) {
	var mu sync.Mutex
	var results []*mango.CommandResult
	c := newClient(t, "http://127.0.0.1:1/vpbx", func(cfg *mango.Config) {
		cfg.OnResult = func(_ context.Context, r *mango.CommandResult) {
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		}
	})
	var rec pbxtest.Recorder
	h := c.WebhookHandler(&rec, nil)
	for _, tc := range []struct {
		path, js string
		raw      any
		typ      pbx.EventType
	}{
		{"events/call", callJSON(map[string]any{"call_state": "Disconnected"}), &mango.CallNotification{}, pbx.EventLegEnded},
		{"events/summary", `{"entry_id":"E1","call_direction":1,"talk_time":0,"end_time":1700000000}`, &mango.SummaryNotification{}, pbx.EventCallEnded},
		{"events/recording", `{"entry_id":"E1","recording_id":"R","recording_state":"Started","seq":1}`, &mango.RecordingNotification{}, pbx.EventUnknown},
		{"events/record/added", `{"entry_id":"E1","recording_id":"R"}`, &mango.RecordAddedNotification{}, pbx.EventUnknown},
		{"events/record/tagged", `{"entry_id":"E1","recording_id":"R"}`, &mango.RecordAddedNotification{}, pbx.EventUnknown},
		{"events/dtmf", `{"entry_id":"E1","call_id":"L1","seq":3,"dtmf":"12","initiator":"79161234567"}`, &mango.DTMFNotification{}, pbx.EventUnknown},
	} {
		rec.Reset()
		w := notify(h, tc.path, tc.js)
		require.Equal(t, http.StatusOK, w.Code, tc.path)
		evs := rec.Events()
		require.Len(t, evs, 1, tc.path)
		assert.Equal(t, tc.typ, evs[0].Type, tc.path)
		assert.IsType(t, tc.raw, evs[0].Raw, tc.path)
		assert.Equal(t, "E1", evs[0].CallID)
	}
	rec.Reset()
	assert.Equal(t, http.StatusOK, notify(h, "result/callback", `{"command_id":"c1","result":1000}`).Code)
	assert.Equal(t, http.StatusOK, notify(h, "result/call/hangup", `{"command_id":"c2","result":"4101"}`).Code)
	assert.Equal(t, http.StatusOK, notify(h, "events/sms", `{"command_id":"c3","reason":4300}`).Code)
	assert.Empty(t, rec.Events(), "results are not call events")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, results, 3)
	assert.Equal(t, "callback", results[0].Command)
	assert.Equal(t, mango.ResultOK, results[0].Code())
	assert.Equal(t, "call/hangup", results[1].Command)
	assert.Equal(t, mango.ResultCallEnded, results[1].Code())
	assert.Equal(t, "sms", results[2].Command)
	assert.Equal(t, mango.ResultCode(4300), results[2].Code())
}

// TestWebhookHandlerError: an EventHandler error is answered 5xx.
func TestWebhookHandlerError(t *testing.T) {
	c := newClient(t, "http://127.0.0.1:1/vpbx", nil)
	rec := &pbxtest.Recorder{Err: errors.New("journal down")}
	w := notify(c.WebhookHandler(rec, nil), "events/call", callJSON(map[string]any{"call_state": "Connected", "location": "abonent"}))
	assert.Equal(t, http.StatusInternalServerError, w.Code)
	assert.Len(t, rec.Events(), 1)
}

// TestWebhookNoEntryID: a call notification without entry_id is
// acknowledged and not delivered (nothing could key it).
func TestWebhookNoEntryID(t *testing.T) {
	c := newClient(t, "http://127.0.0.1:1/vpbx", nil)
	var rec pbxtest.Recorder
	w := notify(c.WebhookHandler(&rec, nil), "events/call", `{"call_id":"L","call_state":"Appeared"}`)
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Empty(t, rec.Events())
}

// TestWebhookUndecodable: an authenticated notification whose JSON does
// not fit is refused with 400 and a Warn line (its event is lost).
func TestWebhookUndecodable(t *testing.T) {
	var buf bytes.Buffer
	c := newClient(t, "http://127.0.0.1:1/vpbx", func(cfg *mango.Config) {
		cfg.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	})
	var rec pbxtest.Recorder
	w := notify(c.WebhookHandler(&rec, nil), "events/call", `{"entry_id":"E","from":"not an object"}`)
	assert.Equal(t, http.StatusBadRequest, w.Code)
	assert.Empty(t, rec.Events())
	assert.Contains(t, buf.String(), "could not be decoded")
}

// TestWebhookResumed: a Connected after an OnHold of the same leg is the
// hold's end; the first Connected, and one older than the hold, are
// answers.
func TestWebhookResumed(t *testing.T) {
	c := newClient(t, "http://127.0.0.1:1/vpbx", nil)
	var rec pbxtest.Recorder
	h := c.WebhookHandler(&rec, nil)
	state := func(leg string, seq int, s string) string {
		return callJSON(map[string]any{"call_id": leg, "seq": seq, "call_state": s, "location": "abonent",
			"from": map[string]any{"number": "79161234567"}, "to": map[string]any{"extension": "101"}})
	}
	for _, js := range []string{
		state("L1", 2, "Connected"), // answer
		state("L1", 3, "OnHold"),
		state("L1", 4, "Connected"), // resumed
		state("L1", 2, "Connected"), // a late copy of the answer: still the answer
		state("L2", 5, "Connected"), // another leg: an answer
		state("L1", 5, "OnHold"),
		state("L1", 6, "Connected"), // resumed again
	} {
		require.Equal(t, http.StatusOK, notify(h, "events/call", js).Code)
	}
	var types []pbx.EventType
	for _, e := range rec.Events() {
		types = append(types, e.Type)
	}
	assert.Equal(t, []pbx.EventType{pbx.EventAnswered, pbx.EventHeld, pbx.EventResumed, pbx.EventAnswered,
		pbx.EventAnswered, pbx.EventHeld, pbx.EventResumed}, types)
	assert.True(t, rec.Events()[2].AnsweredAt.IsZero(), "a resume is no answer")
}
