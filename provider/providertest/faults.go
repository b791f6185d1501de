package providertest

import (
	"bytes"
	"errors"
	"fmt"
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

	"github.com/pbxkit/pbxkit/provider"
)

// The retry policy every provider gets from provider.Options' defaults.
const (
	maxAttempts = 3 + 1 // MaxRetries + 1
	// The waits between attempts are exponential from 250 ms with equal
	// jitter (half fixed, half random): 125–250 ms, 250–500 ms, 500–1000 ms
	// (see backoff).
	maxBackoffTotal = (250 + 500 + 1000) * time.Millisecond
	// headerTimeout is the ResponseHeaderTimeout of the suite's HTTP
	// client in the fault checks: how long the "stall" fault takes.
	headerTimeout = 300 * time.Millisecond
	// retryAfter is what the 429 and 503 faults ask for.
	retryAfter = 1 * time.Second
	// absurdRetryAfter is a Retry-After too large for a time.Duration.
	absurdRetryAfter = "9300000000"
	// overhead is what a failing operation may take beyond its waits and
	// time limits: the requests themselves, on a loaded machine.
	overhead = 1500 * time.Millisecond
	// quick bounds an operation that must give up at once.
	quick = 2 * time.Second
)

// backoff is the range of the wait before retry k (from 0).
func backoff(k int) (lo, hi time.Duration) {
	return (125 * time.Millisecond) << k, (250 * time.Millisecond) << k
}

// fault is a way an API server fails.
type fault struct {
	name string
	// retried says a read that meets it is sent again.
	retried bool
	// noAnswer says the client gets no answer at all (a reset, a stall).
	noAnswer bool
	// wait is the Retry-After the fault asks for, waited between attempts.
	wait time.Duration
	// serve answers a faulted request.
	serve func(fs *faultServer, w http.ResponseWriter, r *http.Request)
	// check checks the error of an operation that met the fault on every
	// attempt.
	check func(fs *faultServer, err error) error
}

func (f fault) String() string { return f.name }

// The faults. The status answers carry JSON, not HTML: Sipuni's client
// rightly treats an HTML page as its credential rejection, which is final.
var (
	faultReset = fault{name: "reset", retried: true, noAnswer: true, serve: func(_ *faultServer, w http.ResponseWriter, _ *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // close with RST
		}
		conn.Close()
	}, check: wantOpError}
	faultStall = fault{name: "stall", retried: true, noAnswer: true, serve: func(fs *faultServer, _ http.ResponseWriter, r *http.Request) {
		fs.stall(r) // no answer until the client gives up
	}, check: wantOpError}
	fault500 = statusFault(http.StatusInternalServerError, "")
	fault502 = statusFault(http.StatusBadGateway, "")
	fault503 = statusFault(http.StatusServiceUnavailable, strconv.Itoa(int(retryAfter/time.Second)))
	fault429 = statusFault(http.StatusTooManyRequests, strconv.Itoa(int(retryAfter/time.Second)))
	// fault429Absurd asks for a wait that overflows a time.Duration: the
	// client gives up at once with the 429.
	fault429Absurd = fault{name: "429-retry-after-absurd", serve: func(_ *faultServer, w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusTooManyRequests, absurdRetryAfter)
	}, check: func(_ *faultServer, err error) error {
		if !errors.Is(err, provider.ErrRateLimited) {
			return fmt.Errorf("want an error matching provider.ErrRateLimited, got %T", err)
		}
		var ae *provider.APIError
		if errors.As(err, &ae) && ae.RetryAfter < time.Hour {
			return fmt.Errorf("APIError.RetryAfter = %v, want the absurd wait asked for (at least an hour)", ae.RetryAfter)
		}
		return nil
	}}
	faultRedirectRefused   = redirectFault("redirect-307-refused", http.StatusTemporaryRedirect, targetRefused)
	faultRedirectOtherHost = redirectFault("redirect-307-other-host", http.StatusTemporaryRedirect, targetOtherHost)
	faultRedirect302       = redirectFault("redirect-302-other-host", http.StatusFound, targetOtherHost)
	faultRedirectSameHost  = redirectFault("redirect-308-same-host", http.StatusPermanentRedirect, targetSameHost)
)

// allFaults are the faults every operation meets.
var allFaults = []fault{
	faultReset, faultStall, fault500, fault502, fault503, fault429, fault429Absurd,
	faultRedirectRefused, faultRedirectOtherHost, faultRedirect302, faultRedirectSameHost,
}

