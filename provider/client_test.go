package provider

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// faultServer counts requests and answers each one as fault says.
type faultServer struct {
	*httptest.Server
	hits atomic.Int32
}

func newFaultServer(t *testing.T, fault func(n int32, w http.ResponseWriter, r *http.Request)) *faultServer {
	t.Helper()
	fs := &faultServer{}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		fault(fs.hits.Add(1), w, r)
	}))
	t.Cleanup(fs.Close)
	return fs
}

func reset(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	_ = conn.(*net.TCPConn).SetLinger(0) // close with RST
	conn.Close()
}

func testClient(t *testing.T, hc *http.Client, onRetry func(RetryInfo)) *Client {
	t.Helper()
	if hc == nil {
		hc = DefaultHTTPClient()
		hc.Transport.(*http.Transport).ResponseHeaderTimeout = 200 * time.Millisecond
	}
	return NewClient(Options{
		Provider: "test", HTTPClient: hc, OnRetry: onRetry,
		MaxRetries: 3, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, MaxRetryTime: 5 * time.Second,
	})
}

// TestRetryPolicies proves which faults each policy retries, counting what
// the server received.
func TestRetryPolicies(t *testing.T) {
	tests := []struct {
		name  string
		fault func(n int32, w http.ResponseWriter, r *http.Request)
		// want: requests the server sees, and whether the final result is a
		// 200, for each policy.
		readHits, actionHits int32
		readOK, actionOK     bool
		actionStatus         int
	}{
		{
			name:     "500 always",
			fault:    func(_ int32, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) },
			readHits: 4, actionHits: 1, actionStatus: 500,
		},
		{
			name: "502 once then ok",
			fault: func(n int32, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					w.WriteHeader(502)
				}
			},
			readHits: 2, actionHits: 1, readOK: true, actionStatus: 502,
		},
		{
			name: "429 with Retry-After then ok",
			fault: func(n int32, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					w.Header().Set("Retry-After", "0")
					w.WriteHeader(429)
				}
			},
			readHits: 2, actionHits: 1, readOK: true, actionStatus: 429,
		},
		{
			name: "connection reset once",
			fault: func(n int32, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					reset(w)
				}
			},
			readHits: 2, actionHits: 1, readOK: true,
		},
		{
			name: "timeout once",
			fault: func(n int32, w http.ResponseWriter, r *http.Request) {
				if n == 1 {
					select {
					case <-time.After(2 * time.Second):
					case <-r.Context().Done():
					}
				}
			},
			readHits: 2, actionHits: 1, readOK: true,
		},
		{
			name:     "400 is final",
			fault:    func(_ int32, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(400) },
			readHits: 1, actionHits: 1, actionStatus: 400,
		},
	}
	for _, tt := range tests {
		for _, policy := range []Policy{PolicyRead, PolicyAction} {
			t.Run(tt.name+"/"+policy.String(), func(t *testing.T) {
				srv := newFaultServer(t, tt.fault)
				var retries atomic.Int32
				c := testClient(t, nil, func(RetryInfo) { retries.Add(1) })
				resp, err := c.Do(context.Background(), Request{Operation: "op", Policy: policy, URL: srv.URL, Body: []byte(`{"x":1}`)})
				wantHits, wantOK := tt.readHits, tt.readOK
				if policy == PolicyAction {
					wantHits, wantOK = tt.actionHits, tt.actionOK
				}
				assert.Equal(t, wantHits, srv.hits.Load(), "requests the server received")
				assert.Equal(t, wantHits-1, retries.Load(), "OnRetry calls")
				switch {
				case wantOK:
					require.NoError(t, err)
					assert.Equal(t, 200, resp.StatusCode)
					resp.Body.Close()
				case policy == PolicyAction && tt.actionStatus != 0:
					require.NoError(t, err)
					assert.Equal(t, tt.actionStatus, resp.StatusCode)
					resp.Body.Close()
				case err != nil:
					var oe *OpError
					assert.ErrorAs(t, err, &oe)
				default:
					resp.Body.Close()
				}
			})
		}
	}
}

// flakyDialer refuses the first n dials, as when the PBX's host is briefly
// unreachable: nothing is sent, so even an action may be retried.
func flakyDialer(n int32) (*http.Client, *atomic.Int32) {
	var dials atomic.Int32
	d := &net.Dialer{}
	t := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) <= n {
			return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
		}
		return d.DialContext(ctx, network, addr)
	}}
	return &http.Client{Transport: t}, &dials
}

func TestActionRetriedWhenNotConnected(t *testing.T) {
	srv := newFaultServer(t, func(int32, http.ResponseWriter, *http.Request) {})
	hc, dials := flakyDialer(2)
	c := testClient(t, hc, nil)
	resp, err := c.Do(context.Background(), Request{Operation: "call", Policy: PolicyAction, URL: srv.URL, Body: []byte("x")})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, int32(3), dials.Load())
	assert.Equal(t, int32(1), srv.hits.Load())
}

func TestActionGivesUpWhenNeverConnected(t *testing.T) {
	hc, dials := flakyDialer(100)
	c := testClient(t, hc, nil)
	_, err := c.Do(context.Background(), Request{Operation: "call", Policy: PolicyAction, URL: "http://127.0.0.1:1/", Body: []byte("x")})
	require.Error(t, err)
	assert.Equal(t, int32(4), dials.Load(), "MaxRetries+1 attempts")
	var ne *net.OpError
	assert.ErrorAs(t, err, &ne)
}

