package mango

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// Name is the provider's registry name and the DSN scheme.
const Name = "mango"

// DefaultBaseURL is the VPBX API: every method is a path under it
// ("commands/callback").
const DefaultBaseURL = "https://app.mango-office.ru/vpbx"

// Defaults of Config.
const (
	// DefaultRouteTimeout bounds the router's answer to a call that
	// appeared in the IVR. The IVR's silence must be longer (see the
	// package documentation).
	DefaultRouteTimeout = 2 * time.Second
	// DefaultRouteInterval is Mango's published route limit: one
	// commands/route every 2 s per PBX (Config.RouteInterval).
	DefaultRouteInterval = 2 * time.Second
	// DefaultTimeout is the default Config.Timeout.
	DefaultTimeout = 30 * time.Second
	// DefaultHistoryPoll is the first wait before asking for a call-log
	// export: Mango asks for no more than one stats/result every 5 s.
	DefaultHistoryPoll = 5 * time.Second
	// DefaultHistoryMaxWait bounds the wait for one call-log export.
	DefaultHistoryMaxWait = 10 * time.Minute
	// maxHistoryPoll caps the growing wait between stats/result polls.
	maxHistoryPoll = 30 * time.Second
	// maxResponse caps a JSON API answer.
	maxResponse = 4 << 20
)

// The API methods, as Mango names them (the path under the base URL). They
// are the keys of Config.Limits and the Operation of errors.
const (
	OpCallback      = "commands/callback"
	OpRoute         = "commands/route"
	OpHangup        = "commands/call/hangup"
	OpUsers         = "config/users/request"
	OpStatsRequest  = "stats/request"
	OpStatsResult   = "stats/result"
	OpRecordingPost = "queries/recording/post"
	// opRecordingFile names the download of a recording from the one-time
	// link queries/recording/post answers with.
	opRecordingFile = "recording download"
)

// AllOperations is the key of Config.Limits for the limit every API request
// counts against, whatever its method.
const AllOperations = "*"

// Limit is a client-side rate limit: up to Burst requests at once, then one
// every Every. A zero Every means no limit.
type Limit struct {
	Every time.Duration
	Burst int
}

// DefaultLimits returns Mango's published per-product limits ("per
// product / total" table of the newer API manual; single-source): all API
// 10 a second; callback and hangup 4 a second; recording access 10 a
// second; users, route and the start of a stats export 1 every 2 s.
// stats/result has no per-product limit and counts only against the 10 a
// second of every request.
func DefaultLimits() map[string]Limit {
	return map[string]Limit{
		AllOperations:   {Every: 100 * time.Millisecond, Burst: 10},
		OpCallback:      {Every: 250 * time.Millisecond, Burst: 4},
		OpHangup:        {Every: 250 * time.Millisecond, Burst: 4},
		OpRecordingPost: {Every: 100 * time.Millisecond, Burst: 10},
		OpUsers:         {Every: 2 * time.Second, Burst: 1},
		OpRoute:         {Every: 2 * time.Second, Burst: 1},
		OpStatsRequest:  {Every: 2 * time.Second, Burst: 1},
	}
}

