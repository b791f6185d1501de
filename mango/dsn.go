package mango

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
			return nil, &provider.DSNError{Scheme: Name, Problem: strings.TrimPrefix(err.Error(), "mango: ")}
		}
		return c, nil
	})
}

// dsnParams are the query parameters a DSN may carry.
var dsnParams = []string{"base_url", "route_timeout", "route_interval", "timeout", "location"}

// dsnForm is the DSN's form, for error messages.
const dsnForm = `"mango://API_KEY:API_SALT@/"`

// ParseDSN reads a Config from a DSN of the form
//
//	mango://API_KEY:API_SALT@/
//
// (see the package documentation for the optional parameters). Special
// characters in the key or salt must be %-escaped. Errors never contain the
// key or the salt.
func ParseDSN(dsn string) (Config, error) {
	scheme, _, _ := strings.Cut(dsn, "://")
	if scheme != Name {
		return Config{}, &provider.DSNError{Scheme: scheme, Problem: "want a DSN of the form " + dsnForm}
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return Config{}, &provider.DSNError{Scheme: Name, Problem: "not a valid URL (special characters in the key or salt must be %-escaped)"}
	}
	return configFromURL(u)
}

func configFromURL(u *url.URL) (Config, error) {
	bad := func(problem string) (Config, error) {
		return Config{}, &provider.DSNError{Scheme: Name, Problem: problem}
	}
	var cfg Config
	if u.User != nil {
		cfg.APIKey = u.User.Username()
		cfg.APISalt, _ = u.User.Password()
	}
	if cfg.APIKey == "" || cfg.APISalt == "" {
		return bad("want API_KEY:API_SALT@ before the host (the «Уникальный код вашей АТС» and «Ключ для создания подписи»), as in " + dsnForm)
	}
	q := u.Query()
	for k := range q {
		if !slices.Contains(dsnParams, k) {
			return bad("unknown parameter " + strconv.Quote(provider.Excerpt([]byte(k))) + " (known: " + strings.Join(dsnParams, ", ") + ")")
		}
	}
	switch {
	case q.Get("base_url") != "":
		cfg.BaseURL = q.Get("base_url")
	case u.Host != "":
		cfg.BaseURL = "https://" + u.Host + strings.TrimRight(u.Path, "/")
	}
	for _, d := range []struct {
		param string
		dst   *time.Duration
	}{{"route_timeout", &cfg.RouteTimeout}, {"timeout", &cfg.Timeout}} {
		if v := q.Get(d.param); v != "" {
			t, err := time.ParseDuration(v)
			if err != nil || t <= 0 {
				return bad(d.param + ` must be a positive duration such as "2s"`)
			}
			*d.dst = t
		}
	}
	if v := q.Get("route_interval"); v != "" {
		// Negative lifts the route limit: for fakes only (see
		// Config.RouteInterval); zero keeps the default.
		t, err := time.ParseDuration(v)
		if err != nil {
			return bad(`route_interval must be a duration such as "2s" (Mango's limit, the default)`)
		}
		cfg.RouteInterval = t
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
