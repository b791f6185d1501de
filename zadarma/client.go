package zadarma

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pbxkit/pbxkit/provider"
)

// Name is the provider's registry name, its DSN scheme and the
// CallEvent.Provider of its events.
const Name = "zadarma"

// DefaultBaseURL is where the Zadarma API lives. Method paths carry the
// version: DefaultBaseURL + "/v1/request/callback/".
const DefaultBaseURL = "https://api.zadarma.com"

// DefaultRouteTimeout bounds the router's answer to a routing question
// (NOTIFY_START, NOTIFY_IVR) when Config.RouteTimeout is zero. Zadarma does
// not document how long it waits for the answer; the caller hears ringing
// meanwhile.
const DefaultRouteTimeout = 2 * time.Second

// DefaultTimeout is Config.Timeout when it is zero.
const DefaultTimeout = provider.DefaultTimeout

// Caps on the answers read into memory.
const (
	maxAnswer      = 64 << 10
	maxStatsAnswer = 16 << 20 // 1,000 statistics rows are a few hundred KiB
)

// Config configures a Client.
type Config struct {
	// Key is the API user key (the "Key" of my.zadarma.com/api), sent in
	// every API request's Authorization header. Needed by the API methods
	// only: a Client without it still verifies notifications.
	Key string
	// Secret is the API secret: it signs API requests and Zadarma signs its
	// notifications with it. Required.
	Secret string
	// BaseURL is the API root; default DefaultBaseURL (the sandbox is
	// https://api-sandbox.zadarma.com). Point it at a zadarmatest.Server in
	// tests.
	BaseURL string
	// Location is the zone of Zadarma's zone-less times (call_start, the
	// statistics): the account's time zone (GET /v1/info/timezone/).
	// Default Europe/Moscow.
	Location *time.Location
	// HTTPClient sends the API requests; default
	// provider.DefaultHTTPClient(). It is used as given (through a shallow
	// copy that reads the rate-limit headers), except that redirects are
	// never followed. Leave its Timeout zero: Timeout bounds operations.
	HTTPClient *http.Client
	// Logger receives the debug journal of API and webhook requests, the
	// errors of event handlers and the warnings an operator must see:
	// rejected notifications (rate-limited). Default: the journal is
	// silent and the warnings go to slog.Default().
	Logger *slog.Logger
	// RouteTimeout bounds the router's answer to a routing question;
	// default DefaultRouteTimeout. A router slower than that gets "no
	// decision": the call follows the PBX's own scenario.
	RouteTimeout time.Duration
	// ReturnTimeout is the return_timeout sent with a redirect, in whole
	// seconds (rounded up). Zero, the default, sends 0, as Zadarma's own
	// voice-menu library (zadarma/multi-ivr) always does; read as "do not
	// return to the scenario" (inferred). A positive value is read as how
	// long the extension rings before the call goes back to the scenario.
	ReturnTimeout time.Duration
	// Timeout bounds one API operation (all its attempts and waits) when
	// ctx has no earlier deadline; default DefaultTimeout (30 s), negative
	// for no limit but ctx's. A recording download is bounded by idleness
	// instead: it fails when Timeout passes without a byte.
	Timeout time.Duration
}

// redacted stands in for a secret: "xxxxx" when it is set, `""` when not.
func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "xxxxx"
}

// String describes c with its Key and Secret redacted, so printing a
// Config never shows them.
func (c Config) String() string {
	loc := "Europe/Moscow (default)"
	if c.Location != nil {
		loc = c.Location.String()
	}
	return fmt.Sprintf("zadarma.Config{Key:%s Secret:%s BaseURL:%q Location:%s RouteTimeout:%v ReturnTimeout:%v Timeout:%v}",
		redacted(c.Key), redacted(c.Secret), provider.RedactURL(c.BaseURL), loc, c.RouteTimeout, c.ReturnTimeout, c.Timeout)
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

// Format prints c as String does under every verb (%q quotes it), so that
// not even %x or %d shows a secret field.
func (c Config) Format(f fmt.State, verb rune) { format(f, verb, c.String()) }

// LogValue makes a Config logged through slog show its settings with the
// secrets redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("key", redacted(c.Key)),
		slog.String("secret", redacted(c.Secret)),
		slog.String("base_url", provider.RedactURL(c.BaseURL)),
		slog.Duration("route_timeout", c.RouteTimeout),
		slog.Duration("return_timeout", c.ReturnTimeout),
		slog.Duration("timeout", c.Timeout),
	)
}

