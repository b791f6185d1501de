package prostiezvonki

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// TestWebhookEventTypes maps every event type of the family.
func TestWebhookEventTypes(t *testing.T) {
	tests := []struct {
		typ, dir string
		want     pbx.EventType
		wantDir  pbx.Direction
	}{
		{"INCOMING", "in", pbx.EventRinging, pbx.Inbound},
		{"OUTGOING", "out", pbx.EventRinging, pbx.Outbound},
		{"ACCEPTED", "in", pbx.EventAnswered, pbx.Inbound},
		{"COMPLETED", "in", pbx.EventLegEnded, pbx.Inbound},
		{"CANCELLED", "in", pbx.EventLegEnded, pbx.Inbound}, // not "missed": a colleague may have answered
		{"TRANSFERRED", "in", pbx.EventTransferred, pbx.Inbound},
		{"incoming", "", pbx.EventRinging, pbx.Inbound}, // lower case; no direction (2017 family docs)
		{"OUTGOING", "", pbx.EventRinging, pbx.Outbound},
		{"ACCEPTED", "", pbx.EventAnswered, pbx.DirectionUnknown},
		{"ACCEPTED", "OUT", pbx.EventAnswered, pbx.Outbound},
		{"HOLD", "in", pbx.EventUnknown, pbx.Inbound}, // unknown types are passed on
		{"", "in", pbx.EventUnknown, pbx.Inbound},
	}
	for _, tt := range tests {
		t.Run(tt.typ+"/"+tt.dir, func(t *testing.T) {
			var got collector
			body := fmt.Sprintf(`{"cmd":"event","type":%q,"direction":%q,"user":"admin@ats.example.ru","ext":"101","phone":"+7 (999) 123-45-67","callid":"c1","second_callid":"c2","z-flag":"0","crm_token":"token123"}`, tt.typ, tt.dir)
			w := post(newClient(t, Config{}).WebhookHandler(&got, nil), body)
			require.Equal(t, http.StatusOK, w.Code)
			evs := got.all()
			require.Len(t, evs, 1)
			e := evs[0]
			assert.Equal(t, tt.want, e.Type)
			assert.Equal(t, tt.wantDir, e.Direction)
			assert.Equal(t, "101", e.Extension, "ext wins over user")
			assert.Equal(t, "79991234567", e.Phone)
			assert.Equal(t, "", e.Line, "diversion may be missing")
			assert.Equal(t, "c1", e.CallID)
			n := e.Raw.(*Notification)
			assert.Equal(t, "c2", n.SecondCallID)
			assert.Equal(t, map[string]string{"z-flag": "0"}, n.Extra, "unknown fields are kept")
		})
	}
}

