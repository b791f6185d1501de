package megafon

import (
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

	"github.com/pbxkit/pbxkit/provider"
)

// Name is the provider's registry name and DSN scheme.
const Name = "megafon"

// APIPath is the path of the CRM REST API on the PBX's host:
// https://DOMAIN.megapbx.ru/crmapi/v1.
const APIPath = "/crmapi/v1"

// DomainSuffix is appended to a Config.Domain written without a dot
// ("vats123" is vats123.megapbx.ru).
const DomainSuffix = ".megapbx.ru"

// DefaultRouteTimeout bounds the router's answer to a contact question when
// Config.RouteTimeout is zero. MegaFon documents no timeout of its own; the
// caller hears ringing meanwhile.
const DefaultRouteTimeout = 2 * time.Second

// maxAnswer caps an API answer read into memory (the employee list, an
// error); call-log exports are streamed instead.
const maxAnswer = 4 << 20

// Config configures a Client.
type Config struct {
	// APIKey is the key of the PBX's CRM REST API («Ключ для авторизации»
	// of the cabinet's API settings), sent as the X-API-KEY header of every
	// API request and recording download. Needed by the API methods only.
	APIKey string
	// CRMToken is the secret the PBX puts into every notification it sends
	// to the CRM URL (crm_token; the cabinet's key for the CRM). Without it
	// every notification is rejected.
	CRMToken string
	// Domain is the PBX's host, "vats123.megapbx.ru" ("vats123" alone gets
	// DomainSuffix): the API root is then https://DOMAIN/crmapi/v1. Needed
	// by the API methods unless BaseURL is set.
	Domain string
	// BaseURL, when set, is the whole API root instead of the one Domain
	// gives ("https://vats123.megapbx.ru/crmapi/v1", or a fake's URL in
	// tests).
	BaseURL string
	// Location is the zone of every time the package returns; default
	// provider.DefaultLocation() (Europe/Moscow). MegaFon writes its times
	// in UTC, so Location changes no instant, only how it is shown.
	Location *time.Location
	// HTTPClient sends the API requests; default provider.DefaultHTTPClient().
	// It is used as given, except that redirects are never followed.
	HTTPClient *http.Client
	// Logger receives the debug journal of API and webhook requests, the
	// errors of event handlers, and the warnings an operator must see:
	// rejected notifications (rate-limited) and a missing CRMToken. Default:
	// the journal is silent and those warnings go to slog.Default().
	Logger *slog.Logger
	// RouteTimeout bounds a contact (routing) question; default
	// DefaultRouteTimeout.
	RouteTimeout time.Duration
	// Timeout bounds one API operation (connecting, sending, retrying and
	// reading the whole answer; for a recording, the silence between its
	// bytes) when its context has no earlier deadline; zero means
	// provider.DefaultTimeout (30 s), a negative value no limit but the
	// context's.
	Timeout time.Duration
}

// String describes c with its secrets redacted, so printing a Config (with
// %v, %+v or %s) never shows them.
func (c Config) String() string {
	return fmt.Sprintf("megafon.Config{APIKey:%s CRMToken:%s Domain:%q BaseURL:%q RouteTimeout:%v Timeout:%v}",
		redacted(c.APIKey), redacted(c.CRMToken), c.Domain, provider.RedactURL(c.BaseURL), c.RouteTimeout, c.Timeout)
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

// Format prints c as String does under every verb, so that not even %d or
// %x shows a secret field.
func (c Config) Format(f fmt.State, verb rune) { format(f, verb, c.String()) }

// MarshalJSON writes c with its secrets redacted, so a Config inside a value
// that is logged as JSON does not show them either. (Config is not meant to
// be stored as JSON; unmarshalling is not affected.)
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		APIKey       string `json:"api_key"`
		CRMToken     string `json:"crm_token"`
		Domain       string `json:"domain"`
		BaseURL      string `json:"base_url"`
		RouteTimeout string `json:"route_timeout"`
		Timeout      string `json:"timeout"`
	}{redacted(c.APIKey), redacted(c.CRMToken), c.Domain, provider.RedactURL(c.BaseURL), c.RouteTimeout.String(), c.Timeout.String()})
}

// LogValue makes a Config logged through slog show its settings with the
// secrets redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("api_key", redacted(c.APIKey)),
		slog.String("crm_token", redacted(c.CRMToken)),
		slog.String("domain", c.Domain),
		slog.String("base_url", provider.RedactURL(c.BaseURL)),
		slog.Duration("route_timeout", c.RouteTimeout),
		slog.Duration("timeout", c.Timeout),
	)
}

// format writes s for any verb; %q quotes it.
func format(f fmt.State, verb rune, s string) {
	if verb == 'q' {
		s = strconv.Quote(s)
	}
	_, _ = io.WriteString(f, s)
}

