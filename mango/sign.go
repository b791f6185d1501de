package mango

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"

	"github.com/pbxkit/pbxkit/provider"
)

// Sign returns Mango's signature: the lowercase hex SHA-256 of apiKey, json
// and apiSalt concatenated (a plain hash, not an HMAC). Both directions use
// it: requests to the API and the PBX's notifications. It covers the json
// form value exactly as sent; re-marshalled JSON (other spacing, other key
// order, other escapes) has another signature.
func Sign(apiKey, json, apiSalt string) string {
	var sum [sha256.Size]byte
	if n := len(apiKey) + len(json) + len(apiSalt); n <= signBuf {
		// The usual notification: concatenated on the stack, hashed in
		// one call.
		var buf [signBuf]byte
		b := append(append(append(buf[:0], apiKey...), json...), apiSalt...)
		sum = sha256.Sum256(b)
	} else {
		h := sha256.New()
		// hash.Hash's Write never fails.
		_, _ = io.WriteString(h, apiKey)
		_, _ = io.WriteString(h, json)
		_, _ = io.WriteString(h, apiSalt)
		h.Sum(sum[:0])
	}
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}

// signBuf is the longest concatenation Sign hashes from the stack.
const signBuf = 1024

// SignedForm returns the form of a request or notification carrying json:
// vpbx_api_key, sign and json. Encode it with its Encode method, which
// escapes every value (a "+" or "&" in the JSON survives).
func SignedForm(apiKey, apiSalt, json string) url.Values {
	return url.Values{
		"vpbx_api_key": {apiKey},
		"sign":         {Sign(apiKey, json, apiSalt)},
		"json":         {json},
	}
}

// Reasons a notification is refused, besides provider's.
const (
	reasonMissingFields provider.Reason = "missing vpbx_api_key or sign"
	reasonDuplicate     provider.Reason = "vpbx_api_key, sign or json given twice"
)

// errNotForm is the error of a body that is not a form.
var errNotForm = errors.New("mango: the body is not an application/x-www-form-urlencoded form")

// verify reads r's body (at most 1 MiB) and authenticates it: a form whose
// vpbx_api_key is Config.APIKey and whose sign is the signature of its json
// value, compared in constant time. It returns the raw json value, not yet
// decoded, and whether the form had one (Mango's connection check may come
// without). Only the body counts: parameters in the URL's query are
// ignored, as Mango posts a form. A field given twice is refused, so that
// what was verified is what is decoded.
//
// Errors: provider.ErrBodyTooLarge, errNotForm, a *provider.VerificationError
// (missing or wrong credentials), or the read error.
func (c *Client) verify(r *http.Request) (json string, hasJSON bool, err error) {
	body, err := provider.ReadBody(r, provider.DefaultMaxBodySize)
	if err != nil {
		return "", false, err
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return "", false, errNotForm
	}
	keys, signs, jsons := vals["vpbx_api_key"], vals["sign"], vals["json"]
	if len(keys) == 0 || len(signs) == 0 {
		return "", false, &provider.VerificationError{Provider: Name, Reason: reasonMissingFields}
	}
	if len(keys) > 1 || len(signs) > 1 || len(jsons) > 1 {
		return "", false, &provider.VerificationError{Provider: Name, Reason: reasonDuplicate}
	}
	if len(jsons) == 1 {
		json, hasJSON = jsons[0], true
	}
	// Both checks run whatever the first says.
	apiKey, apiSalt := c.creds()
	keyOK := provider.SecretEqual(keys[0], apiKey)
	signOK := provider.HexEqual(signs[0], Sign(apiKey, json, apiSalt))
	switch {
	case !keyOK:
		return "", false, &provider.VerificationError{Provider: Name, Reason: provider.ReasonUnknownClient}
	case !signOK:
		return "", false, &provider.VerificationError{Provider: Name, Reason: provider.ReasonBadSignature}
	}
	return json, hasJSON, nil
}
