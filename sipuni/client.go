package sipuni

import (
	"bufio"
	"bytes"
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
	"time"

	"github.com/google/go-querystring/query"

	"github.com/pbxkit/pbxkit/provider"
)

// Name is the provider's registry name and the CallEvent.Provider of its
// events.
const Name = "sipuni"

// DefaultBaseURL is where the Sipuni API lives.
const DefaultBaseURL = "https://sipuni.com/api/"

// DefaultRouteTimeout bounds the router's answer to a routing-node question
// when Config.RouteTimeout is zero. Sipuni's own timeout is not documented;
// integrators answer well within a second or two.
const DefaultRouteTimeout = time.Second

// maxAnswerSize caps the JSON answers of the call-control methods.
const maxAnswerSize = 64 << 10

// Config configures a Client.
type Config struct {
	// Account is the 6-digit account number (номер кабинета), a string
	// with its leading zeros: "012345". Never a number.
	Account string
	// Secret is the integration key (ключ интеграции) that signs API
	// requests.
	Secret string
	// BaseURL is the API root; default DefaultBaseURL. Point it at a
	// sipunitest.Server in tests.
	BaseURL string
	// Location is the zone of the statistics' local times (the zone set in
	// the account's call schemes); default Europe/Moscow.
	Location *time.Location
	// HTTPClient sends the API requests; default provider.DefaultHTTPClient.
	// Redirects are never followed, with your client too (it is used, not
	// changed): a 3xx answer is a *provider.RedirectError naming the host
	// it pointed to. Leave its Timeout zero: it would also cut recording
	// downloads, which Timeout bounds by idleness only.
	HTTPClient *http.Client
	// Logger receives the debug journal of API and webhook requests and
	// the warnings: webhook requests rejected for their token or basic
	// auth (rate-limited), and New's warning about a webhook without
	// authentication. Default: the journal is silent and the warnings go to
	// slog.Default().
	Logger *slog.Logger
	// WebhookToken, when set, must arrive as the "token" query parameter of
	// every webhook request: put it into the URL you give Sipuni
	// (https://crm.example/sipuni?token=...).
	WebhookToken string
	// WebhookUser and WebhookPassword, when set, must arrive as HTTP basic
	// auth: put them into the URL you give Sipuni
	// (https://user:password@crm.example/sipuni).
	WebhookUser, WebhookPassword string
	// RouteTimeout bounds the router's answer to a routing-node question;
	// default DefaultRouteTimeout.
	RouteTimeout time.Duration
	// Timeout bounds one API operation, all its attempts and waits
	// included, when ctx has no earlier deadline; default DefaultTimeout.
	// A recording download is not cut by it: Record and FetchRecording
	// fail only when Timeout passes without a byte arriving, so a long
	// download of a big file goes on. A negative Timeout means no limit but
	// ctx's.
	Timeout time.Duration
}

// DefaultTimeout is Config.Timeout when it is zero.
const DefaultTimeout = 30 * time.Second

// redacted stands for a secret in the printed forms of Config and Client.
const redacted = "[redacted]"

// hide returns redacted for a set secret and "" for an empty one, so that a
// missing secret still shows.
func hide(secret string) string {
	if secret == "" {
		return ""
	}
	return redacted
}

// attrs lists the fields of c that may be shown: the secrets only as
// redacted, the base URL without credentials or query.
func (c Config) attrs() []slog.Attr {
	loc := "Europe/Moscow (default)"
	if c.Location != nil {
		loc = c.Location.String()
	}
	return []slog.Attr{
		slog.String("Account", c.Account),
		slog.String("Secret", hide(c.Secret)),
		slog.String("BaseURL", provider.RedactURL(c.BaseURL)),
		slog.String("Location", loc),
		slog.Bool("HTTPClient", c.HTTPClient != nil),
		slog.Bool("Logger", c.Logger != nil),
		slog.String("WebhookToken", hide(c.WebhookToken)),
		slog.String("WebhookUser", hide(c.WebhookUser)),
		slog.String("WebhookPassword", hide(c.WebhookPassword)),
		slog.Duration("RouteTimeout", c.RouteTimeout),
		slog.Duration("Timeout", c.Timeout),
	}
}

