package rostelecom

import (
	"context"
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

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// Name is the provider's registry name and the DSN scheme.
const Name = "rostelecom"

// Hosts of the Integration API.
const (
	// DefaultBaseURL is the production API.
	DefaultBaseURL = "https://api.cloudpbx.rt.ru"
	// TestBaseURL is Rostelecom's test API. It answers with stubs (fake
	// record links, a JSON object instead of a history file), so do not
	// trust its field shapes.
	TestBaseURL = "https://api-test.cloudpbx.rt.ru"
)

// Defaults of Config.
const (
	DefaultRouteTimeout   = 1500 * time.Millisecond
	DefaultHistoryPoll    = 10 * time.Second
	DefaultHistoryMaxWait = 30 * time.Minute
	// DefaultTimeout is the default Config.Timeout.
	DefaultTimeout = 30 * time.Second
	// ResolveTimeout bounds the call_info request made for an "end"
	// notification when Config.ResolveEnded is on.
	ResolveTimeout = 2 * time.Second
	// maxHistoryPoll caps the doubling wait between history download
	// attempts.
	maxHistoryPoll = 2 * time.Minute
	// maxResponse caps a JSON API answer.
	maxResponse = 1 << 20
	// maxHistoryFile caps a downloaded call-history file (compressed).
	maxHistoryFile = 256 << 20
)

// Config configures a Client. ClientID, SignKey and Domain are required; the
// zero value of every other field picks its default.
type Config struct {
	// ClientID is the domain's «Уникальный код идентификации» from the
	// Integration API settings in the personal cabinet, sent as X-Client-ID.
	ClientID string
	// SignKey is the «Уникальный ключ для подписи»: the secret that signs
	// every request in both directions. It is never sent, logged or put in
	// an error.
	SignKey string
	// Domain is the PBX domain, such as "example.20.rt.ru".
	Domain string
	// BaseURL is the API base (default DefaultBaseURL). Point it at a
	// rostelecomtest server in tests.
	BaseURL string
	// Location is the zone of the PBX's local times (default Europe/Moscow).
	// Domains in other regions may need their own zone.
	Location *time.Location
	// HTTPClient sends the API requests. The API's certificate chains to the
	// Russian Trusted CA («Минцифры»), which most system pools lack: pass a
	// client whose transport trusts it (or the PEM downloaded from the
	// personal cabinet) rather than disabling verification.
	HTTPClient *http.Client
	// Logger receives the debug-level journal of API and webhook requests
	// and the warnings an operator must see: webhook requests rejected for
	// authentication (rate-limited) and, from New, that end notifications
	// carry no outcome while ResolveEnded is off. Default: the journal is
	// silent and the warnings go to slog.Default().
	Logger *slog.Logger
	// OnRetry, when set, is called before each retried API request.
	OnRetry func(provider.RetryInfo)
	// RouteTimeout bounds the router's answer to get_number_info (default
	// 1.5 s). The PBX routes by its own rules when the answer is late, so
	// keep it well under the platform's timeout, which is not published.
	RouteTimeout time.Duration
	// ResolveEnded makes the webhook ask call_info about every "end"
	// notification before calling the event handler, to fill Outcome,
	// StartedAt, CallDuration and HasRecording, and AnsweredAt and
	// TalkDuration when call_info's session_log shows the answer (see the
	// package documentation). It costs one API request per call (call_info
	// is rate-limited: about 100 requests, period unpublished) and up to
	// ResolveTimeout of the PBX's wait. Off by default: the Outcome of
	// CallEnded is then OutcomeUnknown (a call journal derives it from the
	// call's connected and disconnected events), and New logs a warning
	// saying so.
	ResolveEnded bool
	// HistoryPoll is the first wait between download_call_history attempts
	// in History (default 10 s); it doubles after each "not ready" answer
	// up to 2 minutes. A history_file_completed notification for the order
	// ends the wait at once.
	HistoryPoll time.Duration
	// HistoryMaxWait bounds how long History waits for the file (default 30
	// minutes); the context may end it sooner.
	HistoryMaxWait time.Duration
	// Timeout is the overall limit of one API operation (call_back,
	// call_info, users_info, ...: every attempt, the waits between retries
	// and reading the answer) when ctx has no earlier deadline, so a server
	// that holds a half-sent answer cannot block a call forever. Downloads
	// (a recording, a call-log file) are bounded by idleness instead: they
	// fail after Timeout without a byte, and a long download that keeps
	// receiving is never cut. Default DefaultTimeout (30 s); negative: no limit but the
	// context's.
	Timeout time.Duration
}

// Client is a configured Rostelecom domain: it calls the Integration API and
// serves the PBX's notifications. It is safe for concurrent use.
//
// Client implements pbx.Provider, pbx.Caller, pbx.RecordingFetcher,
// pbx.SubscriberLister and pbx.HistoryExporter.
type Client struct {
	// cfg is a pointer so that printing a Client value with fmt (which
	// bypasses the methods of unexported fields) shows an address, never
	// the sign key.
	cfg   *Config
	base  string
	hc    *provider.Client
	log   *slog.Logger
	hooks *provider.WebhookLog

	// ordersMu guards orders: history orders a History call waits for,
	// and orders the PBX reported complete before anyone waited.
	ordersMu sync.Mutex
	orders   map[string]chan struct{}
}

var (
	_ pbx.Provider         = (*Client)(nil)
	_ pbx.Caller           = (*Client)(nil)
	_ pbx.RecordingFetcher = (*Client)(nil)
	_ pbx.SubscriberLister = (*Client)(nil)
	_ pbx.HistoryExporter  = (*Client)(nil)
)

// New checks cfg, fills its defaults and returns a Client. Its errors never
// contain the sign key, nor quote BaseURL (it might carry credentials).
//
// Unless cfg.ResolveEnded is on, New logs one Warn to cfg.Logger (or
// slog.Default() when nil) saying that end notifications carry no outcome.
func New(cfg Config) (*Client, error) {
	for _, f := range []struct{ name, value, what string }{
		{"ClientID", cfg.ClientID, "the «Уникальный код идентификации» from the domain's API settings"},
		{"SignKey", cfg.SignKey, "the «Уникальный ключ для подписи» from the domain's API settings"},
		{"Domain", cfg.Domain, `the PBX domain, such as "example.20.rt.ru"`},
	} {
		if f.value == "" {
			return nil, fmt.Errorf("rostelecom: Config.%s is empty: want %s", f.name, f.what)
		}
		if strings.TrimSpace(f.value) != f.value {
			return nil, fmt.Errorf("rostelecom: Config.%s has leading or trailing space (signatures use it exactly; check the copy)", f.name)
		}
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if err := checkBaseURL(cfg.BaseURL); err != nil {
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
	hc := provider.NewClient(provider.Options{
		Provider:   Name,
		HTTPClient: cfg.HTTPClient,
		Logger:     cfg.Logger,
		OnRetry:    cfg.OnRetry,
		Timeout:    cfg.Timeout,
	})
	c := &Client{
		cfg:    &cfg,
		base:   strings.TrimRight(cfg.BaseURL, "/"),
		hc:     hc,
		log:    hc.Logger(),
		hooks:  provider.NewWebhookLog(cfg.Logger, Name),
		orders: make(map[string]chan struct{}),
	}
	if !cfg.ResolveEnded {
		warn := cfg.Logger
		if warn == nil {
			warn = slog.Default()
		}
		warn.LogAttrs(context.Background(), slog.LevelWarn,
			"rostelecom: end notifications carry no outcome; the journal derives it from the call's legs, or set Config.ResolveEnded",
			slog.String("domain", cfg.Domain))
	}
	return c, nil
}

// checkBaseURL accepts an absolute http(s) URL with a host, without user
// info, query or fragment. Its errors never quote the URL: it might carry
// credentials.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("rostelecom: Config.BaseURL is not a valid URL")
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "":
		return errors.New("rostelecom: Config.BaseURL must be an absolute http or https URL, such as " + DefaultBaseURL)
	case u.User != nil:
		return errors.New("rostelecom: Config.BaseURL must not carry user info (the API authenticates with ClientID and SignKey)")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return errors.New("rostelecom: Config.BaseURL must not carry a query or fragment (the method name is appended to its path)")
	}
	return nil
}

// Name returns "rostelecom".
func (c *Client) Name() string { return Name }

// Domain returns the configured PBX domain.
func (c *Client) Domain() string { return c.cfg.Domain }

// Location returns the zone the client reads the PBX's local times in.
func (c *Client) Location() *time.Location { return c.cfg.Location }

// Envelope is the part every API answer shares.
type Envelope struct {
	// Result is "0" on success and a vendor error code otherwise. The PBX
	// sends it as a string or a number; both decode.
	Result provider.String `json:"result"`
	// ResultMessage is the vendor's text (Russian). Never branch on it.
	ResultMessage string `json:"resultMessage"`
}

// OK reports whether Result is 0.
func (e *Envelope) OK() bool {
	n, err := provider.ParseInt(string(e.Result))
	return err == nil && n == 0 && strings.TrimSpace(string(e.Result)) != ""
}

// post signs and sends body to the API method op and returns the response;
// the caller closes it. stream marks a file download: Config.Timeout then
// bounds the silence rather than the whole operation.
func (c *Client) post(ctx context.Context, op string, policy provider.Policy, body []byte, stream bool) (*http.Response, error) {
	return c.hc.Do(ctx, provider.Request{
		Stream:    stream,
		Operation: op,
		Policy:    policy,
		Method:    http.MethodPost,
		URL:       c.base + "/" + op,
		Header: http.Header{
			"Content-Type":  {"application/json"},
			"X-Client-Id":   {c.cfg.ClientID},
			"X-Client-Sign": {Sign(c.cfg.ClientID, body, c.cfg.SignKey)},
		},
		Body: body,
	})
}

// call marshals in once, signs and sends those bytes to the API method op,
// and decodes the answer into out. A non-zero result, a non-2xx status or a
// body that is not the expected JSON give an *provider.APIError.
func (c *Client) call(ctx context.Context, op string, policy provider.Policy, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("rostelecom: %s: encoding the request: %w", op, err)
	}
	resp, err := c.post(ctx, op, policy, body, false)
	if err != nil {
		return err
	}
	b, err := provider.ReadResponse(Name, op, resp, maxResponse)
	if err != nil {
		return err
	}
	return decodeAnswer(op, resp, b, out)
}

