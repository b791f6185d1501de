package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// Policy says when a request may be sent again.
type Policy uint8

const (
	// PolicyRead is for idempotent reads (recordings, call history,
	// subscriber lists): retried on connection errors, 429 and 5xx, with
	// exponential backoff and jitter, honouring Retry-After, within
	// Options.MaxRetries and Options.MaxRetryTime, and stopping at once when
	// the context ends. A Retry-After longer than what is left of that
	// budget (or absurd) ends the retries at once with that response.
	PolicyRead Policy = iota
	// PolicyAction is for requests that may ring a phone (make-call): retried
	// only when the request certainly never reached the server, that is when
	// the connection could not be made. Never after a timeout, a reset or any
	// HTTP status, because the PBX may already have placed the call. (No
	// request is ever sent to a redirect's target: see [RedirectError].)
	PolicyAction
)

// String returns "read" or "action".
func (p Policy) String() string {
	if p == PolicyAction {
		return "action"
	}
	return "read"
}

// RetryInfo describes one failed attempt that is about to be retried.
type RetryInfo struct {
	Provider  string
	Operation string
	// Attempt is the number of the attempt that failed, from 1.
	Attempt int
	// StatusCode is the HTTP status of the failed attempt, or 0 when there
	// was no response.
	StatusCode int
	// Err is the transport error of the failed attempt, or nil.
	Err error
}

// Options configures a Client. The zero value of each field picks the
// default.
type Options struct {
	// Provider names the vendor in logs and errors ("rostelecom").
	Provider string
	// HTTPClient sends the requests. Pass your own for proxies or custom CA
	// pools (Rostelecom's certificate chains to the Russian Trusted CA, which
	// most system pools lack). The Client sends through a shallow copy of it
	// whose CheckRedirect refuses every redirect (see [RedirectError]); the
	// *http.Client given is never modified. Leave its Timeout zero: an
	// http.Client.Timeout bounds every request including recording
	// downloads, which [Options.Timeout] instead bounds by idleness only.
	// Default: [DefaultHTTPClient].
	HTTPClient *http.Client
	// Logger receives the debug-level journal of requests. Default: silent.
	Logger *slog.Logger
	// OnRetry, when set, is called before each retry.
	OnRetry func(RetryInfo)
	// MaxRetries bounds the retries of one request (so MaxRetries+1
	// attempts). Default 3.
	MaxRetries int
	// MinBackoff and MaxBackoff bound the wait between attempts. Defaults
	// 250 ms and 5 s.
	MinBackoff, MaxBackoff time.Duration
	// MaxRetryTime bounds the total time a read spends retrying: no attempt
	// starts after it, and a Retry-After that would end after it is not
	// waited for. Default 30 s.
	MaxRetryTime time.Duration
	// Timeout is the overall limit of one API operation: every attempt, the
	// waits between them and the reading of the response body, until the
	// caller closes it. It applies when the context has no earlier deadline
	// (an earlier context deadline wins). A streaming request
	// ([Request.Stream], recording downloads) has no overall limit: it
	// fails instead when no byte (response headers, then body) arrives for
	// Timeout, so a long download that keeps receiving is never cut.
	// Default 30 s; a negative value means no limit but the context's.
	Timeout time.Duration
}

// DefaultTimeout is the default [Options.Timeout].
const DefaultTimeout = 30 * time.Second

// Client sends API requests for one provider with the retry policy each
// request asks for. It is safe for concurrent use.
type Client struct {
	opts   Options
	logger *slog.Logger
	read   *retryablehttp.Client
	action *retryablehttp.Client
}

// DefaultHTTPClient returns the client used when Options.HTTPClient is nil:
// the standard transport with a 30 s response-header timeout and no overall
// timeout, so recordings can stream for as long as they take (the operation
// limits are [Options.Timeout]'s). It follows redirects like any
// *http.Client; the [Client] built on it does not.
func DefaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 30 * time.Second
	t.MaxIdleConnsPerHost = 16
	return &http.Client{Transport: t}
}

