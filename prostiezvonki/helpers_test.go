package prostiezvonki

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
)

const testToken = "token123"

// msk is the zone tests expect vendor local times in.
var msk = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		return time.FixedZone("MSK", 3*3600)
	}
	return loc
}()

func newClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	if cfg.CRMToken == "" {
		cfg.CRMToken = testToken
	}
	if cfg.Location == nil {
		cfg.Location = msk
	}
	if cfg.Logger == nil {
		// Rejected requests are logged at Warn, to slog.Default() when no
		// logger is set; tests that look at logs set their own.
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c, err := New(cfg)
	require.NoError(t, err)
	return c
}

// collector is an EventHandler that keeps what it gets.
type collector struct {
	mu     sync.Mutex
	events []pbx.CallEvent
	err    error
}

func (c *collector) HandleEvent(_ context.Context, e pbx.CallEvent) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	c.events = append(c.events, e)
	return nil
}

func (c *collector) all() []pbx.CallEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]pbx.CallEvent(nil), c.events...)
}

// routeTo is a router that always answers r and counts its calls.
type routeTo struct {
	mu      sync.Mutex
	r       pbx.Route
	queries []pbx.RouteQuery
}

func (rt *routeTo) Route(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.queries = append(rt.queries, q)
	return rt.r, nil
}

func (rt *routeTo) asked() []pbx.RouteQuery {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]pbx.RouteQuery(nil), rt.queries...)
}

var errBoom = errors.New("boom")

// post sends body to h as Prostie Zvonki does and returns the recorder.
func post(h http.Handler, body string) *httptest.ResponseRecorder {
	return do(h, http.MethodPost, "/pz", "application/json", []byte(body))
}

func do(h http.Handler, method, target, contentType string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	if body == nil {
		req = httptest.NewRequest(method, target, nil)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "spec", name))
	require.NoError(t, err)
	return b
}

// unquote drops the spec's single quotes around a fixture.
func unquote(b []byte) []byte {
	b = bytes.TrimPrefix(b, []byte("'"))
	return bytes.TrimSuffix(b, []byte("'"))
}

// discardWriter is a ResponseWriter that keeps the status and body, reusable
// for benchmarks.
type discardWriter struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(s int)   { w.status = s }
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

func (w *discardWriter) reset() {
	clear(w.h)
	w.status = 0
	w.body.Reset()
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers, for loggers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
