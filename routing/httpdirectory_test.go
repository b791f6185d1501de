package routing

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
)

const (
	dirUser     = "bridge"
	dirPassword = "s3cr3t-Pa55word"
)

// fakeDir is a fake 1C lookup endpoint: it answers from a map of numbers
// to contacts, or as its handler override says, and counts requests.
type fakeDir struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	contacts map[string][]map[string]any
	handler  http.HandlerFunc // overrides the answer when set
	requests []*http.Request
	release  chan struct{} // closed when the test ends: unblocks slow handlers
}

func newFakeDir(t *testing.T) *fakeDir {
	t.Helper()
	f := &fakeDir{t: t, contacts: map[string][]map[string]any{}, release: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		close(f.release)
		f.srv.Close()
	})
	return f
}

func (f *fakeDir) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Clone(context.Background()))
	h := f.handler
	cs := f.contacts[r.URL.Query().Get("phone")]
	f.mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if cs == nil {
		cs = []map[string]any{}
	}
	_ = json.NewEncoder(w).Encode(cs)
}

func (f *fakeDir) set(number string, cs ...map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.contacts[number] = cs
}

func (f *fakeDir) setHandler(h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handler = h
}

func (f *fakeDir) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func (f *fakeDir) last() *http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		return nil
	}
	return f.requests[len(f.requests)-1]
}

// slow returns a handler that answers after d (or when the test ends).
func (f *fakeDir) slow(d time.Duration, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(d):
		case <-f.release:
			return
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write([]byte(body))
	}
}

// withAuthURL returns the server's URL with the test credentials in it.
func (f *fakeDir) withAuthURL(path string) string {
	u, _ := url.Parse(f.srv.URL + path)
	u.User = url.UserPassword(dirUser, dirPassword)
	return u.String()
}

// testClock is a settable clock.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func withDirClock(c *testClock) HTTPDirectoryOption {
	return httpDirOption(func(o *httpDirOptions) { o.now = c.Now })
}

// waitFor polls cond for up to 5 s (a bound that only proves "did not hang").
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

var alfa = map[string]any{"id": "ЦУ-00001", "name": "Альфа", "phones": []string{"73852557475"}, "responsible": "101"}

func TestHTTPDirectoryRequest(t *testing.T) {
	f := newFakeDir(t)
	f.set("73852557475", alfa)
	d, err := NewHTTPDirectory(f.withAuthURL("/base/hs/pbx/lookup?token=abc&phone=old"))
	require.NoError(t, err)

	cs, err := d.Lookup(context.Background(), "8 (385) 255-74-75")
	require.NoError(t, err)
	require.Equal(t, []Contact{{ID: "ЦУ-00001", Name: "Альфа", Phones: []string{"73852557475"}, Responsible: "101"}}, cs)

	r := f.last()
	require.NotNil(t, r)
	assert.Equal(t, http.MethodGet, r.Method)
	assert.Equal(t, "/base/hs/pbx/lookup", r.URL.Path)
	assert.Equal(t, url.Values{"token": {"abc"}, "phone": {"73852557475"}}, r.URL.Query(), "the URL's query is kept, phone normalised and replaced")
	assert.Equal(t, "application/json", r.Header.Get("Accept"))
	user, pw, ok := r.BasicAuth()
	assert.True(t, ok, "basic auth from the URL's user information")
	assert.Equal(t, dirUser, user)
	assert.Equal(t, dirPassword, pw)
}

func TestHTTPDirectoryBasicAuthOption(t *testing.T) {
	f := newFakeDir(t)
	for _, tc := range []struct {
		name     string
		url      string
		opts     []HTTPDirectoryOption
		user, pw string
		sent     bool
	}{
		{"none", f.srv.URL, nil, "", "", false},
		{"option", f.srv.URL, []HTTPDirectoryOption{WithBasicAuth("opt", "optpw")}, "opt", "optpw", true},
		{"option replaces the URL's", f.withAuthURL("/"), []HTTPDirectoryOption{WithBasicAuth("opt", "optpw")}, "opt", "optpw", true},
		{"URL", f.withAuthURL("/"), nil, dirUser, dirPassword, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewHTTPDirectory(tc.url, tc.opts...)
			require.NoError(t, err)
			_, err = d.Lookup(context.Background(), "79990000001")
			require.NoError(t, err)
			user, pw, ok := f.last().BasicAuth()
			assert.Equal(t, tc.sent, ok)
			assert.Equal(t, tc.user, user)
			assert.Equal(t, tc.pw, pw)
		})
	}
}

