package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// refusedURL returns a loopback URL on a port nothing listens on.
func refusedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "http://" + addr
}

// redirector answers every request with status and a Location of target.
func redirector(t *testing.T, status int, target string) *faultServer {
	return newFaultServer(t, func(_ int32, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Location", target)
		w.WriteHeader(status)
	})
}

// TestRedirectToRefusedPortIsNotResent: a redirect whose target refuses the
// connection made the old client take the dial error of the second hop for
// "never connected" and send a make-call 4 times. Now the request reaches
// the API once and the error names where the redirect pointed.
func TestRedirectToRefusedPortIsNotResent(t *testing.T) {
	const secret = "SECRETTOKEN"
	target := refusedURL(t)
	host := strings.TrimPrefix(target, "http://")
	for _, policy := range []Policy{PolicyAction, PolicyRead} {
		t.Run(policy.String(), func(t *testing.T) {
			srv := redirector(t, http.StatusTemporaryRedirect, target+"/callback?token="+secret)
			c := NewClient(Options{Provider: "rostelecom", MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
			resp, err := c.Do(context.Background(), Request{Operation: "call_back", Policy: policy, URL: srv.URL + "/call_back", Body: []byte(`{"a":1}`)})
			require.Error(t, err)
			assert.Nil(t, resp)
			assert.Equal(t, int32(1), srv.hits.Load(), "requests the API received")
			var re *RedirectError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, http.StatusTemporaryRedirect, re.StatusCode)
			assert.Equal(t, target+"/callback", re.Location)
			assert.Contains(t, err.Error(), host, "the error names the host the redirect pointed to")
			assert.Equal(t, "rostelecom: call_back: API answered 307 redirect to "+target+"/callback; pbxkit does not follow redirects", err.Error())
			assert.NotContains(t, err.Error(), secret)
		})
	}
}

// TestRedirectCarriesNothingToAnotherHost: on a redirect net/http copies
// custom headers and, on 307/308, the body; no request may reach the other
// host, whatever the status and policy.
func TestRedirectCarriesNothingToAnotherHost(t *testing.T) {
	other := newFaultServer(t, func(int32, http.ResponseWriter, *http.Request) {})
	for _, status := range []int{301, 302, 303, 307, 308} {
		for _, policy := range []Policy{PolicyAction, PolicyRead} {
			t.Run(fmt.Sprint(status, "/", policy), func(t *testing.T) {
				srv := redirector(t, status, other.URL+"/path")
				c := testClient(t, nil, nil)
				_, err := c.Do(context.Background(), Request{Operation: "makecall", Policy: policy, URL: srv.URL,
					Header: http.Header{"X-Api-Key": {"KEY"}, "X-Client-Id": {"ID"}, "X-Client-Sign": {"SIGN"}},
					Body:   []byte(`{"from":"101","to":"79991234567"}`)})
				var re *RedirectError
				require.ErrorAs(t, err, &re)
				assert.Equal(t, status, re.StatusCode)
				assert.Equal(t, other.URL+"/path", re.Location)
				assert.Equal(t, int32(1), srv.hits.Load())
			})
		}
	}
	assert.Equal(t, int32(0), other.hits.Load(), "requests that reached the other host")
}

func TestRedirectWithoutLocation(t *testing.T) {
	srv := newFaultServer(t, func(_ int32, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusFound) })
	c := testClient(t, nil, nil)
	_, err := c.Do(context.Background(), Request{Operation: "op", URL: srv.URL})
	var re *RedirectError
	require.ErrorAs(t, err, &re)
	assert.Empty(t, re.Location)
	assert.Equal(t, "test: op: API answered 302 redirect without a Location; pbxkit does not follow redirects", err.Error())
}

