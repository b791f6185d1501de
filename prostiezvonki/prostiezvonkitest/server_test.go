package prostiezvonkitest

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

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
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

// specCall is the call of the spec's examples, on the spec's account
// (employee 100).
func specCall(sc pbxtest.Scenario, loc *time.Location) (pbxtest.Call, Extras) {
	c := pbxtest.Call{
		Scenario:    sc,
		Caller:      SpecCaller,
		Line:        SpecLine,
		Extensions:  []string{"100"},
		CallID:      "1659685427407907141",
		Start:       time.Date(2023, 9, 8, 1, 56, 40, 0, loc),
		SkipRouting: true,
		Talk:        45 * time.Second,
	}
	if !sc.Incoming() {
		c.Line = "" // the spec's outgoing calls carry "diversion": ""
	}
	return c, Extras{RecordingURL: "https://prostiezvonki.ru/recording.mp3"}
}

// specStaff is the spec's account: employee 100 and colleagues.
var specStaff = []pbxtest.Employee{{Extension: "100"}, {Extension: "101"}, {Extension: "102"}}

// TestPlayMatchesSpec: the fake sends the spec's bodies. Those the spec
// writes in json.dumps style match byte for byte; the ones it wrote by hand
// ("{ ... }") match as JSON.
func TestPlayMatchesSpec(t *testing.T) {
	loc := time.FixedZone("MSK", 3*3600)
	tests := []struct {
		name  string
		sc    pbxtest.Scenario
		flow  Flow
		files []string
	}{
		{"AnsweredIncoming", pbxtest.AnsweredIncoming, 0, []string{"01_incoming_answered_event_incoming.json", "02_incoming_answered_event_accepted.json", "03_incoming_answered_history.json"}},
		{"MissedIncoming", pbxtest.MissedIncoming, 0, []string{"01_incoming_answered_event_incoming.json", "04_incoming_missed_history.json"}},
		{"OutboundCallback", pbxtest.OutboundCallback, 0, []string{"05_outgoing_answered_event_outgoing.json", "06_outgoing_answered_event_accepted.json", "07_outgoing_answered_history.json"}},
		{"MissedOutgoing", pbxtest.OutboundCallback, MissedOutgoing, []string{"05_outgoing_answered_event_outgoing.json", "08_outgoing_missed_history.json"}},
		{"SmartTransfer", pbxtest.AnsweredIncoming, SmartTransfer, []string{"09_smart_transfer_contact.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(Options{Location: loc, Employees: specStaff})
			defer s.Close()
			h := newHook(t, nil)
			call, x := specCall(tt.sc, loc)
			x.Flow = tt.flow
			res, err := s.PlayWith(context.Background(), h.URL, call, x)
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
	res, err := s.PlayWith(context.Background(), h.URL, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, Extensions: []string{"101", "103"}}, Extras{})
	require.NoError(t, err)
	assert.True(t, res.Asked)
	assert.Equal(t, pbx.Route{Extension: "102", DisplayName: "ООО Альфа"}, res.Route)
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
		call    pbxtest.Call
		x       Extras
		answer  func(b []byte, w http.ResponseWriter)
		wantErr string
	}{
		{"event answered 500", pbxtest.Call{Scenario: pbxtest.OutboundCallback}, Extras{}, func(_ []byte, w http.ResponseWriter) { w.WriteHeader(500) }, "HTTP 500"},
		{"event answered 401", pbxtest.Call{}, Extras{Flow: MissedOutgoing}, func(_ []byte, w http.ResponseWriter) { w.WriteHeader(401) }, "HTTP 401"},
		{"contact not JSON", pbxtest.Call{}, Extras{Flow: SmartTransfer}, func(_ []byte, w http.ResponseWriter) { _, _ = io.WriteString(w, "100") }, "not a JSON object"},
		{"contact is an array", pbxtest.Call{}, Extras{Flow: SmartTransfer}, func(_ []byte, w http.ResponseWriter) { _, _ = io.WriteString(w, "[]") }, "not a JSON object"},
		{"contact without responsible", pbxtest.Call{}, Extras{Flow: SmartTransfer}, func(_ []byte, w http.ResponseWriter) { _, _ = io.WriteString(w, "{}") }, `no "responsible"`},
		{"responsible is a number", pbxtest.Call{Scenario: pbxtest.AnsweredIncoming}, Extras{}, func(_ []byte, w http.ResponseWriter) { _, _ = io.WriteString(w, `{"responsible":100}`) }, "not a string"},
		{"contact_name is a number", pbxtest.Call{Scenario: pbxtest.MissedIncoming}, Extras{}, func(_ []byte, w http.ResponseWriter) {
			_, _ = io.WriteString(w, `{"responsible":"","contact_name":1}`)
		}, "not a string"},
		{"unknown scenario", pbxtest.Call{Scenario: 99}, Extras{}, nil, "unknown scenario"},
		{"no scenario", pbxtest.Call{}, Extras{}, nil, "unknown scenario"},
		{"unknown flow", pbxtest.Call{Scenario: pbxtest.AnsweredIncoming}, Extras{Flow: 9}, nil, "unknown scenario"},
		{"routing answer names no employee", pbxtest.Call{Scenario: pbxtest.AnsweredIncoming}, Extras{}, func(_ []byte, w http.ResponseWriter) {
			_, _ = io.WriteString(w, `{"responsible":"999"}`)
		}, `extension "999", which the PBX does not have`},
		{"transfer to nobody", pbxtest.Call{Scenario: pbxtest.Transfer, Extensions: []string{"101"}}, Extras{}, nil, "Transfer needs two extensions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(Options{})
			defer s.Close()
			h := newHook(t, tt.answer)
			res, err := s.PlayWith(context.Background(), h.URL, tt.call, tt.x)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Equal(t, err, res.Err)
			assert.Equal(t, err, s.Plays()[0].Err, "the error is recorded")
			assert.LessOrEqual(t, len(h.got()), 1, "the flow stops at the first failure")
		})
	}
}

