package operator_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/examples/internal/operator"
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/screenpop"
)

var secret = []byte("operator-test-secret")

// recordingCaller is a pbx.Caller that records the calls it is asked for.
type recordingCaller struct {
	mu    sync.Mutex
	calls []pbx.CallRequest
	err   error
}

func (c *recordingCaller) MakeCall(_ context.Context, req pbx.CallRequest) (pbx.CallResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, req)
	return pbx.CallResult{CallID: "new-call"}, c.err
}

func (c *recordingCaller) requests() []pbx.CallRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

type env struct {
	t      *testing.T
	j      *journal.Journal
	caller *recordingCaller
	srv    *httptest.Server
	now    time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	j := journal.New(journal.NewMemoryStore())
	hub, err := screenpop.New(j, screenpop.Config{Secret: secret, MissedTo: "103"})
	if err != nil {
		t.Fatal(err)
	}
	caller := &recordingCaller{}
	noon := time.Date(2026, 3, 2, 12, 0, 0, 0, time.FixedZone("MSK", 3*3600))
	h, err := operator.New(operator.Config{
		Now: func() time.Time { return noon },
		Hub: hub, Journal: j, MissedTo: "103",
		Callers: map[string]pbx.Caller{"test": caller},
		Names:   map[string]string{"101": "Иванова Анна"},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		hub.Close()
		srv.Close()
	})
	return &env{t: t, j: j, caller: caller, srv: srv, now: noon.Add(-2 * time.Hour)}
}

func (e *env) emit(evs ...pbx.CallEvent) {
	e.t.Helper()
	for _, ev := range evs {
		e.now = e.now.Add(time.Second)
		ev.Provider, ev.At = "test", e.now
		if err := e.j.HandleEvent(context.Background(), ev); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) answered(id, ext, phone string) {
	e.emit(
		pbx.CallEvent{Type: pbx.EventRinging, CallID: id, Direction: pbx.Inbound, Extension: ext, Phone: phone},
		pbx.CallEvent{Type: pbx.EventAnswered, CallID: id, Direction: pbx.Inbound, Extension: ext, Phone: phone},
		pbx.CallEvent{Type: pbx.EventCallEnded, CallID: id, Direction: pbx.Inbound, Extension: ext, Phone: phone,
			Outcome: pbx.OutcomeAnswered, TalkDuration: time.Minute, RecordingURL: "https://pbx.example/rec?hash=SIGNED"},
	)
}

func (e *env) missed(id, ext, phone string) {
	e.emit(
		pbx.CallEvent{Type: pbx.EventRinging, CallID: id, Direction: pbx.Inbound, Extension: ext, Phone: phone},
		pbx.CallEvent{Type: pbx.EventCallEnded, CallID: id, Direction: pbx.Inbound, Phone: phone, Outcome: pbx.OutcomeMissed},
	)
}

func tokenFor(ext string) string { return screenpop.Token(secret, ext, time.Now().Add(time.Hour)) }

// do sends a request; hdr values are set as headers.
func (e *env) do(method, path, body string, hdr map[string]string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func bearer(ext string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + tokenFor(ext)}
}

func TestPageAndStatic(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		path, wantType, wantBody string
		want                     int
	}{
		{"/", "text/html", "static/app.js", 200},
		{"/?token=x", "text/html", "<title>", 200},
		{"/static/app.js", "javascript", "EventSource", 200},
		{"/static/style.css", "text/css", ".card", 200},
		{"/static/nope.js", "", "", 404},
		{"/other", "", "", 404},
	} {
		resp, b := e.do("GET", tt.path, "", nil)
		if resp.StatusCode != tt.want {
			t.Errorf("%s: status %d", tt.path, resp.StatusCode)
			continue
		}
		if tt.want != 200 {
			continue
		}
		if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, tt.wantType) {
			t.Errorf("%s: content type %q", tt.path, ct)
		}
		if !strings.Contains(string(b), tt.wantBody) {
			t.Errorf("%s: body lacks %q", tt.path, tt.wantBody)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s: CSP %q", tt.path, csp)
		}
	}
}

