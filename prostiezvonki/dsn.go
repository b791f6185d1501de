package prostiezvonki

import (
	"net/url"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

func init() { provider.Register(Name, open) }

// open opens a Client from a DSN; see the package documentation for the
// form. Its errors name the problem, never a secret or a query value.
func open(u *url.URL, o provider.OpenOptions) (pbx.Provider, error) {
	bad := func(problem string) error { return &provider.DSNError{Scheme: Name, Problem: problem} }
	cfg := Config{Location: o.Location, HTTPClient: o.HTTPClient, Logger: o.Logger}
	if u.User != nil {
		if u.User.Username() != "" {
			return nil, bad("the API key goes in the password part, with an empty user: prostiezvonki://:APIKEY@host/")
		}
		cfg.APIKey, _ = u.User.Password()
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, bad("malformed query")
	}
	for k, vs := range q {
		switch k {
		case "crm_token", "base_url", "route_timeout", "timeout":
			if len(vs) > 1 {
				return nil, bad("parameter " + k + " given more than once")
			}
		default:
			return nil, bad("unknown parameter " + url.QueryEscape(k) + " (known: crm_token, base_url, route_timeout, timeout)")
		}
	}
	cfg.CRMToken = q.Get("crm_token")
	if cfg.APIKey == "" && cfg.CRMToken == "" {
		return nil, bad("no API key (prostiezvonki://:APIKEY@host/) and no crm_token: nothing to call or accept with")
	}
	switch {
	case q.Get("base_url") != "":
		cfg.BaseURL = q.Get("base_url")
	case u.Host != "":
		path := strings.TrimRight(u.Path, "/")
		if path == "" {
			path = "/httpapiinteg"
		}
		cfg.BaseURL = "https://" + u.Host + path
	}
	if s := q.Get("route_timeout"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return nil, bad(`route_timeout must be a positive duration such as "1500ms" or "2s"`)
		}
		cfg.RouteTimeout = d
	}
	if s := q.Get("timeout"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return nil, bad(`timeout must be a positive duration such as "10s"`)
		}
		cfg.Timeout = d
	}
	c, err := New(cfg)
	if err != nil {
		return nil, bad("base_url or host must give an absolute http or https URL without user info")
	}
	return c, nil
}
