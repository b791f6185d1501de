package prostiezvonki

import (
	"bytes"

	"github.com/pbxkit/pbxkit/provider/itoolabs"
)

// The decoder moved to package provider/itoolabs. These adapters keep this
// package's tests, written against the decoder when it lived here,
// unchanged: they reach the shared decoder, so every assertion still tests
// what Prostie Zvonki's handler runs.

// decodeRequest decodes like the handler: the token, the error of a field
// of the wrong kind (acted on only after the token), and a syntax error.
func decodeRequest(body []byte, rawQuery string, n *Notification) (token string, typeErr, err error) {
	token, err = itoolabs.Decode(body, rawQuery, (*itoolabs.Notification)(n))
	if _, ok := err.(*itoolabs.FieldError); ok { // Decode returns it unwrapped
		return token, err, nil
	}
	return token, nil, err
}

// set stores a field by its vendor name and reports whether it is a named
// one (itoolabs.Notification.SetField).
func (n *Notification) set(key, val string) bool {
	return (*itoolabs.Notification)(n).SetField(key, val)
}

// trimBody is the trimming itoolabs.Decode documents (white space, a byte
// order mark, the single quotes of the spec's examples), restated for the
// fuzz test's oracle, which must recognise a JSON object as the decoder
// does.
func trimBody(b []byte) []byte {
	b = bytes.TrimPrefix(bytes.TrimSpace(b), []byte("\xEF\xBB\xBF"))
	b = bytes.TrimSpace(b)
	if len(b) > 1 && b[0] == '\'' && b[1] == '{' {
		b = b[1:]
		if b[len(b)-1] == '\'' {
			b = bytes.TrimSpace(b[:len(b)-1])
		}
	}
	return b
}
