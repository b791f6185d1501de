package outbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks headers every delivery carries. They are sent in
// lower case, as the specification writes them (HTTP header names are
// case-insensitive; 1C reads them by exact name).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far a delivery's webhook-timestamp may be from
// the receiver's clock for [Verify] to accept it: it bounds the replay of a
// captured request.
const DefaultTolerance = 5 * time.Minute

// Errors [Verify] returns, matched with errors.Is.
var (
	// ErrNoSecret: Verify was given an empty secret. It never accepts a
	// request it cannot check.
	ErrNoSecret = errors.New("outbox: no secret to verify the signature with")
	// ErrMissingHeader: webhook-id, webhook-timestamp or webhook-signature
	// is missing or empty.
	ErrMissingHeader = errors.New("outbox: missing webhook-id, webhook-timestamp or webhook-signature")
	// ErrTimestamp: webhook-timestamp is not a number of seconds, or is too
	// far from the receiver's clock.
	ErrTimestamp = errors.New("outbox: webhook-timestamp is not within the tolerance")
	// ErrSignature: no v1 signature in webhook-signature matches the body.
	ErrSignature = errors.New("outbox: no matching webhook signature")
)

// Sign returns the webhook-signature value of a delivery: "v1," and the
// base64 (standard alphabet, padded) HMAC-SHA256, keyed with secret, of
// id + "." + timestamp + "." + body, the timestamp in Unix seconds. It is
// what the outbox sends, exported for receivers' tests.
func Sign(secret []byte, id string, timestamp time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(secret, id, strconv.FormatInt(timestamp.Unix(), 10), body))
}

func mac(secret []byte, id, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks that r, whose body the caller has read into body, was
// signed by an outbox holding secret, the Standard Webhooks way: the
// webhook-timestamp must be within [DefaultTolerance] of the local clock,
// and one of the space-separated "v1,<base64>" signatures in
// webhook-signature must be the HMAC-SHA256 of id.timestamp.body (compared
// in constant time; other signature versions are ignored). It returns nil
// only for a valid signature: an empty secret, a missing header, a
// malformed value, a stale timestamp or a wrong signature are errors
// matching [ErrNoSecret], [ErrMissingHeader], [ErrTimestamp] or
// [ErrSignature]. The error never contains the secret or a signature.
//
// Dedupe on the webhook-id after a successful Verify: a delivery the
// receiver applied but did not acknowledge is sent again with the same id.
func Verify(secret []byte, r *http.Request, body []byte) error {
	return VerifyHeader(secret, r.Header, body, time.Now(), DefaultTolerance)
}

// VerifyHeader is [Verify] with the headers, the receiver's clock reading
// and the tolerance given. A tolerance <= 0 means [DefaultTolerance].
func VerifyHeader(secret []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if len(secret) == 0 {
		return ErrNoSecret
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	id := headerValue(h, HeaderID)
	ts := headerValue(h, HeaderTimestamp)
	sigs := headerValues(h, HeaderSignature)
	if id == "" || ts == "" || len(sigs) == 0 {
		return ErrMissingHeader
	}
	sec, ok := parseUnix(ts)
	if !ok {
		return ErrTimestamp
	}
	tol := int64(tolerance / time.Second)
	if n := now.Unix(); sec < n-tol || sec > n+tol {
		return ErrTimestamp
	}
	want := mac(secret, id, ts, body)
	// A v1 signature is 44 base64 characters; longer ones cannot match.
	// 64 characters decode to at most 48 bytes.
	var buf [48]byte
	matched := false
	for _, v := range sigs {
		for f := range strings.FieldsSeq(v) {
			b64, ok := strings.CutPrefix(f, "v1,")
			if !ok || len(b64) > 64 {
				continue
			}
			n, err := base64.StdEncoding.Decode(buf[:], []byte(b64))
			if err != nil || n != sha256.Size {
				continue
			}
			// Every candidate is compared, so the time taken does not
			// depend on which one matched.
			if hmac.Equal(buf[:n], want) {
				matched = true
			}
		}
	}
	if !matched {
		return ErrSignature
	}
	return nil
}

// parseUnix reads a webhook-timestamp: decimal digits only.
func parseUnix(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// headerValues returns the values of the header name, found by its
// canonical form or, in a Header built by hand, by any spelling.
func headerValues(h http.Header, name string) []string {
	if v := h.Values(name); len(v) > 0 {
		return v
	}
	for k, v := range h {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v
		}
	}
	return nil
}

// headerValue returns the first value of the header name, trimmed.
func headerValue(h http.Header, name string) string {
	v := headerValues(h, name)
	if len(v) == 0 {
		return ""
	}
	return strings.TrimSpace(v[0])
}

// ParseSecret reads a signing secret as people write it: a Standard
// Webhooks "whsec_..." value is the base64 of the key; anything else is the
// key itself. The error never quotes the value.
func ParseSecret(s string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(s, "whsec_"); ok {
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil || len(b) == 0 {
			return nil, errors.New("outbox: a whsec_ secret must be followed by base64")
		}
		return b, nil
	}
	if s == "" {
		return nil, ErrNoSecret
	}
	return []byte(s), nil
}