// Config configures a Client. APIKey and APISalt are required; the zero
// value of every other field picks its default.
type Config struct {
	// APIKey is the PBX's «Уникальный код вашей АТС» (vpbx_api_key) from
	// the cabinet's API connector settings. Mango sends it in every request;
	// pbxkit still never logs or prints it.
	APIKey string
	// APISalt is the «Ключ для создания подписи» (vpbx_api_salt): the
	// secret that signs every request in both directions. It is never sent,
	// logged or put in an error.
	APISalt string
	// BaseURL is the API base (default DefaultBaseURL). Point it at a
	// mangotest server in tests.
	BaseURL string
	// Location is the zone of the times the Client returns (default
	// Europe/Moscow). Mango's times are Unix seconds, so it changes no
	// instant, only how times print.
	Location *time.Location
	// HTTPClient sends the API requests (default: provider's default
	// client). Leave its Timeout zero; Timeout below bounds operations.
	HTTPClient *http.Client
	// Logger receives the debug journal of API and webhook requests and the
	// warnings an operator must see: webhook requests rejected for
	// authentication, route decisions dropped by the route limit, route
	// commands that failed (all rate-limited). Default: the journal is
	// silent and the warnings go to slog.Default().
	Logger *slog.Logger
	// OnRetry, when set, is called before each retried API request.
	OnRetry func(provider.RetryInfo)
	// Timeout is the overall limit of one API operation (every attempt, the
	// waits between retries and for the client-side rate limit, reading
	// the answer) when ctx has no earlier deadline. A recording download is
	// bounded by silence instead (no byte for Timeout). Default
	// DefaultTimeout; negative: no limit but the context's.
	Timeout time.Duration
	// RouteTimeout bounds the routing of a call that appeared in the IVR:
	// the router's answer, and the wait for a route-command slot (one per
	// RouteInterval; Mango allows one every 2 s per PBX). Default
	// DefaultRouteTimeout. The IVR's silence must outlast it plus the
	// command's trip (see the package documentation).
	RouteTimeout time.Duration
	// RouteInterval is the client-side route limit: one commands/route
	// at a time, the next RouteInterval after the previous one's answer
	// (so that Mango, which counts what it receives, never sees two
	// closer, however the network delays them). Default
	// DefaultRouteInterval (2 s),
	// Mango's published limit per PBX: keep it against the real service,
	// where a command sooner is refused (429) and the call is left to the
	// scheme. A shorter interval, or a negative one (no limit), is for
	// tests and fakes only (mangotest hands out 10 ms). When set, it
	// replaces the OpRoute entry of Limits; when zero, the Every of
	// Limits[OpRoute] applies if given (its Burst is not used: one at a
	// time).
	RouteInterval time.Duration
	// HistoryPoll is the first wait before asking for a call-log export
	// (default DefaultHistoryPoll, Mango's minimum); the wait grows by half
	// after each "not ready" up to 30 s.
	HistoryPoll time.Duration
	// HistoryMaxWait bounds the wait for one export (default
	// DefaultHistoryMaxWait).
	HistoryMaxWait time.Duration
	// Limits replaces entries of DefaultLimits by method (OpRoute,
	// OpUsers, ..., AllOperations). A Limit with a zero Every lifts that
	// limit.
	Limits map[string]Limit
	// RecordingHosts are the hosts a recording link may point to, besides
	// BaseURL's host: a host matches itself and its subdomains, over https
	// only. Default: mango-office.ru (files.mango-office.ru serves the
	// files). A link elsewhere is refused, unfollowed, as a
	// *provider.RedirectError.
	RecordingHosts []string
	// OnResult, when set, is called with every asynchronous command result
	// the PBX posts (result/callback, result/route, ..., events/sms),
	// synchronously, before the PBX gets its answer. They are not call
	// events: they carry no call id, only the command_id of the command.
	OnResult func(ctx context.Context, r *CommandResult)
}

// Client is a configured Mango Office PBX: it calls the VPBX API, serves the
// PBX's notifications and routes incoming calls by command. It is safe for
// concurrent use. Close it to stop the routing still in progress.
//
// Client implements pbx.Provider, pbx.Caller, pbx.RecordingFetcher,
// pbx.SubscriberLister, pbx.HistoryExporter and provider.WebhookTester.
type Client struct {
	// cfg is the Config without APIKey and APISalt: fmt, printing a
	// Client value with a verb it does not take (%s, %q, ...), shows the
	// struct a pointer field points to, bypassing its methods.
	cfg *Config
	// creds returns the key and the salt: a func, which fmt prints as an
	// address whatever the verb.
	creds    func() (apiKey, apiSalt string)
	base     string
	baseHost string // scheme://host of BaseURL
	hc       *provider.Client
	log      *slog.Logger
	hooks    *provider.WebhookLog
	lim      *limiter
	routes   *routeGate
	rt       *routing
	holds    *holdTracker
	recs     *recordingIndex
}

var (
	_ pbx.Provider           = (*Client)(nil)
	_ pbx.Caller             = (*Client)(nil)
	_ pbx.RecordingFetcher   = (*Client)(nil)
	_ pbx.SubscriberLister   = (*Client)(nil)
	_ pbx.HistoryExporter    = (*Client)(nil)
	_ provider.WebhookTester = (*Client)(nil)
	_ io.Closer              = (*Client)(nil)
	_ slog.LogValuer         = (*Client)(nil)
	_ fmt.Formatter          = (*Client)(nil)
	_ http.RoundTripper      = (*captureTransport)(nil)
)