// format writes attrs as name{Key:value ...}, strings quoted.
func format(name string, attrs []slog.Attr) string {
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i, a := range attrs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.Key)
		b.WriteByte(':')
		if a.Value.Kind() == slog.KindString {
			b.WriteString(strconv.Quote(a.Value.String()))
		} else {
			b.WriteString(a.Value.String())
		}
	}
	b.WriteByte('}')
	return b.String()
}

// String describes c with its secrets (Secret, WebhookToken, WebhookUser,
// WebhookPassword) redacted, so that printing a Config with %v, %+v or %s
// shows no secret.
func (c Config) String() string { return format("sipuni.Config", c.attrs()) }

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

// LogValue makes c a slog group with its secrets redacted.
func (c Config) LogValue() slog.Value { return slog.GroupValue(c.attrs()...) }

// Client is a Sipuni account: API methods and the webhook handler. It
// implements pbx.Provider, pbx.Caller, pbx.RecordingFetcher,
// pbx.SubscriberLister and pbx.HistoryExporter, and is safe for concurrent
// use.
type Client struct {
	cfg     Config
	base    string
	loc     *time.Location
	http    *provider.Client
	logger  *slog.Logger
	hookLog *provider.WebhookLog
}

func (c Client) attrs() []slog.Attr {
	auth := "none"
	switch {
	case c.cfg.WebhookToken != "" && c.cfg.WebhookUser != "":
		auth = "token and basic auth"
	case c.cfg.WebhookToken != "":
		auth = "token"
	case c.cfg.WebhookUser != "":
		auth = "basic auth"
	}
	loc := ""
	if c.loc != nil {
		loc = c.loc.String()
	}
	return []slog.Attr{
		slog.String("Account", c.cfg.Account),
		slog.String("BaseURL", provider.RedactURL(c.base)),
		slog.String("Location", loc),
		slog.String("WebhookAuth", auth),
	}
}

// String describes the client (account, API root, zone, webhook
// authentication) without any secret, for %v, %+v and %s. It has a value
// receiver so that printing a Client value, not only a pointer, cannot show
// the configuration's fields either.
func (c Client) String() string { return format("sipuni.Client", c.attrs()) }

// GoString is String, for %#v.
func (c Client) GoString() string { return c.String() }

// LogValue makes the client a slog group without any secret.
func (c Client) LogValue() slog.Value { return slog.GroupValue(c.attrs()...) }