// MarshalJSON writes c with its secrets redacted, so a Config inside a
// value logged as JSON does not show them either.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Key           string `json:"key"`
		Secret        string `json:"secret"`
		BaseURL       string `json:"base_url"`
		RouteTimeout  string `json:"route_timeout"`
		ReturnTimeout string `json:"return_timeout"`
		Timeout       string `json:"timeout"`
	}{redacted(c.Key), redacted(c.Secret), provider.RedactURL(c.BaseURL),
		c.RouteTimeout.String(), c.ReturnTimeout.String(), c.Timeout.String()})
}

// format writes s for any verb; %q quotes it.
func format(f fmt.State, verb rune, s string) {
	if verb == 'q' {
		s = strconv.Quote(s)
	}
	_, _ = io.WriteString(f, s)
}

// Client is one Zadarma account: the signed API and the handler of the
// PBX's call notifications. It implements pbx.Provider, pbx.Caller,
// pbx.HistoryExporter, pbx.RecordingFetcher, pbx.SubscriberLister and
// provider.WebhookTester, and is safe for concurrent use.
type Client struct {
	cfg    Config // with the defaults applied
	base   string // BaseURL without a trailing slash
	api    *provider.Client
	logger *slog.Logger
	hooks  *provider.WebhookLog // one per Client: its rate limit is per instance
	limits *limiter
	macs   sync.Pool // of hash.Hash: HMAC-SHA1 keyed with the secret
}

// New validates cfg and returns a Client. Its errors never contain the key,
// the secret or the base URL.
func New(cfg Config) (*Client, error) {
	if cfg.Secret == "" {
		return nil, errors.New("zadarma: Config.Secret (the API secret) is empty")
	}
	if cfg.RouteTimeout < 0 {
		return nil, errors.New("zadarma: Config.RouteTimeout is negative")
	}
	if cfg.ReturnTimeout < 0 {
		return nil, errors.New("zadarma: Config.ReturnTimeout is negative")
	}
	if cfg.RouteTimeout == 0 {
		cfg.RouteTimeout = DefaultRouteTimeout
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		// The URL is not quoted: it might carry credentials.
		return nil, errors.New("zadarma: Config.BaseURL must be an http or https URL without user info or query, such as " + DefaultBaseURL)
	}
	cfg.BaseURL = strings.TrimRight(u.String(), "/")
	if cfg.Location == nil {
		cfg.Location = provider.DefaultLocation()
	}
	lim := newLimiter()
	hc := cfg.HTTPClient
	if hc == nil {
		hc = provider.DefaultHTTPClient()
	}
	// A shallow copy whose transport reads the rate-limit headers; the
	// caller's client is not changed.
	wrapped := *hc
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	wrapped.Transport = &rateTransport{next: next, lim: lim}
	c := &Client{
		cfg:    cfg,
		base:   cfg.BaseURL,
		limits: lim,
		api: provider.NewClient(provider.Options{
			Provider: Name, HTTPClient: &wrapped, Logger: cfg.Logger, Timeout: cfg.Timeout,
		}),
	}
	c.logger = c.api.Logger()
	secret := []byte(cfg.Secret)
	c.macs.New = func() any { return hmac.New(sha1.New, secret) }
	// cfg.Logger, not c.logger: with no logger the rejections still reach
	// slog.Default(), so a wrong secret is seen.
	c.hooks = provider.NewWebhookLog(cfg.Logger, Name)
	return c, nil
}

// Name returns "zadarma".
func (c *Client) Name() string { return Name }

// Location returns the zone the client reads Zadarma's times in.
func (c *Client) Location() *time.Location { return c.cfg.Location }

