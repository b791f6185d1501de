package providertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
)

// minSecretLen is the shortest secret the suite accepts: a shorter one
// could appear in a log line by chance.
const minSecretLen = 6

// Run checks the provider h describes against every guarantee of the
// suite, each as a subtest (see the package documentation). A capability
// the provider lacks is skipped with a message naming it.
//
// Run measures goroutines and the heap: do not run it in parallel with
// other tests of the same binary (no t.Parallel around it). It takes 5 to
// 10 s per provider, a little more under the race detector; its fault
// checks run concurrently, since they mostly wait.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if err := h.validate(); err != nil {
		t.Fatalf("providertest: %v", err)
	}
	s := &suite{h: h}
	for _, sec := range h.Secrets {
		s.secrets = append(s.secrets, secretForms(sec))
	}
	// One provider, to see which capabilities it has.
	probe, err := h.New(Settings{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("providertest: %s: New with default settings: %v", h.Name, s.scrub(err.Error()))
	}
	if got := probe.Name(); got != h.Name {
		t.Errorf("provider Name() = %q, harness Name = %q", got, h.Name)
	}
	_, s.caller = probe.(pbx.Caller)
	if s.caller && (h.Call.Extension == "" || h.Call.Phone == "") {
		t.Fatal("providertest: harness: the provider is a pbx.Caller, but Call has no Extension or Phone")
	}
	_, s.fetcher = probe.(pbx.RecordingFetcher)
	_, s.lister = probe.(pbx.SubscriberLister)
	_, s.exporter = probe.(pbx.HistoryExporter)

	// The timing- and memory-sensitive checks first, each alone.
	t.Run("RoutingDeadline", s.testRoutingDeadline)
	t.Run("Streaming", s.testStreaming)
	t.Run("Webhook", s.testWebhook)
	t.Run("Secrets", s.testSecrets)
	t.Run("MakeCall", s.testMakeCall)
	t.Run("Reads", s.testReads)
	t.Run("Timeout", s.testTimeout)
}

func (h *Harness) validate() error {
	var errs []error
	if h.Name == "" {
		errs = append(errs, errors.New("harness: Name is empty"))
	}
	if h.New == nil {
		errs = append(errs, errors.New("harness: New is nil"))
	}
	if h.CallEvent == nil {
		errs = append(errs, errors.New("harness: CallEvent is nil"))
	}
	if h.RouteQuestion != nil && h.ParseRoute == nil {
		errs = append(errs, errors.New("harness: RouteQuestion is set without ParseRoute"))
	}
	if len(h.Secrets) == 0 {
		errs = append(errs, errors.New("harness: Secrets is empty: list the keys and tokens New configures"))
	}
	for i, sec := range h.Secrets {
		if len(sec) < minSecretLen {
			errs = append(errs, fmt.Errorf("harness: Secrets[%d] is shorter than %d bytes: too short to look for", i, minSecretLen))
		}
	}
	return errors.Join(errs...)
}

// suite is one Run.
type suite struct {
	h       Harness
	secrets [][]string // each secret in the forms it could be written in

	caller, fetcher, lister, exporter bool
}

