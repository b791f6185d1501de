package providertest

import (
	"bytes"
	"io"
	"runtime"
	"testing"

	"github.com/pbxkit/pbxkit/pbx/pbxtest"
)

// TestHeapSamplerSeesBuffering is the control of the streaming check: the
// same measurement, around a copy that keeps 32 MiB in memory, reports a
// growth above the bound.
func TestHeapSamplerSeesBuffering(t *testing.T) {
	const size = 32 << 20
	var buf bytes.Buffer
	n, growth, _, err := heapGrowth(&buf, func() (io.ReadCloser, error) {
		return io.NopCloser(pbxtest.NewMP3Reader(size)), nil
	})
	if err != nil || n != size {
		t.Fatalf("copied %d bytes, err %v", n, err)
	}
	t.Logf("buffering %d MiB: growth %.1f MiB", size>>20, float64(growth)/(1<<20))
	if growth <= maxHeapGrowth {
		t.Errorf("a copy that keeps %d MiB grew the heap by %d bytes: the measurement cannot see buffering", size>>20, growth)
	}
	runtime.KeepAlive(buf.Bytes())
}

// TestSecretForms: a secret is looked for as written, URL-escaped and
// quoted, and the messages name it without showing it.
func TestSecretForms(t *testing.T) {
	s := &suite{secrets: [][]string{secretForms("a b/c\"d")}}
	for _, text := range []string{`x a b/c"d y`, "x a+b%2Fc%22d y", "x a%20b%2Fc%22d y", `x "a b/c\"d" y`} {
		if s.leaked(text) != 0 {
			t.Errorf("the secret was not found in %q", text)
		}
		if got := s.scrub(text); s.leaked(got) >= 0 {
			t.Errorf("scrub(%q) = %q still shows it", text, got)
		}
	}
	if s.leaked("a b/c") >= 0 {
		t.Error("a part of the secret was taken for it")
	}
}
