package zadarma

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/pbxkit/pbxkit/provider"
)

// EncodeQuery writes params as Zadarma's official client does before it
// signs them: the names sorted in byte order, each value encoded by RFC 1738
// (PHP's http_build_query with PHP_QUERY_RFC1738: letters, digits and
// "-_." as they are, a space as "+", every other byte as %XX in upper-case
// hex, "~" included), pairs joined with "&". A name with several values is
// written once per value, in order; a name with no value is left out (PHP
// skips null parameters). The same string is the request's query (GET) or
// body (POST), so what is signed is exactly what is sent.
func EncodeQuery(params url.Values) string {
	var keysBuf [16]string
	keys := keysBuf[:0]
	size := 0
	for k, vs := range params {
		if len(vs) == 0 {
			continue
		}
		keys = append(keys, k)
		for _, v := range vs {
			size += len(k) + len(v) + 2
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	b.Grow(size + size/4)
	for _, k := range keys {
		for _, v := range params[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			escapeRFC1738(&b, k)
			b.WriteByte('=')
			escapeRFC1738(&b, v)
		}
	}
	return b.String()
}

const upperHex = "0123456789ABCDEF"

// escapeRFC1738 writes s as PHP's urlencode does.
func escapeRFC1738(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&15])
		}
	}
}

// Sign returns the signature of an API request to method (the path with
// its version and trailing slash, such as "/v1/request/callback/") carrying
// params: the Base64 of the lowercase hex HMAC-SHA1, keyed with the
// secret, of method + EncodeQuery(params) + the lowercase hex MD5 of
// EncodeQuery(params). The request carries it in the header
// "Authorization: KEY:SIGNATURE".
func Sign(method string, params url.Values, secret string) string {
	return signQuery(method, EncodeQuery(params), secret)
}

// signQuery is Sign over an already encoded query.
func signQuery(method, query, secret string) string {
	sum := md5.Sum([]byte(query))
	var md5hex [2 * md5.Size]byte
	hex.Encode(md5hex[:], sum[:])
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(method))
	mac.Write([]byte(query))
	mac.Write(md5hex[:])
	return encodeHexMAC(mac.Sum(nil))
}

// encodeHexMAC writes a MAC the way Zadarma encodes its signatures: the
// Base64 of the lowercase hex digits (PHP's base64_encode(hash_hmac(...))),
// not of the raw bytes.
func encodeHexMAC(sum []byte) string {
	var h [2 * sha1.Size]byte
	hex.Encode(h[:], sum)
	return base64.StdEncoding.EncodeToString(h[:])
}

// SignNotification returns the Signature header Zadarma sends with a
// notification whose signed string (see [Notification.SignedString]) is
// signed: the Base64 of the lowercase hex HMAC-SHA1 of it, keyed with the
// API secret. It is what a fake PBX or a test needs; the webhook handler
// checks received signatures with it.
func SignNotification(signed, secret string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(signed))
	return encodeHexMAC(mac.Sum(nil))
}

// signatureHeader is the header of a notification's signature.
const signatureHeader = "Signature"

// reasonUnverifiable is the verification failure of a notification whose
// event type this package does not know, and so whose signed fields it
// cannot name.
const reasonUnverifiable provider.Reason = "unknown event type: its signature cannot be checked"

// verify checks the Signature header of a notification n in constant
// time. A notification is accepted only when the header is present once
// and is the signature of n's signed string with the client's secret.
//
// Zadarma's official PHP client (and its first documented examples) send
// the Base64 of the hex HMAC; its official TypeScript client (2025) checks
// the Base64 of the raw HMAC bytes. Both are accepted, as both need the
// secret: only their encodings of the same MAC differ. Both comparisons are
// always made, so the time taken does not say which one matched.
func (c *Client) verify(header http.Header, n *Notification) error {
	got := header.Values(signatureHeader)
	if len(got) == 0 || strings.TrimSpace(got[0]) == "" {
		return &provider.VerificationError{Provider: Name, Reason: provider.ReasonMissingHeader, Header: signatureHeader}
	}
	parts, known := n.signedParts()
	if !known {
		return &provider.VerificationError{Provider: Name, Reason: reasonUnverifiable}
	}
	if len(got) != 1 {
		return &provider.VerificationError{Provider: Name, Reason: provider.ReasonBadSignature}
	}
	sig := []byte(strings.TrimSpace(got[0]))
	mac := c.macs.Get().(hash.Hash)
	mac.Reset()
	for _, p := range parts {
		_, _ = io.WriteString(mac, p)
	}
	var sum [sha1.Size]byte
	mac.Sum(sum[:0])
	c.macs.Put(mac)
	var hexd [2 * sha1.Size]byte
	hex.Encode(hexd[:], sum[:])
	var hexB64 [56]byte // base64 of 40 bytes
	base64.StdEncoding.Encode(hexB64[:], hexd[:])
	var rawB64 [28]byte // base64 of 20 bytes
	base64.StdEncoding.Encode(rawB64[:], sum[:])
	// The expected lengths are public; the contents are compared in
	// constant time, both always.
	hexOK := subtle.ConstantTimeCompare(sig, hexB64[:])
	rawOK := subtle.ConstantTimeCompare(sig, rawB64[:])
	if hexOK|rawOK != 1 {
		return &provider.VerificationError{Provider: Name, Reason: provider.ReasonBadSignature}
	}
	return nil
}