// redacted stands in for a secret: "xxxxx" when it is set, `""` when not.
func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "xxxxx"
}

// Client is one MegaFon virtual PBX: it places calls (pbx.Caller), lists
// the employees (pbx.SubscriberLister), exports the call log
// (pbx.HistoryExporter), streams recordings (pbx.RecordingFetcher) and
// serves the notifications the PBX sends (pbx.Provider). It is safe for
// concurrent use.
type Client struct {
	cfg     Config
	api     *provider.Client
	logger  *slog.Logger
	hooks   *provider.WebhookLog // one per Client: its rate limit is per provider instance
	base    string               // the API root, "" when neither Domain nor BaseURL was given
	apiHost string               // the API root's host, for recording downloads
	https   bool                 // whether the API root is https
}

// errConfig is New's error for an unusable address; it quotes no value.
var errConfig = errors.New("megafon: Config.BaseURL must be an absolute http or https URL without user info, and Config.Domain a host name such as vats123.megapbx.ru")

// New returns a Client for cfg. It fails only for an unusable Domain or
// BaseURL.
//
// A Config without CRMToken is valid (a program that only uses the API),
// but its WebhookHandler rejects every notification: New then logs one
// warning saying so to cfg.Logger, or to slog.Default() when cfg.Logger is
// nil. A Config without Domain and BaseURL is valid too (a program that
// only receives notifications): its API methods then fail with an error
// saying so.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" && cfg.Domain != "" {
		host := strings.TrimSpace(cfg.Domain)
		if !validHost(host) {
			return nil, errConfig
		}
		if !strings.Contains(host, ".") {
			host += DomainSuffix
		}
		cfg.BaseURL = "https://" + host + APIPath
	}
	c := &Client{}
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			// The URL is not quoted: it might carry credentials.
			return nil, errConfig
		}
		u.RawQuery, u.Fragment = "", ""
		cfg.BaseURL = strings.TrimRight(u.String(), "/")
		c.base, c.apiHost, c.https = cfg.BaseURL, strings.ToLower(u.Host), u.Scheme == "https"
	}
	if cfg.Location == nil {
		cfg.Location = provider.DefaultLocation()
	}
	if cfg.RouteTimeout <= 0 {
		cfg.RouteTimeout = DefaultRouteTimeout
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = provider.DefaultTimeout
	}
	c.cfg = cfg
	c.api = provider.NewClient(provider.Options{
		Provider: Name, HTTPClient: cfg.HTTPClient, Logger: cfg.Logger, Timeout: cfg.Timeout,
	})
	c.logger = c.api.Logger()
	// cfg.Logger, not c.logger: with no logger the rejections still reach
	// slog.Default().
	c.hooks = provider.NewWebhookLog(cfg.Logger, Name)
	if cfg.CRMToken == "" {
		warn := cfg.Logger
		if warn == nil {
			warn = slog.Default()
		}
		warn.LogAttrs(context.Background(), slog.LevelWarn,
			"megafon: Config.CRMToken is empty: every notification the PBX sends will be rejected (401); "+
				"set it to the CRM key of the PBX's integration settings unless this client only uses the API",
			slog.String("provider", Name))
	}
	return c, nil
}

// validHost reports whether s is a host name, optionally with a port.
func validHost(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == ':') {
			return false
		}
	}
	return s[0] != '.' && s[0] != '-' && s[0] != ':'
}

// Name returns "megafon".
func (c *Client) Name() string { return Name }

// String describes the client without its secrets (for %v, %+v and %s).
func (c *Client) String() string {
	if c == nil {
		return "megafon.Client(nil)"
	}
	return "megafon.Client{BaseURL:" + c.base + "}"
}

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// Format prints c as String does under every verb.
func (c *Client) Format(f fmt.State, verb rune) { format(f, verb, c.String()) }

// LogValue makes a Client logged through slog show its provider and API
// root, never its secrets.
func (c *Client) LogValue() slog.Value {
	if c == nil {
		return slog.StringValue("megafon.Client(nil)")
	}
	return slog.GroupValue(slog.String("provider", Name), slog.String("base_url", c.base))
}

// BaseURL returns the API root the client calls ("" when it has none).
func (c *Client) BaseURL() string { return c.base }

// Location returns the zone of the times the client returns.
func (c *Client) Location() *time.Location { return c.cfg.Location }

// ready reports why the API cannot be used, or nil.
func (c *Client) ready(op string) error {
	switch {
	case c.base == "":
		return errors.New("megafon: " + op + ": no API address: set Config.Domain (or BaseURL)")
	case c.cfg.APIKey == "":
		return errors.New("megafon: " + op + ": Config.APIKey is empty")
	}
	return nil
}