func TestNewHTTPDirectoryRejectsBadURLs(t *testing.T) {
	for _, raw := range []string{"", "1c.example.ru/lookup", "ftp://1c.example.ru/", "http:///path", "http://user:" + dirPassword + "@[::1"} {
		_, err := NewHTTPDirectory(raw)
		require.Error(t, err, raw)
		assert.NotContains(t, err.Error(), dirPassword)
	}
}

func TestHTTPDirectoryCacheHit(t *testing.T) {
	f := newFakeDir(t)
	f.set("73852557475", alfa)
	clk := newTestClock()
	d, err := NewHTTPDirectory(f.srv.URL, WithCacheTTL(time.Minute), withDirClock(clk))
	require.NoError(t, err)
	ctx := context.Background()

	first, err := d.Lookup(ctx, "73852557475")
	require.NoError(t, err)
	clk.Advance(59 * time.Second)
	for _, form := range []string{"73852557475", "+7 (385) 255-74-75", "83852557475"} {
		again, err := d.Lookup(ctx, form)
		require.NoError(t, err)
		assert.Equal(t, first, again, form)
	}
	assert.Equal(t, 1, f.count(), "the answer just given is reused, whatever the number's written form")
	st := d.Stats()
	assert.Equal(t, int64(3), st.Hits)
	assert.Equal(t, int64(1), st.Misses)
	assert.Equal(t, 1, st.Entries)

	// Hidden numbers and logins are never asked.
	for _, n := range []string{"", "anonymous", "ivan.petrov", "+()-"} {
		cs, err := d.Lookup(ctx, n)
		require.NoError(t, err)
		assert.Nil(t, cs)
	}
	assert.Equal(t, 1, f.count())
}

func TestHTTPDirectoryTTLExpiry(t *testing.T) {
	f := newFakeDir(t)
	f.set("73852557475", alfa)
	clk := newTestClock()
	d, err := NewHTTPDirectory(f.srv.URL, WithCacheTTL(time.Minute), withDirClock(clk))
	require.NoError(t, err)
	router := Responsible(d)
	ctx := context.Background()
	q := pbx.RouteQuery{Phone: "73852557475"}

	r, err := router.Route(ctx, q)
	require.NoError(t, err)
	assert.Equal(t, "101", r.Extension)

	// 1C reassigns the client; the change reaches routing once the TTL
	// has passed.
	moved := map[string]any{"id": "ЦУ-00001", "name": "Альфа", "responsible": 102}
	f.set("73852557475", moved)
	r, err = router.Route(ctx, q)
	require.NoError(t, err)
	assert.Equal(t, "101", r.Extension, "fresh answer reused")
	clk.Advance(time.Minute)
	r, err = router.Route(ctx, q)
	require.NoError(t, err)
	assert.Equal(t, "102", r.Extension, "expired answer asked again")
	assert.Equal(t, 2, f.count())
}

