package pztest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hook is a webhook that records the bodies it gets and answers with
// answer (nil: 200 {} and, for contact, {"responsible": ""}).
type hook struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	ctypes []string
}

func newHook(t *testing.T, answer func(body []byte, w http.ResponseWriter)) *hook {
	t.Helper()
	h := &hook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, b)
		h.ctypes = append(h.ctypes, r.Header.Get("Content-Type"))
		h.mu.Unlock()
		if answer != nil {
			answer(b, w)
			return
		}
		if bytes.Contains(b, []byte(`"cmd": "contact"`)) {
			_, _ = io.WriteString(w, `{"responsible": ""}`)
			return
		}
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) got() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.bodies...)
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "spec", name))
	require.NoError(t, err)
	return strings.TrimSuffix(strings.TrimPrefix(string(b), "'"), "'")
}

// specCall is the call of the spec's examples.
func specCall(sc Scenario, loc *time.Location) Call {
	return Call{
		Scenario:        sc,
		CallID:          "1659685427407907141",
		Start:           time.Date(2023, 9, 8, 1, 56, 40, 0, loc),
		RecordingURL:    "https://prostiezvonki.ru/recording.mp3",
		NoSmartTransfer: true,
	}
}

// TestPlayMatchesSpec: the fake sends the spec's bodies. Those the spec
// writes in json.dumps style match byte for byte; the ones it wrote by hand
// ("{ ... }") match as JSON.
func TestPlayMatchesSpec(t *testing.T) {
	loc := time.FixedZone("MSK", 3*3600)
	tests := []struct {
		sc    Scenario
		files []string
	}{
		{AnsweredIncoming, []string{"01_incoming_answered_event_incoming.json", "02_incoming_answered_event_accepted.json", "03_incoming_answered_history.json"}},
		{MissedIncoming, []string{"01_incoming_answered_event_incoming.json", "04_incoming_missed_history.json"}},
		{OutboundCallback, []string{"05_outgoing_answered_event_outgoing.json", "06_outgoing_answered_event_accepted.json", "07_outgoing_answered_history.json"}},
		{MissedOutgoing, []string{"05_outgoing_answered_event_outgoing.json", "08_outgoing_missed_history.json"}},
		{SmartTransfer, []string{"09_smart_transfer_contact.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.sc.String(), func(t *testing.T) {
			s := NewServer(Options{Location: loc})
			defer s.Close()
			h := newHook(t, nil)
			res, err := s.Play(context.Background(), h.URL, specCall(tt.sc, loc))
			require.NoError(t, err)
			got := h.got()
			require.Len(t, got, len(tt.files))
			for i, f := range tt.files {
				want := fixture(t, f)
				if strings.HasPrefix(want, "{ ") {
					assert.JSONEq(t, want, string(got[i]), f)
				} else {
					assert.Equal(t, want, string(got[i]), f)
				}
				assert.Equal(t, got[i], res.Sent[i].Body)
				assert.Equal(t, http.StatusOK, res.Sent[i].Status)
			}
			for _, ct := range h.ctypes {
				assert.Equal(t, "application/json", ct)
			}
		})
	}
}

