package zadarma

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

func init() { provider.Register(Name, openDSN) }

// dsnParams are the query parameters a DSN may carry.
var dsnParams = []string{"base_url", "location", "return_timeout", "route_timeout", "timeout"}

// openDSN opens a Client from
// zadarma://KEY:SECRET@/?base_url=URL&location=Europe/Moscow&route_timeout=2s&return_timeout=20s&timeout=30s.
// Its errors never contain the key, the secret or a query value.
func openDSN(u *url.URL, o provider.OpenOptions) (pbx.Provider, error) {
	bad := func(problem string) error { return &provider.DSNError{Scheme: Name, Problem: problem} }
	if u.Opaque != "" || u.User == nil {
		return nil, bad("want zadarma://KEY:SECRET@/")
	}
	if u.Host != "" {
		return nil, bad("unexpected host (the DSN has none; use base_url=… to point at another API root)")
	}
	if u.Path != "" && u.Path != "/" {
		return nil, bad("unexpected path")
	}
	secret, ok := u.User.Password()
	if !ok || secret == "" {
		return nil, bad("no secret: want zadarma://KEY:SECRET@/")
	}
	if u.User.Username() == "" {
		return nil, bad("no key: want zadarma://KEY:SECRET@/")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, bad("query is not valid URL encoding")
	}
	for k, vs := range q {
		if !slices.Contains(dsnParams, k) {
			// The unknown name is not quoted: it may be a secret pasted
			// into the wrong place.
			return nil, bad("unknown query parameter (known: " + strings.Join(dsnParams, ", ") + ")")
		}
		if len(vs) > 1 {
			return nil, bad("parameter " + k + " given more than once")
		}
	}
	cfg := Config{
		Key:        u.User.Username(),
		Secret:     secret,
		BaseURL:    q.Get("base_url"),
		Location:   o.Location,
		HTTPClient: o.HTTPClient,
		Logger:     o.Logger,
	}
	for _, d := range []struct {
		name    string
		dst     *time.Duration
		example string
	}{{"route_timeout", &cfg.RouteTimeout, "1500ms"}, {"return_timeout", &cfg.ReturnTimeout, "20s"}, {"timeout", &cfg.Timeout, "30s"}} {
		s := q.Get(d.name)
		if s == "" {
			continue
		}
		v, err := time.ParseDuration(s)
		if err != nil || v <= 0 {
			return nil, bad(d.name + " must be a positive duration such as " + d.example)
		}
		*d.dst = v
	}
	if v := q.Get("location"); v != "" {
		// The DSN names the account's zone; it wins over
		// provider.WithLocation, which applies to every vendor.
		loc, err := time.LoadLocation(v)
		if err != nil || v == "Local" {
			return nil, bad(`location must be an IANA zone name such as "Europe/Moscow"`)
		}
		cfg.Location = loc
	}
	c, err := New(cfg)
	if err != nil {
		// New's errors name fields, never values.
		return nil, bad(strings.TrimPrefix(err.Error(), "zadarma: "))
	}
	return c, nil
}
