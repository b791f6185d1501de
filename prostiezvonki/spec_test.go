package prostiezvonki

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
)

// TestSpecNotifications sends every notification of the spec, byte for byte
// as written there (single quotes included), and checks the event.
func TestSpecNotifications(t *testing.T) {
	const id = "1659685427407907141"
	start := time.Date(2023, 9, 8, 1, 56, 40, 0, msk)
	tests := []struct {
		file string
		want pbx.CallEvent
	}{
		{"01_incoming_answered_event_incoming.json", pbx.CallEvent{Type: pbx.EventRinging, Direction: pbx.Inbound, Line: "3333333"}},
		{"02_incoming_answered_event_accepted.json", pbx.CallEvent{Type: pbx.EventAnswered, Direction: pbx.Inbound, Line: "3333333"}},
		{"03_incoming_answered_history.json", pbx.CallEvent{
			Type: pbx.EventCallEnded, Direction: pbx.Inbound, Line: "3333333", Outcome: pbx.OutcomeAnswered,
			StartedAt: start, EndedAt: start.Add(50 * time.Second), At: start.Add(50 * time.Second),
			CallDuration: 50 * time.Second, RecordingURL: "https://prostiezvonki.ru/recording.mp3", HasRecording: true,
		}},
		{"04_incoming_missed_history.json", pbx.CallEvent{
			Type: pbx.EventCallEnded, Direction: pbx.Inbound, Line: "3333333", Outcome: pbx.OutcomeMissed,
			StartedAt: start, EndedAt: start.Add(20 * time.Second), At: start.Add(20 * time.Second),
			CallDuration: 20 * time.Second,
		}},
		{"05_outgoing_answered_event_outgoing.json", pbx.CallEvent{Type: pbx.EventRinging, Direction: pbx.Outbound}},
		{"06_outgoing_answered_event_accepted.json", pbx.CallEvent{Type: pbx.EventAnswered, Direction: pbx.Outbound}},
		{"07_outgoing_answered_history.json", pbx.CallEvent{
			Type: pbx.EventCallEnded, Direction: pbx.Outbound, Outcome: pbx.OutcomeAnswered,
			StartedAt: start, EndedAt: start.Add(50 * time.Second), At: start.Add(50 * time.Second),
			CallDuration: 50 * time.Second, RecordingURL: "https://prostiezvonki.ru/recording.mp3", HasRecording: true,
		}},
		{"08_outgoing_missed_history.json", pbx.CallEvent{ // "call_id", not "callid"
			Type: pbx.EventCallEnded, Direction: pbx.Outbound, Outcome: pbx.OutcomeMissed,
			StartedAt: start, EndedAt: start.Add(20 * time.Second), At: start.Add(20 * time.Second),
			CallDuration: 20 * time.Second,
		}},
	}
	for _, tt := range tests {
		for _, variant := range []struct {
			name string
			body func([]byte) []byte
		}{{"as in spec", func(b []byte) []byte { return b }}, {"unquoted", unquote}} {
			t.Run(tt.file+"/"+variant.name, func(t *testing.T) {
				var got collector
				c := newClient(t, Config{})
				before := time.Now()
				w := do(c.WebhookHandler(&got, nil), http.MethodPost, "/", "application/json", variant.body(fixture(t, tt.file)))
				require.Equal(t, http.StatusOK, w.Code, w.Body.String())
				assert.JSONEq(t, `{"result":"ok"}`, w.Body.String())
				evs := got.all()
				require.Len(t, evs, 1)
				e := evs[0]
				want := tt.want
				want.Provider, want.CallID, want.Extension, want.Phone = Name, id, "100", "79991234567"
				if want.At.IsZero() { // events carry no time: the receive time
					assert.WithinRange(t, e.At, before.Add(-time.Second), time.Now().Add(time.Second))
					assert.Equal(t, msk.String(), e.At.Location().String())
					want.At = e.At
				}
				assert.NotEmpty(t, e.DedupeKey)
				want.DedupeKey = e.DedupeKey
				n, ok := e.Raw.(*Notification)
				require.True(t, ok, "Raw is a *Notification")
				want.Raw = n
				for _, tm := range []time.Time{e.StartedAt, e.EndedAt} {
					if !tm.IsZero() {
						assert.Equal(t, msk.String(), tm.Location().String())
					}
				}
				assert.Equal(t, want, e)
				raw, err := json.Marshal(n)
				require.NoError(t, err)
				assert.NotContains(t, string(raw), testToken, "the crm_token never reaches Raw")
			})
		}
	}
}

// TestSpecSmartTransfer sends the spec's contact question and compares the
// answer with the spec's two example answers.
func TestSpecSmartTransfer(t *testing.T) {
	c := newClient(t, Config{})
	body := fixture(t, "09_smart_transfer_contact.json")

	rt := &routeTo{r: pbx.Route{Extension: "100"}}
	w := do(c.WebhookHandler(nil, rt), http.MethodPost, "/", "application/json", body)
	require.Equal(t, http.StatusOK, w.Code)
	assert.JSONEq(t, string(fixture(t, "10_contact_answer_found.json")), w.Body.String())
	assert.Contains(t, w.Header().Get("Content-Type"), "application/json")
	q := rt.asked()
	require.Len(t, q, 1)
	assert.Equal(t, "79991234567", q[0].Phone)
	assert.Equal(t, Name, q[0].Provider)
	assert.Equal(t, "89991234567", q[0].Raw.(*Notification).Phone)

	w = do(c.WebhookHandler(nil, &routeTo{}), http.MethodPost, "/", "application/json", body)
	require.Equal(t, http.StatusOK, w.Code)
	assert.JSONEq(t, string(fixture(t, "11_contact_answer_not_found.json")), w.Body.String())
}

// TestSpecMakeCall checks the makecall request against the spec: the body
// is the curl example byte for byte, and equal as JSON to the other example.
func TestSpecMakeCall(t *testing.T) {
	var got struct {
		method, path, key, ctype string
		body                     []byte
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.method, got.path = r.Method, r.URL.Path
		got.key, got.ctype = r.Header.Get("X-API-KEY"), r.Header.Get("Content-Type")
		got.body, _ = io.ReadAll(r.Body)
		_, _ = io.WriteString(w, `{"result":"ok"}`)
	}))
	defer ts.Close()
	const key = "c5ab8f9e-b29a-4c79-9147-6b405865317b"
	c := newClient(t, Config{APIKey: key, BaseURL: ts.URL + "/httpapiinteg"})
	_, err := c.MakeCall(context.Background(), pbx.CallRequest{Extension: "100", Phone: "89991234567"})
	require.NoError(t, err)
	assert.Equal(t, http.MethodPost, got.method)
	assert.Equal(t, "/httpapiinteg/crmapi/v1/makecall", got.path)
	assert.Equal(t, key, got.key)
	assert.Equal(t, "application/json", got.ctype)
	assert.Equal(t, string(fixture(t, "13_makecall_request_curl.json")), string(got.body))
	assert.JSONEq(t, string(unquote(fixture(t, "12_makecall_request.json"))), string(got.body))
}