func TestHTTPDirectoryEndpointDownFallsBackToLastKnown(t *testing.T) {
	f := newFakeDir(t)
	f.set("73852557475", alfa)
	clk := newTestClock()
	d, err := NewHTTPDirectory(f.srv.URL, WithCacheTTL(time.Minute), WithMaxStale(time.Hour), withDirClock(clk))
	require.NoError(t, err)
	ctx := context.Background()
	_, err = d.Lookup(ctx, "73852557475")
	require.NoError(t, err)

	for _, tc := range []struct {
		name string
		h    http.HandlerFunc
	}{
		{"500", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "база обновляется", http.StatusInternalServerError)
		}},
		{"404", http.NotFound},
		{"malformed JSON", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`[{"id": "1", "name": `)) }},
		{"HTML error page", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>Ошибка</html>")) }},
		{"connection dropped", func(w http.ResponseWriter, _ *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.setHandler(tc.h)
			clk.Advance(2 * time.Minute) // expired, within max stale
			before := f.count()
			cs, err := d.Lookup(ctx, "73852557475")
			require.NoError(t, err)
			require.Len(t, cs, 1)
			assert.Equal(t, "101", cs[0].Responsible, "last known answer")
			assert.Greater(t, f.count(), before, "the endpoint was asked")

			// A number never answered has nothing to fall back to.
			_, err = d.Lookup(ctx, "79990000002")
			require.ErrorIs(t, err, ErrDirectoryUnavailable)
			// Reset the failure count so the endpoint is not "down" for
			// the next case.
			f.setHandler(nil)
			clk.Advance(time.Minute)
			_, err = d.Lookup(ctx, "79990000003")
			require.NoError(t, err)
		})
	}
	assert.Positive(t, d.Stats().Stale)

	// Past max stale the old answer is not used.
	f.setHandler(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	clk.Advance(2 * time.Hour)
	_, err = d.Lookup(ctx, "73852557475")
	require.ErrorIs(t, err, ErrDirectoryUnavailable)
}