// TestWebhookHistory covers statuses, time forms, duration forms and wait.
// duration is the whole call, ringing included (CallDuration); talk time
// (TalkDuration) is known only when the family's wait comes, and is never
// guessed from duration alone.
func TestWebhookHistory(t *testing.T) {
	startMSK := time.Date(2023, 9, 8, 1, 56, 40, 0, msk)
	startUTC := time.Date(2023, 9, 8, 1, 56, 40, 0, time.UTC)
	tests := []struct {
		name        string
		fields      string
		outcome     pbx.Outcome
		dir         pbx.Direction
		start, end  time.Time
		answered    time.Time
		talk, call  time.Duration
		noEndedTime bool
	}{
		{"PZ success", `"type":"in","status":"success","start":"20230908T015640","end":"20230908T015730","duration":50`,
			pbx.OutcomeAnswered, pbx.Inbound, startMSK, startMSK.Add(50 * time.Second), time.Time{}, 0, 50 * time.Second, false},
		{"family Success in UTC, duration string, wait", `"type":"out","status":"Success","start":"20230908T015640Z","duration":"50","wait":"8"`,
			pbx.OutcomeAnswered, pbx.Outbound, startUTC, startUTC.Add(50 * time.Second), startUTC.Add(8 * time.Second), 42 * time.Second, 50 * time.Second, false},
		{"RFC 3339", `"type":"in","status":"SUCCESS","start":"2023-09-08T01:56:40+03:00","end":"2023-09-08T01:57:30+03:00","duration":50.0`,
			pbx.OutcomeAnswered, pbx.Inbound, startMSK, startMSK.Add(50 * time.Second), time.Time{}, 0, 50 * time.Second, false},
		{"times and wait, no duration", `"type":"in","status":"success","start":"20230908T015640","end":"20230908T015730","wait":5`,
			pbx.OutcomeAnswered, pbx.Inbound, startMSK, startMSK.Add(50 * time.Second), startMSK.Add(5 * time.Second), 45 * time.Second, 50 * time.Second, false},
		{"wait longer than duration says nothing of the talk", `"type":"in","status":"success","start":"20230908T015640","duration":10,"wait":20`,
			pbx.OutcomeAnswered, pbx.Inbound, startMSK, startMSK.Add(10 * time.Second), time.Time{}, 0, 10 * time.Second, false},
		{"missed", `"type":"in","status":"Missed","start":"20230908T015640","end":"20230908T015700","duration":20`,
			pbx.OutcomeMissed, pbx.Inbound, startMSK, startMSK.Add(20 * time.Second), time.Time{}, 0, 20 * time.Second, false},
		{"missed with wait has no talk", `"type":"in","status":"missed","start":"20230908T015640","duration":20,"wait":20`,
			pbx.OutcomeMissed, pbx.Inbound, startMSK, startMSK.Add(20 * time.Second), time.Time{}, 0, 20 * time.Second, false},
		{"Cancel", `"type":"in","status":"Cancel","start":"20230908T015640","duration":3`,
			pbx.OutcomeCancelled, pbx.Inbound, startMSK, startMSK.Add(3 * time.Second), time.Time{}, 0, 3 * time.Second, false},
		{"Busy", `"type":"out","status":"Busy","duration":"0"`, pbx.OutcomeBusy, pbx.Outbound, time.Time{}, time.Time{}, time.Time{}, 0, 0, true},
		{"NotAvailable", `"type":"out","status":"NotAvailable"`, pbx.OutcomeFailed, pbx.Outbound, time.Time{}, time.Time{}, time.Time{}, 0, 0, true},
		{"NotAllowed", `"type":"out","status":"notallowed"`, pbx.OutcomeFailed, pbx.Outbound, time.Time{}, time.Time{}, time.Time{}, 0, 0, true},
		{"NotFound", `"type":"out","status":"NotFound"`, pbx.OutcomeFailed, pbx.Outbound, time.Time{}, time.Time{}, time.Time{}, 0, 0, true},
		{"unknown status", `"type":"in","status":"Weird"`, pbx.OutcomeUnknown, pbx.Inbound, time.Time{}, time.Time{}, time.Time{}, 0, 0, true},
		{"unreadable time is tolerated", `"type":"in","status":"success","start":"08/09/2023 01:56","duration":7`,
			pbx.OutcomeAnswered, pbx.Inbound, time.Time{}, time.Time{}, time.Time{}, 0, 7 * time.Second, true},
		{"SQL time", `"type":"in","status":"success","start":"2023-09-08 01:56:40","duration":null`,
			pbx.OutcomeAnswered, pbx.Inbound, startMSK, time.Time{}, time.Time{}, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got collector
			before := time.Now()
			w := post(newClient(t, Config{}).WebhookHandler(&got, nil),
				`{"cmd":"history",`+tt.fields+`,"phone":"89991234567","callid":"1","link":" https://x/r.mp3 ","crm_token":"token123"}`)
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			evs := got.all()
			require.Len(t, evs, 1)
			e := evs[0]
			assert.Equal(t, pbx.EventCallEnded, e.Type)
			assert.Equal(t, tt.outcome, e.Outcome)
			assert.Equal(t, tt.dir, e.Direction)
			assert.True(t, tt.start.Equal(e.StartedAt), "start %v, want %v", e.StartedAt, tt.start)
			assert.True(t, tt.end.Equal(e.EndedAt), "end %v, want %v", e.EndedAt, tt.end)
			assert.True(t, tt.answered.Equal(e.AnsweredAt), "answered %v, want %v", e.AnsweredAt, tt.answered)
			assert.Equal(t, tt.talk, e.TalkDuration, "talk")
			assert.Equal(t, tt.call, e.CallDuration, "call")
			assert.Equal(t, "https://x/r.mp3", e.RecordingURL)
			assert.True(t, e.HasRecording, "a link means a recording")
			for _, tm := range []time.Time{e.At, e.StartedAt, e.EndedAt, e.AnsweredAt} {
				if !tm.IsZero() {
					assert.Equal(t, msk.String(), tm.Location().String(), "times are in the configured zone")
				}
			}
			if tt.noEndedTime {
				assert.WithinRange(t, e.At, before.Add(-time.Second), time.Now().Add(time.Second))
			} else if !tt.end.IsZero() {
				assert.True(t, e.At.Equal(tt.end))
			}
		})
	}
}

