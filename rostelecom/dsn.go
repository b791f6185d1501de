package rostelecom

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

func init() {
	provider.Register(Name, func(u *url.URL, o provider.OpenOptions) (pbx.Provider, error) {
		cfg, err := configFromURL(u)
		if err != nil {
			return nil, err
		}
		cfg.HTTPClient = o.HTTPClient
		cfg.Logger = o.Logger
		if o.Location != nil {
			cfg.Location = o.Location
		}
		c, err := New(cfg)
		if err != nil {
			return nil, &provider.DSNError{Scheme: Name, Problem: strings.TrimPrefix(err.Error(), "rostelecom: ")}
		}
		return c, nil
	})
}

// dsnParams are the query parameters a DSN may carry.
var dsnParams = []string{"domain", "base_url", "route_timeout", "resolve_ended", "location", "timeout", "history_poll"}

// ParseDSN reads a Config from a DSN of the form
//
//	rostelecom://CLIENT_ID:SIGN_KEY@api.cloudpbx.rt.ru/?domain=DOMAIN
//
// (see the package documentation for the optional parameters). Special
// characters in the ID or key must be %-escaped. Errors never contain the
// sign key.
func ParseDSN(dsn string) (Config, error) {
	scheme, _, _ := strings.Cut(dsn, "://")
	if scheme != Name {
		return Config{}, &provider.DSNError{Scheme: scheme, Problem: `want a DSN of the form "rostelecom://CLIENT_ID:SIGN_KEY@api.cloudpbx.rt.ru/?domain=DOMAIN"`}
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return Config{}, &provider.DSNError{Scheme: Name, Problem: "not a valid URL (special characters in the ID or key must be %-escaped)"}
	}
	return configFromURL(u)
}

func configFromURL(u *url.URL) (Config, error) {
	bad := func(problem string) (Config, error) {
		return Config{}, &provider.DSNError{Scheme: Name, Problem: problem}
	}
	var cfg Config
	if u.User != nil {
		cfg.ClientID = u.User.Username()
		cfg.SignKey, _ = u.User.Password()
	}
	if cfg.ClientID == "" || cfg.SignKey == "" {
		return bad("want CLIENT_ID:SIGN_KEY@ before the host (the «Уникальный код идентификации» and «Уникальный ключ для подписи»)")
	}
	q := u.Query()
	for k := range q {
		if !slices.Contains(dsnParams, k) {
			return bad("unknown parameter " + strconv.Quote(provider.Excerpt([]byte(k))) + " (known: " + strings.Join(dsnParams, ", ") + ")")
		}
	}
	cfg.Domain = q.Get("domain")
	if cfg.Domain == "" {
		return bad(`missing parameter domain (the PBX domain, such as "example.20.rt.ru")`)
	}
	switch {
	case q.Get("base_url") != "":
		cfg.BaseURL = q.Get("base_url")
	case u.Host != "":
		cfg.BaseURL = "https://" + u.Host + strings.TrimRight(u.Path, "/")
	}
	if v := q.Get("route_timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return bad(`route_timeout must be a positive duration such as "1500ms"`)
		}
		cfg.RouteTimeout = d
	}
	if v := q.Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return bad(`timeout must be a positive duration such as "10s"`)
		}
		cfg.Timeout = d
	}
	if v := q.Get("history_poll"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return bad(`history_poll must be a positive duration such as "10s"`)
		}
		cfg.HistoryPoll = d
	}
	if v := q.Get("resolve_ended"); v != "" {
		b, err := provider.ParseBool(v)
		if err != nil {
			return bad(`resolve_ended must be true or false`)
		}
		cfg.ResolveEnded = b
	}
	if v := q.Get("location"); v != "" {
		loc, err := time.LoadLocation(v)
		if err != nil {
			return bad(`location must be an IANA zone name such as "Asia/Irkutsk"`)
		}
		cfg.Location = loc
	}
	return cfg, nil
}
