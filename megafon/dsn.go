package megafon

import (
	"net/url"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

func init() { provider.Register(Name, open) }

// dsnParams are the query parameters a DSN may carry.
var dsnParams = map[string]bool{
	"crm_token":     true,
	"base_url":      true,
	"route_timeout": true,
	"timeout":       true,
	"location":      true,
}

// open opens a Client from
// megafon://:API_KEY@DOMAIN.megapbx.ru/?crm_token=T&base_url=URL&route_timeout=2s&timeout=30s&location=Asia/Yekaterinburg;
// see the package documentation. Its errors name the problem, never a
// secret or a query value.
func open(u *url.URL, o provider.OpenOptions) (pbx.Provider, error) {
	bad := func(problem string) error { return &provider.DSNError{Scheme: Name, Problem: problem} }
	if u.Opaque != "" {
		return nil, bad("want megafon://:API_KEY@DOMAIN.megapbx.ru/?crm_token=T")
	}
	cfg := Config{Location: o.Location, HTTPClient: o.HTTPClient, Logger: o.Logger}
	if u.User != nil {
		if u.User.Username() != "" {
			return nil, bad("the API key goes in the password part, with an empty user: megafon://:API_KEY@DOMAIN.megapbx.ru/")
		}
		cfg.APIKey, _ = u.User.Password()
	}
	if u.Path != "" && u.Path != "/" {
		return nil, bad("unexpected path (the API root is https://DOMAIN" + APIPath + "; use base_url=… for another one)")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, bad("malformed query")
	}
	for k, vs := range q {
		if !dsnParams[k] {
			return nil, bad("unknown parameter " + url.QueryEscape(k) + " (known: base_url, crm_token, location, route_timeout, timeout)")
		}
		if len(vs) > 1 {
			return nil, bad("parameter " + k + " given more than once")
		}
	}
	cfg.CRMToken = q.Get("crm_token")
	cfg.BaseURL = q.Get("base_url")
	cfg.Domain = u.Host
	if cfg.APIKey == "" && cfg.CRMToken == "" {
		return nil, bad("no API key (megafon://:API_KEY@DOMAIN.megapbx.ru/) and no crm_token: nothing to call or accept with")
	}
	if cfg.APIKey != "" && cfg.Domain == "" && cfg.BaseURL == "" {
		return nil, bad("an API key needs the PBX's domain: megafon://:API_KEY@DOMAIN.megapbx.ru/")
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
	if v := q.Get("location"); v != "" {
		// The DSN's zone wins over provider.WithLocation, which applies to
		// every vendor.
		loc, err := time.LoadLocation(v)
		if err != nil || v == "Local" {
			return nil, bad(`location must be an IANA zone name such as "Asia/Yekaterinburg"`)
		}
		cfg.Location = loc
	}
	c, err := New(cfg)
	if err != nil {
		return nil, bad("the domain must be a host name such as vats123.megapbx.ru, and base_url an absolute http or https URL without user info")
	}
	return c, nil
}