// TestUserHTTPClientIsNotMutated: the Client refuses redirects through a copy
// of the user's *http.Client, which keeps its own redirect policy.
func TestUserHTTPClientIsNotMutated(t *testing.T) {
	final := newFaultServer(t, func(_ int32, w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "final") })
	srv := redirector(t, http.StatusFound, final.URL)

	var followed atomic.Int32
	check := func(*http.Request, []*http.Request) error { followed.Add(1); return nil }
	hc := &http.Client{CheckRedirect: check}
	before := reflect.ValueOf(hc.CheckRedirect).Pointer()
	plain := &http.Client{}

	c := NewClient(Options{Provider: "test", HTTPClient: hc})
	_ = NewClient(Options{Provider: "test", HTTPClient: plain})
	assert.Equal(t, before, reflect.ValueOf(hc.CheckRedirect).Pointer(), "the user's CheckRedirect is kept")
	assert.Nil(t, plain.CheckRedirect, "a nil CheckRedirect stays nil")
	assert.Same(t, hc, c.HTTPClient())

	_, err := c.Do(context.Background(), Request{Operation: "op", URL: srv.URL})
	var re *RedirectError
	require.ErrorAs(t, err, &re, "the Client does not follow")
	assert.Equal(t, int32(0), final.hits.Load())

	resp, err := hc.Get(srv.URL)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "final", string(b), "the user's client still follows redirects itself")
	assert.Equal(t, int32(1), followed.Load())
	assert.Equal(t, int32(1), final.hits.Load())
}

// stallServer writes what write says, then holds the connection until the
// client goes or the test ends.
func stallServer(t *testing.T, write func(w http.ResponseWriter)) *httptest.Server {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		write(w)
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) }) // runs first: frees the handlers
	return srv
}

func flush(w http.ResponseWriter) { w.(http.Flusher).Flush() }

// readAll runs Do and reads the whole body, failing the test (instead of
// hanging it) when that takes more than 5 s.
func readAll(t *testing.T, c *Client, ctx context.Context, r Request) ([]byte, error) {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		resp, err := c.Do(ctx, r)
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		ch <- result{b, err}
	}()
	select {
	case res := <-ch:
		return res.b, res.err
	case <-time.After(5 * time.Second):
		t.Fatal("the operation hung past its Timeout")
		return nil, nil
	}
}

// TestOperationTimeout: without a context deadline, a server that holds a
// half-sent answer no longer blocks an operation for ever.
func TestOperationTimeout(t *testing.T) {
	tests := []struct {
		name  string
		write func(w http.ResponseWriter)
	}{
		{"headers then half the body", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(200)
			_, _ = io.WriteString(w, strings.Repeat("x", 50))
			flush(w)
		}},
		{"headers and no body", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(200)
			flush(w)
		}},
		{"no headers", func(http.ResponseWriter) {}},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprint(tt.name, "/stream=", stream), func(t *testing.T) {
				srv := stallServer(t, tt.write)
				// A client with no timeout of its own: Options.Timeout alone
				// must end the operation.
				c := NewClient(Options{Provider: "test", HTTPClient: &http.Client{}, Timeout: 200 * time.Millisecond})
				start := time.Now()
				_, err := readAll(t, c, context.Background(), Request{Operation: "get", URL: srv.URL, Stream: stream})
				require.Error(t, err)
				assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
				assert.ErrorIs(t, err, context.DeadlineExceeded)
				var oe *OpError
				require.ErrorAs(t, err, &oe)
				assert.Equal(t, "get", oe.Operation)
				assert.Contains(t, err.Error(), "test: get: ")
				assert.Contains(t, err.Error(), "200ms")
			})
		}
	}
}

// TestReadResponseTimeout: the body read of ReadResponse fails with the
// operation's *OpError, not a second wrapping of it.
func TestReadResponseTimeout(t *testing.T) {
	srv := stallServer(t, func(w http.ResponseWriter) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "{")
		flush(w)
	})
	c := NewClient(Options{Provider: "test", Timeout: 200 * time.Millisecond})
	resp, err := c.Do(context.Background(), Request{Operation: "users_info", URL: srv.URL})
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() {
		_, err := ReadResponse("test", "users_info", resp, 1<<10)
		errc <- err
	}()
	select {
	case err = <-errc:
	case <-time.After(5 * time.Second):
		t.Fatal("ReadResponse hung past the operation's Timeout")
	}
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, 1, strings.Count(err.Error(), "test: users_info:"), err.Error())
}

