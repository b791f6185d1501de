package pbx

import (
	"context"
	"encoding/json"
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
	for e := EventUnknown; e <= EventCallEnded; e++ {
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
		Duration: 3 * time.Second, Outcome: OutcomeMissed,
	}
	b, err := json.Marshal(e)
	require.NoError(t, err)
	assert.JSONEq(t, `{"provider":"sipuni","type":"call_ended","call_id":"1","direction":"inbound",
		"phone":"79991234567","at":"2024-01-02T03:04:05+03:00","duration":3000000000,"outcome":"missed"}`, string(b))
	var back CallEvent
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, e.Type, back.Type)
	assert.True(t, e.At.Equal(back.At))

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