// New checks cfg, fills its defaults and returns a Client. Its errors never
// contain the key or the salt, nor quote BaseURL (it might carry
// credentials).
func New(cfg Config) (*Client, error) {
	for _, f := range []struct{ name, value, what string }{
		{"APIKey", cfg.APIKey, "the «Уникальный код вашей АТС» (vpbx_api_key) from the API connector settings"},
		{"APISalt", cfg.APISalt, "the «Ключ для создания подписи» (vpbx_api_salt) from the API connector settings"},
	} {
		if f.value == "" {
			return nil, fmt.Errorf("mango: Config.%s is empty: want %s", f.name, f.what)
		}
		if strings.TrimSpace(f.value) != f.value {
			return nil, fmt.Errorf("mango: Config.%s has leading or trailing space (signatures use it exactly; check the copy)", f.name)
		}
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	base, err := checkBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.Location == nil {
		cfg.Location = provider.DefaultLocation()
	}
	if cfg.RouteTimeout <= 0 {
		cfg.RouteTimeout = DefaultRouteTimeout
	}
	if cfg.HistoryPoll <= 0 {
		cfg.HistoryPoll = DefaultHistoryPoll
	}
	if cfg.HistoryMaxWait <= 0 {
		cfg.HistoryMaxWait = DefaultHistoryMaxWait
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	hosts := []string{"mango-office.ru"}
	if len(cfg.RecordingHosts) > 0 {
		hosts = nil
		for _, h := range cfg.RecordingHosts {
			if h = strings.Trim(strings.ToLower(strings.TrimSpace(h)), "."); h != "" {
				hosts = append(hosts, h)
			}
		}
	}
	cfg.RecordingHosts = hosts
	limits := DefaultLimits()
	for k, l := range cfg.Limits {
		limits[k] = l
	}
	switch {
	case cfg.RouteInterval > 0:
		limits[OpRoute] = Limit{Every: cfg.RouteInterval, Burst: 1}
	case cfg.RouteInterval < 0:
		limits[OpRoute] = Limit{}
	}
	// From here on, the interval in force (0: no route limit). The route
	// gate keeps it; the limiter keeps the others.
	cfg.RouteInterval = max(limits[OpRoute].Every, 0)
	cfg.Limits = limits
	others := maps.Clone(limits)
	delete(others, OpRoute)

	hc := provider.NewClient(provider.Options{
		Provider:   Name,
		HTTPClient: captureClient(cfg.HTTPClient),
		Logger:     cfg.Logger,
		OnRetry:    cfg.OnRetry,
		Timeout:    cfg.Timeout,
	})
	apiKey, apiSalt := cfg.APIKey, cfg.APISalt
	cfg.APIKey, cfg.APISalt = "", ""
	c := &Client{
		cfg:      &cfg,
		creds:    func() (string, string) { return apiKey, apiSalt },
		base:     strings.TrimRight(cfg.BaseURL, "/"),
		baseHost: base.Scheme + "://" + base.Host,
		hc:       hc,
		log:      hc.Logger(),
		hooks:    provider.NewWebhookLog(cfg.Logger, Name),
		lim:      newLimiter(others),
		routes:   newRouteGate(cfg.RouteInterval),
		holds:    newHoldTracker(),
		recs:     newRecordingIndex(maxRecordedCalls, recordingMemory),
	}
	c.rt = newRouting(c)
	return c, nil
}

// checkBaseURL accepts an absolute http(s) URL with a host, without user
// info, query or fragment. Its errors never quote the URL.
func checkBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, errors.New("mango: Config.BaseURL is not a valid URL")
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "":
		return nil, errors.New("mango: Config.BaseURL must be an absolute http or https URL, such as " + DefaultBaseURL)
	case u.User != nil:
		return nil, errors.New("mango: Config.BaseURL must not carry user info (the API authenticates with APIKey and APISalt)")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, errors.New("mango: Config.BaseURL must not carry a query or fragment (the method is appended to its path)")
	}
	return u, nil
}

// Name returns "mango".
func (c *Client) Name() string { return Name }

// Location returns the zone of the times the Client returns.
func (c *Client) Location() *time.Location { return c.cfg.Location }

