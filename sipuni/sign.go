package sipuni

import (
	"crypto/md5"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/pbxkit/pbxkit/provider"
)

// Sign returns the hash Sipuni expects in the "hash" parameter of an API
// request carrying params.
//
// The parameter names (every one except "hash" itself, "user" included) are
// sorted in byte order, the first value of each is joined with "+", then "+"
// and the secret are appended, and the result is the lowercase hex MD5 of
// those UTF-8 bytes. Empty values count; a name with no value at all is not
// sent by url.Values.Encode and so is not signed either. Values are hashed
// raw, before URL encoding, and never lowercased.
//
// The protocol documents a fixed value order per method; every documented
// order is the sorted order of the names sent, so signing exactly the set
// that is sent is right whether Sipuni hashes what it receives or a fixed
// list.
func Sign(params url.Values, secret string) string {
	var keysBuf [32]string
	keys := keysBuf[:0]
	size := len(secret)
	for k, vs := range params {
		if k == "hash" || len(vs) == 0 {
			continue
		}
		keys = append(keys, k)
		size += len(vs[0]) + 1
	}
	slices.Sort(keys)

	var stack [512]byte
	buf := stack[:0]
	if size > len(stack) {
		buf = make([]byte, 0, size)
	}
	for _, k := range keys {
		buf = append(buf, params[k][0]...)
		buf = append(buf, '+')
	}
	buf = append(buf, secret...)
	sum := md5.Sum(buf)
	return hex.EncodeToString(sum[:])
}

// authenticate checks the webhook token and basic auth, as configured, in
// constant time. It never decodes more of the request than the token.
func (c *Client) authenticate(r *http.Request) error {
	var reason provider.Reason
	header := ""
	if want := c.cfg.WebhookToken; want != "" {
		got, ok := queryValue(r.URL.RawQuery, "token")
		switch {
		case !ok:
			reason = provider.ReasonMissingToken
		case !provider.SecretEqual(got, want):
			reason = provider.ReasonBadToken
		}
	}
	if c.cfg.WebhookUser != "" {
		user, pass, ok := r.BasicAuth()
		userOK := provider.SecretEqual(user, c.cfg.WebhookUser)
		passOK := provider.SecretEqual(pass, c.cfg.WebhookPassword)
		if reason == "" {
			switch {
			case !ok:
				reason, header = provider.ReasonMissingHeader, "Authorization"
			case !userOK || !passOK:
				reason = provider.ReasonBadCredentials
			}
		}
	}
	if reason != "" {
		return &provider.VerificationError{Provider: Name, Reason: reason, Header: header}
	}
	return nil
}

// queryValue finds key in a raw query without building a map; it reports
// whether the key was present. An undecodable value is returned raw.
func queryValue(raw, key string) (string, bool) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(pair, "=")
		if k != key {
			if uk, err := url.QueryUnescape(k); err != nil || uk != key {
				continue
			}
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		return v, true
	}
	return "", false
}
