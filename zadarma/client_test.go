package zadarma

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

func TestNewValidates(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no secret":              {Key: testKey},
		"negative route timeout": {Key: testKey, Secret: testSecret, RouteTimeout: -1},
		"negative return":        {Key: testKey, Secret: testSecret, ReturnTimeout: -1},
		"ftp base":               {Key: testKey, Secret: testSecret, BaseURL: "ftp://api.zadarma.com"},
		"base with password":     {Key: testKey, Secret: testSecret, BaseURL: "https://u:pw-secret@api.zadarma.com"},
		"base with query":        {Key: testKey, Secret: testSecret, BaseURL: "https://api.zadarma.com/?token=q-secret"},
		"base unparsable":        {Key: testKey, Secret: testSecret, BaseURL: "http://x:pw-secret@h/%zz"},
	} {
		_, err := New(cfg)
		require.Error(t, err, name)
		for _, s := range []string{testKey, testSecret, "pw-secret", "q-secret"} {
			assert.NotContains(t, err.Error(), s, name)
		}
	}
	c, err := New(Config{Secret: testSecret})
	require.NoError(t, err, "a client without a key still verifies notifications")
	assert.Equal(t, DefaultBaseURL, c.BaseURL())
	assert.Equal(t, DefaultRouteTimeout, c.cfg.RouteTimeout)
	assert.Equal(t, DefaultTimeout, c.cfg.Timeout)
	assert.Equal(t, provider.DefaultLocation(), c.Location())
	_, err = c.Internal(context.Background())
	assert.ErrorContains(t, err, "Config.Key")
	c, err = New(Config{Key: testKey, Secret: testSecret, BaseURL: "https://api-sandbox.zadarma.com/"})
	require.NoError(t, err)
	assert.Equal(t, "https://api-sandbox.zadarma.com", c.BaseURL(), "the trailing slash is dropped")
}

func TestSecretsNeverPrinted(t *testing.T) {
	cfg := Config{Key: testKey, Secret: testSecret, BaseURL: "https://api.zadarma.com"}
	c, err := New(cfg)
	require.NoError(t, err)
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		out = append(out, fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, &cfg), fmt.Sprintf(verb, c),
			fmt.Sprintf(verb, struct{ C Config }{cfg}))
	}
	var logs logBuffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "cfg", cfg, "client", c)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "cfg", cfg, "client", c)
	out = append(out, logs.String())
	b, err := json.Marshal(struct {
		C Config
		P *Client
	}{cfg, c})
	require.NoError(t, err)
	out = append(out, string(b))
	for _, s := range out {
		assert.NotContains(t, s, testKey)
		assert.NotContains(t, s, testSecret)
	}
	assert.Contains(t, cfg.String(), "Key:xxxxx Secret:xxxxx")
	assert.Contains(t, Config{}.String(), `Key:"" Secret:""`, "a missing secret shows")
}

// The request as sent: the signed query in the URL, the Authorization
// header of the vector computed independently (sign_test.go), GET.
func TestRequestSigningOnTheWire(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		_, _ = w.Write([]byte(`{"status":"success","from":101,"to":"79991234567","time":1772348400}`))
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL)
	res, err := c.RequestCallback(context.Background(), CallbackRequest{From: "101", To: "79991234567", SIP: "101"})
	require.NoError(t, err)
	require.NotNil(t, got)
	assert.Equal(t, http.MethodGet, got.Method)
	assert.Equal(t, "/v1/request/callback/", got.URL.Path)
	assert.Equal(t, "format=json&from=101&sip=101&to=79991234567", got.URL.RawQuery)
	assert.Equal(t, testKey+":ZGEzNTFmZDUwOWRjY2Q2MThhYWFjMTMzNmEzMDE2NWI2MTgwYjEyOA==", got.Header.Get("Authorization"))
	assert.Equal(t, CallbackResult{From: "101", To: "79991234567", Time: time.Unix(1772348400, 0).In(msk)}, res)
}

func TestAnswerErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		body       string
		header     http.Header
		unauth     bool
		rateLimit  bool
		message    string
		retryAfter time.Duration
	}{
		{name: "401", status: 401, body: `{"status":"error","message":"Not authorized"}`, unauth: true, message: "Not authorized"},
		{name: "error in a 200", status: 200, body: `{"status":"error","message":"Wrong parameter to"}`, message: "Wrong parameter to"},
		{name: "auth error in a 200", status: 200, body: `{"status":"error","message":"Wrong signature"}`, unauth: true},
		{name: "not JSON", status: 200, body: `<html>maintenance</html>`, message: "unexpected answer"},
		{name: "no status", status: 200, body: `{"from":1}`, message: "status is not success"},
		{name: "429", status: 429, body: `{"status":"error","message":"Too many requests"}`, header: http.Header{"Retry-After": {"7"}},
			rateLimit: true, retryAfter: 7 * time.Second},
		{name: "500 text", status: 500, body: `oops`},
	} {
		resp := &http.Response{StatusCode: tc.status, Header: tc.header}
		if resp.Header == nil {
			resp.Header = http.Header{}
		}
		e := answerError("op", resp, []byte(tc.body))
		require.NotNil(t, e, tc.name)
		assert.Equal(t, tc.unauth, errors.Is(e, provider.ErrUnauthorized), tc.name)
		assert.Equal(t, tc.rateLimit, errors.Is(e, provider.ErrRateLimited), tc.name)
		assert.Contains(t, e.Error(), tc.message, tc.name)
		assert.Equal(t, tc.retryAfter, e.RetryAfter, tc.name)
	}
	assert.Nil(t, answerError("op", &http.Response{StatusCode: 200}, []byte(` {"status":"success"} `)))
	assert.Nil(t, answerError("op", &http.Response{StatusCode: 200}, []byte(`{"status":"SUCCESS"}`)))
}

// rateServer answers {"status":"success",...} with the rate-limit
// headers set returns (remaining, reset), counting requests.
func rateServer(t *testing.T, headers func(n int32) (remaining, reset string)) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		rem, reset := headers(n)
		w.Header().Set("X-RateLimit-Limit", "100")
		if rem != "" {
			w.Header().Set("X-RateLimit-Remaining", rem)
		}
		if reset != "" {
			w.Header().Set("X-RateLimit-Reset", reset)
		}
		_, _ = w.Write([]byte(`{"status":"success","pbx_id":1,"numbers":[100]}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestRateLimitWaitsForReset(t *testing.T) {
	for _, form := range []string{"seconds", "unix"} {
		srv, hits := rateServer(t, func(n int32) (string, string) {
			if n == 1 {
				if form == "seconds" {
					return "0", "1"
				}
				return "0", strconv.FormatInt(time.Now().Add(1500*time.Millisecond).Unix(), 10)
			}
			return "99", ""
		})
		c := newTestClient(t, srv.URL)
		ctx := context.Background()
		_, err := c.Internal(ctx)
		require.NoError(t, err)
		general, _ := c.RateLimits()
		assert.Equal(t, 100, general.Limit, form)
		assert.Equal(t, 0, general.Remaining, form)
		assert.False(t, general.Reset.IsZero(), form)
		start := time.Now()
		_, err = c.Internal(ctx)
		require.NoError(t, err, form)
		assert.GreaterOrEqual(t, time.Since(start), 400*time.Millisecond, "%s: the second request waited for the reset", form)
		assert.Equal(t, int32(2), hits.Load(), form)
	}
}

func TestRateLimitTooLongIsNotSent(t *testing.T) {
	srv, hits := rateServer(t, func(int32) (string, string) { return "0", "3600" })
	c := newTestClient(t, srv.URL, func(c *Config) { c.Timeout = 2 * time.Second })
	ctx := context.Background()
	_, err := c.Internal(ctx)
	require.NoError(t, err)
	start := time.Now()
	_, err = c.Internal(ctx)
	var rle *RateLimitError
	require.ErrorAs(t, err, &rle)
	assert.ErrorIs(t, err, provider.ErrRateLimited)
	assert.Equal(t, "general", rle.Bucket)
	assert.Greater(t, rle.Wait, 59*time.Minute)
	assert.Less(t, time.Since(start), time.Second, "it did not wait")
	assert.Equal(t, int32(1), hits.Load(), "the second request was not sent")
	_, stats := c.RateLimits()
	assert.Equal(t, -1, stats.Remaining, "the statistics bucket is apart")

	// A context deadline shorter than the wait: not sent either.
	srv2, hits2 := rateServer(t, func(int32) (string, string) { return "0", "2" })
	c2 := newTestClient(t, srv2.URL)
	_, err = c2.Internal(ctx)
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = c2.Internal(short)
	assert.ErrorIs(t, err, provider.ErrRateLimited)
	assert.Equal(t, int32(1), hits2.Load())
}

// A 429 with X-RateLimit-Reset and no Retry-After: the client waits for
// the reset, as Retry-After, instead of retrying within the window.
func TestRateLimit429WithReset(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"status":"error","message":"Too many requests"}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"success","pbx_id":1,"numbers":[]}`))
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL)
	start := time.Now()
	_, err := c.Internal(context.Background())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond, "waited for the reset")
	assert.Equal(t, int32(2), hits.Load())

	// A reset beyond the retry budget: given up at once, the wait in RetryAfter.
	var hits2 atomic.Int32
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits2.Add(1)
		w.Header().Set("X-RateLimit-Reset", "600")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv2.Close()
	c2 := newTestClient(t, srv2.URL)
	_, err = c2.Internal(context.Background())
	var ae *provider.APIError
	require.ErrorAs(t, err, &ae)
	assert.ErrorIs(t, err, provider.ErrRateLimited)
	assert.Equal(t, 600*time.Second, ae.RetryAfter)
	assert.Equal(t, int32(1), hits2.Load())
}