// secretForms returns sec as it could appear in text: raw, URL-escaped,
// quoted.
func secretForms(sec string) []string {
	forms := []string{sec}
	for _, f := range []string{url.QueryEscape(sec), url.PathEscape(sec), strings.Trim(strconv.Quote(sec), `"`)} {
		if f != sec && !contains(forms, f) {
			forms = append(forms, f)
		}
	}
	return forms
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// leaked returns the index of the first secret text shows, or -1.
func (s *suite) leaked(text string) int {
	for i, forms := range s.secrets {
		for _, f := range forms {
			if strings.Contains(text, f) {
				return i
			}
		}
	}
	return -1
}

// scrub replaces every secret in text, for messages the suite prints.
func (s *suite) scrub(text string) string {
	for _, forms := range s.secrets {
		for _, f := range forms {
			text = strings.ReplaceAll(text, f, "[SECRET]")
		}
	}
	return text
}

// noSecret fails t when text, described by what, shows a secret. The
// message names the secret by its index in Harness.Secrets, never by value.
func (s *suite) noSecret(t *testing.T, what, text string) {
	t.Helper()
	if i := s.leaked(text); i >= 0 {
		t.Errorf("%s shows Secrets[%d]: %s", what, i, s.scrub(text))
	}
}

// noSecretErr checks err under Error() and %+v.
func (s *suite) noSecretErr(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	s.noSecret(t, what, err.Error())
	s.noSecret(t, what+" (%+v)", fmt.Sprintf("%+v", err))
}

// logCapture keeps every line the provider logs.
type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *logCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *logCapture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// settings returns Settings whose Logger captures everything at debug
// level; when t ends, the captured lines are checked for secrets.
func (s *suite) settings(t *testing.T) Settings {
	t.Helper()
	return s.settingsAt(t, slog.LevelDebug)
}

// settingsAt is settings with the Logger at level.
func (s *suite) settingsAt(t *testing.T, level slog.Level) Settings {
	t.Helper()
	capture := &logCapture{}
	t.Cleanup(func() {
		for _, line := range strings.Split(capture.String(), "\n") {
			s.noSecret(t, "log line", line)
		}
	})
	return Settings{Logger: slog.New(slog.NewTextHandler(capture, &slog.HandlerOptions{Level: level}))}
}

// newProvider builds the provider with st, failing t when New fails.
func (s *suite) newProvider(t *testing.T, st Settings) pbx.Provider {
	t.Helper()
	p, err := s.h.New(st)
	if err != nil {
		s.noSecretErr(t, "New's error", err)
		t.Fatalf("New: %s", s.scrub(err.Error()))
	}
	return p
}

// startFake starts the harness's fake for t, or returns nil when the
// harness has none.
func (s *suite) startFake(t *testing.T, recordingSize int64) *Fake {
	t.Helper()
	if s.h.StartFake == nil {
		return nil
	}
	f, err := s.h.StartFake(FakeOptions{RecordingSize: recordingSize})
	if err != nil {
		t.Fatalf("StartFake: %v", err)
	}
	if f == nil || f.Close == nil || f.URL == "" {
		t.Fatal("StartFake returned a Fake without URL or Close")
	}
	t.Cleanup(f.Close)
	return f
}

// requireFake starts the fake or skips t, saying what needs it.
func (s *suite) requireFake(t *testing.T, recordingSize int64, why string) *Fake {
	t.Helper()
	if s.h.StartFake == nil {
		t.Skipf("Harness.StartFake is nil: %s needs the vendor's fake", why)
	}
	return s.startFake(t, recordingSize)
}

// loopbackClient returns an http.Client for loopback servers whose idle
// connections are closed when t ends. headerTimeout, when positive, bounds
// the wait for response headers.
func loopbackClient(t *testing.T, headerTimeout time.Duration) *http.Client {
	tr := &http.Transport{Proxy: nil, ResponseHeaderTimeout: headerTimeout, MaxIdleConnsPerHost: 4}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// group runs subtests together, each in its own goroutine: they mostly
// wait (backoff, Retry-After, time limits), so running them at once keeps
// Run short, where t.Parallel would run only GOMAXPROCS of them at a time
// and would let them overlap with the checks that measure.
type group struct {
	names []string
	fs    []func(*testing.T)
}

func (g *group) add(name string, f func(*testing.T)) {
	g.names = append(g.names, name)
	g.fs = append(g.fs, f)
}

func (g *group) run(t *testing.T) {
	var wg sync.WaitGroup
	for i, f := range g.fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(g.names[i], f)
		}()
	}
	wg.Wait()
}

// send sends req with client and returns the status and body of the
// answer.
func send(client *http.Client, req *http.Request) (int, []byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, buf.Bytes(), err
}

// opContext is the context of one API operation in a check: long enough
// for every bound the suite checks, short enough to end a hung check.
func opContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