// trickleServer answers n bytes, one every gap.
func trickleServer(t *testing.T, n int, gap time.Duration) *faultServer {
	return newFaultServer(t, func(_ int32, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(n))
		w.WriteHeader(200)
		flush(w)
		for range n {
			time.Sleep(gap)
			if _, err := w.Write([]byte{'x'}); err != nil {
				return
			}
			flush(w)
		}
	})
}

// TestStreamIdleLimit: a download that keeps receiving bytes is never cut,
// however long it takes; the same download without Stream is cut by the
// overall limit, in the middle of the body.
func TestStreamIdleLimit(t *testing.T) {
	srv := trickleServer(t, 12, 50*time.Millisecond) // 600 ms in all
	c := NewClient(Options{Provider: "test", Timeout: 200 * time.Millisecond})

	b, err := readAll(t, c, context.Background(), Request{Operation: "recording", URL: srv.URL, Stream: true})
	require.NoError(t, err)
	assert.Len(t, b, 12)

	resp, err := c.Do(context.Background(), Request{Operation: "recording", URL: srv.URL})
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err = io.ReadAll(resp.Body)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "without Stream the overall limit applies")
	assert.Less(t, len(b), 12)
}

// TestBodyOutlivesDo: the operation's limit is not cancelled when Do
// returns, only when the body is closed.
func TestBodyOutlivesDo(t *testing.T) {
	srv := newFaultServer(t, func(_ int32, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "2")
		w.WriteHeader(200)
		flush(w)
		time.Sleep(50 * time.Millisecond)
		_, _ = io.WriteString(w, "ok")
	})
	c := NewClient(Options{Provider: "test", Timeout: 5 * time.Second})
	for _, stream := range []bool{false, true} {
		resp, err := c.Do(context.Background(), Request{Operation: "get", URL: srv.URL, Stream: stream})
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, "ok", string(b))
		require.NoError(t, resp.Body.Close())
		require.NoError(t, resp.Body.Close(), "a second Close is harmless")
	}
}

// TestEarlierContextDeadlineWins: the operation's limit applies only when
// the context has no earlier deadline.
func TestEarlierContextDeadlineWins(t *testing.T) {
	srv := stallServer(t, func(w http.ResponseWriter) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		flush(w)
	})
	for _, tt := range []struct {
		name          string
		ctx, timeout  time.Duration
		operationOver bool // the error is the operation's limit, not the context's
	}{
		{"context first", 200 * time.Millisecond, time.Minute, false},
		{"timeout first", time.Minute, 200 * time.Millisecond, true},
	} {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprint(tt.name, "/stream=", stream), func(t *testing.T) {
				c := NewClient(Options{Provider: "test", Timeout: tt.timeout})
				ctx, cancel := context.WithTimeout(context.Background(), tt.ctx)
				defer cancel()
				_, err := readAll(t, c, ctx, Request{Operation: "get", URL: srv.URL, Stream: stream})
				require.ErrorIs(t, err, context.DeadlineExceeded)
				assert.Equal(t, tt.operationOver, strings.Contains(err.Error(), "operation timeout"), err.Error())
			})
		}
	}
}

func TestNegativeTimeoutMeansContextOnly(t *testing.T) {
	srv := trickleServer(t, 3, 100*time.Millisecond)
	c := NewClient(Options{Provider: "test", Timeout: -1})
	b, err := readAll(t, c, context.Background(), Request{Operation: "get", URL: srv.URL})
	require.NoError(t, err)
	assert.Len(t, b, 3)
}