func TestRateLimitHeadersIgnoredWhenAbsent(t *testing.T) {
	l := newLimiter()
	l.observe(bucketGeneral, http.Header{"X-Ratelimit-Remaining": {"abc"}})
	assert.Equal(t, RateLimit{Limit: -1, Remaining: -1}, l.get(bucketGeneral))
	l.observe(bucketGeneral, http.Header{"X-Ratelimit-Remaining": {"0"}})
	s := l.get(bucketGeneral)
	assert.Equal(t, 0, s.Remaining)
	assert.WithinDuration(t, time.Now().Add(defaultWindow), s.Reset, 2*time.Second, "no Reset: a minute's window")
	assert.Equal(t, bucketStatistics, bucketOf("/v1/statistics/pbx/"))
	assert.Equal(t, bucketGeneral, bucketOf("/v1/pbx/internal/"))
}

func TestRecordingNotReady(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/v1/pbx/record/request/") && r.URL.Query().Get("call_id") == "missing":
			_, _ = w.Write([]byte(`{"status":"error","message":"Record not found"}`))
		case strings.HasPrefix(r.URL.Path, "/v1/pbx/record/request/") && r.URL.Query().Get("call_id") == "wrong":
			_, _ = w.Write([]byte(`{"status":"error","message":"Wrong parameters"}`))
		case strings.HasPrefix(r.URL.Path, "/v1/pbx/record/request/"):
			_, _ = w.Write([]byte(`{"status":"success","link":"http://` + r.Host + `/dl/404.mp3","lifetime_till":"2026-03-01 10:30:00"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL)
	ctx := context.Background()
	_, err := c.FetchRecording(ctx, "missing")
	assert.ErrorIs(t, err, pbx.ErrNotReady)
	_, err = c.FetchRecording(ctx, "gone")
	assert.ErrorIs(t, err, pbx.ErrNotReady, "a 404 from the link")
	_, err = c.FetchRecording(ctx, "wrong")
	require.Error(t, err)
	assert.NotErrorIs(t, err, pbx.ErrNotReady)
	_, err = c.FetchRecording(ctx, " ")
	assert.Error(t, err)
}
