package mango_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/mango"
	"github.com/pbxkit/pbxkit/pbx"
)

var (
	msk      = time.FixedZone("MSK", 3*3600)
	received = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ts       = time.Unix(1700000000, 0).In(msk)
)

// TestCallEventMapping: events/call notifications map to the neutral
// types of the reference's table.
func TestCallEventMapping(t *testing.T) {
	caller := map[string]any{"number": "79161234567"}
	emp := map[string]any{"extension": "101", "number": "sip:ivanova@vpbx.mangosip.ru", "line_number": "74951234567"}
	for _, tc := range []struct {
		name   string
		fields map[string]any
		typ    pbx.EventType
		dir    pbx.Direction
		ext    string
		phone  string
		check  func(t *testing.T, e pbx.CallEvent)
	}{
		{"appeared in the IVR", map[string]any{"call_state": "Appeared", "location": "ivr", "from": caller,
			"to": map[string]any{"number": "74951234567", "line_number": "74951234567"}},
			pbx.EventCallStarted, pbx.Inbound, "", "79161234567", func(t *testing.T, e pbx.CallEvent) {
				assert.True(t, e.StartedAt.Equal(ts))
				assert.Equal(t, "74951234567", e.Line)
			}},
		{"appeared at an employee", map[string]any{"call_state": "Appeared", "location": "abonent", "from": caller, "to": emp},
			pbx.EventRinging, pbx.Inbound, "101", "79161234567", nil},
		{"appeared in a queue with an extension", map[string]any{"call_state": "Appeared", "location": "queue", "from": caller, "to": emp},
			pbx.EventRinging, pbx.Inbound, "101", "79161234567", nil},
		{"appeared in a queue, nobody yet", map[string]any{"call_state": "Appeared", "location": "queue", "from": caller,
			"to": map[string]any{"acd_group": 500}}, pbx.EventUnknown, pbx.Inbound, "", "79161234567", nil},
		{"taken from the IVR by a route: still ringing", map[string]any{"call_state": "Appeared", "location": "abonent",
			"from": map[string]any{"number": "79161234567", "taken_from_call_id": "L0"}, "to": emp, "command_id": "pbxkit-1"},
			pbx.EventRinging, pbx.Inbound, "101", "79161234567", nil},
		{"a blind transfer", map[string]any{"call_state": "Appeared", "location": "abonent", "from": caller, "to": emp, "transfer": "blind"},
			pbx.EventTransferred, pbx.Inbound, "101", "79161234567", nil},
		{"connected at an employee", map[string]any{"call_state": "Connected", "location": "abonent", "from": caller, "to": emp},
			pbx.EventAnswered, pbx.Inbound, "101", "79161234567", func(t *testing.T, e pbx.CallEvent) {
				assert.True(t, e.AnsweredAt.Equal(ts))
			}},
		{"connected in the IVR is nobody's answer", map[string]any{"call_state": "Connected", "location": "ivr", "from": caller},
			pbx.EventUnknown, pbx.Inbound, "", "79161234567", nil},
		{"on hold", map[string]any{"call_state": "OnHold", "location": "abonent", "from": caller, "to": emp},
			pbx.EventHeld, pbx.Inbound, "101", "79161234567", nil},
		{"disconnected", map[string]any{"call_state": "Disconnected", "location": "abonent", "from": caller, "to": emp, "disconnect_reason": "1110"},
			pbx.EventLegEnded, pbx.Inbound, "101", "79161234567", func(t *testing.T, e pbx.CallEvent) {
				assert.True(t, e.EndedAt.Equal(ts))
				assert.Equal(t, pbx.OutcomeUnknown, e.Outcome, "a leg says nothing about the call")
			}},
		{"outbound: an employee calls", map[string]any{"call_state": "Appeared", "location": "abonent",
			"from": map[string]any{"extension": 101, "number": "sip:ivanova@x"}, "to": map[string]any{"number": "89991234567"}},
			pbx.EventRinging, pbx.Outbound, "101", "79991234567", nil},
		{"internal", map[string]any{"call_state": "Connected", "location": "abonent",
			"from": map[string]any{"extension": "101"}, "to": map[string]any{"extension": "102"}},
			pbx.EventAnswered, pbx.Internal, "102", "", nil},
		{"unknown state", map[string]any{"call_state": "Parked", "from": caller, "to": emp},
			pbx.EventUnknown, pbx.Inbound, "101", "79161234567", nil},
		{"numbers as strings", map[string]any{"call_state": "Appeared", "location": "abonent", "seq": "7", "timestamp": "1700000000",
			"from": caller, "to": emp}, pbx.EventRinging, pbx.Inbound, "101", "79161234567", nil},
		{"no timestamp: the receive time", map[string]any{"call_state": "Appeared", "location": "abonent", "timestamp": nil,
			"from": caller, "to": emp}, pbx.EventRinging, pbx.Inbound, "101", "79161234567", func(t *testing.T, e pbx.CallEvent) {
			assert.True(t, e.At.Equal(received))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := mango.DecodeCallNotification(callJSON(tc.fields))
			require.NoError(t, err)
			e := n.CallEvent(msk, received)
			assert.Equal(t, tc.typ, e.Type)
			assert.Equal(t, tc.dir, e.Direction)
			assert.Equal(t, tc.ext, e.Extension)
			assert.Equal(t, tc.phone, e.Phone)
			assert.Equal(t, "E1", e.CallID, "CallID is the entry")
			assert.Equal(t, "mango", e.Provider)
			assert.Same(t, n, e.Raw.(*mango.CallNotification))
			assert.NotEmpty(t, e.DedupeKey)
			if _, has := tc.fields["timestamp"]; !has {
				assert.True(t, e.At.Equal(ts))
				assert.Equal(t, msk, e.At.Location())
			}
			if tc.check != nil {
				tc.check(t, e)
			}
		})
	}
}

