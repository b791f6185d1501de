package zadarma

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/provider"
)

// The API signature, against vectors computed by an independent
// implementation of PHP's http_build_query(PHP_QUERY_RFC1738), md5,
// hash_hmac('sha1') (hex) and base64_encode, as lib/Client.php composes
// them.
func TestSignVectors(t *testing.T) {
	for _, tc := range []struct {
		method string
		params url.Values
		query  string
		sig    string
	}{
		{"/v1/request/callback/", url.Values{"from": {"101"}, "to": {"79991234567"}, "sip": {"101"}, "format": {"json"}},
			"format=json&from=101&sip=101&to=79991234567", "ZGEzNTFmZDUwOWRjY2Q2MThhYWFjMTMzNmEzMDE2NWI2MTgwYjEyOA=="},
		{"/v1/statistics/pbx/", url.Values{"start": {"2026-03-01 00:00:00"}, "end": {"2026-03-28 23:59:59"}, "version": {"2"},
			"limit": {"1000"}, "skip": {"1000"}, "call_type": {"in"}, "format": {"json"}},
			"call_type=in&end=2026-03-28+23%3A59%3A59&format=json&limit=1000&skip=1000&start=2026-03-01+00%3A00%3A00&version=2",
			"ZjgzZjg1NGRmOWU2YWUxNzI4ZGQ2ZjA3NDRjNjhhNTdjYjk0NTcwZg=="},
		{"/v1/pbx/internal/", url.Values{"format": {"json"}}, "format=json", "NjUyMjBmZGVmNzY5ZGI3MDFhODlkM2JiOWFlY2IyNzBjMDI2MjZhZg=="},
		// RFC 1738 as PHP writes it: "~", "*", "'", "(", ")", "!" and ","
		// escaped, a space as "+", UTF-8 bytes in upper-case hex.
		{"/v1/sms/send/", url.Values{"number": {"79991234567"}, "message": {"Привет, a~b*c'd(e)!"}, "format": {"json"}},
			"format=json&message=%D0%9F%D1%80%D0%B8%D0%B2%D0%B5%D1%82%2C+a%7Eb%2Ac%27d%28e%29%21&number=79991234567",
			"ZDM4MGZjMDgyN2FmNTE3MzJmMGM3NWFjNDExMTRmMzZlMjdlMDA1NQ=="},
	} {
		assert.Equal(t, tc.query, EncodeQuery(tc.params), tc.method)
		assert.Equal(t, tc.sig, Sign(tc.method, tc.params, testSecret), tc.method)
	}
}

func TestEncodeQueryEdges(t *testing.T) {
	assert.Equal(t, "", EncodeQuery(nil))
	assert.Equal(t, "a=&b=1", EncodeQuery(url.Values{"b": {"1"}, "a": {""}}), "an empty value is written")
	assert.Equal(t, "b=1", EncodeQuery(url.Values{"b": {"1"}, "a": {}}), "a name without a value is skipped, as PHP skips null")
	assert.Equal(t, "a=1&a=2", EncodeQuery(url.Values{"a": {"1", "2"}}))
	assert.Equal(t, "B=1&a=1", EncodeQuery(url.Values{"a": {"1"}, "B": {"1"}}), "byte order: upper case first")
	// What Go's encoder writes differently: "~" (Go keeps it) and the
	// space (Go's PathEscape writes %20).
	assert.Equal(t, "x=%7E+", EncodeQuery(url.Values{"x": {"~ "}}))
}