// decodeAnswer turns the API answer resp, whose body is b, into out (a
// pointer to a struct that embeds Envelope) or an *provider.APIError. Every
// APIError it builds carries the wait a 429 or 503 asked for in
// Retry-After.
func decodeAnswer(op string, resp *http.Response, b []byte, out any) error {
	status := resp.StatusCode
	var env Envelope
	envErr := json.Unmarshal(b, &env)
	if status < 200 || status > 299 {
		return statusError(op, resp, b, &env, envErr == nil)
	}
	apiErr := func(code, msg, body string) *provider.APIError {
		return &provider.APIError{Provider: Name, Operation: op, StatusCode: status,
			Code: code, Message: msg, Body: body, RetryAfter: provider.RetryAfter(resp)}
	}
	if envErr != nil {
		return apiErr("", "answer is not the expected JSON", provider.Excerpt(b))
	}
	// result comes as "0" or 0 (the sources conflict; provider.String takes
	// both). Every known answer carries it, so its absence is an error
	// rather than a success (a reading, not documented).
	if strings.TrimSpace(string(env.Result)) == "" {
		return apiErr("", "answer has no result", provider.Excerpt(b))
	}
	// Any non-zero result is a refusal, including the test host's "1"
	// with a success text; never branch on the text.
	if !env.OK() {
		return apiErr(strings.TrimSpace(string(env.Result)), env.ResultMessage, "")
	}
	if err := json.Unmarshal(b, out); err != nil {
		return apiErr("", "unexpected answer: "+err.Error(), provider.Excerpt(b))
	}
	return nil
}

