package prostiezvonki

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
	"unicode/utf8"

	"github.com/pbxkit/pbxkit/provider"
)

// Name is the provider's registry name and DSN scheme.
const Name = "prostiezvonki"

// DefaultBaseURL is where the Prostie Zvonki CRM API lives; makecall is
// DefaultBaseURL + "/crmapi/v1/makecall".
const DefaultBaseURL = "https://interaction.prostiezvonki.ru/httpapiinteg"

// DefaultRouteTimeout bounds the router's answer to a smart-transfer
// question when Config.RouteTimeout is zero. Prostie Zvonki documents no
// timeout of its own; the caller hears ringing meanwhile.
const DefaultRouteTimeout = 2 * time.Second

// maxAnswer caps an API answer read into memory.
const maxAnswer = 64 << 10

// Config configures a Client.
type Config struct {
	// APIKey is the "Токен Простых Звонков" from the Prostie Zvonki cabinet,
	// sent as the X-API-KEY header of makecall. Needed only by MakeCall.
	APIKey string
	// CRMToken is the "Токен 1С": the secret Prostie Zvonki puts into every
	// request it sends to the CRM (crm_token). Without it every webhook
	// request is rejected.
	CRMToken string
	// BaseURL is the API root; default DefaultBaseURL. Point it at a fake
	// (prostiezvonkitest.Server.URL(), or its Config()) in tests.
	BaseURL string
	// Location is the zone of the vendor's zone-less times; default
	// provider.DefaultLocation() (Europe/Moscow).
	Location *time.Location
	// HTTPClient sends the API requests; default provider.DefaultHTTPClient().
	// It is used as given, except that redirects are never followed.
	HTTPClient *http.Client
	// Logger receives the debug journal of API and webhook requests, the
	// errors of event handlers, and the warnings an operator must see:
	// rejected notifications (rate-limited) and a missing CRMToken. Default:
	// the journal is silent and those warnings go to slog.Default().
	Logger *slog.Logger
	// RouteTimeout bounds a smart-transfer routing question; default
	// DefaultRouteTimeout.
	RouteTimeout time.Duration
	// Timeout bounds one API operation (MakeCall: connecting, sending and
	// reading the whole answer) when its context has no earlier deadline;
	// zero means provider.DefaultTimeout (30 s), a negative value no limit
	// but the context's.
	Timeout time.Duration
}

// String describes c with its secrets redacted, so printing a Config (with
// %v, %+v or %s) never shows them.
func (c Config) String() string {
	return fmt.Sprintf("prostiezvonki.Config{APIKey:%s CRMToken:%s BaseURL:%q RouteTimeout:%v Timeout:%v}",
		redacted(c.APIKey), redacted(c.CRMToken), provider.RedactURL(c.BaseURL), c.RouteTimeout, c.Timeout)
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

// Format prints c as String does (GoString for %#v) under every verb, so
// that not even %d or %x shows a secret field.
func (c Config) Format(f fmt.State, verb rune) { format(f, verb, c.String()) }

// MarshalJSON writes c with its secrets redacted, so a Config inside a value
// that is logged as JSON does not show them either. (Config is not meant to
// be stored as JSON; unmarshalling is not affected.)
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		APIKey       string `json:"api_key"`
		CRMToken     string `json:"crm_token"`
		BaseURL      string `json:"base_url"`
		RouteTimeout string `json:"route_timeout"`
		Timeout      string `json:"timeout"`
	}{redacted(c.APIKey), redacted(c.CRMToken), provider.RedactURL(c.BaseURL), c.RouteTimeout.String(), c.Timeout.String()})
}

// format writes s for any verb; %q quotes it.
func format(f fmt.State, verb rune, s string) {
	if verb == 'q' {
		s = strconv.Quote(s)
	}
	_, _ = io.WriteString(f, s)
}

// LogValue makes a Config logged through slog show its settings with the
// secrets redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("api_key", redacted(c.APIKey)),
		slog.String("crm_token", redacted(c.CRMToken)),
		slog.String("base_url", provider.RedactURL(c.BaseURL)),
		slog.Duration("route_timeout", c.RouteTimeout),
		slog.Duration("timeout", c.Timeout),
	)
}