// The notification signatures: the Base64 of the hex HMAC-SHA1 of the
// signed string (PHP encodeSignature), vectors computed independently.
func TestSignNotificationVectors(t *testing.T) {
	assert.Equal(t, "MDcyOTNhZTBhZTc3MjA5ZTIwOTMxNDIyNWI1ZDkwZTFhMzU2MjRiYg==",
		SignNotification("79161234567"+"74951234567"+"2026-03-01 10:00:00", testSecret))
	assert.Equal(t, "YzdlZjRjZWU2NjY4ZTJkYmQyZjRmNDg2OGVjNzdjZmQ1YTNjMWVhYQ==",
		SignNotification("in_0123456789abcdef0123456789abcdef01234567"+"1774372146.1234567", testSecret))
	assert.Equal(t, "YjE2NDkwMTU0YWMxMWY4OWI3MzMwMzAxMmE1ZGY2NzEwZTE5MWFkMw==", SignNotification("", testSecret))
}

func TestSignedStringPerEvent(t *testing.T) {
	n := &Notification{CallerID: "A", CalledDID: "B", CallStart: "C", Destination: "D", Internal: "E", PBXCallID: "F", CallIDWithRec: "G"}
	for event, want := range map[string]string{
		EventStart: "ABC", EventInternal: "ABC", EventEnd: "ABC", EventIVR: "ABC",
		EventAnswer: "ADC", EventOutStart: "EDC", EventOutEnd: "EDC", EventRecord: "FG",
	} {
		n.Event = event
		got, ok := n.SignedString()
		assert.True(t, ok, event)
		assert.Equal(t, want, got, event)
	}
	for _, event := range []string{"", "NOTIFY_TRANSFER", "notify_start", "SMS", "SPEECH_RECOGNITION"} {
		n.Event = event
		_, ok := n.SignedString()
		assert.False(t, ok, "%q cannot be verified", event)
	}
}

func TestVerify(t *testing.T) {
	c := newTestClient(t, "")
	n, err := ParseNotification([]byte(startFields().Encode()), "")
	require.NoError(t, err)
	signed, _ := n.SignedString()
	mac := hmac.New(sha1.New, []byte(testSecret))
	mac.Write([]byte(signed))
	raw := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	good := SignNotification(signed, testSecret)

	h := func(vs ...string) http.Header { return http.Header{"Signature": vs} }
	assert.NoError(t, c.verify(h(good), n), "Base64 of the hex HMAC (PHP client)")
	assert.NoError(t, c.verify(h(" "+good+" "), n), "surrounding space")
	assert.NoError(t, c.verify(h(raw), n), "Base64 of the raw HMAC (TypeScript client)")

	reason := func(err error) provider.Reason {
		var ve *provider.VerificationError
		require.ErrorAs(t, err, &ve)
		return ve.Reason
	}
	assert.Equal(t, provider.ReasonMissingHeader, reason(c.verify(http.Header{}, n)))
	assert.Equal(t, provider.ReasonMissingHeader, reason(c.verify(h(""), n)))
	assert.Equal(t, provider.ReasonBadSignature, reason(c.verify(h(good[:len(good)-2]), n)))
	assert.Equal(t, provider.ReasonBadSignature, reason(c.verify(h(SignNotification(signed, testSecret+"x")), n)))
	assert.Equal(t, provider.ReasonBadSignature, reason(c.verify(h(good, good), n)), "two headers are refused")
	hexOnly := good
	if dec, err := base64.StdEncoding.DecodeString(good); err == nil {
		hexOnly = string(dec)
	}
	assert.Equal(t, provider.ReasonBadSignature, reason(c.verify(h(hexOnly), n)), "the bare hex is not Zadarma's encoding")

	other := *n
	other.CallStart = "2026-03-01 10:00:01"
	assert.Equal(t, provider.ReasonBadSignature, reason(c.verify(h(good), &other)), "a signed field changed")
	unknown := *n
	unknown.Event = "NOTIFY_TRANSFER"
	assert.Equal(t, reasonUnverifiable, reason(c.verify(h(good), &unknown)), "an unknown event type is never accepted")
	// An unsigned field may change: that is Zadarma's protocol.
	unsigned := *n
	unsigned.PBXCallID = "in_other"
	assert.NoError(t, c.verify(h(good), &unsigned))
}