func TestPlayBadURLAndContext(t *testing.T) {
	s := NewServer(Options{Pace: time.Hour})
	defer s.Close()
	_, err := s.Play(context.Background(), "ftp://x", pbxtest.Call{Scenario: pbxtest.AnsweredIncoming})
	assert.Error(t, err)

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	_, err = s.Play(context.Background(), closed.URL, pbxtest.Call{Scenario: pbxtest.OutboundCallback})
	assert.Error(t, err)

	h := newHook(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.Play(ctx, h.URL, pbxtest.Call{Scenario: pbxtest.OutboundCallback})
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
			s := NewServer(Options{Employees: specStaff})
			defer s.Close()
			req, err := http.NewRequest(tt.method, s.URL()+tt.path, strings.NewReader(tt.body))
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
			reqs := s.APIRequests()
			require.Len(t, reqs, 1)
			assert.Equal(t, reqs[0].Request, s.Requests()[0])
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
		req, _ := http.NewRequest("POST", s.URL()+"/crmapi/v1/makecall", strings.NewReader(`{"user":"101","phone":"89991234567"}`))
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
	req, _ := http.NewRequest("POST", s.URL()+"/crmapi/v1/makecall", strings.NewReader(`{"user":"101","phone":"79161234567"}`))
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
	req, _ = http.NewRequest("POST", s.URL()+"/crmapi/v1/makecall", strings.NewReader(`{"user":"101","phone":"79161234567"}`))
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
	req, _ := http.NewRequest("POST", s.URL()+"/crmapi/v1/makecall", strings.NewReader(`{"user":"101","phone":"79161234567"}`))
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
	res, err := s.PlayWith(context.Background(), h.URL, pbxtest.Call{Scenario: pbxtest.OutboundCallback}, Extras{})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(res.Extras.RecordingURL, "http://127.0.0.1:"))
	resp, err := http.Get(res.Extras.RecordingURL)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.True(t, bytes.HasPrefix(b, []byte("ID3")))
	want, ok := s.Recording(res.Call.CallID)
	require.True(t, ok)
	assert.Equal(t, want, b)
	assert.Len(t, b, DefaultRecordingSize)
	assert.Equal(t, "audio/mpeg", resp.Header.Get("Content-Type"))

	resp, err = http.Get(strings.Replace(res.Extras.RecordingURL, res.Call.CallID, "nope", 1))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 404, resp.StatusCode)

	res, err = s.PlayWith(context.Background(), h.URL, pbxtest.Call{Scenario: pbxtest.MissedIncoming}, Extras{})
	require.NoError(t, err)
	assert.Empty(t, res.Extras.RecordingURL)
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
	assert.Equal(t, s.URL(), u.Query().Get("base_url"))
	assert.Equal(t, "", u.Host)
}