// TestCallDedupeKey: the key is the leg, seq and state: a redelivery has
// the same, another state or leg another.
func TestCallDedupeKey(t *testing.T) {
	k := func(fields map[string]any) string {
		n, err := mango.DecodeCallNotification(callJSON(fields))
		require.NoError(t, err)
		return n.CallEvent(msk, received).DedupeKey
	}
	base := map[string]any{"call_state": "Appeared", "location": "abonent"}
	same := map[string]any{"call_state": "Appeared", "location": "abonent", "timestamp": 1700000099}
	assert.Equal(t, k(base), k(same), "a redelivery (even with another time) has the same key")
	assert.NotEqual(t, k(base), k(map[string]any{"call_state": "Connected", "location": "abonent"}))
	assert.NotEqual(t, k(base), k(map[string]any{"call_state": "Appeared", "location": "abonent", "seq": 2}))
	assert.NotEqual(t, k(base), k(map[string]any{"call_state": "Appeared", "location": "abonent", "call_id": "L2"}))
}

// TestRoutable: only a new inbound call in the IVR is routed.
func TestRoutable(t *testing.T) {
	for _, tc := range []struct {
		fields map[string]any
		want   bool
	}{
		{map[string]any{"call_state": "Appeared", "location": "ivr", "from": map[string]any{"number": "79161234567"}}, true},
		{map[string]any{"call_state": "appeared", "location": "IVR"}, true},
		{map[string]any{"call_state": "Connected", "location": "ivr"}, false},
		{map[string]any{"call_state": "Appeared", "location": "abonent"}, false},
		{map[string]any{"call_state": "Appeared", "location": "ivr", "from": map[string]any{"extension": "101"}}, false},
		{map[string]any{"call_state": "Appeared", "location": "ivr", "call_id": ""}, false},
		{map[string]any{"call_state": "Appeared", "location": "ivr", "call_id": "pbxkit-webhook-test-1"}, false},
	} {
		n, err := mango.DecodeCallNotification(callJSON(tc.fields))
		require.NoError(t, err)
		assert.Equal(t, tc.want, n.Routable(), "%v", tc.fields)
	}
}