func statusFault(status int, retryAfterHeader string) fault {
	name := strconv.Itoa(status)
	var wait time.Duration
	if retryAfterHeader != "" {
		name += "-retry-after"
		wait = retryAfter
	}
	return fault{name: name, retried: true, wait: wait,
		serve: func(_ *faultServer, w http.ResponseWriter, _ *http.Request) {
			writeStatus(w, status, retryAfterHeader)
		},
		check: func(_ *faultServer, err error) error {
			if status == http.StatusTooManyRequests && !errors.Is(err, provider.ErrRateLimited) {
				return fmt.Errorf("want an error matching provider.ErrRateLimited, got %T", err)
			}
			var ae *provider.APIError
			if !errors.As(err, &ae) {
				return fmt.Errorf("want a *provider.APIError, got %T", err)
			}
			if ae.StatusCode != status {
				return fmt.Errorf("APIError.StatusCode = %d, want %d", ae.StatusCode, status)
			}
			if retryAfterHeader != "" && ae.RetryAfter != retryAfter {
				return fmt.Errorf("APIError.RetryAfter = %v, want the %v the answer asked for", ae.RetryAfter, retryAfter)
			}
			return nil
		}}
}

func writeStatus(w http.ResponseWriter, status int, retryAfterHeader string) {
	if retryAfterHeader != "" {
		w.Header().Set("Retry-After", retryAfterHeader)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"error":"injected fault"}`)
}

func wantOpError(_ *faultServer, err error) error {
	var oe *provider.OpError
	if !errors.As(err, &oe) {
		return fmt.Errorf("want a *provider.OpError (a transport failure), got %T", err)
	}
	return nil
}

// Where a redirect fault points.
const (
	targetRefused   = iota // a closed port on 127.0.0.1
	targetOtherHost        // another server, which counts what reaches it
	targetSameHost         // the fault server itself, under another path
)

func redirectFault(name string, status, target int) fault {
	return fault{name: name,
		serve: func(fs *faultServer, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", fs.redirectTo(target)+r.URL.RequestURI())
			w.WriteHeader(status)
		},
		check: func(fs *faultServer, err error) error {
			var re *provider.RedirectError
			if !errors.As(err, &re) {
				return fmt.Errorf("want a *provider.RedirectError, got %T", err)
			}
			u, _ := url.Parse(fs.redirectTo(target))
			if !strings.Contains(err.Error(), u.Host) {
				return fmt.Errorf("the error does not name the host the redirect pointed to (%s)", u.Host)
			}
			return nil
		}}
}

// seenRequest is one request a fault server received.
type seenRequest struct {
	method, path, query string
	body                []byte
	at                  time.Time
	// forwarded says the request was passed on to the fake (or answered
	// 502 without one) instead of meeting the fault.
	forwarded bool
}

func (r seenRequest) String() string {
	return r.method + " " + r.path
}

// same reports whether two requests are the same request sent again.
func (r seenRequest) same(o seenRequest) bool {
	return r.method == o.method && r.path == o.path && r.query == o.query && bytes.Equal(r.body, o.body)
}

// faultServer is an API server that fails its first faults requests (all
// when faults < 0) with kind and passes the others on to the fake, when
// there is one (502 otherwise). Every request it receives is counted once
// it has arrived whole: a request counted is one the PBX would have acted
// on.
type faultServer struct {
	kind   fault
	faults int
	srv    *httptest.Server
	next   http.Handler
	stop   chan struct{}
	// base is the BaseURL to give the provider: this server with the
	// fake's path.
	base string

	hits      atomic.Int32
	forwarded atomic.Int32
	mu        sync.Mutex
	seen      []seenRequest

	refused string // the URL of a closed port
	other   *httptest.Server
	otherN  atomic.Int32 // requests that reached other
}

// newFaultServer starts a faultServer for t in front of fake (which may be
// nil).
func newFaultServer(t *testing.T, fake *Fake, kind fault, faults int) *faultServer {
	t.Helper()
	fs := &faultServer{kind: kind, faults: faults, stop: make(chan struct{})}
	path := ""
	if fake != nil {
		u, err := url.Parse(fake.URL)
		if err != nil {
			t.Fatalf("Fake.URL: %v", err)
		}
		path = u.EscapedPath()
		u.Path, u.RawPath, u.RawQuery = "", "", ""
		tr := &http.Transport{Proxy: nil}
		t.Cleanup(tr.CloseIdleConnections)
		fs.next = &httputil.ReverseProxy{
			Rewrite:        func(r *httputil.ProxyRequest) { r.SetURL(u) },
			Transport:      tr,
			FlushInterval:  -1,
			ModifyResponse: func(resp *http.Response) error { return fs.rewriteLinks(resp, u.Host) },
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs.refused = "http://" + ln.Addr().String()
	ln.Close()
	fs.other = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.otherN.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{}`)
	}))
	fs.srv = httptest.NewServer(fs)
	fs.base = fs.srv.URL + path
	t.Cleanup(func() {
		close(fs.stop)
		fs.srv.CloseClientConnections()
		fs.srv.Close()
		fs.other.Close()
	})
	return fs
}