func TestReadGivesUpWithinTotalTime(t *testing.T) {
	srv := newFaultServer(t, func(_ int32, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(503)
	})
	c := testClient(t, nil, nil)
	start := time.Now()
	resp, err := c.Do(context.Background(), Request{Operation: "get", URL: srv.URL})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 503, resp.StatusCode)
	assert.Equal(t, int32(1), srv.hits.Load(), "a Retry-After past MaxRetryTime is not waited for")
	assert.Less(t, time.Since(start), time.Second)
}

func TestReadStopsWhenContextEnds(t *testing.T) {
	srv := newFaultServer(t, func(_ int32, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) })
	c := NewClient(Options{Provider: "test", MinBackoff: time.Second, MaxBackoff: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Do(ctx, Request{Operation: "get", URL: srv.URL})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 500*time.Millisecond)
	assert.Equal(t, int32(1), srv.hits.Load())
}

func TestBackoffHonoursRetryAfterAndGrows(t *testing.T) {
	c := NewClient(Options{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	resp := &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"2"}}}
	assert.Equal(t, 2*time.Second, c.backoff(c.opts.MinBackoff, c.opts.MaxBackoff, 0, resp))
	date := &http.Response{StatusCode: 503, Header: http.Header{"Retry-After": {time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}}}
	assert.InDelta(t, time.Hour.Seconds(), c.backoff(0, 0, 0, date).Seconds(), 2)
	for attempt, max := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		max *= time.Millisecond
		w := c.backoff(c.opts.MinBackoff, c.opts.MaxBackoff, attempt, nil)
		assert.GreaterOrEqual(t, w, max/2, "attempt %d", attempt)
		assert.LessOrEqual(t, w, max, "attempt %d", attempt)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestJournalLogsWithoutSecrets(t *testing.T) {
	const secret = "TOPSECRET"
	srv := newFaultServer(t, func(n int32, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.WriteHeader(503)
		}
	})
	var buf syncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := NewClient(Options{Provider: "vendor", Logger: logger, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	resp, err := c.Do(context.Background(), Request{Operation: "users_info", URL: srv.URL + "/?hash=" + secret,
		Header: http.Header{"X-Client-Sign": {secret}}, Body: []byte(secret)})
	require.NoError(t, err)
	resp.Body.Close()
	out := buf.String()
	assert.Contains(t, out, "provider=vendor")
	assert.Contains(t, out, "operation=users_info")
	assert.Contains(t, out, "status=200")
	assert.Contains(t, out, "attempts=2")
	assert.NotContains(t, out, secret)

	_, err = c.Do(context.Background(), Request{Operation: "users_info", URL: "http://127.0.0.1:1/?hash=" + secret, Policy: PolicyAction})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), secret)
	assert.NotContains(t, buf.String(), secret)
}

func TestClientIsSilentByDefault(t *testing.T) {
	c := NewClient(Options{})
	assert.False(t, c.Logger().Enabled(context.Background(), slog.LevelError))
}

func TestResponseError(t *testing.T) {
	for _, tt := range []struct {
		status       int
		body         string
		unauthorized bool
		limited      bool
	}{
		{401, `{"error":"bad sign"}`, true, false},
		{403, "forbidden", true, false},
		{429, "", false, true},
		{500, strings.Repeat("ж", 500), false, false},
	} {
		resp := &http.Response{StatusCode: tt.status, Body: io.NopCloser(strings.NewReader(tt.body))}
		var err error = ResponseError("vendor", "op", resp)
		assert.Equal(t, tt.unauthorized, errors.Is(err, ErrUnauthorized), tt.status)
		assert.Equal(t, tt.limited, errors.Is(err, ErrRateLimited), tt.status)
		var ae *APIError
		require.ErrorAs(t, err, &ae)
		assert.LessOrEqual(t, len(ae.Body), ExcerptLen)
		assert.True(t, strings.HasPrefix(tt.body, ae.Body), "excerpt is a prefix, not cut mid-rune")
		assert.Contains(t, err.Error(), "vendor: op: HTTP")
	}
	wrapped := &APIError{Provider: "sipuni", Operation: "call", StatusCode: 200, Message: "Неправильный хеш", Err: ErrUnauthorized}
	assert.ErrorIs(t, wrapped, ErrUnauthorized)
	assert.Equal(t, "sipuni: call: HTTP 200: Неправильный хеш", wrapped.Error())
}

func TestReadResponseLimit(t *testing.T) {
	resp := &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("0123456789"))}
	_, err := ReadResponse("v", "op", resp, 5)
	assert.Error(t, err)
	resp = &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("01234"))}
	b, err := ReadResponse("v", "op", resp, 5)
	require.NoError(t, err)
	assert.Equal(t, "01234", string(b))
}

func TestExcerptStaysWithinBoundOnInvalidUTF8(t *testing.T) {
	for _, in := range [][]byte{
		bytes.Repeat([]byte{0xff}, 300),
		append(bytes.Repeat([]byte("ж"), 127), 0xd0, 0xff, 0xff),
		[]byte("  ok  "),
	} {
		got := Excerpt(in)
		assert.LessOrEqual(t, len(got), ExcerptLen)
		assert.True(t, utf8.ValidString(got))
	}
	assert.Equal(t, "ok", Excerpt([]byte("  ok  ")))
}

func TestFinalStopsReadRetries(t *testing.T) {
	srv := newFaultServer(t, func(_ int32, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(500)
	})
	c := testClient(t, nil, nil)
	resp, err := c.Do(context.Background(), Request{Operation: "get", URL: srv.URL,
		Final: func(r *http.Response) bool { return strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") }})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, int32(1), srv.hits.Load())
}