// TestWebhookEncodings: a form body, query parameters, GET and the spec's
// quoting all decode to the same event as the JSON body.
func TestWebhookEncodings(t *testing.T) {
	form := url.Values{"cmd": {"event"}, "type": {"INCOMING"}, "direction": {"in"}, "user": {"100"}, "ext": {"100"},
		"phone": {"89991234567"}, "diversion": {"3333333"}, "callid": {"1659685427407907141"}, "crm_token": {"token123"}}
	tests := []struct {
		name, method, target, ctype, body string
	}{
		{"JSON", "POST", "/", "application/json", incoming},
		{"JSON quoted", "POST", "/", "application/json", "'" + incoming + "'"},
		{"JSON opening quote only", "POST", "/", "application/json", "'" + incoming},
		{"JSON with BOM and space", "POST", "/", "application/json", "\xEF\xBB\xBF\n " + incoming + "\n"},
		{"JSON labelled text/plain", "POST", "/", "text/plain", incoming},
		{"form", "POST", "/", "application/x-www-form-urlencoded", form.Encode()},
		{"form labelled JSON", "POST", "/", "application/json", form.Encode()},
		{"query on POST", "POST", "/?" + form.Encode(), "", ""},
		{"GET", "GET", "/?" + form.Encode(), "", ""},
		{"token in query, rest in body", "POST", "/?crm_token=token123", "application/json", strings.Replace(incoming, `, "crm_token": "token123"`, "", 1)},
		{"call_id spelling", "POST", "/", "application/json", strings.Replace(incoming, `"callid"`, `"call_id"`, 1)},
	}
	var want *pbx.CallEvent
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got collector
			w := do(newClient(t, Config{}).WebhookHandler(&got, nil), tt.method, tt.target, tt.ctype, []byte(tt.body))
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			evs := got.all()
			require.Len(t, evs, 1)
			e := evs[0]
			e.At = time.Time{}
			if want == nil {
				want = &e
				assert.Equal(t, pbx.EventRinging, e.Type)
				assert.Equal(t, "1659685427407907141", e.CallID)
				return
			}
			assert.Equal(t, *want, e)
		})
	}
}

func TestWebhookBodyWinsOverQuery(t *testing.T) {
	var got collector
	w := do(newClient(t, Config{}).WebhookHandler(&got, nil), "POST", "/?ext=999&crm_token=wrong", "application/json", []byte(incoming))
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "100", got.all()[0].Extension)
}

// TestWebhookRatingAndUnknown: rating and unknown commands are answered 200
// and passed on raw.
func TestWebhookRatingAndUnknown(t *testing.T) {
	tests := []struct {
		body  string
		check func(t *testing.T, n *Notification)
	}{
		{`{"cmd":"rating","callid":"77","rating":4,"phone":"79991234567","user":"100","ext":"100","crm_token":"token123"}`,
			func(t *testing.T, n *Notification) { assert.Equal(t, "4", n.Rating) }},
		{`{"cmd":"accounts","list":[1,2],"obj":{"a":"b"},"flag":true,"crm_token":"token123"}`,
			func(t *testing.T, n *Notification) {
				assert.Equal(t, map[string]string{"list": "[1,2]", "obj": `{"a":"b"}`, "flag": "true"}, n.Extra)
			}},
	}
	for _, tt := range tests {
		var got collector
		w := post(newClient(t, Config{}).WebhookHandler(&got, nil), tt.body)
		require.Equal(t, http.StatusOK, w.Code)
		evs := got.all()
		require.Len(t, evs, 1)
		assert.Equal(t, pbx.EventUnknown, evs[0].Type)
		assert.Equal(t, Name, evs[0].Provider)
		tt.check(t, evs[0].Raw.(*Notification))
	}
}

func TestDedupeKey(t *testing.T) {
	var got collector
	h := newClient(t, Config{}).WebhookHandler(&got, nil)
	post(h, incoming)
	post(h, incoming)                                                                 // redelivery
	post(h, strings.Replace(incoming, `"type": "INCOMING"`, `"type": "ACCEPTED"`, 1)) // next event
	post(h, strings.Replace(incoming, `"ext": "100"`, `"ext": "101"`, 1))             // another phone
	post(h, strings.Replace(incoming, `}`, `, "z_flag": "1"}`, 1))                    // an extra field
	evs := got.all()
	require.Len(t, evs, 5)
	assert.Equal(t, evs[0].DedupeKey, evs[1].DedupeKey)
	seen := map[string]bool{}
	for _, e := range evs[1:] {
		assert.False(t, seen[e.DedupeKey], "distinct notifications get distinct keys")
		seen[e.DedupeKey] = true
	}

	// The key does not depend on the token, so it cannot be used to guess it.
	c2 := newClient(t, Config{CRMToken: "other"})
	var got2 collector
	post(c2.WebhookHandler(&got2, nil), strings.Replace(incoming, testToken, "other", 1))
	assert.Equal(t, evs[0].DedupeKey, got2.all()[0].DedupeKey)
}

