package sipuni

import (
	"net/url"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

func init() {
	provider.Register(Name, openDSN)
}

// dsnParams are the query parameters a DSN may carry.
var dsnParams = map[string]bool{
	"webhook_token":    true,
	"webhook_user":     true,
	"webhook_password": true,
	"base_url":         true,
	"route_timeout":    true,
	"timeout":          true,
	"location":         true,
}

// openDSN opens a Client from
// sipuni://ACCOUNT:SECRET@/?webhook_token=T&webhook_user=U&webhook_password=P&base_url=URL&route_timeout=1s&timeout=30s&location=Asia/Almaty.
// Its errors never contain the secret or a query value.
func openDSN(u *url.URL, o provider.OpenOptions) (pbx.Provider, error) {
	bad := func(problem string) error { return &provider.DSNError{Scheme: Name, Problem: problem} }
	if u.Opaque != "" || u.User == nil {
		return nil, bad("want sipuni://ACCOUNT:SECRET@/")
	}
	if u.Host != "" {
		return nil, bad("unexpected host (the DSN has no host; use base_url=… to point at another API root)")
	}
	if u.Path != "" && u.Path != "/" {
		return nil, bad("unexpected path")
	}
	secret, ok := u.User.Password()
	if !ok || secret == "" {
		return nil, bad("no secret (integration key): want sipuni://ACCOUNT:SECRET@/")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, bad("query is not valid URL encoding")
	}
	for k, vs := range q {
		if !dsnParams[k] {
			return nil, bad("unknown query parameter" + suggest(k) + " (known: base_url, location, route_timeout, timeout, webhook_password, webhook_token, webhook_user)")
		}
		if len(vs) > 1 {
			return nil, bad("parameter " + k + " given more than once")
		}
	}
	cfg := Config{
		Account:         u.User.Username(),
		Secret:          secret,
		BaseURL:         q.Get("base_url"),
		Location:        o.Location,
		HTTPClient:      o.HTTPClient,
		Logger:          o.Logger,
		WebhookToken:    q.Get("webhook_token"),
		WebhookUser:     q.Get("webhook_user"),
		WebhookPassword: q.Get("webhook_password"),
	}
	if s := q.Get("route_timeout"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return nil, bad("route_timeout must be a positive duration such as 800ms")
		}
		cfg.RouteTimeout = d
	}
	if s := q.Get("timeout"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return nil, bad("timeout must be a positive duration such as 30s")
		}
		cfg.Timeout = d
	}
	if v := q.Get("location"); v != "" {
		// The DSN names the zone of the account's call schemes; it wins
		// over provider.WithLocation, which applies to every vendor.
		loc, err := time.LoadLocation(v)
		if err != nil || v == "Local" {
			return nil, bad(`location must be an IANA zone name such as "Asia/Almaty"`)
		}
		cfg.Location = loc
	}
	c, err := New(cfg)
	if err != nil {
		// New's errors name fields, never values.
		return nil, bad(strings.TrimPrefix(err.Error(), "sipuni: "))
	}
	return c, nil
}

// suggest names the known parameter an unknown one is a typo of. The
// unknown name itself is only shown then: anything else may be a secret
// pasted into the wrong place.
func suggest(k string) string {
	for known := range dsnParams {
		if editDistance(k, known) <= 2 {
			return " \"" + k + "\" (did you mean " + known + "?)"
		}
	}
	return ""
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
