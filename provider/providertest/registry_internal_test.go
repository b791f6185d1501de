package providertest

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/pbxkit/pbxkit/pbx"
)

// withEmptyRegistry runs f with an empty registry and puts the real one
// back afterwards.
func withEmptyRegistry(t *testing.T, f func()) {
	t.Helper()
	registryMu.Lock()
	saved := registry
	registry = map[string]Harness{}
	registryMu.Unlock()
	defer func() {
		registryMu.Lock()
		registry = saved
		registryMu.Unlock()
	}()
	f()
}

func registryHarness(name string) Harness {
	return Harness{
		Name:      name,
		New:       func(Settings) (pbx.Provider, error) { return nil, nil },
		CallEvent: func(string, int) (*http.Request, error) { return nil, nil },
	}
}

// panics returns the panic value of f as text, "" when it did not panic.
func panics(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg, _ = r.(string)
			if msg == "" {
				msg = "panic"
			}
		}
	}()
	f()
	return ""
}

// TestRegistry: Harnesses lists every registered harness sorted by name,
// whatever the order of registration; a second registration under one
// name, an empty name and a harness without New or CallEvent panic and
// leave the registry as it was.
func TestRegistry(t *testing.T) {
	withEmptyRegistry(t, func() {
		if hs := Harnesses(); len(hs) != 0 {
			t.Fatalf("empty registry lists %d harnesses", len(hs))
		}
		for _, name := range []string{"sipuni", "acme", "rostelecom"} {
			Register(registryHarness(name))
		}
		names := func() []string {
			var out []string
			for _, h := range Harnesses() {
				out = append(out, h.Name)
			}
			return out
		}
		want := []string{"acme", "rostelecom", "sipuni"}
		if got := names(); !slices.Equal(got, want) {
			t.Fatalf("Harnesses() = %v, want %v", got, want)
		}

		noNew := registryHarness("nonew")
		noNew.New = nil
		noEvent := registryHarness("noevent")
		noEvent.CallEvent = nil
		for _, tc := range []struct {
			name string
			h    Harness
			want string
		}{
			{"duplicate", registryHarness("sipuni"), "twice"},
			{"empty name", registryHarness(""), "empty"},
			{"no New", noNew, "required"},
			{"no CallEvent", noEvent, "required"},
		} {
			msg := panics(func() { Register(tc.h) })
			if !strings.Contains(msg, tc.want) {
				t.Errorf("%s: Register panicked with %q, want a panic mentioning %q", tc.name, msg, tc.want)
			}
		}
		if got := names(); !slices.Equal(got, want) {
			t.Errorf("after the refused registrations Harnesses() = %v, want %v", got, want)
		}
	})
}
