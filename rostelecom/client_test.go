package rostelecom_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/rostelecom"
	"github.com/pbxkit/pbxkit/rostelecom/rostelecomtest"
)

// manualStaff are the users of the 1C subsystem manual's screenshot
// ("admin" 201 and "user1" 202) and a colleague, which these tests were
// written with (the fake's default staff is pbxtest.Employees()).
func manualStaff() []pbxtest.Employee {
	return []pbxtest.Employee{
		{Extension: "201", Login: "admin", Name: "Балабанова Наталья Игнатьевна"},
		{Extension: "202", Login: "user1", Name: "Гладилина Вера Михайловна"},
		{Extension: "203", Login: "user2", Name: "Смирнов Олег Петрович"},
	}
}

// newFake starts a fake PBX, with manualStaff unless opts name employees,
// and a client of it.
func newFake(t *testing.T, opts rostelecomtest.Options) (*rostelecomtest.Server, *rostelecom.Client) {
	t.Helper()
	if opts.Employees == nil {
		opts.Employees = manualStaff()
	}
	srv := rostelecomtest.NewServer(opts)
	t.Cleanup(srv.Close)
	cfg := srv.Config()
	cfg.HistoryPoll = 5 * time.Millisecond
	c, err := rostelecom.New(cfg)
	require.NoError(t, err)
	return srv, c
}

func TestNewValidates(t *testing.T) {
	ok := rostelecom.Config{ClientID: "ID", SignKey: "s3cr3t-key", Domain: "d.20.rt.ru"}
	c, err := rostelecom.New(ok)
	require.NoError(t, err)
	assert.Equal(t, "rostelecom", c.Name())
	assert.Equal(t, "Europe/Moscow", c.Location().String())

	for name, mutate := range map[string]func(*rostelecom.Config){
		"ClientID": func(c *rostelecom.Config) { c.ClientID = "" },
		"SignKey":  func(c *rostelecom.Config) { c.SignKey = "" },
		"Domain":   func(c *rostelecom.Config) { c.Domain = "" },
		"space":    func(c *rostelecom.Config) { c.SignKey = " s3cr3t-key\n" },
		"BaseURL":  func(c *rostelecom.Config) { c.BaseURL = "ftp://x" },
	} {
		cfg := ok
		mutate(&cfg)
		_, err := rostelecom.New(cfg)
		require.Error(t, err, name)
		assert.NotContains(t, err.Error(), "s3cr3t", name)
		if name != "space" && name != "BaseURL" {
			assert.Contains(t, err.Error(), name)
		}
	}
}

func TestReadsAreRetried(t *testing.T) {
	var hits atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		_, _ = io.WriteString(w, `{"result":0,"resultMessage":"","users":[]}`)
	}))
	defer ts.Close()
	var retries atomic.Int32
	c, err := rostelecom.New(rostelecom.Config{ClientID: "ID", SignKey: "KEY", Domain: "d", BaseURL: ts.URL,
		OnRetry: func(provider.RetryInfo) { retries.Add(1) }})
	require.NoError(t, err)
	subs, err := c.Subscribers(context.Background())
	require.NoError(t, err)
	assert.Empty(t, subs)
	assert.EqualValues(t, 2, hits.Load())
	assert.EqualValues(t, 1, retries.Load())
}

