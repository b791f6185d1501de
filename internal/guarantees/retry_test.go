package guarantees

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/prostiezvonki"
	"github.com/pbxkit/pbxkit/prostiezvonki/pztest"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/rostelecom"
	"github.com/pbxkit/pbxkit/rostelecom/rostelecomtest"
	"github.com/pbxkit/pbxkit/sipuni"
	"github.com/pbxkit/pbxkit/sipuni/sipunitest"
)

// The retry policy the providers get, provider.Options' defaults: none of
// the provider Configs overrides them.
const (
	maxAttempts = 3 + 1 // MaxRetries + 1
	// The waits between attempts are exponential from 250 ms with equal
	// jitter (half fixed, half random): 125–250 ms, 250–500 ms, 500–1000 ms.
	minBackoffTotal = (125 + 250 + 500) * time.Millisecond
	maxBackoffTotal = (250 + 500 + 1000) * time.Millisecond
	// headerTimeout is the ResponseHeaderTimeout of the API clients' transport:
	// how long the "times out" fault takes.
	headerTimeout = 300 * time.Millisecond
	// retryAfter is what the 429 fault asks for, in seconds.
	retryAfter = 1
	// overhead is what a persistently failing read may take beyond its waits
	// and timeouts: the requests themselves, on a loaded machine.
	overhead = 1500 * time.Millisecond
)

// fault is a way an API server fails.
type fault string

const (
	faultNone    fault = "none"
	faultReset   fault = "reset"
	faultTimeout fault = "timeout"
	fault500     fault = "500"
	fault502     fault = "502"
	fault429     fault = "429"
)

var allFaults = []fault{faultReset, faultTimeout, fault500, fault502, fault429}

// faultProxy is a reverse proxy in front of a fake PBX. Requests to path
// are counted; the first faults of them (all when faults < 0) fail with
// kind, without reaching the fake; the others, and requests to other paths,
// reach the fake.
type faultProxy struct {
	path   string
	kind   fault
	faults int
	next   *httputil.ReverseProxy
	tr     *http.Transport

	hits      atomic.Int32 // requests to path
	forwarded atomic.Int32 // of them, passed on to the fake
	mu        sync.Mutex
	at        []time.Time // arrival of each request to path
}

// newFaultProxy starts a faultProxy in front of the server at target.
func newFaultProxy(t *testing.T, target, path string, kind fault, faults int) (*faultProxy, string) {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err)
	u.Path = ""
	tr := &http.Transport{Proxy: nil}
	p := &faultProxy{path: path, kind: kind, faults: faults, tr: tr, next: &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(u) },
		Transport: tr,
	}}
	srv := httptest.NewServer(p)
	t.Cleanup(func() {
		srv.Close()
		tr.CloseIdleConnections()
	})
	return p, srv.URL
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != p.path {
		p.next.ServeHTTP(w, r)
		return
	}
	// The whole request arrives before the fault: a request counted here
	// is one the PBX would have acted on.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	n := p.hits.Add(1)
	p.mu.Lock()
	p.at = append(p.at, time.Now())
	p.mu.Unlock()
	if p.kind == faultNone || (p.faults >= 0 && int(n) > p.faults) {
		p.forwarded.Add(1)
		r.Body = io.NopCloser(bytes.NewReader(body))
		p.next.ServeHTTP(w, r)
		return
	}
	switch p.kind {
	case faultReset:
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // close with RST
		}
		conn.Close()
	case faultTimeout:
		// Send nothing until the client gives up and closes the connection.
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	case fault500, fault502, fault429:
		status := map[fault]int{fault500: 500, fault502: 502, fault429: 429}[p.kind]
		if p.kind == fault429 {
			w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
		}
		// JSON, not HTML: Sipuni's client rightly treats an HTML page as
		// its credential rejection, which is final.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"error":"injected fault"}`)
	}
}

// arrivals returns when each request to path arrived.
func (p *faultProxy) arrivals() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.at...)
}