// Close stops the routing work in progress (routers are asked to stop,
// route commands not yet sent are dropped, those being sent are cancelled)
// and waits for it to end; routing does not start again. Stop the HTTP
// server first (http.Server.Shutdown), so that no new call appears while
// Close waits. The API and the webhook's event delivery keep working.
// Close always returns nil.
func (c *Client) Close() error {
	c.rt.close()
	return nil
}

// form is the signed form body of an API request carrying payload.
// url.Values encodes every value, so a "+", "&" or "%" in the JSON reaches
// Mango intact (string concatenation, as some clients do, corrupts it).
func (c *Client) form(payload []byte) []byte {
	apiKey, apiSalt := c.creds()
	return []byte(SignedForm(apiKey, apiSalt, string(payload)).Encode())
}

// send signs payload and posts it to the API method op, waiting first for
// the client-side rate limit; the caller closes the response. stream marks
// a download: Timeout then bounds the silence, not the whole operation.
func (c *Client) send(ctx context.Context, op string, policy provider.Policy, payload []byte, stream bool) (*http.Response, error) {
	if err := c.lim.wait(ctx, op, c.cfg.Timeout); err != nil {
		return nil, err
	}
	return c.sendNow(ctx, op, policy, payload, stream)
}

// sendNow is send without the rate limit: for a slot already taken.
func (c *Client) sendNow(ctx context.Context, op string, policy provider.Policy, payload []byte, stream bool) (*http.Response, error) {
	return c.hc.Do(ctx, provider.Request{
		Operation: op,
		Policy:    policy,
		Method:    http.MethodPost,
		URL:       c.base + "/" + op,
		Header:    http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
		Body:      c.form(payload),
		Stream:    stream,
	})
}

// call marshals in once, signs and sends those bytes to op, and decodes the
// answer into out (nil: only the result is read). A result other than 1000,
// a non-2xx status or an answer that is not JSON give a
// *provider.APIError.
func (c *Client) call(ctx context.Context, op string, policy provider.Policy, in, out any) error {
	payload, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("mango: %s: encoding the request: %w", op, err)
	}
	resp, err := c.send(ctx, op, policy, payload, false)
	if err != nil {
		return err
	}
	return c.answer(op, resp, out)
}

// answer reads resp and decodes it into out, or returns the API error.
func (c *Client) answer(op string, resp *http.Response, out any) error {
	b, err := provider.ReadResponse(Name, op, resp, maxResponse)
	if err != nil {
		return err
	}
	return decodeAnswer(op, resp, b, out)
}

// envelope is what Mango's answers share: result (1000 is success), or,
// in the v1.10 manual's 420 answers, code; the 429 answer of the newer
// manual carries a message.
type envelope struct {
	Result  provider.String `json:"result"`
	Code    provider.String `json:"code"`
	Message provider.String `json:"message"`
}

// code returns the result code of the answer and whether it has one.
func (e *envelope) code() (ResultCode, bool) {
	for _, s := range []provider.String{e.Result, e.Code} {
		if n, err := provider.ParseInt(string(s)); err == nil && n != 0 {
			return ResultCode(n), true
		}
	}
	return 0, false
}

// decodeAnswer turns an API answer into out or an *provider.APIError.
//
// Success is a 2xx status whose JSON carries no result, or result 1000
// (libraries read result; some answers, such as the users list, carry
// none). Failure is any other status, or a result or code other than 1000
// (the v1.10 manual answers bad data with HTTP 420 {"code":3104}; a fake in
// one test suite answers a bad signature with 200 {"result":3101}); both
// readings are accepted.
func decodeAnswer(op string, resp *http.Response, b []byte, out any) error {
	var env envelope
	isJSON := json.Unmarshal(b, &env) == nil
	code, hasCode := env.code()
	status := resp.StatusCode
	if status < 200 || status > 299 || (hasCode && code != ResultOK) {
		e := &provider.APIError{Provider: Name, Operation: op, StatusCode: status, Body: provider.Excerpt(b), RetryAfter: provider.RetryAfter(resp)}
		if hasCode {
			e.Code = strconv.Itoa(int(code))
			e.Message = code.Text()
			e.Err = &ResultError{Code: code}
		} else if isJSON && env.Message != "" {
			e.Message = string(env.Message)
		}
		if status == http.StatusUnauthorized {
			e.Message = strings.TrimPrefix(e.Message+"; ", "; ") +
				"credentials refused; Mango also answers 401 to every request for 2 minutes after repeated invalid (3xxx) requests"
		}
		return e
	}
	if out == nil {
		return nil
	}
	if !isJSON {
		return &provider.APIError{Provider: Name, Operation: op, StatusCode: status,
			Message: "answer is not the expected JSON", Body: provider.Excerpt(b)}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return &provider.APIError{Provider: Name, Operation: op, StatusCode: status,
			Message: "unexpected answer: " + err.Error(), Body: provider.Excerpt(b)}
	}
	return nil
}

