package sipuni

import (
	"crypto/md5"
	"encoding/hex"
	"net/url"
	"slices"
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