// statusError is the *provider.APIError for a non-2xx answer, with the
// vendor's code and text when the body is the usual JSON envelope, and the
// wait a 429 or 503 asked for in Retry-After.
func statusError(op string, resp *http.Response, b []byte, env *Envelope, isJSON bool) *provider.APIError {
	status := resp.StatusCode
	e := &provider.APIError{Provider: Name, Operation: op, StatusCode: status, Body: provider.Excerpt(b),
		RetryAfter: provider.RetryAfter(resp)}
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		// A rejected ID, signature or IP address (the whitelist); the
		// status the PBX uses is not documented.
		e.Err = provider.ErrUnauthorized
	}
	if isJSON {
		e.Code = strings.TrimSpace(string(env.Result))
		e.Message = env.ResultMessage
	}
	return e
}

// errNotReady builds the *provider.APIError for something the PBX has not
// prepared yet; errors.Is(err, pbx.ErrNotReady) matches it.
func errNotReady(op string, status int, msg string, body []byte) *provider.APIError {
	return &provider.APIError{Provider: Name, Operation: op, StatusCode: status,
		Message: msg, Body: provider.Excerpt(body), Err: pbx.ErrNotReady}
}

// errBadRequest is the error for a request the client refuses to send.
func errBadRequest(op, problem string) error {
	return fmt.Errorf("rostelecom: %s: %s", op, problem)
}