// apiClient is the *http.Client given to the providers: a "times out" fault
// costs headerTimeout.
func apiClient(t *testing.T) *http.Client {
	tr := &http.Transport{Proxy: nil, ResponseHeaderTimeout: headerTimeout, MaxIdleConnsPerHost: 4}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// readOp is one PolicyRead method of a provider, against its fake behind a
// faultProxy.
type readOp struct {
	name string
	// setup starts the fake and returns its URL and a function that builds
	// a client for baseURL (the proxy's URL, with the fake's path) and
	// performs the read, checking what it got when it succeeded.
	setup func(t *testing.T) (fakeURL string, read func(t *testing.T, ctx context.Context, baseURL string, hc *http.Client, onRetry func(provider.RetryInfo)) error)
	// path is the request path of the read; basePath the API root's path.
	path, basePath string
}

func readOps() []readOp {
	const recSize = 64 << 10
	rostelecomSetup := func(read func(t *testing.T, ctx context.Context, c *rostelecom.Client, fake *rostelecomtest.Server, id string) error) func(t *testing.T) (string, func(*testing.T, context.Context, string, *http.Client, func(provider.RetryInfo)) error) {
		return func(t *testing.T) (string, func(*testing.T, context.Context, string, *http.Client, func(provider.RetryInfo)) error) {
			fake := rostelecomtest.NewServer(rostelecomtest.Options{RecordingSize: recSize, HistoryNotReady: -1})
			t.Cleanup(fake.Close)
			id := fake.AddHistory(rostelecomtest.HistoryEntry{Caller: rostelecomtest.DefaultCaller, Line: rostelecomtest.DefaultLine,
				Extension: "201", Answered: true, Talk: time.Minute, Record: true, Start: time.Now().Add(-time.Hour)})
			return fake.URL, func(t *testing.T, ctx context.Context, base string, hc *http.Client, onRetry func(provider.RetryInfo)) error {
				cfg := fake.Config()
				cfg.BaseURL, cfg.HTTPClient, cfg.OnRetry, cfg.HistoryPoll = base, hc, onRetry, 10*time.Millisecond
				c, err := rostelecom.New(cfg)
				require.NoError(t, err)
				return read(t, ctx, c, fake, id)
			}
		}
	}
	sipuniSetup := func(read func(t *testing.T, ctx context.Context, c *sipuni.Client, fake *sipunitest.Server) error) func(t *testing.T) (string, func(*testing.T, context.Context, string, *http.Client, func(provider.RetryInfo)) error) {
		return func(t *testing.T) (string, func(*testing.T, context.Context, string, *http.Client, func(provider.RetryInfo)) error) {
			fake := sipunitest.NewServer(sipunitest.Options{})
			t.Cleanup(fake.Close)
			fake.AddRecording(sipuniRecording, recSize)
			return fake.URL, func(t *testing.T, ctx context.Context, base string, hc *http.Client, _ func(provider.RetryInfo)) error {
				c, err := sipuni.New(sipuni.Config{Account: fake.Account(), Secret: fake.Secret(), BaseURL: base, HTTPClient: hc, WebhookToken: sipuniToken})
				require.NoError(t, err)
				return read(t, ctx, c, fake)
			}
		}
	}
	fetch := func(t *testing.T, ctx context.Context, f pbx.RecordingFetcher, id string) error {
		rec, err := f.FetchRecording(ctx, id)
		if err != nil {
			return err
		}
		defer rec.Body.Close()
		n, err := io.Copy(io.Discard, rec.Body)
		require.NoError(t, err)
		assert.EqualValues(t, recSize, n, "the whole recording")
		return nil
	}
	history := func(t *testing.T, ctx context.Context, h pbx.HistoryExporter, want int) error {
		got := 0
		for _, err := range h.History(ctx, pbx.HistoryQuery{From: time.Now().Add(-3 * time.Hour), To: time.Now()}) {
			if err != nil {
				return err
			}
			got++
		}
		assert.Equal(t, want, got, "the calls of the period")
		return nil
	}
	return []readOp{
		{
			name: "rostelecom/Subscribers", path: "/" + rostelecom.MethodUsersInfo,
			setup: rostelecomSetup(func(t *testing.T, ctx context.Context, c *rostelecom.Client, fake *rostelecomtest.Server, _ string) error {
				subs, err := c.Subscribers(ctx)
				if err == nil {
					assert.Len(t, subs, len(fake.Users()))
				}
				return err
			}),
		},
		{
			name: "rostelecom/FetchRecording", path: "/" + rostelecom.MethodGetRecord,
			setup: rostelecomSetup(func(t *testing.T, ctx context.Context, c *rostelecom.Client, _ *rostelecomtest.Server, id string) error {
				return fetch(t, ctx, c, id)
			}),
		},
		{
			name: "rostelecom/History", path: "/" + rostelecom.MethodDomainCallHistory,
			setup: rostelecomSetup(func(t *testing.T, ctx context.Context, c *rostelecom.Client, _ *rostelecomtest.Server, _ string) error {
				return history(t, ctx, c, 1)
			}),
		},
		{
			name: "sipuni/Subscribers", path: "/api/statistic/operators", basePath: "/api/",
			setup: sipuniSetup(func(t *testing.T, ctx context.Context, c *sipuni.Client, fake *sipunitest.Server) error {
				subs, err := c.Subscribers(ctx)
				if err == nil {
					assert.Len(t, subs, len(fake.Employees()))
				}
				return err
			}),
		},
		{
			name: "sipuni/FetchRecording", path: "/api/statistic/record", basePath: "/api/",
			setup: sipuniSetup(func(t *testing.T, ctx context.Context, c *sipuni.Client, _ *sipunitest.Server) error {
				return fetch(t, ctx, c, sipuniRecording)
			}),
		},
		{
			name: "sipuni/History", path: "/api/statistic/export", basePath: "/api/",
			setup: sipuniSetup(func(t *testing.T, ctx context.Context, c *sipuni.Client, fake *sipunitest.Server) error {
				now := time.Now()
				fake.SetHistory([]sipunitest.HistoryEntry{
					{RecordID: "1774372146.100001", Type: "Входящий", Status: "отвечен", Time: now.Add(-2 * time.Hour), From: "79031234567", To: "101", AnsweredBy: "101", TalkDuration: time.Minute},
					{RecordID: "1774372146.100002", Type: "Входящий", Status: "не отвечен", Time: now.Add(-time.Hour), From: "79031234568", To: "102"},
				})
				return history(t, ctx, c, 2)
			}),
		},
	}
}

const sipuniRecording = "1774372146.533584"

// TestReadsRetryTransientFaults: a read whose first attempt meets a fault
// is sent again and succeeds; a 429 is retried after its Retry-After.
func TestReadsRetryTransientFaults(t *testing.T) {
	var all subtests
	for _, op := range readOps() {
		for _, kind := range allFaults {
			all.add(op.name+"/"+string(kind), func(t *testing.T) {
				fakeURL, read := op.setup(t)
				p, proxyURL := newFaultProxy(t, fakeURL, op.path, kind, 1)
				var retries atomic.Int32
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				start := time.Now()
				err := read(t, ctx, proxyURL+op.basePath, apiClient(t), func(provider.RetryInfo) { retries.Add(1) })
				took := time.Since(start)
				require.NoError(t, err, "the read succeeds after a transient %s", kind)
				assert.EqualValues(t, 2, p.hits.Load(), "one faulted attempt, then one that reached the fake")
				assert.EqualValues(t, 1, p.forwarded.Load())
				if strings.HasPrefix(op.name, "rostelecom/") {
					assert.EqualValues(t, 1, retries.Load(), "Config.OnRetry saw the retry")
				}
				at := p.arrivals()
				if len(at) >= 2 {
					gap := at[1].Sub(at[0])
					t.Logf("%s: %d attempts, retried after %v, %v in all", kind, p.hits.Load(), gap.Round(time.Millisecond), took.Round(time.Millisecond))
					if kind == fault429 {
						assert.GreaterOrEqual(t, gap, retryAfter*time.Second, "Retry-After is honoured")
					}
				}
			})
		}
	}
	all.run(t)
}

// TestReadsGiveUpOnPersistentFaults: a read that meets the same fault on
// every attempt gives up after MaxRetries+1 attempts, within the time its
// backoff (or Retry-After) and timeouts allow, with an error that says why.
func TestReadsGiveUpOnPersistentFaults(t *testing.T) {
	var all subtests
	for _, op := range readOps() {
		for _, kind := range allFaults {
			all.add(op.name+"/"+string(kind), func(t *testing.T) {
				fakeURL, read := op.setup(t)
				p, proxyURL := newFaultProxy(t, fakeURL, op.path, kind, -1)
				var retries atomic.Int32
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				start := time.Now()
				err := read(t, ctx, proxyURL+op.basePath, apiClient(t), func(provider.RetryInfo) { retries.Add(1) })
				took := time.Since(start)
				require.Error(t, err, "a persistent %s fails the read", kind)
				assert.EqualValues(t, maxAttempts, p.hits.Load(), "MaxRetries+1 attempts")
				assert.Zero(t, p.forwarded.Load())

				lo, hi := minBackoffTotal, maxBackoffTotal
				switch kind {
				case fault429:
					lo, hi = (maxAttempts-1)*retryAfter*time.Second, (maxAttempts-1)*retryAfter*time.Second
				case faultTimeout:
					lo, hi = lo+maxAttempts*headerTimeout, hi+maxAttempts*headerTimeout
				}
				t.Logf("%s: gave up after %d attempts in %v (allowed %v–%v): %v", kind, p.hits.Load(), took.Round(time.Millisecond), lo, hi+overhead, err)
				assert.GreaterOrEqual(t, took, lo, "the attempts were spaced by the backoff")
				assert.Less(t, took, hi+overhead, "gave up within the bound")

				var apiErr *provider.APIError
				var opErr *provider.OpError
				switch kind {
				case faultReset, faultTimeout:
					assert.ErrorAs(t, err, &opErr, "a transport failure")
				case fault429:
					assert.ErrorIs(t, err, provider.ErrRateLimited)
				default:
					if assert.ErrorAs(t, err, &apiErr) {
						assert.Equal(t, map[fault]int{fault500: 500, fault502: 502}[kind], apiErr.StatusCode)
					}
				}
				if strings.HasPrefix(op.name, "rostelecom/") {
					assert.EqualValues(t, maxAttempts-1, retries.Load(), "Config.OnRetry saw every retry")
				}
			})
		}
	}
	all.run(t)
}

// caller is one provider's pbx.Caller against its fake behind a proxy.
type caller struct {
	name string
	path string
	// setup starts the fake; call builds a client for the proxy at base
	// and places a call; sent counts the make-call requests the fake got.
	setup func(t *testing.T) (fakeURL, basePath string, call func(ctx context.Context, base string, hc *http.Client) error, sent func() int)
}

func callers() []caller {
	return []caller{
		{
			name: "rostelecom", path: "/" + rostelecom.MethodCallBack,
			setup: func(t *testing.T) (string, string, func(context.Context, string, *http.Client) error, func() int) {
				fake := rostelecomtest.NewServer(rostelecomtest.Options{})
				t.Cleanup(fake.Close)
				return fake.URL, "", func(ctx context.Context, base string, hc *http.Client) error {
						cfg := fake.Config()
						cfg.BaseURL, cfg.HTTPClient = base, hc
						c, err := rostelecom.New(cfg)
						if err != nil {
							return err
						}
						_, err = c.MakeCall(ctx, pbx.CallRequest{Extension: "201", Phone: "+7 999 123-45-67"})
						return err
					}, func() int {
						return len(fake.RequestsFor(rostelecom.MethodCallBack))
					}
			},
		},
		{
			name: "sipuni", path: "/api/callback/call_number",
			setup: func(t *testing.T) (string, string, func(context.Context, string, *http.Client) error, func() int) {
				fake := sipunitest.NewServer(sipunitest.Options{})
				t.Cleanup(fake.Close)
				return fake.URL, "/api/", func(ctx context.Context, base string, hc *http.Client) error {
						c, err := sipuni.New(sipuni.Config{Account: fake.Account(), Secret: fake.Secret(), BaseURL: base, HTTPClient: hc, WebhookToken: sipuniToken})
						if err != nil {
							return err
						}
						_, err = c.MakeCall(ctx, pbx.CallRequest{Extension: "101", Phone: "+7 999 123-45-67"})
						return err
					}, func() int {
						n := 0
						for _, r := range fake.Requests() {
							if r.Operation == "callback/call_number" {
								n++
							}
						}
						return n
					}
			},
		},
		{
			name: "prostiezvonki", path: pztest.APIPath + "/crmapi/v1/makecall",
			setup: func(t *testing.T) (string, string, func(context.Context, string, *http.Client) error, func() int) {
				fake := pztest.NewServer(pztest.Options{})
				t.Cleanup(fake.Close)
				return fake.URL, pztest.APIPath, func(ctx context.Context, base string, hc *http.Client) error {
						c, err := prostiezvonki.New(prostiezvonki.Config{APIKey: fake.APIKey(), CRMToken: fake.CRMToken(), BaseURL: base, HTTPClient: hc})
						if err != nil {
							return err
						}
						_, err = c.MakeCall(ctx, pbx.CallRequest{Extension: "100", Phone: "8 (999) 123-45-67"})
						return err
					}, func() int {
						n := 0
						for _, r := range fake.Requests() {
							if r.Operation == "makecall" {
								n++
							}
						}
						return n
					}
			},
		},
	}
}

// TestMakeCallIsSentOnce: whatever the fault (a reset after the request
// arrived, no answer, 500, 502, 429 with Retry-After), MakeCall reaches the
// server exactly once and reports the failure; without a fault it reaches
// the fake once and succeeds (the control that the counting works).
func TestMakeCallIsSentOnce(t *testing.T) {
	var all subtests
	for _, cl := range callers() {
		for _, kind := range append([]fault{faultNone}, allFaults...) {
			all.add(cl.name+"/"+string(kind), func(t *testing.T) {
				fakeURL, basePath, call, sent := cl.setup(t)
				p, proxyURL := newFaultProxy(t, fakeURL, cl.path, kind, -1)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				start := time.Now()
				err := call(ctx, proxyURL+basePath, apiClient(t))
				took := time.Since(start)
				// A retry would come before MakeCall returns; wait a little
				// anyway for a request still on its way.
				assert.Never(t, func() bool { return p.hits.Load() > 1 }, 200*time.Millisecond, 10*time.Millisecond,
					"make-call sent more than once")
				t.Logf("%s: %d request(s) at the server, %d at the fake, %v: %v", kind, p.hits.Load(), sent(), took.Round(time.Millisecond), err)
				assert.EqualValues(t, 1, p.hits.Load(), "make-call reached the server exactly once")
				if kind == faultNone {
					require.NoError(t, err)
					assert.Equal(t, 1, sent(), "the fake placed the call")
					return
				}
				require.Error(t, err, "the fault is reported")
				assert.Zero(t, sent(), "the faulted request never reached the fake")
				assert.Less(t, took, 2*time.Second, "no wait for Retry-After or backoff")
				if kind == fault429 {
					assert.ErrorIs(t, err, provider.ErrRateLimited)
				}
				var opErr *provider.OpError
				if kind == faultReset || kind == faultTimeout {
					assert.True(t, errors.As(err, &opErr), "a transport failure: %v", err)
				}
			})
		}
	}
	all.run(t)
}

// subtests run together, each in its own goroutine: they mostly wait
// (backoff, Retry-After, timeouts), so running them all at once keeps the
// package fast, where t.Parallel would run only GOMAXPROCS at a time.
type subtests struct {
	names []string
	fs    []func(*testing.T)
}

func (s *subtests) add(name string, f func(*testing.T)) {
	s.names = append(s.names, name)
	s.fs = append(s.fs, f)
}

func (s *subtests) run(t *testing.T) {
	var wg sync.WaitGroup
	for i, f := range s.fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(s.names[i], f)
		}()
	}
	wg.Wait()
}