// errBadRequest is the error for a request the client refuses to send.
func errBadRequest(op, problem string) error {
	return fmt.Errorf("mango: %s: %s", op, problem)
}

// ---- the client-side rate limit ----

// ErrLimitWait is matched (errors.Is) by the error of an operation the
// client-side rate limit could not admit before its deadline; the error
// also matches provider.ErrRateLimited.
var ErrLimitWait = errors.New("mango: client-side rate limit: no slot before the deadline")

// limitError is the error of an operation the limiter refused.
type limitError struct {
	op   string
	wait time.Duration
	// busy: another route command was on its way for all of wait.
	busy bool
}

func (e *limitError) Error() string {
	if e.busy {
		return "mango: " + e.op + ": client-side rate limit (Mango's published limits): another route command was on its way for " +
			e.wait.Round(time.Millisecond).String() + ", up to the operation's deadline"
	}
	return "mango: " + e.op + ": client-side rate limit (Mango's published limits): the next slot is " +
		e.wait.Round(time.Millisecond).String() + " away, past the operation's deadline"
}

func (e *limitError) Is(target error) bool {
	return target == ErrLimitWait || target == provider.ErrRateLimited
}

// bucket is one limit, as a virtual schedule (GCRA): tat is when the
// schedule is next free; a request may start up to tolerance before it.
type bucket struct {
	every, tolerance time.Duration
	tat              time.Time
}

// check returns how long a request arriving at now waits.
func (b *bucket) check(now time.Time) time.Duration {
	if b == nil {
		return 0
	}
	tat := b.tat
	if tat.Before(now) {
		tat = now
	}
	return max(tat.Add(-b.tolerance).Sub(now), 0)
}

// take books the slot check measured.
func (b *bucket) take(now time.Time) {
	if b == nil {
		return
	}
	if b.tat.Before(now) {
		b.tat = now
	}
	b.tat = b.tat.Add(b.every)
}

// limiter holds the per-method limits and the one every request counts
// against.
type limiter struct {
	mu  sync.Mutex
	all *bucket
	ops map[string]*bucket
	now func() time.Time
}

func newLimiter(limits map[string]Limit) *limiter {
	l := &limiter{ops: map[string]*bucket{}, now: time.Now}
	for k, lim := range limits {
		if lim.Every <= 0 {
			continue
		}
		b := &bucket{every: lim.Every, tolerance: time.Duration(max(lim.Burst, 1)-1) * lim.Every}
		if k == AllOperations {
			l.all = b
		} else {
			l.ops[k] = b
		}
	}
	return l
}

// reserve books a slot for op that starts within maxWait and returns the
// wait before it; when none does, it books nothing and returns false with
// the wait that would have been needed.
func (l *limiter) reserve(op string, maxWait time.Duration) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	opB := l.ops[op]
	wait := max(opB.check(now), l.all.check(now))
	if wait > maxWait {
		return wait, false
	}
	opB.take(now)
	l.all.take(now)
	return wait, true
}

// wait waits for a slot for op, at most until ctx's deadline or limit
// (when positive); one that cannot come in time is an error at once.
func (l *limiter) wait(ctx context.Context, op string, limit time.Duration) error {
	maxWait := time.Duration(1<<63 - 1)
	if limit > 0 {
		maxWait = limit
	}
	if dl, ok := ctx.Deadline(); ok {
		maxWait = min(maxWait, time.Until(dl))
	}
	d, ok := l.reserve(op, maxWait)
	if !ok {
		return &limitError{op: op, wait: d}
	}
	return sleep(ctx, d)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ---- redirects of the recording link ----

// locationKey marks a request whose redirect target the transport keeps.
type locationKey struct{}

// locationSlot receives the Location of a 3xx answer.
type locationSlot struct {
	mu  sync.Mutex
	loc string
}

func (s *locationSlot) get() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loc
}

