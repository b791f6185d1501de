package rostelecom

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The manual's example credentials (also the fake's defaults).
const (
	manualID  = "000003C405E6525C64C184258C44EC99"
	manualKey = "00000716ABDA6D4DFF10F82BCBBFC532"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func TestSignPublishedVectors(t *testing.T) {
	tests := []struct {
		name, id, key, file, want string
	}{
		// Test vector 1: the manual's own example (body byte-exact: a space
		// after each colon, none after the comma).
		{"manual example", manualID, manualKey, "sign_manual_call_back.json",
			"fc95a524342dc68df90f7488e6d821c5a8a3b667d585490b50ebf939f1202c36"},
		// Test vector 2: R3's UtilsTest.java.
		{"R3 UtilsTest", "ONOFIQNEOIFNQO142EIFNGQEPIN", "OQNFOI5213QNEFOI135QNEOFINQE", "sign_r3.json",
			"f8f23ae57b0355cdb43a856574ed89d7fdb9b0108ccb45845a77ad9d9c538172"},
		// Byte-exactness: the same object, raw UTF-8 and \u-escaped, signs
		// differently, which is why a verifier must hash the raw bytes.
		{"raw UTF-8", manualID, manualKey, "sign_number_info_utf8.json",
			"19142b023f8a070c6443d40aa1a3e0e1fdb5e1b40dd1104de130d2b0ee1874c4"},
		{"escaped", manualID, manualKey, "sign_number_info_escaped.json",
			"d4621b7f85c5b660c5294784a52f650180723f5e94049247b33b184e59edcd74"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Sign(tt.id, readFixture(t, tt.file), tt.key))
		})
	}
	assert.Equal(t, "2897ea7bba7400f91696733d5787ce770ba07542caaac341c16ef46a6d4d8268", Sign(manualID, nil, manualKey), "empty body")
	assert.Equal(t, "71ad47150f98eac67606b1487f7fa27f0b2029d7c2c268fc4aa7b5ca95257fda", Sign(manualID, []byte("{}"), manualKey))
}

func TestSignLargeBodyTakesTheStreamingPath(t *testing.T) {
	body := []byte(strings.Repeat("x", 5000))
	short := Sign(manualID, body[:100], manualKey)
	long := Sign(manualID, body, manualKey)
	assert.Len(t, long, 64)
	assert.NotEqual(t, short, long)
	// The same result either way: compare against a manual concatenation.
	joined := append(append([]byte(manualID), body...), manualKey...)
	assert.Equal(t, Sign("", joined, ""), long)
}

func TestSignDoesNotAllocateBeyondTheHex(t *testing.T) {
	body := readFixture(t, "notifications/manual_end.json")
	allocs := testing.AllocsPerRun(100, func() { _ = signSum(manualID, body, manualKey) })
	assert.Zero(t, allocs)
}