// TestAbsurdRetryAfterGivesUp: a Retry-After longer than the retry budget,
// or one that overflows a time.Duration (which became a negative wait and a
// hammered 429), gives up at once with the response.
func TestAbsurdRetryAfterGivesUp(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		retryAfter   string
		maxRetryTime time.Duration
		hits         int32
	}{
		{"overflowing seconds", 429, "9300000000", 5 * time.Second, 1},
		{"beyond int64", 503, "99999999999999999999", 5 * time.Second, 1},
		{"far date", 429, time.Now().AddDate(100, 0, 0).UTC().Format(http.TimeFormat), 5 * time.Second, 1},
		{"longer than MaxRetryTime", 429, "1", 500 * time.Millisecond, 1},
		{"zero then ok", 429, "0", 5 * time.Second, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFaultServer(t, func(n int32, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					w.Header().Set("Retry-After", tt.retryAfter)
					w.WriteHeader(tt.status)
				}
			})
			c := NewClient(Options{Provider: "test", MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond, MaxRetryTime: tt.maxRetryTime})
			resp, err := c.Do(context.Background(), Request{Operation: "get", URL: srv.URL})
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, tt.hits, srv.hits.Load(), "requests the server received")
			if tt.hits == 1 {
				assert.Equal(t, tt.status, resp.StatusCode, "the rejection is returned")
			} else {
				assert.Equal(t, 200, resp.StatusCode)
			}
		})
	}
}

// TestRetryAfterOnAPIError: ResponseError carries the wait a 429 or 503
// asked for, never a negative one.
func TestRetryAfterOnAPIError(t *testing.T) {
	for _, tt := range []struct {
		status int
		header string
		want   time.Duration // -1: at least 100 years
	}{
		{429, "", 0},
		{429, "7", 7 * time.Second},
		{503, "120", 2 * time.Minute},
		{429, "9300000000", -1},
		{503, "99999999999999999999", -1},
		{429, "-5", 0},
		{429, "soon", 0},
		{429, time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0},
		{429, time.Now().AddDate(1000, 0, 0).UTC().Format(http.TimeFormat), -1},
		{500, "7", 0},
	} {
		resp := &http.Response{StatusCode: tt.status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("slow down"))}
		if tt.header != "" {
			resp.Header.Set("Retry-After", tt.header)
		}
		err := ResponseError("v", "op", resp)
		if tt.want < 0 {
			assert.GreaterOrEqual(t, err.RetryAfter, 100*365*24*time.Hour, tt.header)
		} else {
			assert.Equal(t, tt.want, err.RetryAfter, "%d %q", tt.status, tt.header)
		}
		assert.Equal(t, err.RetryAfter, RetryAfter(resp))
	}
	resp := &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"3"}}, Body: io.NopCloser(strings.NewReader(strings.Repeat("x", 10)))}
	_, err := ReadResponse("v", "op", resp, 5)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 3*time.Second, ae.RetryAfter)
}

// TestAbsurdRetryAfterEndsWithAPIError is the whole path a vendor takes: the
// 429 with an overflowing Retry-After is returned after one request and
// becomes an *APIError with status 429.
func TestAbsurdRetryAfterEndsWithAPIError(t *testing.T) {
	srv := newFaultServer(t, func(_ int32, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "9300000000")
		w.WriteHeader(429)
	})
	for _, policy := range []Policy{PolicyRead, PolicyAction} {
		before := srv.hits.Load()
		c := testClient(t, nil, nil)
		resp, err := c.Do(context.Background(), Request{Operation: "get", Policy: policy, URL: srv.URL})
		require.NoError(t, err)
		assert.Equal(t, before+1, srv.hits.Load(), "exactly one request")
		var e error = ResponseError("test", "get", resp)
		var ae *APIError
		require.ErrorAs(t, e, &ae)
		assert.Equal(t, 429, ae.StatusCode)
		assert.ErrorIs(t, e, ErrRateLimited)
		assert.Positive(t, ae.RetryAfter)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:pass@api.example/v1/call?token=T&sign=S#frag": "https://api.example/v1/call",
		"http://127.0.0.1:8080/pbx/sipuni/?token=T":                 "http://127.0.0.1:8080/pbx/sipuni/",
		"https://api.example":                                       "https://api.example",
		"/relative/path?x=1":                                        "/relative/path",
		"http://[::1":                                               "(unparsable URL)",
		"http://host/\x7f?token=T":                                  "(unparsable URL)",
	} {
		assert.Equal(t, want, RedactURL(in), in)
	}
}

