package pbx

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTextForms(t *testing.T) {
	for d := DirectionUnknown; d <= Internal; d++ {
		b, err := d.MarshalText()
		require.NoError(t, err)
		var back Direction
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, d, back)
		assert.Equal(t, d.String(), string(b))
	}
	for e := EventUnknown; e <= EventResumed; e++ {
		b, err := e.MarshalText()
		require.NoError(t, err)
		var back EventType
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, e, back)
	}
	for o := OutcomeUnknown; o <= OutcomeFailed; o++ {
		b, err := o.MarshalText()
		require.NoError(t, err)
		var back Outcome
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, o, back)
	}
	assert.Equal(t, "call_ended", EventCallEnded.String())
	assert.Equal(t, "held", EventHeld.String())
	assert.Equal(t, "resumed", EventResumed.String())
	assert.Equal(t, "EventType(9)", EventType(9).String())
	assert.Equal(t, "Direction(9)", Direction(9).String())
	_, err := Outcome(77).MarshalText()
	assert.Error(t, err)
	var d Direction
	assert.Error(t, d.UnmarshalText([]byte("sideways")))
}

func TestCallEventJSON(t *testing.T) {
	msk := time.FixedZone("MSK", 3*3600)
	e := CallEvent{
		Provider: "sipuni", Type: EventCallEnded, CallID: "1", Direction: Inbound,
		Phone: "79991234567", At: time.Date(2024, 1, 2, 3, 4, 5, 0, msk),
		TalkDuration: 3 * time.Second, CallDuration: 4500 * time.Millisecond, Outcome: OutcomeMissed,
		HasRecording: true, Raw: &struct{ X int }{7},
	}
	b, err := json.Marshal(e)
	require.NoError(t, err)
	assert.JSONEq(t, `{"provider":"sipuni","type":"call_ended","call_id":"1","direction":"inbound",
		"phone":"79991234567","at":"2024-01-02T03:04:05+03:00","talk_seconds":3,"call_seconds":4.5,"outcome":"missed","has_recording":true,"raw":{"X":7}}`, string(b))
	var back CallEvent
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, e.Type, back.Type)
	assert.True(t, e.At.Equal(back.At))
	assert.Equal(t, e.TalkDuration, back.TalkDuration)
	assert.Equal(t, e.CallDuration, back.CallDuration)
	assert.True(t, back.HasRecording)
	assert.JSONEq(t, `{"X":7}`, string(back.Raw.(json.RawMessage)), "Raw survives as JSON")

	b, err = json.Marshal(CallEvent{})
	require.NoError(t, err)
	assert.Equal(t, `{}`, string(b), "zero values are omitted")
}

func TestAdapters(t *testing.T) {
	var got CallEvent
	var h EventHandler = EventHandlerFunc(func(_ context.Context, e CallEvent) error { got = e; return nil })
	require.NoError(t, h.HandleEvent(context.Background(), CallEvent{CallID: "x"}))
	assert.Equal(t, "x", got.CallID)
	var r Router = RouterFunc(func(_ context.Context, q RouteQuery) (Route, error) { return Route{Extension: q.Phone}, nil })
	route, err := r.Route(context.Background(), RouteQuery{Phone: "101"})
	require.NoError(t, err)
	assert.Equal(t, "101", route.Extension)
	assert.False(t, route.IsZero())
	assert.True(t, Route{}.IsZero())
}

func TestSecondsJSON(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		json string
	}{
		{0, "0"},
		{42 * time.Second, "42"},
		{1500 * time.Millisecond, "1.5"},
		{time.Millisecond, "0.001"},
		{-2 * time.Second, "-2"},
		{3*time.Hour + time.Nanosecond, "10800.000000001"},
	} {
		b, err := json.Marshal(Seconds(tc.d))
		require.NoError(t, err)
		assert.Equal(t, tc.json, string(b), tc.d)
		var back Seconds
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, tc.d, time.Duration(back), tc.json)
	}
	var s Seconds
	for _, bad := range []string{`"3"`, `true`, `1e300`, `99999999999999999999`} {
		assert.Error(t, json.Unmarshal([]byte(bad), &s), bad)
	}
}

func TestCallRecordJSON(t *testing.T) {
	r := CallRecord{CallID: "h1", TalkDuration: 7 * time.Second, CallDuration: 19 * time.Second, Outcome: OutcomeAnswered}
	b, err := json.Marshal(r)
	require.NoError(t, err)
	assert.JSONEq(t, `{"call_id":"h1","talk_seconds":7,"call_seconds":19,"outcome":"answered"}`, string(b))
	var back CallRecord
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, r, back)
}

func TestCallEventLogValue(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Info("event", "event", CallEvent{
		Provider: "sipuni", Type: EventCallEnded, CallID: "c1", Phone: "79991234567",
		TalkDuration: 3 * time.Second, Raw: map[string]string{"secret": "s3cr3t"},
	})
	out := buf.String()
	assert.Contains(t, out, "event.provider=sipuni")
	assert.Contains(t, out, "event.type=call_ended")
	assert.Contains(t, out, "event.talk=3s")
	assert.NotContains(t, out, "s3cr3t", "Raw is never logged")
	assert.Equal(t, 1, strings.Count(out, "\n"), "one line")
}