// captureTransport keeps the Location header of a 3xx answer for a request
// that asks for it (queries/recording/post answers 302 with the one-time
// file link). provider.Client follows no redirect and reports a 3xx as a
// *provider.RedirectError whose Location is reduced to scheme://host/path;
// the file link's query must survive, so it is taken here.
type captureTransport struct{ next http.RoundTripper }

func (t *captureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err == nil && resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		if s, ok := r.Context().Value(locationKey{}).(*locationSlot); ok {
			s.mu.Lock()
			s.loc = resp.Header.Get("Location")
			s.mu.Unlock()
		}
	}
	return resp, err
}

// CloseIdleConnections passes the call on to the wrapped transport.
func (t *captureTransport) CloseIdleConnections() {
	if ci, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// captureClient returns a copy of hc (the default client when nil) whose
// transport is wrapped in a captureTransport; hc is not modified.
func captureClient(hc *http.Client) *http.Client {
	if hc == nil {
		hc = provider.DefaultHTTPClient()
	}
	cp := *hc
	next := cp.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	cp.Transport = &captureTransport{next: next}
	return &cp
}

// ---- printing without secrets ----

// redacted stands for a secret in printed values: "xxxxx" when it is set,
// `""` when it is empty (so a missing credential still shows).
func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "xxxxx"
}

// redactBaseURL is BaseURL without user info, query or fragment.
func redactBaseURL(s string) string {
	if s == "" {
		return ""
	}
	return provider.RedactURL(s)
}

// String describes c with APIKey and APISalt redacted and BaseURL reduced
// to scheme://host/path.
func (c Config) String() string {
	return fmt.Sprintf("mango.Config{APIKey:%s APISalt:%s BaseURL:%q RouteTimeout:%v RouteInterval:%v Timeout:%v}",
		redacted(c.APIKey), redacted(c.APISalt), redactBaseURL(c.BaseURL), c.RouteTimeout, c.RouteInterval, c.Timeout)
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

// Format writes String for every verb, so that no verb prints the fields
// themselves.
func (c Config) Format(f fmt.State, verb rune) { formatRedacted(f, verb, c.String()) }

// LogValue makes a Config one slog group with its secrets redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("api_key", redacted(c.APIKey)),
		slog.String("api_salt", redacted(c.APISalt)),
		slog.String("base_url", redactBaseURL(c.BaseURL)),
		slog.Duration("route_timeout", c.RouteTimeout),
		slog.Duration("route_interval", c.RouteInterval),
		slog.Duration("timeout", c.Timeout),
	)
}

// MarshalJSON writes the LogValue fields, never the secrets.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"api_key": redacted(c.APIKey), "api_salt": redacted(c.APISalt), "base_url": redactBaseURL(c.BaseURL),
	})
}

func formatRedacted(f fmt.State, verb rune, s string) {
	if verb == 'q' {
		s = strconv.Quote(s)
	}
	_, _ = io.WriteString(f, s)
}

// String describes the client by its API base, without credentials.
func (c *Client) String() string {
	if c == nil || c.cfg == nil {
		return "mango.Client(nil)"
	}
	return fmt.Sprintf("mango.Client{BaseURL:%q}", redactBaseURL(c.base))
}

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// Format writes String for every verb, so no verb prints the client's
// fields.
func (c *Client) Format(f fmt.State, verb rune) { formatRedacted(f, verb, c.String()) }

// LogValue makes a Client one slog group without credentials.
func (c *Client) LogValue() slog.Value {
	if c == nil || c.cfg == nil {
		return slog.StringValue("mango.Client(nil)")
	}
	return slog.GroupValue(slog.String("provider", Name), slog.String("base_url", redactBaseURL(c.base)))
}

// MarshalJSON writes the provider name and API base, never the secrets.
func (c *Client) MarshalJSON() ([]byte, error) {
	if c == nil || c.cfg == nil {
		return []byte("null"), nil
	}
	return json.Marshal(map[string]string{"provider": Name, "base_url": redactBaseURL(c.base)})
}