func TestEnvelopeResultForms(t *testing.T) {
	answers := map[string]struct {
		body   string
		status int
		code   string
		unauth bool
	}{
		`string "0"`:        {body: `{"result":"0","resultMessage":"ok","users":[]}`},
		"number 0":          {body: `{"result":0,"resultMessage":null,"users":null}`},
		`string "-1"`:       {body: `{"result":"-1","resultMessage":"Домен не найден"}`, status: 200, code: "-1"},
		"number -20":        {body: `{"result":-20,"resultMessage":"x"}`, status: 200, code: "-20"},
		"test host stub":    {body: string(mustRead(t, "testdata/answers/call_back_test_host.json")), status: 200, code: "1"},
		"no result":         {body: `{"users":[]}`, status: 200},
		"not JSON":          {body: `<html>oops</html>`, status: 200},
		"401 with envelope": {body: `{"result":"-1","resultMessage":"bad sign"}`, status: 401, code: "-1", unauth: true},
		"403 HTML":          {body: `<html>forbidden</html>`, status: 403, unauth: true},
	}
	for name, a := range answers {
		t.Run(name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if a.status != 0 {
					w.WriteHeader(a.status)
				}
				_, _ = io.WriteString(w, a.body)
			}))
			defer ts.Close()
			c, err := rostelecom.New(rostelecom.Config{ClientID: "ID", SignKey: "KEY", Domain: "d", BaseURL: ts.URL})
			require.NoError(t, err)
			_, err = c.UsersInfo(context.Background(), rostelecom.UsersInfoRequest{})
			if a.status == 0 {
				require.NoError(t, err)
				return
			}
			var ae *provider.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, a.status, ae.StatusCode)
			assert.Equal(t, a.code, ae.Code)
			assert.Equal(t, a.unauth, errors.Is(err, provider.ErrUnauthorized))
			assert.NotContains(t, err.Error(), "KEY")
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

func TestFakeRejectsBadSignatures(t *testing.T) {
	srv, _ := newFake(t, rostelecomtest.Options{})
	for name, cfg := range map[string]rostelecom.Config{
		"wrong key": {ClientID: srv.ClientID(), SignKey: "WRONG", Domain: srv.Domain(), BaseURL: srv.URL()},
		"wrong id":  {ClientID: "0000", SignKey: srv.SignKey(), Domain: srv.Domain(), BaseURL: srv.URL()},
	} {
		c, err := rostelecom.New(cfg)
		require.NoError(t, err)
		_, err = c.Subscribers(context.Background())
		assert.ErrorIs(t, err, provider.ErrUnauthorized, name)
	}
	for _, r := range srv.APIRequests() {
		assert.False(t, r.SignatureOK)
	}

	// Upper-case hex and a re-encoded body are refused too.
	body := []byte(`{"domain": "` + srv.Domain() + `"}`)
	for name, sign := range map[string]string{
		"upper case":      strings.ToUpper(rostelecom.Sign(srv.ClientID(), body, srv.SignKey())),
		"re-encoded body": rostelecom.Sign(srv.ClientID(), []byte(`{"domain":"`+srv.Domain()+`"}`), srv.SignKey()),
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/users_info", strings.NewReader(string(body)))
		req.Header.Set("X-Client-ID", srv.ClientID())
		req.Header.Set("X-Client-Sign", sign)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, name)
	}
}

// TestNewWarnsWithoutResolveEnded: with ResolveEnded off, New logs exactly
// one Warn saying end notifications carry no outcome, to Config.Logger or,
// without one, to slog.Default(); with ResolveEnded on, nothing.
func TestNewWarnsWithoutResolveEnded(t *testing.T) {
	base := rostelecom.Config{ClientID: "ID", SignKey: "S3CR3T-KEY", Domain: "d.20.rt.ru"}
	warnings := func(out string) int { return strings.Count(out, "end notifications carry no outcome") }

	var buf bytes.Buffer
	cfg := base
	cfg.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	_, err := rostelecom.New(cfg)
	require.NoError(t, err)
	assert.Equal(t, 1, warnings(buf.String()), buf.String())
	assert.Equal(t, 1, strings.Count(buf.String(), "level=WARN"))
	assert.Contains(t, buf.String(), "ResolveEnded")
	assert.Contains(t, buf.String(), "domain=d.20.rt.ru")
	assert.NotContains(t, buf.String(), "S3CR3T-KEY")

	buf.Reset()
	cfg.ResolveEnded = true
	_, err = rostelecom.New(cfg)
	require.NoError(t, err)
	assert.Empty(t, buf.String(), "ResolveEnded on: nothing to warn about")

	buf.Reset()
	cfg.ResolveEnded, cfg.ClientID = false, ""
	_, err = rostelecom.New(cfg)
	require.Error(t, err)
	assert.Empty(t, buf.String(), "no warning for a Config New refuses")

	// No Logger: slog.Default().
	var def bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&def, nil)))
	defer slog.SetDefault(old)
	_, err = rostelecom.New(base)
	require.NoError(t, err)
	assert.Equal(t, 1, warnings(def.String()), def.String())
}