func TestAPINeedsTheTokenInTheHeader(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		name string
		path string
		hdr  map[string]string
		want int
	}{
		{"header", "/api/me", bearer("101"), 200},
		{"no token", "/api/me", nil, 401},
		{"query only", "/api/me?token=" + url.QueryEscape(tokenFor("101")), nil, 401},
		{"expired", "/api/calls", map[string]string{"Authorization": "Bearer " + screenpop.Token(secret, "101", time.Now().Add(-time.Minute))}, 401},
		{"other secret", "/api/stats", map[string]string{"Authorization": "Bearer " + screenpop.Token([]byte("x"), "101", time.Now().Add(time.Hour))}, 401},
		{"basic", "/api/missed", map[string]string{"Authorization": "Basic " + tokenFor("101")}, 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := e.do("GET", tt.path, "", tt.hdr)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			if tt.want == 401 && strings.Contains(string(b), "calls") {
				t.Fatalf("401 with data: %s", b)
			}
		})
	}
	_, b := e.do("GET", "/api/me", "", bearer("101"))
	var m map[string]any
	json.Unmarshal(b, &m)
	if m["extension"] != "101" || m["name"] != "Иванова Анна" || m["can_call"] != true || m["time_zone"] != "Europe/Moscow" {
		t.Fatalf("me: %s", b)
	}
}

func TestListsShowOwnCalls(t *testing.T) {
	e := newEnv(t)
	e.answered("a101", "101", "79990000001")
	e.answered("a102", "102", "79990000002")
	e.missed("m101", "101", "79990000003")
	e.missed("m102", "102", "79990000004")

	ids := func(path, ext string) []string {
		resp, b := e.do("GET", path, "", bearer(ext))
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		var ans struct {
			Calls []struct {
				CallID  string `json:"call_id"`
				CanCall bool   `json:"can_call"`
			} `json:"calls"`
		}
		if err := json.Unmarshal(b, &ans); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range ans.Calls {
			if !c.CanCall {
				t.Errorf("%s: %s cannot be called back", path, c.CallID)
			}
			out = append(out, c.CallID)
		}
		return out
	}
	if got := ids("/api/calls", "101"); !slices.Equal(got, []string{"m101", "a101"}) {
		t.Errorf("101's calls: %v", got)
	}
	if _, b := e.do("GET", "/api/calls", "", bearer("101")); strings.Contains(string(b), "SIGNED") {
		t.Errorf("the page gets recording links: %s", b)
	}
	if got := ids("/api/missed", "101"); !slices.Equal(got, []string{"m101"}) {
		t.Errorf("101's missed: %v", got)
	}
	if got := ids("/api/missed", "103"); !slices.Equal(got, []string{"m102", "m101"}) {
		t.Errorf("MissedTo's missed: %v", got)
	}
	_, b := e.do("GET", "/api/stats", "", bearer("101"))
	var st struct {
		Employees []struct {
			Extension   string  `json:"extension"`
			Name        string  `json:"name"`
			Offered     int     `json:"offered"`
			Answered    int     `json:"answered"`
			Missed      int     `json:"missed"`
			TalkSeconds float64 `json:"talk_seconds"`
		} `json:"employees"`
	}
	json.Unmarshal(b, &st)
	if len(st.Employees) != 2 || st.Employees[0].Extension != "101" || st.Employees[0].Name != "Иванова Анна" ||
		st.Employees[0].Offered != 2 || st.Employees[0].Answered != 1 || st.Employees[0].Missed != 1 || st.Employees[0].TalkSeconds != 60 {
		t.Fatalf("stats: %s", b)
	}

	// Called back: still listed today, with who and when.
	e.emit(pbx.CallEvent{Type: pbx.EventRinging, CallID: "back", Direction: pbx.Outbound, Extension: "102", Phone: "79990000003"},
		pbx.CallEvent{Type: pbx.EventAnswered, CallID: "back", Direction: pbx.Outbound, Extension: "102", Phone: "79990000003"},
		pbx.CallEvent{Type: pbx.EventCallEnded, CallID: "back", Direction: pbx.Outbound, Extension: "102", Phone: "79990000003", Outcome: pbx.OutcomeAnswered})
	_, b = e.do("GET", "/api/missed", "", bearer("101"))
	if !strings.Contains(string(b), `"called_back_by":"102"`) {
		t.Fatalf("missed after the call-back: %s", b)
	}
}