// TestScrubErrorHidesSecrets: a token in the query and a password in the
// user info never appear in the text of the error, however it is wrapped,
// and errors.Is still finds the cause.
func TestScrubErrorHidesSecrets(t *testing.T) {
	const raw = "http://admin:PASSWORD@127.0.0.1:1/hook?token=TOKEN"
	cause := errors.New("connection refused")
	ue := &url.Error{Op: "Post", URL: raw, Err: cause}
	for name, err := range map[string]error{
		"url.Error":       ue,
		"OpError":         &OpError{Provider: "sipuni", Operation: "webhook-test", Err: ue},
		"fmt wrapped":     fmt.Errorf("webhook-test: %w", ue),
		"joined":          errors.Join(errors.New("first"), fmt.Errorf("x: %w", ue)),
		"twice":           fmt.Errorf("a: %w", &url.Error{Op: "Get", URL: raw, Err: fmt.Errorf("b: %w", ue)}),
		"unparsable URL":  &url.Error{Op: "parse", URL: "http://u:PASSWORD@[::1?token=TOKEN", Err: cause},
		"wrapped in Join": errors.Join(ue, ue),
	} {
		t.Run(name, func(t *testing.T) {
			got := ScrubError(err)
			for _, text := range []string{got.Error(), fmt.Sprintf("%v", got), fmt.Sprintf("%+v", got)} {
				assert.NotContains(t, text, "PASSWORD")
				assert.NotContains(t, text, "TOKEN")
			}
			assert.ErrorIs(t, got, cause)
			var found *url.Error
			require.ErrorAs(t, got, &found)
			assert.NotContains(t, found.URL, "TOKEN")
			assert.NotContains(t, found.URL, "PASSWORD")
		})
	}
	assert.Nil(t, ScrubError(nil))
	plain := errors.New("plain")
	assert.Same(t, plain, ScrubError(plain))
}

// TestDoErrorsHideSecrets: a failed request to a URL with user info and a
// token says neither.
func TestDoErrorsHideSecrets(t *testing.T) {
	c := testClient(t, nil, nil)
	for _, u := range []string{
		refusedURL(t) + "/?token=TOKEN",
		strings.Replace(refusedURL(t), "http://", "http://admin:PASSWORD@", 1) + "/?token=TOKEN",
		"http://admin:PASSWORD@[::1/?token=TOKEN",
	} {
		_, err := c.Do(context.Background(), Request{Operation: "op", Policy: PolicyAction, URL: u})
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "TOKEN")
		assert.NotContains(t, err.Error(), "PASSWORD")
	}
}

// TestNotModifiedIsNoRedirect: a 304 (Sipuni's "recording not written yet")
// or a 300 is an ordinary answer for the vendor package to read, not a
// refused redirect.
func TestNotModifiedIsNoRedirect(t *testing.T) {
	for _, status := range []int{http.StatusMultipleChoices, http.StatusNotModified} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
		}))
		c := NewClient(Options{Provider: "test"})
		resp, err := c.Do(context.Background(), Request{Operation: "op", URL: srv.URL})
		require.NoError(t, err, "status %d", status)
		assert.Equal(t, status, resp.StatusCode)
		resp.Body.Close()
		srv.Close()
	}
}
