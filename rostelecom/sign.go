package rostelecom

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/pbxkit/pbxkit/provider"
)

// Both directions sign the same way (see the package documentation,
// Signing): X-Client-Sign is the lowercase hex SHA-256 of the client ID,
// the exact body bytes and the sign key, concatenated.

// Sign returns the X-Client-Sign value for body: the lowercase hex SHA-256 of
// clientID, the body bytes and signKey concatenated, in that order. The PBX
// hashes the exact bytes it receives, so sign the bytes you send and verify
// the bytes you received, never a re-encoding.
func Sign(clientID string, body []byte, signKey string) string {
	sum := signSum(clientID, body, signKey)
	var dst [2 * sha256.Size]byte
	hex.Encode(dst[:], sum[:])
	return string(dst[:])
}

// signSum hashes clientID ‖ body ‖ signKey. Small inputs are joined on the
// stack and hashed in one go, so signing a notification does not allocate.
func signSum(clientID string, body []byte, signKey string) [sha256.Size]byte {
	var stack [1024]byte
	if n := len(clientID) + len(body) + len(signKey); n <= len(stack) {
		b := append(stack[:0], clientID...)
		b = append(b, body...)
		b = append(b, signKey...)
		return sha256.Sum256(b)
	}
	h := sha256.New()
	h.Write([]byte(clientID))
	h.Write(body)
	h.Write([]byte(signKey))
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// verify checks the headers, reads the body and checks its signature.
func (c *Client) verify(r *http.Request) ([]byte, error) {
	id := r.Header.Get("X-Client-Id")
	sign := r.Header.Get("X-Client-Sign")
	switch {
	case id == "":
		return nil, &provider.VerificationError{Provider: Name, Reason: provider.ReasonMissingHeader, Header: "X-Client-ID"}
	case sign == "":
		return nil, &provider.VerificationError{Provider: Name, Reason: provider.ReasonMissingHeader, Header: "X-Client-Sign"}
	case !provider.SecretEqual(id, c.cfg.ClientID):
		return nil, &provider.VerificationError{Provider: Name, Reason: provider.ReasonUnknownClient}
	}
	body, err := provider.ReadBody(r, provider.DefaultMaxBodySize)
	if err != nil {
		return nil, err
	}
	if !c.signatureOK(sign, body) {
		return nil, &provider.VerificationError{Provider: Name, Reason: provider.ReasonBadSignature}
	}
	return body, nil
}

// signatureOK compares a received X-Client-Sign with the signature of body
// in constant time, accepting upper-case hex.
func (c *Client) signatureOK(got string, body []byte) bool {
	return provider.HexEqual(strings.TrimSpace(got), Sign(c.cfg.ClientID, body, c.cfg.SignKey))
}