func TestPlayRouting(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	h := newHook(t, func(b []byte, w http.ResponseWriter) {
		if bytes.Contains(b, []byte(`"contact"`)) {
			_, _ = io.WriteString(w, `{"responsible":"102","contact_name":"ООО Альфа"}`)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	res, err := s.Play(context.Background(), h.URL, Call{Scenario: AnsweredIncoming, Extensions: []string{"100", "101"}})
	require.NoError(t, err)
	assert.True(t, res.Asked)
	assert.Equal(t, "102", res.Responsible)
	assert.Equal(t, "ООО Альфа", res.ContactName)
	assert.Equal(t, []string{"102"}, res.Rang)
	assert.Equal(t, "102", res.AnsweredBy)
	require.Len(t, res.Sent, 4)
	assert.Equal(t, []string{"contact", "event", "event", "history"}, []string{res.Sent[0].Cmd, res.Sent[1].Cmd, res.Sent[2].Cmd, res.Sent[3].Cmd})
	assert.Contains(t, string(res.Sent[1].Body), `"ext": "102"`)
	assert.Len(t, s.Plays(), 1)
	assert.Len(t, res.Call.CallID, 19, "call ids look like the spec's")
}

// TestPlayErrors: anything unexpected from the webhook is an error.
func TestPlayErrors(t *testing.T) {
	tests := []struct {
		name    string
		call    Call
		answer  func(b []byte, w http.ResponseWriter)
		wantErr string
	}{
		{"event answered 500", Call{Scenario: OutboundCallback}, func(_ []byte, w http.ResponseWriter) { w.WriteHeader(500) }, "HTTP 500"},
		{"event answered 401", Call{Scenario: MissedOutgoing}, func(_ []byte, w http.ResponseWriter) { w.WriteHeader(401) }, "HTTP 401"},
		{"contact not JSON", Call{Scenario: SmartTransfer}, func(_ []byte, w http.ResponseWriter) { _, _ = io.WriteString(w, "100") }, "not a JSON object"},
		{"contact is an array", Call{Scenario: SmartTransfer}, func(_ []byte, w http.ResponseWriter) { _, _ = io.WriteString(w, "[]") }, "not a JSON object"},
		{"contact without responsible", Call{Scenario: SmartTransfer}, func(_ []byte, w http.ResponseWriter) { _, _ = io.WriteString(w, "{}") }, `no "responsible"`},
		{"responsible is a number", Call{Scenario: AnsweredIncoming}, func(_ []byte, w http.ResponseWriter) { _, _ = io.WriteString(w, `{"responsible":100}`) }, "not a string"},
		{"contact_name is a number", Call{Scenario: MissedIncoming}, func(_ []byte, w http.ResponseWriter) {
			_, _ = io.WriteString(w, `{"responsible":"","contact_name":1}`)
		}, "not a string"},
		{"unknown scenario", Call{Scenario: 99}, nil, "unknown scenario"},
		{"no scenario", Call{}, nil, "unknown scenario"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(Options{})
			defer s.Close()
			h := newHook(t, tt.answer)
			res, err := s.Play(context.Background(), h.URL, tt.call)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Equal(t, err, res.Err)
			assert.LessOrEqual(t, len(h.got()), 1, "the flow stops at the first failure")
		})
	}
}

func TestPlayBadURLAndContext(t *testing.T) {
	s := NewServer(Options{Pace: time.Hour})
	defer s.Close()
	_, err := s.Play(context.Background(), "ftp://x", Call{Scenario: AnsweredIncoming})
	assert.Error(t, err)

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	_, err = s.Play(context.Background(), closed.URL, Call{Scenario: OutboundCallback})
	assert.Error(t, err)

	h := newHook(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.Play(ctx, h.URL, Call{Scenario: OutboundCallback})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), time.Second, "the pace honours the context")
	assert.Len(t, h.got(), 1)
}

func TestMakeCall(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   string
		key    string
		body   string
		status int
		answer string
	}{
		{"ok", "POST", "/crmapi/v1/makecall", DefaultAPIKey, `{"user":"100","phone":"89991234567"}`, 200, `"result":"ok"`},
		{"user as number", "POST", "/crmapi/v1/makecall", DefaultAPIKey, `{"user":101,"phone":"79991234567"}`, 200, `"callid"`},
		{"wrong key", "POST", "/crmapi/v1/makecall", "nope", `{"user":"100","phone":"89991234567"}`, 401, `{"error":"Invalid token"}`},
		{"no key", "POST", "/crmapi/v1/makecall", "", `{"user":"100","phone":"89991234567"}`, 401, `{"error":"Invalid token"}`},
		{"GET", "GET", "/crmapi/v1/makecall", DefaultAPIKey, ``, 405, `Method not allowed`},
		{"not JSON", "POST", "/crmapi/v1/makecall", DefaultAPIKey, `user=100`, 400, `Invalid parameters`},
		{"no phone", "POST", "/crmapi/v1/makecall", DefaultAPIKey, `{"user":"100"}`, 400, `Invalid parameters`},
		{"unknown user", "POST", "/crmapi/v1/makecall", DefaultAPIKey, `{"user":"555","phone":"89991234567"}`, 400, `не найден`},
		{"plus in phone", "POST", "/crmapi/v1/makecall", DefaultAPIKey, `{"user":"100","phone":"+79991234567"}`, 400, `Неверный номер`},
		{"wrong path", "POST", "/crmapi/v1/call", DefaultAPIKey, `{}`, 404, `Not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(Options{})
			defer s.Close()
			req, err := http.NewRequest(tt.method, s.URL+tt.path, strings.NewReader(tt.body))
			require.NoError(t, err)
			if tt.key != "" {
				req.Header.Set("X-API-KEY", tt.key)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Contains(t, string(b), tt.answer)
			reqs := s.Requests()
			require.Len(t, reqs, 1)
			assert.Equal(t, tt.status, reqs[0].Status)
			assert.Equal(t, tt.method, reqs[0].Method)
			assert.Equal(t, tt.key == DefaultAPIKey && tt.path == "/crmapi/v1/makecall" && tt.method == "POST", reqs[0].APIKeyOK)
		})
	}
}

func TestMakeCallErrorsOnDemand(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	call := func() (int, string) {
		req, _ := http.NewRequest("POST", s.URL+"/crmapi/v1/makecall", strings.NewReader(`{"user":"100","phone":"89991234567"}`))
		req.Header.Set("X-API-KEY", s.APIKey())
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	s.SetMakeCallError(500, "АТС недоступна")
	code, body := call()
	assert.Equal(t, 500, code)
	assert.JSONEq(t, `{"error":"АТС недоступна"}`, body)
	s.SetMakeCallError(200, "Линия занята")
	code, body = call()
	assert.Equal(t, 200, code)
	assert.JSONEq(t, `{"result":"error","error":"Линия занята"}`, body)
	s.SetMakeCallError(0, "")
	code, _ = call()
	assert.Equal(t, 200, code)
}

// TestSetWebhook: a makecall rings the webhook asynchronously; Wait waits.
func TestSetWebhook(t *testing.T) {
	s := NewServer(Options{Pace: 10 * time.Millisecond})
	defer s.Close()
	h := newHook(t, nil)
	s.SetWebhook(h.URL)
	req, _ := http.NewRequest("POST", s.URL+"/crmapi/v1/makecall", strings.NewReader(`{"user":"101","phone":"79161234567"}`))
	req.Header.Set("X-API-KEY", s.APIKey())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var ans struct{ Result, Callid string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ans))
	resp.Body.Close()
	require.NoError(t, s.Wait())
	got := h.got()
	require.Len(t, got, 3)
	for i, typ := range []string{`"type": "OUTGOING"`, `"type": "ACCEPTED"`, `"status": "success"`} {
		assert.Contains(t, string(got[i]), typ)
		assert.Contains(t, string(got[i]), `"ext": "101"`)
		assert.Contains(t, string(got[i]), `"phone": "79161234567"`)
		assert.Contains(t, string(got[i]), `"callid": "`+ans.Callid+`"`)
	}

	// A failing webhook is reported by Wait, once.
	bad := newHook(t, func(_ []byte, w http.ResponseWriter) { w.WriteHeader(500) })
	s.SetWebhook(bad.URL)
	req, _ = http.NewRequest("POST", s.URL+"/crmapi/v1/makecall", strings.NewReader(`{"user":"101","phone":"79161234567"}`))
	req.Header.Set("X-API-KEY", s.APIKey())
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Error(t, s.Wait())
	assert.NoError(t, s.Wait())
}

// TestCloseStopsFlows: Close ends a slow asynchronous flow instead of
// waiting for it.
func TestCloseStopsFlows(t *testing.T) {
	s := NewServer(Options{Pace: time.Hour})
	h := newHook(t, nil)
	s.SetWebhook(h.URL)
	req, _ := http.NewRequest("POST", s.URL+"/crmapi/v1/makecall", strings.NewReader(`{"user":"100","phone":"79161234567"}`))
	req.Header.Set("X-API-KEY", s.APIKey())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	start := time.Now()
	s.Close()
	assert.Less(t, time.Since(start), 2*time.Second)
}

func TestRecording(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	h := newHook(t, nil)
	res, err := s.Play(context.Background(), h.URL, Call{Scenario: OutboundCallback})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(res.Call.RecordingURL, "http://127.0.0.1:"))
	resp, err := http.Get(res.Call.RecordingURL)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.True(t, bytes.HasPrefix(b, []byte("ID3")))
	want, ok := s.Recording(res.Call.CallID)
	require.True(t, ok)
	assert.Equal(t, want, b)

	resp, err = http.Get(strings.Replace(res.Call.RecordingURL, res.Call.CallID, "nope", 1))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 404, resp.StatusCode)

	res, err = s.Play(context.Background(), h.URL, Call{Scenario: MissedIncoming})
	require.NoError(t, err)
	assert.Empty(t, res.Call.RecordingURL)
	assert.Contains(t, string(res.Sent[len(res.Sent)-1].Body), `"link": ""`)
}

func TestDSN(t *testing.T) {
	s := NewServer(Options{APIKey: "k/y@1", CRMToken: "t&1"})
	defer s.Close()
	u, err := url.Parse(s.DSN())
	require.NoError(t, err)
	assert.Equal(t, "prostiezvonki", u.Scheme)
	assert.Equal(t, "", u.User.Username())
	key, _ := u.User.Password()
	assert.Equal(t, "k/y@1", key)
	assert.Equal(t, "t&1", u.Query().Get("crm_token"))
	assert.Equal(t, s.URL, u.Query().Get("base_url"))
	assert.Equal(t, "", u.Host)
}

func TestDefaults(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	assert.Equal(t, DefaultAPIKey, s.APIKey())
	assert.Equal(t, DefaultCRMToken, s.CRMToken())
	users := s.Users()
	require.Len(t, users, 3)
	assert.Equal(t, "100", users[0].Extension)
	assert.Equal(t, "Анна Смирнова", users[0].Name)
	assert.True(t, strings.HasPrefix(s.URL, "http://127.0.0.1:"))
	assert.True(t, strings.HasSuffix(s.URL, APIPath))
	users[0].Name = "changed"
	assert.Equal(t, "Анна Смирнова", s.Users()[0].Name, "Users returns a copy")
}

func TestPyString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"100", `"100"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"line\nnext\t\r\b\f", `"line\nnext\t\r\b\f"`},
		{"\x01", `"\u0001"`},
		{"Анна", `"\u0410\u043d\u043d\u0430"`},
		{"😀", `"\ud83d\ude00"`},
		{"\xff", `"\ufffd"`},
		{"\x7f", `"\u007f"`},
	}
	for _, tt := range tests {
		got := string(appendPyString(nil, tt.in))
		assert.Equal(t, tt.want, got, tt.in)
		var back string
		require.NoError(t, json.Unmarshal([]byte(got), &back))
		if tt.in != "\xff" {
			assert.Equal(t, tt.in, back)
		}
	}
}