// TestSummaryMapping: events/summary is call_ended with times, durations
// and the outcome from talk_time, entry_result and disconnect_reason.
func TestSummaryMapping(t *testing.T) {
	base := map[string]any{"entry_id": "E9", "call_direction": 1, "from": map[string]any{"number": "79161234567"},
		"to": map[string]any{"extension": "102", "number": "sip:k@x"}, "line_number": "74951234567",
		"create_time": 1700000000, "forward_time": 1700000003, "end_time": 1700000070, "disconnect_reason": 1110}
	with := func(kv ...any) string {
		v := map[string]any{}
		for k, x := range base {
			v[k] = x
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(v, kv[i].(string))
				continue
			}
			v[kv[i].(string)] = kv[i+1]
		}
		return callJSONRaw(v)
	}
	for _, tc := range []struct {
		name    string
		js      string
		outcome pbx.Outcome
		talk    time.Duration
	}{
		{"answered", with("talk_time", 1700000010, "entry_result", 1, "disconnect_reason", 1100), pbx.OutcomeAnswered, 60 * time.Second},
		{"talk 0 wins over entry_result 1 (the manual's own example)", with("talk_time", 0, "entry_result", 1), pbx.OutcomeCancelled, 0},
		{"no talk_time: entry_result 1 is answered", with("talk_time", nil, "entry_result", "1"), pbx.OutcomeAnswered, 0},
		{"caller hung up", with("talk_time", 0, "entry_result", 0), pbx.OutcomeCancelled, 0},
		{"busy", with("talk_time", 0, "disconnect_reason", "1121"), pbx.OutcomeBusy, 0},
		{"rejected", with("talk_time", 0, "disconnect_reason", 1122), pbx.OutcomeBusy, 0},
		{"no answer in time", with("talk_time", 0, "disconnect_reason", 1111), pbx.OutcomeMissed, 0},
		{"queue timeout", with("talk_time", 0, "disconnect_reason", 1163), pbx.OutcomeMissed, 0},
		{"number does not exist", with("talk_time", 0, "disconnect_reason", 1133), pbx.OutcomeFailed, 0},
		{"insufficient funds", with("talk_time", 0, "disconnect_reason", 2240), pbx.OutcomeFailed, 0},
		{"no reason", with("talk_time", 0, "disconnect_reason", nil), pbx.OutcomeMissed, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := &mango.SummaryNotification{}
			require.NoError(t, jsonUnmarshal(tc.js, n))
			e := n.CallEvent(msk, received)
			assert.Equal(t, pbx.EventCallEnded, e.Type)
			assert.Equal(t, tc.outcome, e.Outcome)
			assert.Equal(t, tc.talk, e.TalkDuration)
			assert.Equal(t, 70*time.Second, e.CallDuration)
			assert.Equal(t, "E9", e.CallID)
			assert.Equal(t, pbx.Inbound, e.Direction)
			assert.Equal(t, "102", e.Extension)
			assert.Equal(t, "79161234567", e.Phone)
			assert.Equal(t, "74951234567", e.Line)
			assert.True(t, e.StartedAt.Equal(time.Unix(1700000000, 0)))
			assert.True(t, e.EndedAt.Equal(time.Unix(1700000070, 0)))
			assert.True(t, e.At.Equal(e.EndedAt))
			if tc.talk > 0 {
				assert.True(t, e.AnsweredAt.Equal(time.Unix(1700000010, 0)))
			}
		})
	}
	out := &mango.SummaryNotification{}
	require.NoError(t, jsonUnmarshal(`{"entry_id":"E","call_direction":"2","from":{"extension":"101"},"to":{"number":"89991234567"},"talk_time":5,"end_time":9,"create_time":1}`, out))
	e := out.CallEvent(msk, received)
	assert.Equal(t, pbx.Outbound, e.Direction)
	assert.Equal(t, "101", e.Extension)
	assert.Equal(t, "79991234567", e.Phone)
}

// TestOutcomeOfWords: the call log's reason may be a word.
func TestOutcomeOfWords(t *testing.T) {
	assert.Equal(t, pbx.OutcomeBusy, mango.OutcomeOf("Busy"))
	assert.Equal(t, pbx.OutcomeMissed, mango.OutcomeOf("RemoteHangup"))
	assert.Equal(t, pbx.OutcomeCancelled, mango.OutcomeOf("Cancel"))
	assert.Equal(t, pbx.OutcomeFailed, mango.OutcomeOf("5001"))
	assert.Equal(t, pbx.OutcomeMissed, mango.OutcomeOf(""))
}

// TestRecordingEvents: HasRecording only when the recording is stored in
// the cloud; record/added always says so.
func TestRecordingEvents(t *testing.T) {
	for _, tc := range []struct {
		js   string
		want bool
	}{
		{`{"recording_id":"R","recording_state":"Started","entry_id":"E","seq":1}`, false},
		{`{"recording_id":"R","recording_state":"Completed","entry_id":"E","seq":2,"completion_code":1000,"recipient":"Cloud"}`, true},
		{`{"recording_id":"R","recording_state":"Completed","entry_id":"E","seq":2,"completion_code":"1000","recipient":"CloudAndMail"}`, true},
		{`{"recording_id":"R","recording_state":"Completed","entry_id":"E","seq":2,"completion_code":4002,"recipient":"Cloud"}`, false},
		{`{"recording_id":"R","recording_state":"Completed","entry_id":"E","seq":2,"completion_code":1000,"recipient":"Mail"}`, false},
	} {
		n := &mango.RecordingNotification{}
		require.NoError(t, jsonUnmarshal(tc.js, n))
		e := n.CallEvent(msk, received)
		assert.Equal(t, tc.want, e.HasRecording, tc.js)
		assert.Equal(t, pbx.EventUnknown, e.Type)
		assert.Equal(t, "E", e.CallID)
	}
	a := &mango.RecordAddedNotification{Kind: mango.NotifyRecordAdded}
	require.NoError(t, jsonUnmarshal(`{"entry_id":"E","recording_id":"R7","user_id":-1,"timestamp":1700000000}`, a))
	e := a.CallEvent(msk, received)
	assert.True(t, e.HasRecording)
	assert.Equal(t, "R7", string(e.Raw.(*mango.RecordAddedNotification).RecordingID))
}
