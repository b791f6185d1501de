package prostiezvonki

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

const incoming = `{"cmd": "event", "type": "INCOMING", "direction": "in", "user": "100", "ext": "100", "phone": "89991234567", "diversion": "3333333", "callid": "1659685427407907141", "crm_token": "token123"}`

// TestWebhookBadInput: nothing that fails a check reaches the handler or the
// router, and each failure gets its documented answer.
func TestWebhookBadInput(t *testing.T) {
	big := `{"cmd":"event","crm_token":"token123","pad":"` + strings.Repeat("x", 2<<20) + `"}`
	tests := []struct {
		name   string
		method string
		ctype  string
		body   string
		query  string
		status int
		answer string
	}{
		{"wrong token", "POST", "application/json", strings.Replace(incoming, "token123", "token124", 1), "", 401, `{"error":"Invalid token"}`},
		{"token differs in length", "POST", "application/json", strings.Replace(incoming, "token123", "token1234", 1), "", 401, `{"error":"Invalid token"}`},
		{"missing token", "POST", "application/json", `{"cmd":"event","type":"INCOMING"}`, "", 401, `{"error":"Invalid token"}`},
		{"empty token", "POST", "application/json", `{"cmd":"event","crm_token":""}`, "", 401, `{"error":"Invalid token"}`},
		{"token as object", "POST", "application/json", `{"cmd":"event","crm_token":{"v":"token123"}}`, "", 401, `{"error":"Invalid token"}`},
		{"wrong token in a form", "POST", "application/x-www-form-urlencoded", "cmd=event&crm_token=nope", "", 401, `{"error":"Invalid token"}`},
		{"wrong token and wrong types", "POST", "application/json", `{"cmd":"history","duration":{},"crm_token":"x"}`, "", 401, `{"error":"Invalid token"}`},
		{"empty body", "POST", "application/json", "", "", 400, `{"error":"Invalid parameters"}`},
		{"white space body", "POST", "application/json", " \n\t ", "", 400, `{"error":"Invalid parameters"}`},
		{"invalid JSON", "POST", "application/json", `{"cmd": "event", "crm_token": "token123"`, "", 400, `{"error":"Invalid parameters"}`},
		{"JSON array", "POST", "application/json", `[` + incoming + `]`, "", 400, `{"error":"Invalid parameters"}`},
		{"JSON string", "POST", "application/json", `"cmd"`, "", 401, `{"error":"Invalid token"}`},
		{"bad form escape", "POST", "application/x-www-form-urlencoded", "cmd=event&crm_token=%zz", "", 400, `{"error":"Invalid parameters"}`},
		{"missing cmd", "POST", "application/json", `{"type":"INCOMING","crm_token":"token123"}`, "", 400, `{"error":"Invalid parameters"}`},
		{"empty cmd", "POST", "application/json", `{"cmd":" ","crm_token":"token123"}`, "", 400, `{"error":"Invalid parameters"}`},
		{"duration as object", "POST", "application/json", `{"cmd":"history","type":"in","duration":{"s":50},"crm_token":"token123"}`, "", 400, `{"error":"Invalid parameters"}`},
		{"phone as array", "POST", "application/json", `{"cmd":"event","phone":["1"],"crm_token":"token123"}`, "", 400, `{"error":"Invalid parameters"}`},
		{"duration not a number", "POST", "application/json", `{"cmd":"history","type":"in","duration":"fifty","crm_token":"token123"}`, "", 400, `{"error":"Invalid parameters"}`},
		{"negative duration", "POST", "application/json", `{"cmd":"history","type":"in","duration":-5,"crm_token":"token123"}`, "", 400, `{"error":"Invalid parameters"}`},
		{"fractional duration", "POST", "application/json", `{"cmd":"history","type":"in","duration":5.5,"crm_token":"token123"}`, "", 400, `{"error":"Invalid parameters"}`},
		{"wait not a number", "POST", "application/json", `{"cmd":"history","type":"in","wait":"x","crm_token":"token123"}`, "", 400, `{"error":"Invalid parameters"}`},
		{"2 MiB body", "POST", "application/json", big, "", 413, `{"error":"Request body too large"}`},
		{"PUT", "PUT", "application/json", incoming, "", 405, `{"error":"Method not allowed"}`},
		{"GET without parameters", "GET", "", "", "", 400, `{"error":"Invalid parameters"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got collector
			rt := &routeTo{r: pbx.Route{Extension: "101"}}
			h := newClient(t, Config{}).WebhookHandler(&got, rt)
			target := "/pz"
			if tt.query != "" {
				target += "?" + tt.query
			}
			w := do(h, tt.method, target, tt.ctype, []byte(tt.body))
			assert.Equal(t, tt.status, w.Code)
			assert.JSONEq(t, tt.answer, w.Body.String())
			assert.Contains(t, w.Header().Get("Content-Type"), "application/json")
			assert.Empty(t, got.all(), "nothing reaches the event handler")
			assert.Empty(t, rt.asked(), "nothing reaches the router")
		})
	}
}

// TestWebhookNoTokenConfigured: a Client without CRMToken accepts nothing,
// not even a request with an empty token.
func TestWebhookNoTokenConfigured(t *testing.T) {
	c, err := New(Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	var got collector
	for _, body := range []string{incoming, `{"cmd":"event","crm_token":""}`, `{"cmd":"event"}`} {
		w := post(c.WebhookHandler(&got, nil), body)
		assert.Equal(t, http.StatusUnauthorized, w.Code, body)
	}
	assert.Empty(t, got.all())
}

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
		{"unreadable time is tolerated", `"type":"in","status":"success","start":"08.09.2023 01:56","duration":7`,
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

func TestWebhookHandlerErrorGives500AndIsLogged(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	got := &collector{err: errBoom}
	w := post(newClient(t, Config{Logger: logger}).WebhookHandler(got, nil), incoming)
	assert.Equal(t, http.StatusInternalServerError, w.Code)
	assert.JSONEq(t, `{"error":"Internal error"}`, w.Body.String())
	assert.Contains(t, logs.String(), "boom")
	assert.Contains(t, logs.String(), `"level":"ERROR"`)
}

func TestWebhookNilHandlerAcknowledges(t *testing.T) {
	h := newClient(t, Config{}).WebhookHandler(nil, nil)
	for _, body := range []string{incoming, string(fixture(t, "03_incoming_answered_history.json"))} {
		w := post(h, body)
		assert.Equal(t, http.StatusOK, w.Code)
		assert.JSONEq(t, `{"result":"ok"}`, w.Body.String())
	}
	w := post(h, string(fixture(t, "09_smart_transfer_contact.json")))
	assert.Equal(t, http.StatusOK, w.Code)
	assert.JSONEq(t, `{"responsible":""}`, w.Body.String())
}

// TestWebhookContact covers the routing question's answers.
func TestWebhookContact(t *testing.T) {
	slow := pbx.RouterFunc(func(ctx context.Context, _ pbx.RouteQuery) (pbx.Route, error) {
		<-ctx.Done()
		return pbx.Route{Extension: "102"}, nil
	})
	deaf := pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
		time.Sleep(300 * time.Millisecond) // ignores its context
		return pbx.Route{Extension: "102"}, nil
	})
	tests := []struct {
		name   string
		router pbx.Router
		body   string
		want   string
	}{
		{"found", &routeTo{r: pbx.Route{Extension: "100"}}, "", `{"responsible":"100"}`},
		{"found with name", &routeTo{r: pbx.Route{Extension: "101", DisplayName: "ООО \"Альфа\""}}, "", `{"responsible":"101","contact_name":"ООО \"Альфа\""}`},
		{"name without extension", &routeTo{r: pbx.Route{DisplayName: "ООО Альфа"}}, "", `{"responsible":""}`},
		{"no decision", &routeTo{}, "", `{"responsible":""}`},
		{"nil router", nil, "", `{"responsible":""}`},
		{"error", pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) { return pbx.Route{Extension: "1"}, errBoom }), "", `{"responsible":""}`},
		{"panic", pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) { panic("router bug") }), "", `{"responsible":""}`},
		{"timeout", slow, "", `{"responsible":""}`},
		{"timeout, router ignores ctx", deaf, "", `{"responsible":""}`},
		{"family fields", &routeTo{r: pbx.Route{Extension: "100"}}, `{"cmd":"contact","phone":"79991234567","diversion":"74951234567","callid":"abc","crm_token":"token123"}`, `{"responsible":"100"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got collector
			h := newClient(t, Config{RouteTimeout: 50 * time.Millisecond}).WebhookHandler(&got, tt.router)
			body := tt.body
			if body == "" {
				body = `{"cmd": "contact", "phone": "89991234567", "crm_token": "token123"}`
			}
			start := time.Now()
			w := post(h, body)
			assert.Less(t, time.Since(start), 250*time.Millisecond, "answered in time")
			assert.Equal(t, http.StatusOK, w.Code)
			assert.JSONEq(t, tt.want, w.Body.String())
			assert.Empty(t, got.all(), "a routing question is not an event")
			if rt, ok := tt.router.(*routeTo); ok && tt.body != "" {
				q := rt.asked()[0]
				assert.Equal(t, "abc", q.CallID)
				assert.Equal(t, "74951234567", q.Line)
				assert.Equal(t, "79991234567", q.Phone)
			}
		})
	}
}