func TestScenarioString(t *testing.T) {
	assert.Equal(t, "SmartTransfer", SmartTransfer.String())
	assert.Equal(t, "Scenario(0)", Scenario(0).String())
}

// TestHistoryBodyWait: wait is sent only when asked for, after duration, in
// whole seconds.
func TestHistoryBodyWait(t *testing.T) {
	start := time.Date(2023, 9, 8, 1, 56, 40, 0, time.UTC)
	h := HistoryFields{Type: "in", Status: "success", Ext: "100", Start: start, End: start.Add(50 * time.Second), CallID: "1", Token: "t", Wait: 8 * time.Second}
	assert.NotContains(t, string(HistoryBody(h)), `"wait"`, "the spec's history has no wait")
	h.SendWait = true
	var m map[string]any
	require.NoError(t, json.Unmarshal(HistoryBody(h), &m))
	assert.Equal(t, float64(8), m["wait"])
	assert.Equal(t, float64(50), m["duration"])

	s := NewServer(Options{})
	defer s.Close()
	hook := newHook(t, nil)
	res, err := s.Play(context.Background(), hook.URL, Call{Scenario: OutboundCallback, SendWait: true, Ring: 3 * time.Second})
	require.NoError(t, err)
	last := res.Sent[len(res.Sent)-1]
	require.Equal(t, "history", last.Cmd)
	assert.Contains(t, string(last.Body), `"duration": 48, "wait": 3`)
}