// New validates cfg and returns a Client. Its errors never contain the
// secret, the webhook token or the webhook password.
//
// When neither WebhookToken nor WebhookUser is set, New logs a warning (to
// Config.Logger, else slog.Default()): Sipuni signs nothing, so anybody who
// learns the webhook URL can then feed it events.
func New(cfg Config) (*Client, error) {
	if !validAccount(cfg.Account) {
		return nil, errors.New("sipuni: Config.Account must be the 6-digit account number as a string, such as \"012345\"")
	}
	if cfg.Secret == "" {
		return nil, errors.New("sipuni: Config.Secret (the integration key) is empty")
	}
	if (cfg.WebhookUser == "") != (cfg.WebhookPassword == "") {
		return nil, errors.New("sipuni: Config.WebhookUser and Config.WebhookPassword must be set together")
	}
	if cfg.RouteTimeout < 0 {
		return nil, errors.New("sipuni: Config.RouteTimeout is negative")
	}
	if cfg.RouteTimeout == 0 {
		cfg.RouteTimeout = DefaultRouteTimeout
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" {
		return nil, errors.New("sipuni: Config.BaseURL must be an http or https URL without credentials or query, such as " + DefaultBaseURL)
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	loc := cfg.Location
	if loc == nil {
		loc = provider.DefaultLocation()
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		cfg:    cfg,
		base:   base,
		loc:    loc,
		logger: logger,
		// cfg.Logger, not logger: with no Logger set, the rejections'
		// Warn lines go to slog.Default(), so a wrong token in Sipuni's
		// cabinet is seen.
		hookLog: provider.NewWebhookLog(cfg.Logger, Name),
		http: provider.NewClient(provider.Options{Provider: Name, HTTPClient: cfg.HTTPClient, Logger: cfg.Logger,
			Timeout: cfg.Timeout}),
	}
	if cfg.WebhookToken == "" && cfg.WebhookUser == "" {
		warn := cfg.Logger
		if warn == nil {
			warn = slog.Default() // a misconfiguration is loud
		}
		warn.Warn("sipuni: webhook requests are not authenticated: set a webhook token or basic auth, because Sipuni signs nothing",
			slog.String("provider", Name))
	}
	return c, nil
}

func validAccount(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Name returns "sipuni".
func (c *Client) Name() string { return Name }

// Account returns the account number the client signs with.
func (c *Client) Account() string { return c.cfg.Account }

// Location returns the zone the client reads Sipuni's local times in.
func (c *Client) Location() *time.Location { return c.loc }

var formHeader = http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}

// post signs params (a struct with url tags, or nil) plus "user" and sends
// them to method as a POST form, under policy. The caller closes the
// response body.
func (c *Client) post(ctx context.Context, method string, policy provider.Policy, params any) (*http.Response, error) {
	return c.send(ctx, method, policy, params, false)
}

// send is post; stream marks a download whose body may take long, which
// Config.Timeout then bounds as an idle limit instead of an overall one.
func (c *Client) send(ctx context.Context, method string, policy provider.Policy, params any, stream bool) (*http.Response, error) {
	v := url.Values{}
	if params != nil {
		var err error
		if v, err = query.Values(params); err != nil {
			return nil, fmt.Errorf("sipuni: %s: encoding parameters: %w", method, err)
		}
	}
	v.Set("user", c.cfg.Account)
	v.Set("hash", Sign(v, c.cfg.Secret))
	return c.http.Do(ctx, provider.Request{
		Operation: method,
		Policy:    policy,
		Method:    http.MethodPost,
		URL:       c.base + method,
		Header:    formHeader,
		Body:      []byte(v.Encode()),
		Final:     isHTML,
		Stream:    stream,
	})
}

// isHTML reports whether resp is an HTML page: Sipuni's answer to a bad hash
// or account, usually with HTTP 500, which sending again cannot fix.
func isHTML(resp *http.Response) bool {
	return strings.HasPrefix(strings.ToLower(resp.Header.Get("Content-Type")), "text/html")
}

// badHash is the text of Sipuni's signature rejection.
const badHash = "Неправильный хеш"

// classify turns a rejection into an *provider.APIError: the "Неправильный
// хеш" text or an HTML page (Sipuni's auth failures come back as HTML, often
// with HTTP 500, so they are detected by content, not status) is
// ErrUnauthorized; any other non-2xx status is an APIError with an excerpt,
// and the wait a 429 or 503 asks for in RetryAfter. head is the start of the
// body (or all of it).
func classify(op string, resp *http.Response, head []byte) *provider.APIError {
	status := resp.StatusCode
	var e *provider.APIError
	switch {
	case bytes.Contains(head, []byte(badHash)):
		e = &provider.APIError{Provider: Name, Operation: op, StatusCode: status, Message: badHash, Err: provider.ErrUnauthorized}
	case looksHTML(head):
		e = &provider.APIError{Provider: Name, Operation: op, StatusCode: status,
			Message: "HTML page instead of an API answer (Sipuni's answer to a rejected account or hash)",
			Body:    provider.Excerpt(head), Err: provider.ErrUnauthorized}
	case status < 200 || status > 299:
		e = &provider.APIError{Provider: Name, Operation: op, StatusCode: status, Body: provider.Excerpt(head)}
	default:
		return nil
	}
	e.RetryAfter = provider.RetryAfter(resp)
	return e
}

func looksHTML(b []byte) bool {
	b = bytes.TrimLeft(bytes.TrimPrefix(b, utf8BOM), " \t\r\n")
	if len(b) == 0 || b[0] != '<' {
		return false
	}
	if len(b) > 64 {
		b = b[:64]
	}
	l := bytes.ToLower(b)
	return bytes.HasPrefix(l, []byte("<!doctype html")) || bytes.HasPrefix(l, []byte("<html")) ||
		bytes.HasPrefix(l, []byte("<head")) || bytes.HasPrefix(l, []byte("<body")) ||
		bytes.HasPrefix(l, []byte("<!--")) || bytes.HasPrefix(l, []byte("<h1")) || bytes.HasPrefix(l, []byte("<title"))
}

var utf8BOM = []byte("\uFEFF")

// apiAnswer is the JSON of the call-control methods. No source shows an
// exact error body: clients read "message" or "msg" when success is false,
// and "error" is read too when it is a string.
type apiAnswer struct {
	Success *provider.Bool  `json:"success"`
	ID      provider.String `json:"id"`
	CallID  provider.String `json:"callId"`
	Message provider.String `json:"message"`
	Msg     provider.String `json:"msg"`
	Error   json.RawMessage `json:"error"`
}

// postJSON sends a call-control method and decodes its answer.
func (c *Client) postJSON(ctx context.Context, method string, policy provider.Policy, params any) (CallResponse, error) {
	resp, err := c.post(ctx, method, policy, params)
	if err != nil {
		return CallResponse{}, err
	}
	b, err := provider.ReadResponse(Name, method, resp, maxAnswerSize)
	if err != nil {
		return CallResponse{}, err
	}
	if e := classify(method, resp, b); e != nil {
		return CallResponse{}, e
	}
	return decodeAnswer(method, resp, b)
}

func decodeAnswer(method string, resp *http.Response, b []byte) (CallResponse, error) {
	status, wait := resp.StatusCode, provider.RetryAfter(resp)
	t := bytes.TrimSpace(bytes.TrimPrefix(b, utf8BOM))
	// One client treats a bare "1" as success.
	if string(t) == "1" || string(t) == "true" {
		return CallResponse{}, nil
	}
	var a apiAnswer
	if err := json.Unmarshal(t, &a); err != nil {
		return CallResponse{}, &provider.APIError{Provider: Name, Operation: method, StatusCode: status, RetryAfter: wait,
			Message: "unexpected answer (want JSON with \"success\")", Body: provider.Excerpt(b)}
	}
	msg := string(a.Message)
	if msg == "" {
		msg = string(a.Msg)
	}
	if msg == "" && len(a.Error) > 0 && a.Error[0] == '"' {
		_ = json.Unmarshal(a.Error, &msg)
	}
	if a.Success == nil || !bool(*a.Success) {
		if msg == "" {
			msg = "success is not true"
		}
		return CallResponse{}, &provider.APIError{Provider: Name, Operation: method, StatusCode: status, RetryAfter: wait,
			Message: msg, Body: provider.Excerpt(b)}
	}
	return CallResponse{ID: string(a.ID), CallID: string(a.CallID), Message: msg}, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// peek returns the first n bytes of a response body (fewer when it is
// shorter). When reading them fails otherwise than at the body's end (a body
// that stalled until Config.Timeout, a connection reset) on a 2xx answer, it
// closes the body and returns that failure: what arrived cannot be judged.
// On other statuses the status says enough, and what arrived is returned for
// classify.
func peek(op string, resp *http.Response, br *bufio.Reader, n int) ([]byte, error) {
	head, err := br.Peek(n)
	if err == nil || err == io.EOF || resp.StatusCode < 200 || resp.StatusCode > 299 {
		return head, nil
	}
	resp.Body.Close()
	return nil, fmt.Errorf("sipuni: %s: reading the answer: %w", op, provider.ScrubError(err))
}

// firstLine returns b up to its first line break.
func firstLine(b []byte) []byte {
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		return b[:i]
	}
	return b
}

func orElse(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
