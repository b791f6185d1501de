package sipuni

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-querystring/query"

	"github.com/pbxkit/pbxkit/pbx"
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
	HTTPClient *http.Client
	// Logger receives the debug journal of API and webhook requests and
	// warnings; default silent.
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
}

// Client is a Sipuni account: API methods and the webhook handler. It
// implements pbx.Provider, pbx.Caller, pbx.RecordingFetcher,
// pbx.SubscriberLister and pbx.HistoryExporter, and is safe for concurrent
// use.
type Client struct {
	cfg    Config
	base   string
	loc    *time.Location
	http   *provider.Client
	logger *slog.Logger
}

var (
	_ pbx.Provider         = (*Client)(nil)
	_ pbx.Caller           = (*Client)(nil)
	_ pbx.RecordingFetcher = (*Client)(nil)
	_ pbx.SubscriberLister = (*Client)(nil)
	_ pbx.HistoryExporter  = (*Client)(nil)
)

// New validates cfg and returns a Client. Its errors never contain the
// secret, the webhook token or the webhook password.
//
// When neither WebhookToken nor WebhookUser is set, New logs a warning: Sipuni
// signs nothing, so anybody who learns the webhook URL can then feed it
// events.
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
		http:   provider.NewClient(provider.Options{Provider: Name, HTTPClient: cfg.HTTPClient, Logger: cfg.Logger}),
	}
	if cfg.WebhookToken == "" && cfg.WebhookUser == "" {
		logger.Warn("sipuni: webhook requests are not authenticated: set a webhook token or basic auth, because Sipuni signs nothing",
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
// ErrUnauthorized; any other non-2xx status is an APIError with an excerpt.
// head is the start of the body (or all of it).
func classify(op string, status int, head []byte) *provider.APIError {
	switch {
	case bytes.Contains(head, []byte(badHash)):
		return &provider.APIError{Provider: Name, Operation: op, StatusCode: status, Message: badHash, Err: provider.ErrUnauthorized}
	case looksHTML(head):
		return &provider.APIError{Provider: Name, Operation: op, StatusCode: status,
			Message: "HTML page instead of an API answer (Sipuni's answer to a rejected account or hash)",
			Body:    provider.Excerpt(head), Err: provider.ErrUnauthorized}
	case status < 200 || status > 299:
		return &provider.APIError{Provider: Name, Operation: op, StatusCode: status, Body: provider.Excerpt(head)}
	}
	return nil
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

// CallResponse is Sipuni's answer to a call-control method.
type CallResponse struct {
	// ID is the "id" Sipuni returns for an accepted order (a callback
	// order id, when sent). It is not the call_id of the events that follow.
	ID string `json:"id,omitempty"`
	// CallID is the "callId" field, when sent.
	CallID string `json:"callId,omitempty"`
	// Message is the "message" (or "msg") text, when sent.
	Message string `json:"message,omitempty"`
}

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
	if e := classify(method, resp.StatusCode, b); e != nil {
		return CallResponse{}, e
	}
	return decodeAnswer(method, resp.StatusCode, b)
}

func decodeAnswer(method string, status int, b []byte) (CallResponse, error) {
	t := bytes.TrimSpace(bytes.TrimPrefix(b, utf8BOM))
	// One client treats a bare "1" as success.
	if string(t) == "1" || string(t) == "true" {
		return CallResponse{}, nil
	}
	var a apiAnswer
	if err := json.Unmarshal(t, &a); err != nil {
		return CallResponse{}, &provider.APIError{Provider: Name, Operation: method, StatusCode: status,
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
		return CallResponse{}, &provider.APIError{Provider: Name, Operation: method, StatusCode: status, Message: msg, Body: provider.Excerpt(b)}
	}
	return CallResponse{ID: string(a.ID), CallID: string(a.CallID), Message: msg}, nil
}