func TestDefaults(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	assert.Equal(t, DefaultAPIKey, s.APIKey())
	assert.Equal(t, DefaultCRMToken, s.CRMToken())
	staff := s.Employees()
	assert.Equal(t, pbxtest.Employees(), staff, "the seeded staff every fake shares")
	assert.True(t, strings.HasPrefix(s.URL(), "http://127.0.0.1:"))
	assert.True(t, strings.HasSuffix(s.URL(), APIPath))
	staff[0].Name = "changed"
	assert.Equal(t, pbxtest.Employees()[0].Name, s.Employees()[0].Name, "Employees returns a copy")
	assert.Equal(t, "prostiezvonki", s.Name())
	cfg := s.Config()
	assert.Equal(t, s.URL(), cfg.BaseURL)
	assert.Equal(t, DefaultAPIKey, cfg.APIKey)
	assert.Equal(t, DefaultCRMToken, cfg.CRMToken)
	assert.NotNil(t, cfg.Location)
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

func TestFlowString(t *testing.T) {
	assert.Equal(t, "SmartTransfer", SmartTransfer.String())
	assert.Equal(t, "Flow(0)", Flow(0).String())
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
	res, err := s.PlayWith(context.Background(), hook.URL, pbxtest.Call{Scenario: pbxtest.OutboundCallback, Ring: 3 * time.Second, Talk: 45 * time.Second}, Extras{SendWait: true})
	require.NoError(t, err)
	last := res.Sent[len(res.Sent)-1]
	require.Equal(t, "history", last.Cmd)
	assert.Contains(t, string(last.Body), `"duration": 48, "wait": 3`)
}

// sentSeq lists what was sent as "cmd TYPE ext".
func sentSeq(sent []Sent) []string {
	out := make([]string, len(sent))
	for i, s := range sent {
		out[i] = strings.TrimSpace(s.Cmd + " " + s.Type + " " + s.Extension)
	}
	return out
}

// TestPlayNeutralScenarios: every neutral scenario is played with the
// family's events, and Played says whom it rang and who answered.
func TestPlayNeutralScenarios(t *testing.T) {
	tests := []struct {
		name       string
		call       pbxtest.Call
		x          Extras
		answer     string // the answer to the contact question
		want       []string
		rang       []string
		answeredBy string
		recorded   bool
	}{
		{"answered incoming, default staff", pbxtest.Call{Scenario: pbxtest.AnsweredIncoming}, Extras{}, `{"responsible":""}`,
			[]string{"contact", "event INCOMING 101", "event ACCEPTED 101", "history success 101"}, []string{"101"}, "101", true},
		{"answered incoming, routed", pbxtest.Call{Scenario: pbxtest.AnsweredIncoming}, Extras{}, `{"responsible":"103"}`,
			[]string{"contact", "event INCOMING 103", "event ACCEPTED 103", "history success 103"}, []string{"103"}, "103", true},
		{"answered incoming, no recording", pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, SkipRouting: true, NoRecord: true}, Extras{}, "",
			[]string{"event INCOMING 101", "event ACCEPTED 101", "history success 101"}, []string{"101"}, "101", false},
		{"missed incoming", pbxtest.Call{Scenario: pbxtest.MissedIncoming}, Extras{}, `{"responsible":""}`,
			[]string{"contact", "event INCOMING 101", "history missed 101"}, []string{"101"}, "", false},
		{"outbound callback", pbxtest.Call{Scenario: pbxtest.OutboundCallback, Extensions: []string{"102"}}, Extras{}, "",
			[]string{"event OUTGOING 102", "event ACCEPTED 102", "history success 102"}, []string{"102"}, "102", true},
		{"group ring ignores the routing answer", pbxtest.Call{Scenario: pbxtest.GroupRing}, Extras{}, `{"responsible":"103"}`,
			[]string{"contact", "event INCOMING 101", "event INCOMING 102", "event INCOMING 103", "event ACCEPTED 101",
				"event CANCELLED 102", "event CANCELLED 103", "history success 101"}, []string{"101", "102", "103"}, "101", true},
		{"transfer", pbxtest.Call{Scenario: pbxtest.Transfer, SkipRouting: true}, Extras{}, "",
			[]string{"event INCOMING 101", "event ACCEPTED 101", "event TRANSFERRED 101", "event INCOMING 102", "event ACCEPTED 102",
				"history success 102"}, []string{"101", "102"}, "101", true},
		{"transfer with leg events", pbxtest.Call{Scenario: pbxtest.Transfer, Extensions: []string{"103", "101"}, SkipRouting: true}, Extras{LegEvents: true}, "",
			[]string{"event INCOMING 103", "event ACCEPTED 103", "event TRANSFERRED 103", "event COMPLETED 103", "event INCOMING 101",
				"event ACCEPTED 101", "event COMPLETED 101", "history success 101"}, []string{"103", "101"}, "103", true},
		{"missed outgoing", pbxtest.Call{}, Extras{Flow: MissedOutgoing}, "",
			[]string{"event OUTGOING 101", "history missed 101"}, []string{"101"}, "", false},
		{"smart transfer", pbxtest.Call{}, Extras{Flow: SmartTransfer}, `{"responsible":"102"}`,
			[]string{"contact"}, nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(Options{RecordingSize: 1000})
			defer s.Close()
			h := newHook(t, func(b []byte, w http.ResponseWriter) {
				if bytes.Contains(b, []byte(`"cmd": "contact"`)) {
					_, _ = io.WriteString(w, tt.answer)
				}
			})
			res, err := s.PlayWith(context.Background(), h.URL, tt.call, tt.x)
			require.NoError(t, err)
			assert.Equal(t, tt.want, sentSeq(res.Sent))
			assert.Equal(t, tt.rang, res.Rang)
			assert.Equal(t, tt.answeredBy, res.AnsweredBy)
			assert.Equal(t, len(h.got()), res.Notifications)
			assert.Equal(t, res.Call.CallID, res.CallID)
			for _, b := range h.got() {
				if !bytes.Contains(b, []byte(`"contact"`)) {
					ok := bytes.Contains(b, []byte(`"callid": "`+res.CallID+`"`)) || bytes.Contains(b, []byte(`"call_id": "`+res.CallID+`"`))
					assert.True(t, ok, "every notification carries the call id: %s", b)
				}
			}
			assert.Equal(t, tt.recorded, res.Extras.RecordingURL != "")
			if tt.recorded {
				b, ok := s.Recording(res.CallID)
				require.True(t, ok)
				assert.Len(t, b, 1000, "Options.RecordingSize")
			}
			plays := s.Plays()
			require.Len(t, plays, 1)
			assert.Equal(t, res.Played, plays[0])
		})
	}
}