// redacted stands in for a secret: "xxxxx" when it is set, `""` when not.
func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "xxxxx"
}

// Client is one Prostie Zvonki account: it places calls (pbx.Caller) and
// serves the notifications Prostie Zvonki sends (pbx.Provider). It is safe
// for concurrent use.
//
// Prostie Zvonki has no recording, employee list or call history API, so a
// Client implements none of pbx.RecordingFetcher, pbx.SubscriberLister and
// pbx.HistoryExporter: recording links arrive with cmd=history.
type Client struct {
	cfg         Config
	api         *provider.Client
	logger      *slog.Logger
	hooks       *provider.WebhookLog // one per Client: its rate limit is per provider instance
	makecallURL string
}

// New returns a Client for cfg. It fails only for an unusable BaseURL.
//
// A Config without CRMToken is valid (a program that only places calls), but
// its WebhookHandler rejects every notification: New then logs one warning
// saying so to cfg.Logger, or to slog.Default() when cfg.Logger is nil.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		// The URL is not quoted: it might carry credentials.
		return nil, errors.New("prostiezvonki: Config.BaseURL must be an absolute http or https URL without user info")
	}
	u.RawQuery, u.Fragment = "", ""
	cfg.BaseURL = strings.TrimRight(u.String(), "/")
	if cfg.Location == nil {
		cfg.Location = provider.DefaultLocation()
	}
	if cfg.RouteTimeout <= 0 {
		cfg.RouteTimeout = DefaultRouteTimeout
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = provider.DefaultTimeout
	}
	c := &Client{
		cfg:         cfg,
		makecallURL: cfg.BaseURL + "/crmapi/v1/makecall",
		api: provider.NewClient(provider.Options{
			Provider: Name, HTTPClient: cfg.HTTPClient, Logger: cfg.Logger, Timeout: cfg.Timeout,
		}),
	}
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
			"prostiezvonki: Config.CRMToken is empty: every notification Prostie Zvonki sends will be rejected (401); "+
				"set it to the \"Токен 1С\" of the cabinet unless this client only places calls",
			slog.String("provider", Name))
	}
	return c, nil
}

// Name returns "prostiezvonki".
func (c *Client) Name() string { return Name }

// String describes the client without its secrets (for %v, %+v and %s).
func (c *Client) String() string {
	if c == nil {
		return "prostiezvonki.Client(nil)"
	}
	return "prostiezvonki.Client{BaseURL:" + c.cfg.BaseURL + "}"
}

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// Format prints c as String does under every verb.
func (c *Client) Format(f fmt.State, verb rune) { format(f, verb, c.String()) }

// LogValue makes a Client logged through slog show its provider and API
// root, never its secrets.
func (c *Client) LogValue() slog.Value {
	if c == nil {
		return slog.StringValue("prostiezvonki.Client(nil)")
	}
	return slog.GroupValue(slog.String("provider", Name), slog.String("base_url", c.cfg.BaseURL))
}

// BaseURL returns the API root the client calls.
func (c *Client) BaseURL() string { return c.cfg.BaseURL }

// post sends the JSON body to url with the API key (see sign.go) under
// policy, and reads the answer. A 4xx/5xx answer, or a 2xx whose JSON
// reports an error, is a *provider.APIError carrying the service's text
// and the wait its Retry-After header asked for; an answer naming the
// credentials as the problem also matches provider.ErrUnauthorized.
func (c *Client) post(ctx context.Context, op, url string, policy provider.Policy, body []byte) (answer, error) {
	h := http.Header{}
	c.signRequest(h)
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json")
	resp, err := c.api.Do(ctx, provider.Request{
		Operation: op,
		Policy:    policy,
		Method:    http.MethodPost,
		URL:       url,
		Header:    h,
		Body:      body,
	})
	if err != nil {
		return answer{}, err
	}
	b, err := provider.ReadResponse(Name, op, resp, maxAnswer)
	if err != nil {
		return answer{}, err
	}
	a := parseAnswer(b)
	if resp.StatusCode < 200 || resp.StatusCode > 299 || a.failed {
		e := &provider.APIError{
			Provider:   Name,
			Operation:  op,
			StatusCode: resp.StatusCode,
			Message:    a.text,
			Body:       provider.Excerpt(b),
			RetryAfter: provider.RetryAfter(resp),
		}
		if looksLikeAuthError(a.text) {
			e.Err = provider.ErrUnauthorized
		}
		if e.Message == "" && e.StatusCode >= 200 && e.StatusCode <= 299 {
			e.Message = "unexpected answer"
		}
		return answer{}, e
	}
	return a, nil
}

