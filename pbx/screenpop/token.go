package screenpop

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

// Errors of VerifyToken, matched with errors.Is. Neither carries any part
// of the token.
var (
	// ErrBadToken: the token is missing, malformed, or not signed with
	// the secret.
	ErrBadToken = errors.New("screenpop: missing or invalid token")
	// ErrTokenExpired: the token is genuine but its expiry has passed.
	ErrTokenExpired = errors.New("screenpop: token expired")
)

// Limits of a token.
const (
	// MaxTokenLen is the longest token VerifyToken reads; longer input is
	// rejected before any decoding.
	MaxTokenLen = 512
	// MaxExtensionLen is the longest extension a token may name.
	MaxExtensionLen = 64
)

// tokenLabel separates these MACs from any other use of the same secret.
const tokenLabel = "pbxkit-screenpop-v1"

var b64 = base64.RawURLEncoding

// Token returns a token that lets its bearer listen to the cards of
// extension until expires: three dot-separated parts, the extension in
// base64url, the expiry in Unix seconds, and an HMAC-SHA256 of both keyed
// with secret (base64url). It contains only URL-safe characters, so it can
// be put in a link (?token=) as is.
//
// Anyone holding the token sees the callers' numbers and names shown to
// that extension: give it only to that employee and choose expires
// accordingly (a zero expires gives a token that has already expired).
func Token(secret []byte, extension string, expires time.Time) string {
	ext := b64.EncodeToString([]byte(extension))
	exp := strconv.FormatInt(expiryUnix(expires), 10)
	return ext + "." + exp + "." + b64.EncodeToString(tokenMAC(secret, ext, exp))
}

// expiryUnix is the token's expiry in Unix seconds; the zero time is the
// earliest second, already past.
func expiryUnix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func tokenMAC(secret []byte, ext, exp string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(tokenLabel))
	m.Write([]byte{0})
	m.Write([]byte(ext))
	m.Write([]byte{0})
	m.Write([]byte(exp))
	return m.Sum(nil)
}

// VerifyToken checks token against secret at time now and returns the
// extension it names. The signature is compared in constant time and
// checked before anything else is trusted; an error matches ErrBadToken
// (missing, malformed, wrong signature, or an empty secret) or
// ErrTokenExpired.
func VerifyToken(secret []byte, token string, now time.Time) (extension string, err error) {
	if len(secret) == 0 || token == "" || len(token) > MaxTokenLen {
		return "", ErrBadToken
	}
	ext, rest, ok := strings.Cut(token, ".")
	if !ok {
		return "", ErrBadToken
	}
	exp, sig, ok := strings.Cut(rest, ".")
	if !ok || ext == "" || exp == "" || sig == "" {
		return "", ErrBadToken
	}
	got, err := b64.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return "", ErrBadToken
	}
	if !hmac.Equal(got, tokenMAC(secret, ext, exp)) {
		return "", ErrBadToken
	}
	// Signed by us: the remaining checks guard against our own encoder
	// having written something odd, never against an attacker.
	name, err := b64.DecodeString(ext)
	if err != nil || len(name) == 0 || len(name) > MaxExtensionLen {
		return "", ErrBadToken
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return "", ErrBadToken
	}
	if now.Unix() >= unix {
		return "", ErrTokenExpired
	}
	return string(name), nil
}

// RequestToken returns the token a request carries: the credentials of an
// "Authorization: Bearer" header when the request has an Authorization
// header (another scheme gives ""), else the token query parameter (which
// is how EventSource, unable to set headers, sends it).
func RequestToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return ""
		}
		return strings.TrimSpace(tok)
	}
	return r.URL.Query().Get("token")
}