// TestWebhookHasRecording: a link in the notification means the call is
// recorded; an empty or blank link, or none, says nothing.
func TestWebhookHasRecording(t *testing.T) {
	tests := []struct {
		name, extra string
		want        bool
		url         string
	}{
		{"link", `,"link":" https://x/r.mp3 "`, true, "https://x/r.mp3"},
		{"empty link (the spec's missed call)", `,"link":""`, false, ""},
		{"blank link", `,"link":"  "`, false, ""},
		{"null link", `,"link":null`, false, ""},
		{"no link", ``, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got collector
			w := post(newClient(t, Config{}).WebhookHandler(&got, nil),
				`{"cmd":"history","type":"in","status":"success","duration":5,"callid":"1"`+tt.extra+`,"crm_token":"token123"}`)
			require.Equal(t, http.StatusOK, w.Code)
			evs := got.all()
			require.Len(t, evs, 1)
			assert.Equal(t, tt.want, evs[0].HasRecording)
			assert.Equal(t, tt.url, evs[0].RecordingURL)
		})
	}
}

// TestWebhookOverlongNumber: a "number" longer than any real one is not a
// phone number: Phone and Line stay empty (for events and routing
// questions), and the text stays in the Notification.
func TestWebhookOverlongNumber(t *testing.T) {
	long := strings.Repeat("7", 900)
	var got collector
	rt := &routeTo{}
	h := newClient(t, Config{}).WebhookHandler(&got, rt)
	for _, cmd := range []string{"event", "history", "contact"} {
		w := post(h, `{"cmd":"`+cmd+`","type":"INCOMING","phone":"`+long+`","diversion":"`+long+`","callid":"1","crm_token":"token123"}`)
		require.Equal(t, http.StatusOK, w.Code, cmd)
	}
	evs := got.all()
	require.Len(t, evs, 2)
	for _, e := range evs {
		assert.Empty(t, e.Phone, "not a phone number")
		assert.Empty(t, e.Line)
		assert.Equal(t, long, e.Raw.(*Notification).Phone, "the text stays in Raw")
	}
	q := rt.asked()
	require.Len(t, q, 1)
	assert.Empty(t, q[0].Phone)
	assert.Empty(t, q[0].Line)
	assert.Equal(t, long, q[0].Raw.(*Notification).Phone)
}

// TestNotificationCallEvent: the exported mapping gives what the handler
// hands on, in the given zone, with the receive time for an event and the
// history's end time for a history; a nil zone is Europe/Moscow.
func TestNotificationCallEvent(t *testing.T) {
	decode := func(t *testing.T, file string) *Notification {
		t.Helper()
		var n Notification
		_, _, err := decodeRequest(fixture(t, file), "", &n)
		require.NoError(t, err)
		return &n
	}
	received := time.Date(2023, 9, 8, 10, 0, 0, 0, time.UTC)

	n := decode(t, "01_incoming_answered_event_incoming.json")
	e, err := n.CallEvent(msk, received)
	require.NoError(t, err)
	assert.Equal(t, pbx.EventRinging, e.Type)
	assert.True(t, e.At.Equal(received))
	assert.Equal(t, msk.String(), e.At.Location().String())
	assert.Same(t, n, e.Raw)
	assert.NotEmpty(t, e.DedupeKey)

	// The handler hands on the same event.
	var got collector
	w := post(newClient(t, Config{}).WebhookHandler(&got, nil), string(fixture(t, "01_incoming_answered_event_incoming.json")))
	require.Equal(t, http.StatusOK, w.Code)
	h := got.all()[0]
	assert.Equal(t, e.DedupeKey, h.DedupeKey)
	h.At, h.Raw, e.Raw = e.At, nil, nil
	assert.Equal(t, e, h)

	n = decode(t, "03_incoming_answered_history.json")
	e, err = n.CallEvent(nil, received)
	require.NoError(t, err)
	start := time.Date(2023, 9, 8, 1, 56, 40, 0, provider.DefaultLocation())
	assert.Equal(t, pbx.EventCallEnded, e.Type)
	assert.True(t, e.StartedAt.Equal(start), "%v", e.StartedAt)
	assert.True(t, e.At.Equal(start.Add(50*time.Second)), "At is the end")
	assert.Equal(t, provider.DefaultLocation().String(), e.At.Location().String())

	n.Duration = "fifty"
	_, err = n.CallEvent(msk, received)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "duration")
}

// TestNotificationRouteQuery: the smart-transfer question becomes a
// RouteQuery with normalised numbers and the notification in Raw.
func TestNotificationRouteQuery(t *testing.T) {
	var n Notification
	_, _, err := decodeRequest([]byte(`{"cmd":"contact","phone":"8 (999) 123-45-67","diversion":"74951234567","callid":"abc","crm_token":"token123"}`), "", &n)
	require.NoError(t, err)
	q := n.RouteQuery()
	assert.Equal(t, pbx.RouteQuery{Provider: Name, CallID: "abc", Phone: "79991234567", Line: "74951234567", Raw: &n}, q)
	assert.Same(t, &n, q.Raw)
}