// send sends one API request with the API key (see sign.go) under policy
// and returns the response, whatever its status.
func (c *Client) send(ctx context.Context, op, method, rawURL string, policy provider.Policy, body []byte, stream bool) (*http.Response, error) {
	if err := c.ready(op); err != nil {
		return nil, err
	}
	h := http.Header{}
	c.signRequest(h)
	if body != nil {
		h.Set("Content-Type", "application/json")
	}
	h.Set("Accept", "application/json")
	return c.api.Do(ctx, provider.Request{
		Operation: op, Policy: policy, Method: method, URL: rawURL, Header: h, Body: body, Stream: stream,
	})
}

// call sends a request whose answer is a small JSON value, reads it and
// turns a rejection into an error.
func (c *Client) call(ctx context.Context, op, method, rawURL string, policy provider.Policy, body []byte) ([]byte, error) {
	resp, err := c.send(ctx, op, method, rawURL, policy, body, false)
	if err != nil {
		return nil, err
	}
	b, err := provider.ReadResponse(Name, op, resp, maxAnswer)
	if err != nil {
		return nil, err
	}
	if e := answerError(op, resp, b); e != nil {
		return nil, e
	}
	return b, nil
}

// answerError returns the *provider.APIError of an API answer, or nil for
// a success: a 4xx/5xx, or a 2xx that is an HTML page (a wrong domain
// reaching a portal) or whose JSON object reports an error (an "error",
// "errors" or a lone "message" member; some engines of the family answer
// 200 with one). The vendor's text becomes Message: {"message":"..."} (the
// public MegaFon client's error model), {"error":"..."} (the family's),
// "errors" as a string, a list or objects. A 401 or 403, or a text naming
// the key as the problem, also matches provider.ErrUnauthorized.
func answerError(op string, resp *http.Response, b []byte) *provider.APIError {
	ok := resp.StatusCode >= 200 && resp.StatusCode <= 299
	text, failed := errorMessage(b, ok)
	if ok && !failed {
		return nil
	}
	e := &provider.APIError{
		Provider: Name, Operation: op, StatusCode: resp.StatusCode,
		Message: text, Body: provider.Excerpt(b), RetryAfter: provider.RetryAfter(resp),
	}
	if looksLikeAuthError(text) {
		e.Err = provider.ErrUnauthorized
	}
	if e.Message == "" && ok {
		e.Message = "unexpected answer"
	}
	return e
}

// errorMessage reads the error text of an answer body and whether a 2xx
// body (ok) nevertheless reports a failure.
func errorMessage(b []byte, ok bool) (string, bool) {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return "", false
	case b[0] == '<':
		return "unexpected HTML answer (is the domain right?)", true
	case b[0] != '{':
		if ok {
			return "", false // a JSON array, a number: an answer, not an error
		}
		return provider.Excerpt(b), false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return provider.Excerpt(b), false
	}
	errText := joinNonEmpty(errorText(m["error"]), errorText(m["errors"]))
	msg := errorText(m["message"])
	switch {
	case errText != "":
		return provider.Excerpt([]byte(errText)), true
	case msg != "" && len(m) == 1:
		// {"message":"..."} alone is the error model; a message beside
		// data is not.
		return provider.Excerpt([]byte(msg)), true
	}
	return provider.Excerpt([]byte(msg)), false
}

// errorText flattens an error value: a string, a number, a list of them,
// or an object with a message/error/text/description; false, null and 0
// mean none.
func errorText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '[':
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil {
			return ""
		}
		parts := make([]string, 0, len(list))
		for _, item := range list {
			parts = append(parts, errorText(item))
		}
		return joinNonEmpty(parts...)
	case '{':
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			return ""
		}
		for _, k := range [...]string{"message", "error", "text", "description", "detail"} {
			if s := errorText(m[k]); s != "" {
				return s
			}
		}
		var buf bytes.Buffer
		if json.Compact(&buf, raw) != nil {
			return ""
		}
		return provider.Excerpt(buf.Bytes())
	case 'f', 'n': // false, null: no error
		return ""
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return strings.TrimSpace(s)
	}
	if s := strings.TrimSpace(string(raw)); s != "0" && s != "true" {
		return s
	}
	return ""
}

func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}

// looksLikeAuthError reports whether a vendor text rejects the key. The
// family answers a bad key with a 401, but one deployment answered
// "Empty token" in another status, so the text is checked too.
func looksLikeAuthError(text string) bool {
	t := strings.ToLower(text)
	for _, w := range [...]string{"token", "api key", "api-key", "apikey", "x-api-key", "unauthorized", "unauthorised", "токен", "ключ", "авториз"} {
		if strings.Contains(t, w) {
			return true
		}
	}
	return false
}