// NewClient returns a Client for o.
func NewClient(o Options) *Client {
	if o.HTTPClient == nil {
		o.HTTPClient = DefaultHTTPClient()
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxRetries <= 0 {
		o.MaxRetries = 3
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 250 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.MaxRetryTime <= 0 {
		o.MaxRetryTime = 30 * time.Second
	}
	c := &Client{opts: o, logger: loggerOrDiscard(o.Logger)}
	// A shallow copy, so the caller's client keeps its own redirect policy:
	// an API request never follows a redirect (it would carry the signature
	// headers and, on 307/308, a make-call body to another host), and Do
	// turns the 3xx into a *RedirectError.
	noRedirect := *o.HTTPClient
	noRedirect.CheckRedirect = refuseRedirect
	newRC := func(check retryablehttp.CheckRetry) *retryablehttp.Client {
		return &retryablehttp.Client{
			HTTPClient:      &noRedirect,
			Logger:          nil, // we journal through slog ourselves
			RetryWaitMin:    o.MinBackoff,
			RetryWaitMax:    o.MaxBackoff,
			RetryMax:        o.MaxRetries,
			RequestLogHook:  countAttempt,
			ResponseLogHook: responseArrived,
			CheckRetry:      check,
			Backoff:         c.backoff,
			ErrorHandler:    retryablehttp.PassthroughErrorHandler,
		}
	}
	c.read = newRC(c.checkRead)
	c.action = newRC(c.checkAction)
	return c
}

// Provider returns the provider name the client was made for.
func (c *Client) Provider() string { return c.opts.Provider }

// Logger returns the client's logger (a silent one when none was given).
func (c *Client) Logger() *slog.Logger { return c.logger }

// HTTPClient returns the *http.Client the Client was built on:
// Options.HTTPClient as given, or the default. The Client itself sends
// through a copy that follows no redirect; the returned client, used
// directly, keeps its own redirect policy.
func (c *Client) HTTPClient() *http.Client { return c.opts.HTTPClient }

// isRedirect reports whether status is one net/http would follow (301,
// 302, 303, 307, 308). Other 3xx answers (304 Not Modified, 300) are
// ordinary responses for the vendor package to read.
func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// refuseRedirect is the CheckRedirect of every client Do sends through.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Request is one API request.
type Request struct {
	// Operation names the vendor method in logs and errors ("call_back").
	Operation string
	// Policy says when the request may be sent again.
	Policy Policy
	// Method is the HTTP method; empty means GET, or POST when Body is set.
	Method string
	// URL is the full request URL.
	URL string
	// Header holds extra headers, such as signatures.
	Header http.Header
	// Body is sent as is on every attempt; nil for none.
	Body []byte
	// Final, when set, is asked about a response the read policy would
	// retry (429, 5xx): returning true makes it final. A vendor whose
	// credential rejections come as 5xx (Sipuni's "wrong hash" page) uses it
	// so that a rejection is not sent again. It must not read the body.
	Final func(*http.Response) bool
	// Stream marks a download of unbounded length (a recording): instead of
	// the overall [Options.Timeout], the operation fails when no byte
	// arrives for Timeout, first while waiting for the response headers,
	// then between reads of the body.
	Stream bool
}

type reqState struct {
	c        *Client
	op       string
	start    time.Time
	attempts int
	final    func(*http.Response) bool
	// idle, for a stream, cancels the request when it fires; every response
	// and every body read that returns bytes resets it.
	idle *idleTimer
}

type stateKey struct{}

func stateOf(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	return st
}

// countAttempt is the RequestLogHook: retryablehttp calls it before every
// attempt with the 0-based attempt number.
func countAttempt(_ retryablehttp.Logger, r *http.Request, i int) {
	if st := stateOf(r.Context()); st != nil {
		st.attempts = i + 1
	}
}

// responseArrived is the ResponseLogHook: response headers are bytes
// received, so a stream's idle limit starts again.
func responseArrived(_ retryablehttp.Logger, resp *http.Response) {
	if resp == nil || resp.Request == nil {
		return
	}
	if st := stateOf(resp.Request.Context()); st != nil && st.idle != nil {
		st.idle.touch()
	}
}

// Do sends r under its policy and returns the last response, whatever its
// status: the caller turns vendor rejections into errors (see
// [ResponseError]). A transport failure returns an *OpError that names the
// provider and operation, keeps the cause for errors.Is and errors.As, and
// carries the URL without its query. A timeout (see [Options.Timeout])
// matches errors.Is(err, context.DeadlineExceeded).
//
// Do never follows a redirect: a 301, 302, 303, 307 or 308 answer is closed
// and returned as a *RedirectError (not wrapped, never retried), naming
// where the API pointed. Other 3xx answers (304) are returned as responses.
//
// The operation's time limit keeps running while the caller reads the
// body: the caller must close the response body, which also releases the
// limit's timer. A body read that fails returns an *OpError.
func (c *Client) Do(ctx context.Context, r Request) (*http.Response, error) {
	method := r.Method
	if method == "" {
		method = http.MethodGet
		if r.Body != nil {
			method = http.MethodPost
		}
	}
	st := &reqState{c: c, op: r.Operation, start: time.Now(), final: r.Final}
	var cancel context.CancelCauseFunc
	switch {
	case c.opts.Timeout < 0:
		ctx, cancel = context.WithCancelCause(ctx)
	case r.Stream:
		ctx, cancel = context.WithCancelCause(ctx)
		st.idle = newIdleTimer(c.opts.Timeout, cancel)
	default:
		var stop context.CancelFunc
		ctx, stop = context.WithDeadlineCause(ctx, st.start.Add(c.opts.Timeout), &timeoutError{limit: c.opts.Timeout})
		cancel = func(error) { stop() }
	}
	release := func() {
		st.idle.stop()
		cancel(nil)
	}
	ctx = context.WithValue(ctx, stateKey{}, st)
	var body any
	if r.Body != nil {
		body = r.Body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, r.URL, body)
	if err != nil {
		release()
		return nil, ScrubError(err)
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	rc := c.read
	if r.Policy == PolicyAction {
		rc = c.action
	}
	resp, err := rc.Do(req)
	if err != nil && ctx.Err() != nil {
		// Say why: the operation's own limit, or the caller's context.
		err = context.Cause(ctx)
	}
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	var redirect *RedirectError
	if err == nil && isRedirect(status) {
		redirect = &RedirectError{Provider: c.opts.Provider, Operation: r.Operation, StatusCode: status, Location: redirectTarget(resp)}
	}
	if c.logger.Enabled(ctx, slog.LevelDebug) {
		attrs := []slog.Attr{
			slog.String("provider", c.opts.Provider),
			slog.String("operation", r.Operation),
			slog.String("policy", r.Policy.String()),
			slog.Int("status", status),
			slog.Duration("duration", time.Since(st.start)),
			slog.Int("attempts", st.attempts),
		}
		switch {
		case err != nil:
			attrs = append(attrs, slog.String("error", ScrubError(err).Error()))
		case redirect != nil:
			attrs = append(attrs, slog.String("error", redirect.Error()))
		}
		c.logger.LogAttrs(ctx, slog.LevelDebug, "pbx api request", attrs...)
	}
	if err != nil || redirect != nil {
		if resp != nil {
			drain(resp.Body)
		}
		release()
		if redirect != nil {
			return nil, redirect
		}
		return nil, &OpError{Provider: c.opts.Provider, Operation: r.Operation, Err: ScrubError(err)}
	}
	resp.Body = &opBody{rc: resp.Body, ctx: ctx, idle: st.idle, release: release, provider: c.opts.Provider, op: r.Operation}
	return resp, nil
}

// redirectTarget returns the redacted absolute target of a redirect, or ""
// when the response names none.
func redirectTarget(resp *http.Response) string {
	loc, err := resp.Location()
	if err != nil {
		if resp.Header.Get("Location") == "" {
			return ""
		}
		return "(unparsable URL)"
	}
	return RedactURL(loc.String())
}

// timeoutError is the cause of an operation that ran past Options.Timeout:
// the whole operation, or, for a stream, the silence between two bytes.
type timeoutError struct {
	limit time.Duration
	idle  bool
}

func (e *timeoutError) Error() string {
	if e.idle {
		return "no data received for " + e.limit.String() + " (operation timeout): " + context.DeadlineExceeded.Error()
	}
	return "operation took longer than " + e.limit.String() + " (operation timeout): " + context.DeadlineExceeded.Error()
}

// Timeout reports true, as net.Error timeouts do.
func (e *timeoutError) Timeout() bool { return true }

// Is makes errors.Is(err, context.DeadlineExceeded) true.
func (e *timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// idleTimer cancels a stream's context when no byte arrived for limit. A
// nil *idleTimer does nothing.
type idleTimer struct {
	limit time.Duration
	t     *time.Timer
}

func newIdleTimer(limit time.Duration, cancel context.CancelCauseFunc) *idleTimer {
	cause := &timeoutError{limit: limit, idle: true}
	return &idleTimer{limit: limit, t: time.AfterFunc(limit, func() { cancel(cause) })}
}

// touch restarts the limit: a byte arrived. Once fired, the context is
// cancelled for good and touch changes nothing that matters.
func (it *idleTimer) touch() {
	if it != nil {
		it.t.Reset(it.limit)
	}
}

func (it *idleTimer) stop() {
	if it != nil {
		it.t.Stop()
	}
}

// opBody is the response body Do returns: it keeps the operation's context
// (and its time limit) alive until Close or the end of the body, restarts a
// stream's idle limit on every read that returns bytes, and turns a failed
// read into an *OpError that says why.
type opBody struct {
	rc       io.ReadCloser
	ctx      context.Context
	idle     *idleTimer
	release  func()
	provider string
	op       string
	once     sync.Once
}

func (b *opBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.idle.touch()
	}
	switch {
	case err == nil:
	case err == io.EOF:
		b.done()
	default:
		if b.ctx.Err() != nil {
			err = context.Cause(b.ctx)
		}
		var oe *OpError
		if !errors.As(err, &oe) {
			err = &OpError{Provider: b.provider, Operation: b.op, Err: ScrubError(err)}
		}
	}
	return n, err
}

// Close closes the body and releases the operation's timer.
func (b *opBody) Close() error {
	err := b.rc.Close()
	b.done()
	return err
}

func (b *opBody) done() { b.once.Do(b.release) }

// OpError is a transport failure of one API request: the request got no HTTP
// response.
type OpError struct {
	Provider  string
	Operation string
	Err       error
}

// Error returns "provider: operation: cause".
func (e *OpError) Error() string { return e.Provider + ": " + e.Operation + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *OpError) Unwrap() error { return e.Err }

func (c *Client) checkRead(ctx context.Context, resp *http.Response, err error) (bool, error) {
	st := stateOf(ctx)
	if ctx.Err() != nil || st == nil || st.attempts > c.opts.MaxRetries {
		return false, nil
	}
	retry := false
	status := 0
	if err != nil {
		retry = transportRetryable(err)
	} else {
		status = resp.StatusCode
		retry = status == http.StatusTooManyRequests || (status >= 500 && status != http.StatusNotImplemented)
		if retry && st.final != nil && st.final(resp) {
			retry = false
		}
	}
	if !retry {
		return false, nil
	}
	// Never start an attempt past the total time bound. A Retry-After
	// longer than what is left of it (or of the context, or absurd) means
	// "longer than we wait": give up at once with this response.
	left := c.opts.MaxRetryTime - time.Since(st.start)
	if resp != nil {
		if d, ok := retryAfter(resp); ok {
			if dl, has := ctx.Deadline(); has {
				left = min(left, time.Until(dl))
			}
			if d > left {
				return false, nil
			}
			c.notifyRetry(st, status, err)
			return true, nil
		}
	}
	if c.opts.MinBackoff > left {
		return false, nil
	}
	c.notifyRetry(st, status, err)
	return true, nil
}

func (c *Client) checkAction(ctx context.Context, _ *http.Response, err error) (bool, error) {
	st := stateOf(ctx)
	if ctx.Err() != nil || st == nil || err == nil || st.attempts > c.opts.MaxRetries {
		return false, nil
	}
	if !notConnected(err) {
		return false, nil
	}
	c.notifyRetry(st, 0, err)
	return true, nil
}

func (c *Client) notifyRetry(st *reqState, status int, err error) {
	if c.opts.OnRetry != nil {
		c.opts.OnRetry(RetryInfo{Provider: c.opts.Provider, Operation: st.op, Attempt: st.attempts, StatusCode: status, Err: ScrubError(err)})
	}
}

// notConnected reports whether err says the TCP connection could not be
// made, so no byte of the request reached the server.
func notConnected(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// transportRetryable reports whether a read may be retried after the
// transport error err: everything but errors that will not change (bad
// certificates, bad URLs, redirect loops).
func transportRetryable(err error) bool {
	var (
		verifyErr    *tls.CertificateVerificationError
		authorityErr x509.UnknownAuthorityError
		hostnameErr  x509.HostnameError
		invalidErr   x509.CertificateInvalidError
	)
	if errors.As(err, &verifyErr) || errors.As(err, &authorityErr) || errors.As(err, &hostnameErr) || errors.As(err, &invalidErr) {
		return false
	}
	msg := err.Error()
	return !strings.Contains(msg, "unsupported protocol scheme") && !strings.Contains(msg, "stopped after")
}

// backoff is exponential with jitter, or the server's Retry-After on 429 and
// 503, capped by what is left of MaxRetryTime.
func (c *Client) backoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	var wait time.Duration
	if d, ok := retryAfter(resp); ok {
		wait = d
	} else {
		wait = max
		if attempt < 30 {
			if exp := min << attempt; exp > 0 && exp < max {
				wait = exp
			}
		}
		// Equal jitter: half fixed, half random, so clients spread out.
		wait = wait/2 + rand.N(wait/2+1)
	}
	if resp != nil && resp.Request != nil {
		if st := stateOf(resp.Request.Context()); st != nil {
			if left := c.opts.MaxRetryTime - time.Since(st.start); wait > left {
				wait = max0(left)
			}
		}
	}
	return wait
}

func max0(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}

// maxRetryAfter is what an overflowing Retry-After becomes: far longer than
// any wait, and still positive.
const maxRetryAfter = time.Duration(math.MaxInt64)

// retryAfter reads Retry-After (seconds or an HTTP date) from a 429 or 503.
// A number of seconds too large for a time.Duration gives maxRetryAfter, a
// date in the past 0. ok is false when there is no usable header.
func retryAfter(resp *http.Response) (d time.Duration, ok bool) {
	if resp == nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return 0, false
	}
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if allDigits(v) {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true // out of range: only digits, so too large
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max0(time.Until(t)), true // Until saturates instead of overflowing
	}
	return 0, false
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// RetryAfter returns the wait a 429 or 503 response asks for in its
// Retry-After header (seconds or an HTTP date), for [APIError.RetryAfter]:
// 0 when there is none, it cannot be read, it is in the past, or the status
// is another; a value too large for a time.Duration gives the largest one.
func RetryAfter(resp *http.Response) time.Duration {
	d, _ := retryAfter(resp)
	return d
}

func loggerOrDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// drain reads a little of body so the connection can be reused, then closes
// it.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 4<<10))
	body.Close()
}
