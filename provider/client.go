package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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
	// the context ends.
	PolicyRead Policy = iota
	// PolicyAction is for requests that may ring a phone (make-call): retried
	// only when the request certainly never reached the server, that is when
	// the connection could not be made. Never after a timeout, a reset or any
	// HTTP status, because the PBX may already have placed the call.
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
	// most system pools lack). Its Timeout, if set, also bounds streaming
	// downloads; prefer context deadlines. Default: a client whose transport
	// gives up on a server that sends no response headers within 30 s.
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
	// starts after it. Default 30 s.
	MaxRetryTime time.Duration
}

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
// timeout, so recordings can stream for as long as they take.
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
	newRC := func(check retryablehttp.CheckRetry) *retryablehttp.Client {
		return &retryablehttp.Client{
			HTTPClient:     o.HTTPClient,
			Logger:         nil, // we journal through slog ourselves
			RetryWaitMin:   o.MinBackoff,
			RetryWaitMax:   o.MaxBackoff,
			RetryMax:       o.MaxRetries,
			RequestLogHook: countAttempt,
			CheckRetry:     check,
			Backoff:        c.backoff,
			ErrorHandler:   retryablehttp.PassthroughErrorHandler,
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

// HTTPClient returns the underlying *http.Client.
func (c *Client) HTTPClient() *http.Client { return c.opts.HTTPClient }

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
}

type reqState struct {
	c        *Client
	op       string
	start    time.Time
	attempts int
	final    func(*http.Response) bool
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

// Do sends r under its policy and returns the last response, whatever its
// status: the caller turns vendor rejections into errors (see
// [ResponseError]). A transport failure returns an error that names the
// provider and operation, keeps the cause for errors.Is and errors.As, and
// carries the URL without its query.
//
// The caller must close the response body.
func (c *Client) Do(ctx context.Context, r Request) (*http.Response, error) {
	method := r.Method
	if method == "" {
		method = http.MethodGet
		if r.Body != nil {
			method = http.MethodPost
		}
	}
	st := &reqState{c: c, op: r.Operation, start: time.Now(), final: r.Final}
	ctx = context.WithValue(ctx, stateKey{}, st)
	var body any
	if r.Body != nil {
		body = r.Body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, r.URL, body)
	if err != nil {
		return nil, &url.Error{Op: method, URL: redactURL(r.URL), Err: errors.Unwrap(err)}
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	rc := c.read
	if r.Policy == PolicyAction {
		rc = c.action
	}
	resp, err := rc.Do(req)
	status := 0
	if resp != nil {
		status = resp.StatusCode
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
		if err != nil {
			attrs = append(attrs, slog.String("error", scrubError(err).Error()))
		}
		c.logger.LogAttrs(ctx, slog.LevelDebug, "pbx api request", attrs...)
	}
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return nil, &OpError{Provider: c.opts.Provider, Operation: r.Operation, Err: scrubError(err)}
	}
	return resp, nil
}

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

// scrubError drops the query (signatures, hashes, tokens) from the URL of a
// *url.Error.
func scrubError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: redactURL(ue.URL), Err: ue.Err}
	}
	return err
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

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
	// Never start an attempt past the total time bound, and never wait for a
	// Retry-After that would end past it.
	wait := c.opts.MinBackoff
	if resp != nil {
		if d, ok := retryAfter(resp); ok {
			wait = d
		}
	}
	if time.Since(st.start)+wait > c.opts.MaxRetryTime {
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
		c.opts.OnRetry(RetryInfo{Provider: c.opts.Provider, Operation: st.op, Attempt: st.attempts, StatusCode: status, Err: scrubError(err)})
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

// retryAfter reads Retry-After (seconds or an HTTP date) from a 429 or 503.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp == nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return 0, false
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max0(time.Until(t)), true
	}
	return 0, false
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