// TestPlayTransferCarriesSecondCallID: TRANSFERRED names the other call,
// and only TRANSFERRED has a second_callid.
func TestPlayTransferCarriesSecondCallID(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	h := newHook(t, nil)
	res, err := s.PlayWith(context.Background(), h.URL, pbxtest.Call{Scenario: pbxtest.Transfer, SkipRouting: true}, Extras{})
	require.NoError(t, err)
	for _, sent := range res.Sent {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sent.Body, &m))
		if sent.Type == "TRANSFERRED" {
			assert.NotEmpty(t, m["second_callid"])
			assert.NotEqual(t, res.CallID, m["second_callid"])
		} else {
			assert.NotContains(t, m, "second_callid")
		}
	}
}

// TestPlayUnknownRoutingAnswer: a routing answer naming an extension the
// staff lacks is an error in Played.Err, and the fake rings nobody.
func TestPlayUnknownRoutingAnswer(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	h := newHook(t, func(_ []byte, w http.ResponseWriter) { _, _ = io.WriteString(w, `{"responsible":"100"}`) })
	played, err := s.Play(context.Background(), h.URL, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming})
	require.Error(t, err)
	assert.Equal(t, err, played.Err)
	assert.Equal(t, "100", played.Route.Extension)
	assert.Empty(t, played.Rang, "nobody rang")
	assert.Len(t, h.got(), 1, "only the question was sent")
	assert.Equal(t, err, s.Plays()[0].Err)

	// With 100 on the staff the same answer rings it.
	s2 := NewServer(Options{Employees: specStaff})
	defer s2.Close()
	played, err = s2.Play(context.Background(), h.URL, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming})
	require.NoError(t, err)
	assert.Equal(t, []string{"100"}, played.Rang)
}