// TestWebhookNeverLogsTheToken runs good and bad requests with debug
// logging on and looks for the token in the journal.
func TestWebhookNeverLogsTheToken(t *testing.T) {
	const secret = "s3cr3t-crm-token"
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newClient(t, Config{CRMToken: secret, Logger: logger})
	h := c.WebhookHandler(&collector{err: errBoom}, &routeTo{})
	for _, body := range []string{
		strings.Replace(incoming, testToken, secret, 1),
		strings.Replace(incoming, testToken, secret+"x", 1),
		`{"cmd":"contact","phone":"1","crm_token":"` + secret + `"}`,
		`{"cmd":"history","duration":{},"crm_token":"` + secret + `"}`,
		`{"crm_token":"` + secret + `"}`,
		`{"crm_token":"` + secret,
	} {
		w := post(h, body)
		assert.NotContains(t, w.Body.String(), secret)
	}
	require.NotEmpty(t, logs.String(), "the journal was written")
	assert.Contains(t, logs.String(), `"provider":"prostiezvonki"`)
	assert.NotContains(t, logs.String(), secret)
	assert.NotContains(t, logs.String(), "s3cr3t")
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

// TestWebhookAnswersAfterTheHandler: the handler is called synchronously,
// so the PBX gets its answer only once the handler has returned.
func TestWebhookAnswersAfterTheHandler(t *testing.T) {
	var done atomic.Bool
	h := newClient(t, Config{}).WebhookHandler(pbx.EventHandlerFunc(func(context.Context, pbx.CallEvent) error {
		time.Sleep(50 * time.Millisecond)
		done.Store(true)
		return nil
	}), nil)
	ts := httptest.NewServer(h)
	defer ts.Close()
	resp, err := http.Post(ts.URL, "application/json", strings.NewReader(incoming))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, done.Load(), "answered only after HandleEvent returned")
}