// TestRedirectsAreNotFollowed: an API that redirects gets neither the
// signature headers nor the call_back body at the other host; the
// operation fails with a *provider.RedirectError naming it, after one
// request.
func TestRedirectsAreNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		_, _ = io.WriteString(w, `{"result":"0","resultMessage":"ok","session_id":"x","users":[]}`)
	}))
	defer other.Close()
	var hits atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, other.URL+r.URL.Path+"?token=t0ken", http.StatusTemporaryRedirect)
	}))
	defer api.Close()
	c := timeoutClient(t, api.URL, 5*time.Second)
	ctx := context.Background()
	_, err := c.MakeCall(ctx, pbx.CallRequest{Extension: "201", Phone: "79991234567"})
	var re *provider.RedirectError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, http.StatusTemporaryRedirect, re.StatusCode)
	assert.Contains(t, err.Error(), strings.TrimPrefix(other.URL, "http://"), "names where the API pointed")
	assert.NotContains(t, err.Error(), "t0ken")
	_, err = c.Subscribers(ctx)
	require.ErrorAs(t, err, &re)
	assert.EqualValues(t, 2, hits.Load(), "each sent once")
	assert.Zero(t, elsewhere.Load(), "nothing reached the other host")
}

// TestAPIErrorsCarryRetryAfter: an answer 429 or 503 with Retry-After gives
// an *provider.APIError whose RetryAfter is the wait asked for, whichever
// method met it (call_back, never retried; reads that give up at once on an
// absurd wait), with the vendor's envelope or without.
func TestAPIErrorsCarryRetryAfter(t *testing.T) {
	const absurd = "99999999999999999999" // overflows a time.Duration: the longest wait
	tests := []struct {
		name   string
		status int
		header string
		body   string
		op     func(context.Context, *rostelecom.Client) error
		want   time.Duration
		code   string
	}{
		{"call_back 429 with the envelope", http.StatusTooManyRequests, "7", `{"result":"-1","resultMessage":"Превышен лимит запросов"}`,
			func(ctx context.Context, c *rostelecom.Client) error {
				_, err := c.MakeCall(ctx, pbx.CallRequest{Extension: "201", Phone: "79991234567"})
				return err
			}, 7 * time.Second, "-1"},
		{"call_back 503 HTML", http.StatusServiceUnavailable, "120", `<html>busy</html>`,
			func(ctx context.Context, c *rostelecom.Client) error {
				_, err := c.CallBack(ctx, rostelecom.CallBackRequest{RequestNumber: "+79991234567", FromPIN: "201"})
				return err
			}, 2 * time.Minute, ""},
		{"users_info 429 absurd", http.StatusTooManyRequests, absurd, `{"result":"-1","resultMessage":"Превышен лимит запросов"}`,
			func(ctx context.Context, c *rostelecom.Client) error {
				_, err := c.Subscribers(ctx)
				return err
			}, time.Duration(math.MaxInt64), "-1"},
		{"download_call_history 429 absurd", http.StatusTooManyRequests, absurd, ``,
			func(ctx context.Context, c *rostelecom.Client) error {
				_, err := c.DownloadCallHistory(ctx, "order-1")
				return err
			}, time.Duration(math.MaxInt64), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				hits.Add(1)
				w.Header().Set("Retry-After", tt.header)
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer ts.Close()
			c, err := rostelecom.New(rostelecom.Config{ClientID: "ID", SignKey: "KEY", Domain: "d", BaseURL: ts.URL,
				Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = tt.op(ctx, c)
			var ae *provider.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.status, ae.StatusCode)
			assert.Equal(t, tt.want, ae.RetryAfter)
			assert.Equal(t, tt.code, ae.Code)
			assert.EqualValues(t, 1, hits.Load(), "sent once")
		})
	}
}
