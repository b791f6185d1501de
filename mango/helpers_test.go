package mango_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/mango"
	"github.com/pbxkit/pbxkit/mango/mangotest"
)

const (
	key  = mangotest.DefaultAPIKey
	salt = mangotest.DefaultAPISalt
)

// newClient returns a Client of the API at base (a fake's URL, or an
// apiServer's), closed when t ends.
func newClient(t testing.TB, base string, mod func(*mango.Config)) *mango.Client {
	t.Helper()
	tr := &http.Transport{Proxy: nil}
	t.Cleanup(tr.CloseIdleConnections)
	cfg := mango.Config{APIKey: key, APISalt: salt, BaseURL: base, HTTPClient: &http.Client{Transport: tr},
		HistoryPoll: 5 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	if mod != nil {
		mod(&cfg)
	}
	c, err := mango.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// signedBody is the form body of a notification carrying js.
func signedBody(js string) string { return mango.SignedForm(key, salt, js).Encode() }

// deliver posts body to h at path and returns the recorded answer.
func deliver(h http.Handler, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/pbx/mango/"+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// notify posts the signed json js to h at path.
func notify(h http.Handler, path, js string) *httptest.ResponseRecorder {
	return deliver(h, path, signedBody(js))
}

// apiCall is one request an apiServer received.
type apiCall struct {
	Op     string
	Form   url.Values
	JSON   map[string]any
	Raw    string
	At     time.Time
	SignOK bool
}

// apiServer is a scripted VPBX API: answer decides each answer.
type apiServer struct {
	*httptest.Server
	answer func(op string, js map[string]any) (int, string)
	mu     sync.Mutex
	calls  []apiCall
	got    chan apiCall
}

func newAPIServer(t testing.TB, answer func(op string, js map[string]any) (int, string)) *apiServer {
	s := &apiServer{answer: answer, got: make(chan apiCall, 1024)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		c := apiCall{Op: strings.TrimPrefix(r.URL.Path, "/vpbx/"), Form: form, Raw: form.Get("json"), At: time.Now()}
		c.SignOK = form.Get("vpbx_api_key") == key && form.Get("sign") == mango.Sign(key, c.Raw, salt)
		_ = json.Unmarshal([]byte(c.Raw), &c.JSON)
		s.mu.Lock()
		s.calls = append(s.calls, c)
		s.mu.Unlock()
		s.got <- c
		status, body := http.StatusOK, `{"result":1000}`
		if s.answer != nil {
			status, body = s.answer(c.Op, c.JSON)
		}
		if strings.HasPrefix(body, "{") {
			w.Header().Set("Content-Type", "application/json")
		} else {
			w.Header().Set("Content-Type", "text/csv")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

// base is the API base URL of s.
func (s *apiServer) base() string { return s.URL + "/vpbx" }

func (s *apiServer) requests() []apiCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]apiCall(nil), s.calls...)
}

// next waits for the next request, failing t after a generous bound.
func (s *apiServer) next(t testing.TB) apiCall {
	t.Helper()
	select {
	case c := <-s.got:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no API request arrived")
		return apiCall{}
	}
}

// ctx is a test context with a generous bound.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// eventually polls cond every 5 ms for up to 10 s.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// callJSON is an events/call json value.
func callJSON(fields map[string]any) string {
	v := map[string]any{"entry_id": "E1", "call_id": "L1", "timestamp": 1700000000, "seq": 1}
	for k, x := range fields {
		v[k] = x
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// ivrJSON is the Appeared-in-the-IVR notification of leg.
func ivrJSON(entry, leg string) string {
	return callJSON(map[string]any{"entry_id": entry, "call_id": leg, "call_state": "Appeared", "location": "ivr",
		"from": map[string]any{"number": "79161234567"}, "to": map[string]any{"number": "74951234567", "line_number": "74951234567"}})
}

// callJSONRaw marshals v.
func callJSONRaw(v map[string]any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// jsonUnmarshal decodes js into v.
func jsonUnmarshal(js string, v any) error { return json.Unmarshal([]byte(js), v) }