func TestHTTPDirectoryMalformedAnswerIsNotCached(t *testing.T) {
	f := newFakeDir(t)
	f.setHandler(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"id": [1, 2]}`)) })
	d, err := NewHTTPDirectory(f.srv.URL)
	require.NoError(t, err)
	_, err = d.Lookup(context.Background(), "73852557475")
	require.ErrorIs(t, err, ErrDirectoryUnavailable)
	assert.Contains(t, err.Error(), "object or array")
	f.setHandler(nil)
	f.set("73852557475", alfa)
	cs, err := d.Lookup(context.Background(), "73852557475")
	require.NoError(t, err)
	require.Len(t, cs, 1, "a failed answer was not cached")
	assert.Equal(t, 2, f.count())
}

func TestHTTPDirectoryHugeAnswer(t *testing.T) {
	big := "[" + strings.Repeat(`{"id":"1","name":"`+strings.Repeat("я", 200)+`"},`, 400) + `{"id":"2"}]`
	for _, tc := range []struct {
		name    string
		chunked bool
	}{{"content-length", false}, {"chunked", true}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeDir(t)
			f.setHandler(func(w http.ResponseWriter, _ *http.Request) {
				if !tc.chunked {
					w.Header().Set("Content-Length", fmt.Sprint(len(big)))
				}
				for i := 0; i < len(big); i += 4096 {
					_, _ = w.Write([]byte(big[i:min(i+4096, len(big))]))
					if tc.chunked {
						w.(http.Flusher).Flush()
					}
				}
			})
			d, err := NewHTTPDirectory(f.srv.URL, WithMaxResponseSize(64<<10))
			require.NoError(t, err)
			_, err = d.Lookup(context.Background(), "73852557475")
			require.ErrorIs(t, err, ErrDirectoryUnavailable)
			assert.Contains(t, err.Error(), "bytes")
			assert.Equal(t, 0, d.Stats().Entries)

			// The same answer under a larger cap is read.
			d, err = NewHTTPDirectory(f.srv.URL, WithMaxResponseSize(int64(len(big))))
			require.NoError(t, err)
			cs, err := d.Lookup(context.Background(), "73852557475")
			require.NoError(t, err)
			assert.Len(t, cs, 401)
		})
	}
}

func TestHTTPDirectoryRedirectNotFollowed(t *testing.T) {
	target := newFakeDir(t)
	target.set("73852557475", alfa)
	f := newFakeDir(t)
	f.setHandler(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.withAuthURL("/elsewhere?"+r.URL.RawQuery), http.StatusFound)
	})
	for _, hc := range []*http.Client{nil, {}} {
		opts := []HTTPDirectoryOption{WithBasicAuth(dirUser, dirPassword)}
		if hc != nil {
			opts = append(opts, WithHTTPClient(hc)) // a client that would follow
		}
		d, err := NewHTTPDirectory(f.srv.URL, opts...)
		require.NoError(t, err)
		_, err = d.Lookup(context.Background(), "73852557475")
		require.ErrorIs(t, err, ErrDirectoryUnavailable)
		assert.Contains(t, err.Error(), "redirect not followed")
		assert.NotContains(t, err.Error(), dirPassword)
	}
	assert.Equal(t, 0, target.count(), "the redirect's target was never asked (nor given the credentials)")
}

// TestHTTPDirectorySlowEndpointAnswersInTime: an endpoint slower than the
// router's deadline never makes the router late: it answers from the last
// known answer, or fails (no decision) in time so a Chain asks the next
// router; the slow request goes on and fills the cache for the next call.
func TestHTTPDirectorySlowEndpointAnswersInTime(t *testing.T) {
	f := newFakeDir(t)
	f.set("73852557475", alfa)
	clk := newTestClock()
	d, err := NewHTTPDirectory(f.srv.URL, WithCacheTTL(time.Minute), WithRequestTimeout(5*time.Second), withDirClock(clk))
	require.NoError(t, err)
	_, err = d.Lookup(context.Background(), "73852557475")
	require.NoError(t, err)
	clk.Advance(2 * time.Minute)

	orlov := `[{"id":"ЦУ-00002","name":"Орлов","responsible":"103"}]`
	f.setHandler(f.slow(1500*time.Millisecond, orlov))
	csv, err := NewMemoryDirectory([]Contact{{ID: "csv", Name: "Орлов (CSV)", Phones: []string{"79833574337"}, Responsible: "102"}}, 0)
	require.NoError(t, err)
	router := Chain(Responsible(d), Responsible(csv))

	const deadline = time.Second
	for _, tc := range []struct {
		name, phone, ext string
	}{
		{"last known answer", "73852557475", "101"},
		{"nothing cached: the next router", "79833574337", "102"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			r, err := router.Route(ctx, pbx.RouteQuery{Phone: tc.phone})
			require.NoError(t, err)
			assert.NoError(t, ctx.Err(), "the router answered before its deadline")
			assert.Equal(t, tc.ext, r.Extension)
		})
	}

	// The slow requests went on in the background and filled the cache.
	waitFor(t, "the slow answers to be cached", func() bool {
		return d.Stats().Requests == 3 && len(d.inflight0()) == 0
	})
	f.setHandler(func(w http.ResponseWriter, _ *http.Request) { t.Error("asked again") })
	cs, err := d.Lookup(context.Background(), "79833574337")
	require.NoError(t, err)
	require.Len(t, cs, 1)
	assert.Equal(t, "103", cs[0].Responsible, "the late answer serves the next call")

	// Without a deadline Lookup waits for the request (bounded by its
	// timeout).
	f.setHandler(f.slow(50*time.Millisecond, orlov))
	cs, err = d.Lookup(context.Background(), "79990000004")
	require.NoError(t, err)
	assert.Len(t, cs, 1)
}

// inflight0 returns the numbers being asked now.
func (d *HTTPDirectory) inflight0() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var keys []string
	for k := range d.inflight {
		keys = append(keys, k)
	}
	return keys
}

func TestHTTPDirectoryContextDone(t *testing.T) {
	f := newFakeDir(t)
	d, err := NewHTTPDirectory(f.srv.URL)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = d.Lookup(ctx, "73852557475")
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 0, f.count())

	// Cancelled while waiting, nothing cached: ctx's error.
	f.setHandler(f.slow(time.Second, "[]"))
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err = d.Lookup(ctx, "73852557475")
	require.ErrorIs(t, err, context.Canceled)
}

func TestHTTPDirectorySharesRequests(t *testing.T) {
	f := newFakeDir(t)
	f.setHandler(f.slow(100*time.Millisecond, `[{"id":"1","responsible":"101"}]`))
	d, err := NewHTTPDirectory(f.srv.URL)
	require.NoError(t, err)
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range 20 {
		wg.Go(func() {
			if cs, err := d.Lookup(context.Background(), "73852557475"); err == nil && len(cs) == 1 {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(20), ok.Load())
	assert.Equal(t, 1, f.count(), "concurrent lookups of one number share one request")
}

func TestHTTPDirectoryConcurrencyBound(t *testing.T) {
	f := newFakeDir(t)
	f.setHandler(f.slow(300*time.Millisecond, `[]`))
	d, err := NewHTTPDirectory(f.srv.URL, WithConcurrency(1))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := d.Lookup(context.Background(), "79990000001")
		done <- err
	}()
	waitFor(t, "the first request", func() bool { return f.count() == 1 })
	_, err = d.Lookup(context.Background(), "79990000002")
	require.ErrorIs(t, err, ErrDirectoryUnavailable, "no slot: falls back at once")
	assert.Contains(t, err.Error(), "too many requests")
	require.NoError(t, <-done)
	assert.Equal(t, 1, f.count())
}

func TestHTTPDirectoryLRU(t *testing.T) {
	f := newFakeDir(t)
	d, err := NewHTTPDirectory(f.srv.URL, WithCacheSize(2))
	require.NoError(t, err)
	ctx := context.Background()
	look := func(n string) {
		_, err := d.Lookup(ctx, n)
		require.NoError(t, err)
	}
	look("79990000001")
	look("79990000002")
	look("79990000001") // hit: 1 is now the most recent
	look("79990000003") // evicts 2
	assert.Equal(t, 3, f.count())
	look("79990000001")
	assert.Equal(t, 3, f.count(), "recently used number kept")
	look("79990000002")
	assert.Equal(t, 4, f.count(), "least recently used number forgotten")
	assert.Equal(t, 2, d.Stats().Entries)
}

func TestHTTPDirectoryDownAndBack(t *testing.T) {
	f := newFakeDir(t)
	f.setHandler(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	clk := newTestClock()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	d, err := NewHTTPDirectory(f.withAuthURL("/lookup"), withDirClock(clk), WithLogger(logger))
	require.NoError(t, err)
	ctx := context.Background()
	for i := range 3 {
		_, err := d.Lookup(ctx, fmt.Sprintf("7999000000%d", i))
		require.ErrorIs(t, err, ErrDirectoryUnavailable)
	}
	assert.True(t, d.Stats().Down)
	// Down: lookups fall back at once, without asking.
	for i := range 10 {
		_, err := d.Lookup(ctx, fmt.Sprintf("7999100000%d", i))
		require.ErrorIs(t, err, ErrDirectoryUnavailable)
		assert.Contains(t, err.Error(), "down")
	}
	assert.Equal(t, 3, f.count())
	// After the back-off one request probes it.
	clk.Advance(httpDirBackoffMin)
	_, err = d.Lookup(ctx, "79992000000")
	require.ErrorIs(t, err, ErrDirectoryUnavailable)
	assert.Equal(t, 4, f.count())
	clk.Advance(httpDirBackoffMin) // the back-off doubled: still down
	_, err = d.Lookup(ctx, "79992000001")
	require.ErrorIs(t, err, ErrDirectoryUnavailable)
	assert.Equal(t, 4, f.count())
	clk.Advance(httpDirBackoffMin)
	f.setHandler(nil)
	_, err = d.Lookup(ctx, "79992000002")
	require.NoError(t, err)
	assert.False(t, d.Stats().Down)
	_, err = d.Lookup(ctx, "79992000003")
	require.NoError(t, err)

	out := logs.String()
	assert.Equal(t, 1, strings.Count(out, "directory endpoint is down"), out)
	assert.Equal(t, 1, strings.Count(out, "directory endpoint is back"), out)
	assert.Contains(t, out, "status 503")
	assert.NotContains(t, out, dirPassword)
}

// TestHTTPDirectoryNoSecretInOutput: the password and the basic-auth
// header never appear in errors, logs or any formatting of the directory.
func TestHTTPDirectoryNoSecretInOutput(t *testing.T) {
	f := newFakeDir(t)
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	raw := f.withAuthURL("/lookup?token=QUERYSECRET")
	d, err := NewHTTPDirectory(raw, WithLogger(logger))
	require.NoError(t, err)
	encoded := base64.StdEncoding.EncodeToString([]byte(dirUser + ":" + dirPassword))
	secrets := []string{dirPassword, encoded, "QUERYSECRET"}

	var outputs []string
	for _, h := range []http.HandlerFunc{
		func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) },
		func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("not json " + dirPassword)) },
		func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, raw, http.StatusMovedPermanently) },
		func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) },
	} {
		f.setHandler(h)
		_, err := d.Lookup(context.Background(), "79990000001")
		require.Error(t, err)
		outputs = append(outputs, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
	}
	f.srv.Close() // refused connections
	_, err = d.Lookup(context.Background(), "79990000009")
	require.Error(t, err)
	outputs = append(outputs, err.Error())
	logger.Info("directory", "dir", d)
	outputs = append(outputs, logs.String(), fmt.Sprint(d), fmt.Sprintf("%+v", d), fmt.Sprintf("%#v", d), d.String(),
		fmt.Sprintf("%+v", d.Stats()))
	for _, out := range outputs {
		for _, s := range secrets {
			assert.NotContains(t, out, s)
		}
	}
	assert.Contains(t, d.String(), f.srv.URL+"/lookup?...")

	_, err = NewHTTPDirectory("ftp://u:" + dirPassword + "@host/")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), dirPassword)
}

func TestParseContacts(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want []Contact
		err  bool
	}{
		{"empty body", "", nil, false},
		{"spaces", " \n", nil, false},
		{"null", "null", nil, false},
		{"empty array", "[]", nil, false},
		{"documented", `[{"id":"ЦУ-00001","name":"Альфа","phones":["+7 385 255-74-75","79991234567"],"responsible":"101"}]`,
			[]Contact{{ID: "ЦУ-00001", Name: "Альфа", Phones: []string{"+7 385 255-74-75", "79991234567"}, Responsible: "101"}}, false},
		{"byte order mark (1C's default)", "\xef\xbb\xbf[{\"id\":\"1\",\"responsible\":\"101\"}]",
			[]Contact{{ID: "1", Responsible: "101"}}, false},
		{"numbers for id, responsible and phones", `[{"id":42,"name":"Орлов","phones":[79833574337],"responsible":101}]`,
			[]Contact{{ID: "42", Name: "Орлов", Phones: []string{"79833574337"}, Responsible: "101"}}, false},
		{"phones as one string", `[{"id":"1","phones":"8 999 123-45-67; +7 (495) 111-22-33, 101"}]`,
			[]Contact{{ID: "1", Phones: []string{"8 999 123-45-67", "+7 (495) 111-22-33", "101"}}}, false},
		{"nulls", `[{"id":"1","name":null,"phones":null,"responsible":null}]`, []Contact{{ID: "1"}}, false},
		{"letter case of names", `[{"ID":"1","Name":"Альфа","Responsible":"101"}]`,
			[]Contact{{ID: "1", Name: "Альфа", Responsible: "101"}}, false},
		{"unknown fields", `[{"id":"1","manager":{"name":"x"},"responsible":"101","extra":[1,2]}]`,
			[]Contact{{ID: "1", Responsible: "101"}}, false},
		{"spaces trimmed", `[{"id":" 1 ","name":" Альфа ","responsible":" 101 "}]`,
			[]Contact{{ID: "1", Name: "Альфа", Responsible: "101"}}, false},
		{"a single object", `{"id":"1","name":"Альфа","responsible":"101"}`,
			[]Contact{{ID: "1", Name: "Альфа", Responsible: "101"}}, false},
		{"an empty object", `{}`, nil, false},
		{"empty and null elements skipped", `[{}, null, {"id":"2"}]`, []Contact{{ID: "2"}}, false},
		{"several", `[{"id":"1","responsible":"101"},{"id":"2","responsible":"102"}]`,
			[]Contact{{ID: "1", Responsible: "101"}, {ID: "2", Responsible: "102"}}, false},
		{"truncated", `[{"id":"1"`, nil, true},
		{"trailing garbage", `[] []`, nil, true},
		{"a string", `"Альфа"`, nil, true},
		{"a number", `101`, nil, true},
		{"HTML", `<html></html>`, nil, true},
		{"array of strings", `["Альфа"]`, nil, true},
		{"object responsible", `[{"id":"1","responsible":{"ext":"101"}}]`, nil, true},
		{"array name", `[{"id":"1","name":["a"]}]`, nil, true},
		{"nested phone arrays", `[{"id":"1","phones":[["1"]]}]`, nil, true},
		{"nul", "nul", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseContacts([]byte(tc.body))
			if tc.err {
				require.Error(t, err)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func FuzzParseContacts(f *testing.F) {
	for _, s := range []string{
		`[{"id":"ЦУ-00001","name":"Альфа","phones":["+7 385 255-74-75"],"responsible":"101"}]`,
		`[{"id":1,"phones":"1;2,3","responsible":101}]`,
		`{"id":"1"}`, `null`, ``, `[]`, "\xef\xbb\xbf[]", `[{"name":null}]`, `[{"id":[1]}]`, `[{"phones":[1,"2",null]}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		cs, err := parseContacts(body)
		if err != nil {
			if cs != nil {
				t.Fatal("contacts with an error")
			}
			if strings.Contains(err.Error(), string(body)) && len(body) > 8 {
				t.Fatal("the error quotes the answer")
			}
			return
		}
		// What was read survives a round trip through the documented
		// form unchanged.
		wire := make([]map[string]any, 0, len(cs))
		for _, c := range cs {
			if c.ID == "" && c.Name == "" && c.Responsible == "" && len(c.Phones) == 0 {
				t.Fatalf("an empty contact was returned: %+v", c)
			}
			wire = append(wire, map[string]any{"id": c.ID, "name": c.Name, "phones": c.Phones, "responsible": c.Responsible})
		}
		b, err := json.Marshal(wire)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseContacts(b)
		if err != nil {
			t.Fatalf("re-reading %s: %v", b, err)
		}
		if len(again) != len(cs) {
			t.Fatalf("round trip: %d contacts, then %d", len(cs), len(again))
		}
		for i := range cs {
			a, b := cs[i], again[i]
			if a.ID != b.ID || a.Name != b.Name || a.Responsible != b.Responsible || strings.Join(a.Phones, "\x00") != strings.Join(b.Phones, "\x00") {
				t.Fatalf("round trip: %+v became %+v", a, b)
			}
		}
	})
}

// BenchmarkHTTPDirectoryWarm measures routing through
// Responsible(NewHTTPDirectory(...)) when the caller's answer is cached:
// the latency a PBX sees on every call but the first of a client within
// the TTL.
func BenchmarkHTTPDirectoryWarm(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`[{"id":"ЦУ-00001","name":"Альфа","phones":["73852557475"],"responsible":"101"}]`))
	}))
	defer srv.Close()
	d, err := NewHTTPDirectory(srv.URL, WithCacheTTL(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	router := Responsible(d, WithDefault("100"))
	q := pbx.RouteQuery{Provider: "sipuni", CallID: "c1", Phone: "73852557475"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if r, err := router.Route(ctx, q); err != nil || r.Extension != "101" {
		b.Fatalf("warm-up: %+v %v", r, err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if r, err := router.Route(ctx, q); err != nil || r.Extension != "101" {
				b.Fatalf("%+v %v", r, err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if r, err := router.Route(ctx, q); err != nil || r.Extension != "101" {
					b.Errorf("%+v %v", r, err)
					return
				}
			}
		})
	})
	if n := d.Stats().Requests; n != 1 {
		b.Fatalf("%d requests, want 1", n)
	}
}
