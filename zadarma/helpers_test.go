package zadarma

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
)

// The credentials of the tests; the vectors in sign_test.go were computed
// with them by an independent implementation (Python, following PHP's
// http_build_query, hash_hmac and base64_encode).
const (
	testKey    = "key-0f1e2d3c4b5a"
	testSecret = "7a1b2c3d4e5f60718293a4b5c6d7e8f9"
)

var msk = time.FixedZone("MSK", 3*3600)

// newTestClient builds a client for base with the test credentials.
func newTestClient(t testing.TB, base string, mod ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{Key: testKey, Secret: testSecret, BaseURL: base, Location: msk}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	require.NoError(t, err)
	return c
}

// signedForm builds a notification POST with fields signed by secret.
func signedForm(t testing.TB, target string, fields url.Values, secret string) *http.Request {
	t.Helper()
	n, err := ParseNotification([]byte(fields.Encode()), "application/x-www-form-urlencoded")
	require.NoError(t, err)
	signed, _ := n.SignedString()
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Signature", SignNotification(signed, secret))
	return req
}

// startFields are the fields of a NOTIFY_START.
func startFields() url.Values {
	return url.Values{"event": {EventStart}, "call_start": {"2026-03-01 10:00:00"},
		"pbx_call_id": {"in_0123456789abcdef0123456789abcdef01234567"}, "caller_id": {"79161234567"}, "called_did": {"74951234567"}}
}

// endFields are the fields of an answered NOTIFY_END.
func endFields() url.Values {
	f := startFields()
	f.Set("event", EventEnd)
	f.Set("internal", "101")
	f.Set("duration", "47")
	f.Set("disposition", "answered")
	f.Set("status_code", "16")
	f.Set("is_recorded", "1")
	f.Set("call_id_with_rec", "1774372146.1234567")
	return f
}

// recorder is a pbx.EventHandler and pbx.Router that records.
type recorder struct {
	mu     sync.Mutex
	events []pbx.CallEvent
	qs     []pbx.RouteQuery
	err    error
	route  pbx.Route
	rerr   error
}

func (r *recorder) HandleEvent(_ context.Context, e pbx.CallEvent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return r.err
}

func (r *recorder) Route(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.qs = append(r.qs, q)
	return r.route, r.rerr
}

func (r *recorder) Events() []pbx.CallEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]pbx.CallEvent(nil), r.events...)
}

func (r *recorder) Queries() []pbx.RouteQuery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]pbx.RouteQuery(nil), r.qs...)
}

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func debugLogger(w *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