// BaseURL returns the API root the client calls.
func (c *Client) BaseURL() string { return c.base }

// String describes the client without its secrets, for %v, %+v and %s.
func (c *Client) String() string {
	if c == nil {
		return "zadarma.Client(nil)"
	}
	return "zadarma.Client{BaseURL:" + provider.RedactURL(c.base) + " Location:" + c.cfg.Location.String() + "}"
}

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// Format prints c as String does under every verb.
func (c *Client) Format(f fmt.State, verb rune) { format(f, verb, c.String()) }

// LogValue makes a Client logged through slog show its provider and API
// root, never its secrets.
func (c *Client) LogValue() slog.Value {
	if c == nil {
		return slog.StringValue("zadarma.Client(nil)")
	}
	return slog.GroupValue(slog.String("provider", Name), slog.String("base_url", provider.RedactURL(c.base)))
}

// request is one API request: the method path (with its version and
// trailing slash) and its parameters, sent under policy.
type request struct {
	op         string // the journal's name, such as "request/callback"
	httpMethod string // GET unless said
	method     string // "/v1/request/callback/"
	params     url.Values
	policy     provider.Policy
	limit      int64         // the answer's size cap
	maxWait    time.Duration // the longest rate-limit wait before sending; 0: Config.Timeout
}

// send signs r and sends it, after waiting for the rate limit when the
// last answer of its bucket said none is left (see RateLimits). It returns
// the response: the caller reads and closes it. "format=json" is added to
// the parameters and signed, as the official clients do.
func (c *Client) send(ctx context.Context, r request, stream bool) (*http.Response, error) {
	if c.cfg.Key == "" {
		return nil, errors.New("zadarma: " + r.op + ": Config.Key (the API user key) is empty")
	}
	params := url.Values{}
	for k, v := range r.params {
		if len(v) > 0 {
			params[k] = v
		}
	}
	params.Set("format", "json")
	query := EncodeQuery(params)
	h := http.Header{
		"Authorization": {c.cfg.Key + ":" + signQuery(r.method, query, c.cfg.Secret)},
		"Accept":        {"application/json"},
	}
	req := provider.Request{Operation: r.op, Policy: r.policy, Method: r.httpMethod, Header: h, Stream: stream}
	if req.Method == "" {
		req.Method = http.MethodGet
	}
	if req.Method == http.MethodGet {
		req.URL = c.base + r.method + "?" + query
	} else {
		req.URL = c.base + r.method
		req.Body = []byte(query)
		h.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	maxWait := r.maxWait
	if maxWait <= 0 {
		maxWait = c.cfg.Timeout
		if maxWait < 0 {
			maxWait = maxPaceWait
		}
	}
	if err := c.limits.wait(ctx, r.op, bucketOf(r.method), maxWait); err != nil {
		return nil, err
	}
	return c.api.Do(ctx, req)
}

// call sends r and returns the body of a successful answer.
func (c *Client) call(ctx context.Context, r request) ([]byte, error) {
	resp, err := c.send(ctx, r, false)
	if err != nil {
		return nil, err
	}
	limit := r.limit
	if limit <= 0 {
		limit = maxAnswer
	}
	b, err := provider.ReadResponse(Name, r.op, resp, limit)
	if err != nil {
		return nil, err
	}
	if e := answerError(r.op, resp, b); e != nil {
		return nil, e
	}
	return b, nil
}

// answer is the envelope of every API answer: {"status":"success", ...}
// or {"status":"error","message":"..."}.
type answer struct {
	Status  provider.String `json:"status"`
	Message provider.String `json:"message"`
}

// answerError turns a rejection into an *provider.APIError: a non-2xx
// status, a JSON answer whose status is not "success", or a 2xx answer
// that is not JSON. A message that names the credentials or the
// signature also matches provider.ErrUnauthorized (401 and 403 do by
// their status); the wait a 429 or 503 asked for is in RetryAfter.
func answerError(op string, resp *http.Response, b []byte) *provider.APIError {
	var a answer
	jsonErr := json.Unmarshal(bytes.TrimSpace(b), &a)
	status := strings.ToLower(strings.TrimSpace(string(a.Status)))
	ok2xx := resp.StatusCode >= 200 && resp.StatusCode <= 299
	if ok2xx && jsonErr == nil && status == "success" {
		return nil
	}
	e := &provider.APIError{Provider: Name, Operation: op, StatusCode: resp.StatusCode, Message: provider.Excerpt([]byte(a.Message)),
		Body: provider.Excerpt(b), RetryAfter: provider.RetryAfter(resp)}
	switch {
	case ok2xx && jsonErr != nil:
		e.Message = "unexpected answer (want JSON with \"status\")"
	case ok2xx && e.Message == "":
		e.Message = "status is not success"
	}
	if looksLikeAuthError(e.Message) {
		e.Err = provider.ErrUnauthorized
	}
	return e
}

// looksLikeAuthError reports whether a vendor text rejects the key or the
// signature.
func looksLikeAuthError(text string) bool {
	t := strings.ToLower(text)
	for _, w := range [...]string{"not authorized", "unauthorized", "unauthorised", "authorization", "signature", "wrong key", "invalid key"} {
		if strings.Contains(t, w) {
			return true
		}
	}
	return false
}

// The rate limits. Zadarma documents 100 requests a minute in general and
// 3 a minute for the statistics methods, answers 429 beyond them, and
// sends X-RateLimit-* headers, which its official clients read as numbers
// (PHP: /^X-RateLimit-([a-z]+):\s([0-9]+)/i). Their names (Limit,
// Remaining, Reset) and what Reset holds are not documented: Reset is read
// as a Unix time when it is that large, else as seconds from the answer.

// maxPaceWait is the longest wait for a rate limit when Config.Timeout is
// negative (no limit), and for every page of a history export: a minute's
// window and some slack.
const maxPaceWait = 70 * time.Second

// defaultWindow is when an exhausted limit is assumed to reset when the
// answer says no more: Zadarma's limits are per minute.
const defaultWindow = time.Minute

// The rate-limit buckets.
const (
	bucketGeneral    = "general"
	bucketStatistics = "statistics"
)

// bucketOf names the bucket of an API path.
func bucketOf(path string) string {
	if strings.Contains(path, "/statistics") {
		return bucketStatistics
	}
	return bucketGeneral
}

// RateLimit is what the last answer of one rate-limit bucket said.
type RateLimit struct {
	// Limit is X-RateLimit-Limit, or -1 when the answer had none.
	Limit int
	// Remaining is X-RateLimit-Remaining, less the requests sent since, or
	// -1 when unknown.
	Remaining int
	// Reset is when the limit is renewed (from X-RateLimit-Reset), or zero
	// when unknown.
	Reset time.Time
	// Observed is when the answer arrived; zero when none did.
	Observed time.Time
}

// RateLimits returns what the last answers said of the two rate-limit
// buckets: the statistics methods' and every other method's.
func (c *Client) RateLimits() (general, statistics RateLimit) {
	return c.limits.get(bucketGeneral), c.limits.get(bucketStatistics)
}

// limiter keeps the rate-limit headers of the last answer of each bucket
// and makes requests wait when none is left.
type limiter struct {
	mu    sync.Mutex
	state map[string]*RateLimit
	now   func() time.Time
}

func newLimiter() *limiter {
	return &limiter{state: map[string]*RateLimit{}, now: time.Now}
}

func (l *limiter) get(bucket string) RateLimit {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.state[bucket]; s != nil {
		return *s
	}
	return RateLimit{Limit: -1, Remaining: -1}
}

// headerInt reads a rate-limit header as a non-negative integer.
func headerInt(h http.Header, name string) (int64, bool) {
	v := strings.TrimSpace(h.Get(name))
	if v == "" || len(v) > 18 {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// observe records the rate-limit headers of an answer to bucket.
func (l *limiter) observe(bucket string, h http.Header) {
	remaining, okR := headerInt(h, "X-RateLimit-Remaining")
	limit, okL := headerInt(h, "X-RateLimit-Limit")
	reset, okS := headerInt(h, "X-RateLimit-Reset")
	if !okR && !okL && !okS {
		return
	}
	now := l.now()
	s := RateLimit{Limit: -1, Remaining: -1, Observed: now}
	if okL {
		s.Limit = int(min(limit, 1<<31-1))
	}
	if okR {
		s.Remaining = int(min(remaining, 1<<31-1))
	}
	switch {
	case okS && reset >= 1_000_000_000:
		s.Reset = time.Unix(reset, 0)
	case okS && reset <= int64(24*time.Hour/time.Second):
		s.Reset = now.Add(time.Duration(reset) * time.Second)
	case okS:
		s.Reset = now.Add(24 * time.Hour) // absurd: far longer than anyone waits
	case okR && remaining == 0:
		s.Reset = now.Add(defaultWindow)
	}
	l.mu.Lock()
	l.state[bucket] = &s
	l.mu.Unlock()
}

// resetIn returns how long until bucket's limit resets, when the last
// answer said so; 0 otherwise.
func (l *limiter) resetIn(bucket string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.state[bucket]
	if s == nil || s.Reset.IsZero() {
		return 0
	}
	return max(s.Reset.Sub(l.now()), 0)
}

// wait blocks until a request of bucket may be sent: at once, unless the
// last answer said none is left before Reset. A wait longer than maxWait,
// or than ctx allows, is not made: a *RateLimitError says how long it
// would be. Sending counts against what is left.
func (l *limiter) wait(ctx context.Context, op, bucket string, maxWait time.Duration) error {
	for range 3 { // a wait, then the state that follows it
		l.mu.Lock()
		s := l.state[bucket]
		var d time.Duration
		if s != nil {
			now := l.now()
			switch {
			case !s.Reset.IsZero() && !now.Before(s.Reset):
				delete(l.state, bucket) // renewed: what it said no longer holds
			case s.Remaining == 0 && !s.Reset.IsZero():
				d = s.Reset.Sub(now)
			case s.Remaining > 0:
				s.Remaining--
			}
		}
		l.mu.Unlock()
		if d <= 0 {
			return nil
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			return &RateLimitError{Operation: op, Bucket: bucket, Wait: d}
		}
		if d > maxWait {
			return &RateLimitError{Operation: op, Bucket: bucket, Wait: d}
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// RateLimitError is the error of a request not sent because the rate limit
// of its bucket was exhausted (X-RateLimit-Remaining: 0) for longer than
// the operation may wait. It matches provider.ErrRateLimited.
type RateLimitError struct {
	// Operation is the API method not called.
	Operation string
	// Bucket is "statistics" or "general".
	Bucket string
	// Wait is how long until the limit resets.
	Wait time.Duration
}

// Error says what was not sent and for how long to wait.
func (e *RateLimitError) Error() string {
	return "zadarma: " + e.Operation + ": the " + e.Bucket + " rate limit is exhausted (X-RateLimit-Remaining: 0); not sent: it resets in " +
		e.Wait.Round(time.Second).String()
}

// Is makes errors.Is(err, provider.ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == provider.ErrRateLimited }

// rateTransport reads the rate-limit headers of every answer. A 429 that
// carries X-RateLimit-Reset but no Retry-After gets the Retry-After that
// Reset stands for, so that the client waits for it (or gives up at once
// when it is longer than its retry budget) instead of retrying within the
// same window.
type rateTransport struct {
	next http.RoundTripper
	lim  *limiter
}

// RoundTrip implements http.RoundTripper.
func (t *rateTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil || resp == nil {
		return resp, err
	}
	bucket := bucketOf(r.URL.Path)
	t.lim.observe(bucket, resp.Header)
	if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" && resp.Header.Get("X-RateLimit-Reset") != "" {
		if d := t.lim.resetIn(bucket); d > 0 {
			secs := int64((d + time.Second - 1) / time.Second)
			resp.Header.Set("Retry-After", strconv.FormatInt(secs, 10))
		}
	}
	return resp, nil
}