// TestWebhookLogsUnknownContent: unknown fields and codes are journalled at
// debug level by name.
func TestWebhookLogsUnknownContent(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newClient(t, Config{Logger: logger}).WebhookHandler(nil, nil)
	post(h, `{"cmd":"event","type":"HOLD","z_flag":"0","telnum_name":"x","crm_token":"token123"}`)
	assert.Contains(t, logs.String(), `"unknown_fields":"z_flag"`)
	assert.Contains(t, logs.String(), `"type":"HOLD"`)
	logs.Reset()
	post(h, incoming)
	assert.NotContains(t, logs.String(), "unrecognised", "a known notification logs only its journal line")
	assert.Contains(t, logs.String(), `"operation":"event"`)
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

// TestWebhookRejectionIsLoudAndRateLimited: a wrong or missing crm_token is
// logged at Warn (not only in the debug journal), once per reason however
// many requests come, naming the provider and the reason and never a token.
func TestWebhookRejectionIsLoudAndRateLimited(t *testing.T) {
	const configured, sent = "right-s3cr3t", "wrong-s3cr3t"
	var logs lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var got collector
	h := newClient(t, Config{CRMToken: configured, Logger: logger}).WebhookHandler(&got, nil)
	for range 5 {
		w := post(h, strings.Replace(incoming, testToken, sent, 1))
		require.Equal(t, http.StatusUnauthorized, w.Code)
	}
	lines := warnLines(t, logs.String())
	require.Len(t, lines, 1, "five rejections, one warning: %s", logs.String())
	assert.Contains(t, lines[0], `prostiezvonki`)
	assert.Contains(t, lines[0], string(provider.ReasonBadToken))

	w := post(h, `{"cmd":"event","type":"INCOMING"}`) // another reason
	require.Equal(t, http.StatusUnauthorized, w.Code)
	lines = warnLines(t, logs.String())
	require.Len(t, lines, 2, logs.String())
	assert.Contains(t, lines[1], string(provider.ReasonMissingToken))

	assert.NotContains(t, logs.String(), "s3cr3t")
	assert.Empty(t, got.all())
}

// warnLines returns the WARN records of a JSON log.
func warnLines(t *testing.T, log string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		if l == "" {
			continue
		}
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &rec), l)
		if rec["level"] == "WARN" {
			out = append(out, l)
		}
	}
	return out
}

// TestWebhookMemoryFollowsTheBytes: Prostie Zvonki's token is inside the
// body, so the body is read before anything is checked. A request that
// announces 1 MiB and sends a few bytes must not cost 1 MiB: memory
// follows the bytes received (600 such idle connections once held 540 MB).
func TestWebhookMemoryFollowsTheBytes(t *testing.T) {
	h := newClient(t, Config{}).WebhookHandler(nil, nil)
	body := []byte(strings.Replace(incoming, testToken, "wrong", 1))
	const requests = 20
	reqs := make([]*http.Request, requests)
	for i := range reqs {
		reqs[i] = httptest.NewRequest(http.MethodPost, "/pz", bytes.NewReader(body))
		reqs[i].Header.Set("Content-Type", "application/json")
		reqs[i].ContentLength = provider.DefaultMaxBodySize // announced, never sent
	}
	w := &discardWriter{h: http.Header{}}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, r := range reqs {
		w.reset()
		h.ServeHTTP(w, r)
	}
	runtime.ReadMemStats(&after)
	assert.Equal(t, http.StatusUnauthorized, w.status)
	perRequest := (after.TotalAlloc - before.TotalAlloc) / requests
	assert.Less(t, perRequest, uint64(64<<10), "allocated %d bytes per request of %d bytes", perRequest, len(body))
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
