package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider"
)

// output is a stdout the test can read while run writes it, and that
// tells when a line containing want was written.
type output struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func newOutput(want string) *output {
	return &output{want: want, seen: make(chan struct{})}
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, err := o.buf.Write(p)
	if strings.Contains(o.buf.String(), o.want) {
		o.once.Do(func() { close(o.seen) })
	}
	return n, err
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// field returns, per vendor, the value of the "  key   value" lines under
// the vendor's heading in out.
func field(out, key string) map[string]string {
	got := map[string]string{}
	vendor := ""
	for line := range strings.Lines(out) {
		line = strings.TrimRight(line, "\n")
		if line != "" && !strings.HasPrefix(line, " ") && !strings.Contains(line, " ") {
			vendor = line
			continue
		}
		if f := strings.Fields(line); vendor != "" && len(f) == 2 && f[0] == key {
			got[vendor] = f[1]
		}
	}
	return got
}

// start runs the program with args, writing to out, until the test ends
// or stop is called; it returns once out holds out.want.
func start(t *testing.T, out, errOut *output, args ...string) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, out, errOut) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				err = errors.New("run did not return within 10 s of its context ending")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	select {
	case <-out.seen:
	case err := <-done:
		t.Fatalf("run returned %v before writing %q:\n%s%s", err, out.want, out, errOut)
	case <-time.After(10 * time.Second):
		t.Fatalf("run did not write %q in 10 s:\n%s%s", out.want, out, errOut)
	}
	return stop
}

func TestRunPrintsAWorkingDSNPerVendor(t *testing.T) {
	out := newOutput("until Ctrl-C")
	stop := start(t, out, newOutput("\x00"))
	dsns, apis := field(out.String(), "DSN"), field(out.String(), "API")
	vendors := pbxtest.Vendors()
	if len(vendors) == 0 {
		t.Fatal("no vendor fake is registered")
	}
	if len(dsns) != len(vendors) {
		t.Errorf("%d DSNs printed for %d vendors:\n%s", len(dsns), len(vendors), out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, v := range vendors {
		dsn, ok := dsns[v.Name]
		if !ok {
			t.Errorf("no DSN printed for %s:\n%s", v.Name, out)
			continue
		}
		p, err := provider.Open(dsn)
		if err != nil {
			t.Errorf("%s: provider.Open refuses the printed DSN: %v", v.Name, err)
			continue
		}
		if p.Name() != v.Name {
			t.Errorf("the DSN printed under %s opens %s", v.Name, p.Name())
		}
		// The DSN reaches the running fake with the right credentials.
		if l, ok := p.(pbx.SubscriberLister); ok {
			subs, err := l.Subscribers(ctx)
			if err != nil || len(subs) != len(pbxtest.Employees()) {
				t.Errorf("%s: Subscribers through the printed DSN: %d, %v; want the %d seeded employees", v.Name, len(subs), err, len(pbxtest.Employees()))
			}
		}
		if !strings.Contains(out.String(), "go run ./examples/pbxctl -provider '"+dsn+"'") {
			t.Errorf("%s: no pbxctl command with its DSN:\n%s", v.Name, out)
		}
		if !strings.Contains(out.String(), "-provider '"+dsn+"'") {
			t.Errorf("%s: no webhook-server command with its DSN:\n%s", v.Name, out)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	// Once run returned, the fakes are shut down.
	for name, api := range apis {
		if resp, err := http.Get(api); err == nil {
			resp.Body.Close()
			t.Errorf("%s: the fake at %s still answers after run returned", name, api)
		}
	}
}

func TestRunPlaysAtTheWebhook(t *testing.T) {
	// A webhook server like webhook-server's: each vendor under
	// /pbx/<vendor>/, its provider opened from the DSN the program printed
	// (read when the vendor's first notification arrives, after the DSNs
	// were printed).
	vendors := pbxtest.Vendors()
	last := vendors[len(vendors)-1].Name
	out := newOutput(last + ": played")
	var (
		mu   sync.Mutex
		recs = map[string]*pbxtest.Recorder{}
		hs   = map[string]http.Handler{}
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/pbx/"), "/")
		mu.Lock()
		h, ok := hs[name]
		if !ok {
			p, err := provider.Open(field(out.String(), "DSN")[name])
			if err != nil {
				mu.Unlock()
				http.Error(w, "no provider for "+name, http.StatusNotFound)
				return
			}
			recs[name] = &pbxtest.Recorder{}
			h = p.WebhookHandler(recs[name], recs[name])
			hs[name] = h
		}
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	defer hook.Close()

	errOut := newOutput("\x00")
	stop := start(t, out, errOut, "-play", hook.URL+"/pbx", "-every", "1h")
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if s := errOut.String(); s != "" {
		t.Errorf("stderr: %s", s)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, v := range vendors {
		if !strings.Contains(out.String(), v.Name+": played an answered incoming call from") {
			t.Errorf("no play reported for %s:\n%s", v.Name, out)
		}
		rec := recs[v.Name]
		if rec == nil {
			t.Errorf("%s: nothing reached /pbx/%s/", v.Name, v.Name)
			continue
		}
		events := rec.Events()
		if len(events) == 0 || events[len(events)-1].Type != pbx.EventCallEnded {
			t.Errorf("%s: the webhook got %d events, want a call ending with call_ended", v.Name, len(events))
		}
	}
}

// A webhook that refuses the calls is reported per vendor on stderr, and
// the fakes keep running.
func TestRunReportsAFailedPlay(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer hook.Close()
	vendors := pbxtest.Vendors()
	errOut := newOutput(vendors[len(vendors)-1].Name + ": the answered incoming call at")
	stop := start(t, newOutput("until Ctrl-C"), errOut, "-play", hook.URL+"/pbx/", "-every", "1h")
	select {
	case <-errOut.seen:
	case <-time.After(10 * time.Second):
		t.Fatalf("no failure reported in 10 s:\n%s", errOut)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, v := range vendors {
		if want := "fakes: " + v.Name + ": the answered incoming call at " + hook.URL + "/pbx/" + v.Name + "/ failed"; !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestRunUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-play", "ftp://example.ru/"}, "want an http:// or https:// URL"},
		{[]string{"-play", "/pbx/"}, "want an http:// or https:// URL"},
		{[]string{"-play", "http://127.0.0.1:8080/pbx/", "-every", "0s"}, "want a positive duration"},
		{[]string{"-nope"}, "flag provided but not defined"},
		{[]string{"extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tt.args, &out, &errOut)
			var u usageError
			if !errors.As(err, &u) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run returned %v, want a usage error containing %q", err, tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("a bad command line started the fakes:\n%s", out.String())
			}
		})
	}
	if err := run(context.Background(), []string{"-h"}, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h returned %v, want flag.ErrHelp", err)
	}
}

func TestWebhookBase(t *testing.T) {
	for in, want := range map[string]string{
		"":                            "",
		"http://127.0.0.1:8080/pbx":   "http://127.0.0.1:8080/pbx/",
		"https://crm.example.ru/pbx/": "https://crm.example.ru/pbx/",
	} {
		if got, err := webhookBase(in); err != nil || got != want {
			t.Errorf("webhookBase(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