// redacted stands for a secret in printed values: "xxxxx" when it is set,
// `""` when it is empty (so a missing credential still shows).
func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "xxxxx"
}

// String describes c with ClientID and SignKey redacted and BaseURL reduced
// to scheme://host/path, so printing a Config never shows a credential.
func (c Config) String() string {
	return fmt.Sprintf("rostelecom.Config{ClientID:%s SignKey:%s Domain:%q BaseURL:%q ResolveEnded:%t RouteTimeout:%v Timeout:%v}",
		redacted(c.ClientID), redacted(c.SignKey), c.Domain, redactBaseURL(c.BaseURL), c.ResolveEnded, c.RouteTimeout, c.Timeout)
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

// Format writes String for every verb (GoString for %#v), so that no verb
// (%d and %x included) prints the fields themselves.
func (c Config) Format(f fmt.State, verb rune) { formatRedacted(f, verb, c.String()) }

// LogValue makes a Config one slog group with its secrets redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("client_id", redacted(c.ClientID)),
		slog.String("sign_key", redacted(c.SignKey)),
		slog.String("domain", c.Domain),
		slog.String("base_url", redactBaseURL(c.BaseURL)),
		slog.Bool("resolve_ended", c.ResolveEnded),
		slog.Duration("route_timeout", c.RouteTimeout),
		slog.Duration("timeout", c.Timeout),
	)
}

// redactBaseURL is BaseURL without user info, query or fragment; "" stays
// "".
func redactBaseURL(s string) string {
	if s == "" {
		return ""
	}
	return provider.RedactURL(s)
}

// formatRedacted writes s for any verb: %q quotes it, everything else
// writes it as is.
func formatRedacted(f fmt.State, verb rune, s string) {
	if verb == 'q' {
		s = strconv.Quote(s)
	}
	_, _ = io.WriteString(f, s)
}

// String describes the client by its domain and API base, without
// credentials.
func (c *Client) String() string {
	if c == nil || c.cfg == nil {
		return "rostelecom.Client(nil)"
	}
	return fmt.Sprintf("rostelecom.Client{Domain:%q BaseURL:%q}", c.cfg.Domain, c.base)
}

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// Format writes String for every verb, so no verb prints the client's
// fields (and its sign key).
func (c *Client) Format(f fmt.State, verb rune) { formatRedacted(f, verb, c.String()) }

// LogValue makes a Client one slog group without credentials.
func (c *Client) LogValue() slog.Value {
	if c == nil || c.cfg == nil {
		return slog.StringValue("rostelecom.Client(nil)")
	}
	return slog.GroupValue(
		slog.String("provider", Name),
		slog.String("domain", c.cfg.Domain),
		slog.String("base_url", c.base),
	)
}