// TestNeutralDefaults: a play uses pbxtest's defaults (caller, line,
// durations); an outgoing call has the spec's empty diversion.
func TestNeutralDefaults(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	h := newHook(t, nil)
	res, err := s.PlayWith(context.Background(), h.URL, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, SkipRouting: true}, Extras{})
	require.NoError(t, err)
	assert.Equal(t, pbxtest.DefaultCaller, res.Call.Caller)
	assert.Equal(t, pbxtest.DefaultLine, res.Call.Line)
	assert.Equal(t, pbxtest.DefaultRing, res.Call.Ring)
	assert.Equal(t, pbxtest.DefaultTalk, res.Call.Talk)
	assert.Contains(t, string(res.Sent[0].Body), `"phone": "`+pbxtest.DefaultCaller+`", "diversion": "`+pbxtest.DefaultLine+`"`)
	assert.Contains(t, string(res.Sent[2].Body), `"duration": 47`)

	res, err = s.PlayWith(context.Background(), h.URL, pbxtest.Call{Scenario: pbxtest.OutboundCallback}, Extras{})
	require.NoError(t, err)
	assert.Empty(t, res.Call.Line)
	assert.Contains(t, string(res.Sent[0].Body), `"diversion": ""`)

	res, err = s.PlayWith(context.Background(), h.URL, pbxtest.Call{}, Extras{Flow: MissedOutgoing})
	require.NoError(t, err)
	assert.Equal(t, pbxtest.DefaultMissedRing, res.Call.Ring)
}

// TestRegistered: importing the package registers the fake with pbxtest.
func TestRegistered(t *testing.T) {
	f, err := pbxtest.Start("prostiezvonki", pbxtest.Options{Employees: specStaff, RecordingSize: 10})
	require.NoError(t, err)
	defer f.Close()
	s, ok := f.(*Server)
	require.True(t, ok)
	assert.Equal(t, specStaff, s.Employees())
	assert.Equal(t, int64(10), s.cfg.RecordingSize)
}

// TestRecordingStreams: a large recording is served as it is generated,
// with its length announced.
func TestRecordingStreams(t *testing.T) {
	const size = 64 << 20
	s := NewServer(Options{RecordingSize: size})
	defer s.Close()
	h := newHook(t, nil)
	res, err := s.PlayWith(context.Background(), h.URL, pbxtest.Call{Scenario: pbxtest.OutboundCallback}, Extras{})
	require.NoError(t, err)
	resp, err := http.Get(res.Extras.RecordingURL)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, int64(size), resp.ContentLength)
	n, err := io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	assert.Equal(t, int64(size), n)
	assert.Equal(t, "recording", s.Requests()[0].Operation)
}
