package providertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
)

// urlPassword is the password put into a BaseURL by the secrets check.
const urlPassword = "providertest-url-password-5b2e"

// testSecrets: the provider printed with %v, %+v, %#v and %s (alone and
// inside a struct), logged through slog and marshalled to JSON shows no
// secret; and a BaseURL that carries a password shows it in no error
// (New's or an operation's) and no log line. The other checks look for
// the secrets in every error, log line and webhook answer they see.
func (s *suite) testSecrets(t *testing.T) {
	t.Run("Printed", func(t *testing.T) {
		p := s.newProvider(t, s.settings(t))
		s.noSecretPrinted(t, p)
	})
	t.Run("BaseURLWithPassword", func(t *testing.T) {
		ss := *s
		ss.secrets = append(append([][]string(nil), s.secrets...), secretForms(urlPassword))
		for _, u := range []string{
			"http://probe:" + urlPassword + "@127.0.0.1:1/",
			"http://probe:" + urlPassword + "@127.0.0.1:1/%zz", // does not parse
		} {
			st := ss.settings(t)
			st.BaseURL = u
			st.Timeout = 3 * time.Second
			p, err := ss.h.New(st)
			if err != nil {
				ss.noSecretErr(t, "New's error", err)
				continue
			}
			ss.noSecretPrinted(t, p)
			ss.noSecretInErrors(t, p)
		}
	})
}

// noSecretPrinted prints p in every way a program might.
func (s *suite) noSecretPrinted(t *testing.T, p pbx.Provider) {
	t.Helper()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		s.noSecret(t, "the provider printed with "+verb, fmt.Sprintf(verb, p))
		s.noSecret(t, "a struct holding the provider printed with "+verb, fmt.Sprintf(verb, struct{ P pbx.Provider }{p}))
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("provider", "p", p)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("provider", "p", p)
	s.noSecret(t, "the provider logged through slog", buf.String())
	if b, err := json.Marshal(p); err == nil {
		s.noSecret(t, "the provider marshalled to JSON", string(b))
	}
}

// noSecretInErrors runs every operation p has against its (unreachable)
// API and checks the errors.
func (s *suite) noSecretInErrors(t *testing.T, p pbx.Provider) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	run := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	if c, ok := p.(pbx.Caller); ok {
		run(func() error { _, err := c.MakeCall(ctx, s.h.Call); return err })
	}
	for _, op := range s.readOps() {
		run(func() error { return op.run(ctx, p, nil) })
	}
	wg.Wait()
	for _, err := range errs {
		s.noSecretErr(t, "an operation's error", err)
	}
}