// rewriteLinks makes the links to itself that the fake puts into a small
// JSON answer (a recording's download link) point at the fault server, so
// that what follows them meets the fault server's mode too.
func (fs *faultServer) rewriteLinks(resp *http.Response, fakeHost string) error {
	if !strings.Contains(resp.Header.Get("Content-Type"), "json") || resp.ContentLength > 64<<10 {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10+1))
	resp.Body.Close()
	if err != nil {
		return err
	}
	if len(b) <= 64<<10 {
		self := strings.TrimPrefix(fs.srv.URL, "http://")
		b = bytes.ReplaceAll(b, []byte("//"+fakeHost), []byte("//"+self))
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	return nil
}

func (fs *faultServer) redirectTo(target int) string {
	switch target {
	case targetRefused:
		return fs.refused
	case targetOtherHost:
		return fs.other.URL
	default:
		return fs.srv.URL + "/moved"
	}
}

// stall waits until the client goes away or the server closes.
func (fs *faultServer) stall(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-fs.stop:
	case <-time.After(time.Minute):
	}
}

func (fs *faultServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The whole request arrives before the fault.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	n := fs.hits.Add(1)
	forward := fs.kind.serve == nil || (fs.faults >= 0 && int(n) > fs.faults)
	fs.mu.Lock()
	fs.seen = append(fs.seen, seenRequest{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, body: body, at: time.Now(), forwarded: forward})
	fs.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if forward {
		fs.forwarded.Add(1)
		if fs.next == nil {
			writeStatus(w, http.StatusBadGateway, "")
			return
		}
		fs.next.ServeHTTP(w, r)
		return
	}
	fs.kind.serve(fs, w, r)
}

// requests returns the requests received so far.
func (fs *faultServer) requests() []seenRequest {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]seenRequest(nil), fs.seen...)
}

// trip is one round trip of the provider's, as the provider saw it.
type trip struct {
	path string
	// failed says no answer reached the provider: the connection failed
	// or the client gave up waiting; timedOut says it gave up waiting.
	failed, timedOut bool
}

// tripLog is the transport of the suite's HTTP client in the read checks:
// it records every round trip, in the order they were sent, as the
// provider saw it. On a loaded machine an answer the fault server wrote can
// reach the client after its ResponseHeaderTimeout; the provider then
// rightly sends the request again, and the checks count that resend in.
type tripLog struct {
	next http.RoundTripper
	mu   sync.Mutex
	log  []trip
}

func (l *tripLog) RoundTrip(r *http.Request) (*http.Response, error) {
	l.mu.Lock()
	i := len(l.log)
	l.log = append(l.log, trip{path: r.URL.Path})
	l.mu.Unlock()
	resp, err := l.next.RoundTrip(r)
	if err != nil {
		var ne net.Error
		l.mu.Lock()
		l.log[i].failed = true
		l.log[i].timedOut = errors.As(err, &ne) && ne.Timeout()
		l.mu.Unlock()
	}
	return resp, err
}

// trips returns the round trips so far, in the order they were sent.
func (l *tripLog) trips() []trip {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]trip(nil), l.log...)
}

// trickleFault is a fault server mode: every answer of the fake reaches the
// client in small pieces with pauses between them.
func trickleFault(piece int, pause time.Duration) fault {
	return fault{name: "trickle", serve: func(fs *faultServer, w http.ResponseWriter, r *http.Request) {
		fs.forwarded.Add(1)
		if fs.next == nil {
			writeStatus(w, http.StatusBadGateway, "")
			return
		}
		fs.next.ServeHTTP(&trickleWriter{ResponseWriter: w, piece: piece, pause: pause, stop: fs.stop}, r)
	}}
}

// trickleWriter writes to the client in pieces of piece bytes, flushing
// each and pausing between them.
type trickleWriter struct {
	http.ResponseWriter
	piece int
	pause time.Duration
	stop  chan struct{}
	wrote bool
}

func (w *trickleWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if w.wrote {
			select {
			case <-time.After(w.pause):
			case <-w.stop:
				return n, errors.New("server closed")
			}
		}
		k := min(len(p), w.piece)
		m, err := w.ResponseWriter.Write(p[:k])
		n += m
		if err != nil {
			return n, err
		}
		if err := http.NewResponseController(w.ResponseWriter).Flush(); err != nil {
			return n, err
		}
		w.wrote = true
		p = p[k:]
	}
	return n, nil
}

// Unwrap lets http.ResponseController reach the connection.
func (w *trickleWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// faultStallBody answers 200 with the start of a JSON body, then sends
// nothing more until the client goes away.
var faultStallBody = fault{name: "stall-body", serve: func(fs *faultServer, w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, `{"result":`)
	_ = http.NewResponseController(w).Flush()
	fs.stall(r)
}}