func TestCallback(t *testing.T) {
	json := map[string]string{"Content-Type": "application/json"}
	with := func(ext string, h map[string]string) map[string]string {
		out := bearer(ext)
		for k, v := range h {
			out[k] = v
		}
		return out
	}
	body := func(id, req string) string {
		return `{"provider":"test","call_id":"` + id + `","request_id":"` + req + `"}`
	}

	e := newEnv(t)
	e.answered("own", "101", "79990000001")
	e.answered("other", "102", "79990000002")
	e.missed("missed-other", "102", "79990000003")

	steps := []struct {
		name string
		ext  string
		hdr  map[string]string
		body string
		want int
	}{
		{"no JSON", "101", map[string]string{"Content-Type": "text/plain"}, body("own", "r0"), 415},
		{"form", "101", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body("own", "r0"), 415},
		{"bad body", "101", json, `{"provider":"test"}`, 400},
		{"unknown call", "101", json, body("nope", "r0"), 404},
		{"another's answered call", "101", json, body("other", "r1"), 403},
		{"own call", "101", json, body("own", "r2"), 200},
		{"the same request again", "101", json, body("own", "r2"), 200},
		{"a second click", "101", json, body("own", "r3"), 409},
		{"another's missed call", "101", json, body("missed-other", "r4"), 200},
		{"MissedTo may call anything", "103", json, body("other", "r5"), 200},
	}
	for _, s := range steps {
		resp, b := e.do("POST", "/api/callback", s.body, with(s.ext, s.hdr))
		if resp.StatusCode != s.want {
			t.Fatalf("%s: status %d, want %d: %s", s.name, resp.StatusCode, s.want, b)
		}
	}
	// The token in the query is not enough for a POST.
	resp, _ := e.do("POST", "/api/callback?token="+url.QueryEscape(tokenFor("101")), body("own", "r9"), json)
	if resp.StatusCode != 401 {
		t.Fatalf("POST with the token in the query: %d", resp.StatusCode)
	}

	got := e.caller.requests()
	want := []pbx.CallRequest{
		{Extension: "101", Phone: "79990000001"},
		{Extension: "101", Phone: "79990000003"},
		{Extension: "103", Phone: "79990000002"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("calls placed %v, want %v", got, want)
	}
}

func TestCallbackFailureIsNotRetried(t *testing.T) {
	e := newEnv(t)
	e.caller.err = errors.New("PBX said no")
	e.answered("own", "101", "79990000001")
	hdr := bearer("101")
	hdr["Content-Type"] = "application/json"
	resp, b := e.do("POST", "/api/callback", `{"provider":"test","call_id":"own","request_id":"r1"}`, hdr)
	if resp.StatusCode != http.StatusBadGateway || strings.Contains(string(b), "PBX said no") {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	// The same request again gets the same answer without a second call.
	resp, _ = e.do("POST", "/api/callback", `{"provider":"test","call_id":"own","request_id":"r1"}`, hdr)
	if resp.StatusCode != http.StatusBadGateway || len(e.caller.requests()) != 1 {
		t.Fatalf("status %d, %d calls", resp.StatusCode, len(e.caller.requests()))
	}
}

func TestLink(t *testing.T) {
	exp := time.Now().Add(operator.LinkTTL)
	for _, base := range []string{"http://127.0.0.1:8080", "http://127.0.0.1:8080/", "https://pbx.example.ru/operator/"} {
		link := operator.Link(base, secret, "101", exp)
		u, err := url.Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(link, strings.TrimRight(base, "/")+"/?token=") {
			t.Errorf("link %q for %q", link, base)
		}
		ext, err := screenpop.VerifyToken(secret, u.Query().Get("token"), time.Now())
		if err != nil || ext != "101" {
			t.Errorf("link %q: %q %v", link, ext, err)
		}
	}
}

func TestStreamIsMounted(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/screenpop?token="+url.QueryEscape(tokenFor("101")), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