// answer is what parseAnswer found in an API answer.
type answer struct {
	callID string
	text   string // the service's error text, or ""
	failed bool   // a 2xx body that nevertheless reports an error
}

// parseAnswer reads an API answer body. Prostie Zvonki's bodies are not
// documented beyond "400/500 are errors": {"error":"..."} is read as in the
// ITooLabs family, and also "errors" (a string, a list, or objects with a
// message) and "message". {"result":"ok"} (what known integrations check)
// and {"callid":"..."} (what the family answers) are success; a "result"
// other than ok/success/true, or a non-empty error, is a failure even in a
// 200. An HTML page (a wrong base URL reaching a portal) is a failure too.
func parseAnswer(b []byte) answer {
	b = bytes.TrimSpace(b)
	var a answer
	switch {
	case len(b) == 0:
		return a
	case b[0] == '<':
		a.failed = true
		a.text = "unexpected HTML answer (is the base URL right?)"
		return a
	case b[0] != '{':
		// Plain text: an error text on a 4xx/5xx, ignored on a 2xx.
		a.text = provider.Excerpt(b)
		return a
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		a.text = provider.Excerpt(b)
		return a
	}
	for _, k := range [...]string{"callid", "call_id", "uuid"} {
		if s, ok := scalarText(m[k]); ok && s != "" {
			a.callID = s
			break
		}
	}
	errText := joinNonEmpty(errorText(m["error"]), errorText(m["errors"]))
	msg := errorText(m["message"])
	result, _ := scalarText(m["result"])
	result = strings.TrimSpace(result)
	resultOK := true
	switch strings.ToLower(result) {
	case "", "ok", "success", "true", "1": // "" also when absent or null
	default:
		resultOK = false
	}
	switch {
	case errText != "":
		a.failed, a.text = true, errText
	case !resultOK:
		a.failed = true
		a.text = msg
		if a.text == "" {
			a.text = "result " + result
		}
	default:
		a.text = msg // shown only when the status says error
	}
	a.text = provider.Excerpt([]byte(a.text))
	return a
}

// errorText flattens an error value: a string, a number, a list of them,
// or an object with a message/error/text/description.
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
		return provider.Excerpt([]byte(compactJSON(raw)))
	case 'f', 'n': // false, null: no error
		return ""
	}
	s, _ := scalarText(raw)
	if s = strings.TrimSpace(s); s == "0" { // "error": 0 means none
		return ""
	}
	return s
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

// looksLikeAuthError reports whether a vendor text rejects the credentials.
// The ITooLabs family answers a bad key with a 401, but one deployment
// answered "Empty token" in another status, so the text is checked too.
func looksLikeAuthError(text string) bool {
	t := strings.ToLower(text)
	for _, w := range [...]string{"token", "api key", "api-key", "apikey", "unauthorized", "unauthorised", "токен", "ключ", "авториз"} {
		if strings.Contains(t, w) {
			return true
		}
	}
	return false
}

// scalarText returns the text of a JSON string, number, boolean or null
// (""), and false for an object or array.
func scalarText(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	switch raw[0] {
	case '"':
		if len(raw) >= 2 && bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
			// No escapes: the text between the quotes is the string, as
			// encoding/json would give it (which replaces invalid UTF-8).
			return string(raw[1 : len(raw)-1]), true
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false
		}
		return s, true
	case '{', '[':
		return "", false
	case 'n':
		return "", true
	default: // number, true, false: already validated by encoding/json
		return string(raw), true
	}
}

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}
