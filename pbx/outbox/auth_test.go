package outbox_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/outbox"
	"github.com/pbxkit/pbxkit/pbx/outbox/outboxtest"
)

// TestBasicAuthAndSecrets: basic auth given in the URL reaches the
// receiver (1C HTTP services use it), and neither the password, nor the
// URL's query, nor the signing secret, nor a header value appears in
// anything the outbox prints: %v of its values, errors, dead letters,
// logs.
func TestBasicAuthAndSecrets(t *testing.T) {
	const user, password, token, apiKey = "bridge", "p@ss:w0rd/секрет", "qtok-94731", "hdr-key-5521"
	j := journal.New(journal.NewMemoryStore())
	addCalls(t, j, 0, 2)
	r := outboxtest.NewReceiver(t, secret)
	r.RequireBasicAuth(user, password)
	u, _ := url.Parse(r.URL())
	u.User = url.UserPassword(user, password)
	u.RawQuery = "token=" + token
	target := outbox.Target{Name: "1c", URL: u.String(), Secret: secret, Header: http.Header{"X-Api-Key": {apiKey}}}
	var logs logBuffer
	clk := outboxtest.NewClock(t0)
	ob, err := outbox.New(j, target, fastOpts(clk, outbox.WithLogger(newLogger(&logs)),
		outbox.WithSchedule([]time.Duration{time.Minute}), outbox.WithGiveUpAfter(5*time.Minute))...)
	if err != nil {
		t.Fatal(err)
	}
	run := start(t, ob)
	waitFor(t, "two documents", 10*time.Second, func() bool { return r.AppliedCount() == 2 })

	// Down: a line in the log with the URL; then a call that gives up.
	r.Set(outboxtest.Behavior{Mode: outboxtest.Down})
	addCalls(t, j, 2, 3)
	drive(t, clk, "dead letters", 10*time.Second, func() bool { return ob.Stats().Dead == 3 })
	// Wrong password: 401, a dead letter at once.
	r.Set(outboxtest.Behavior{Mode: outboxtest.Up})
	r.RequireBasicAuth(user, "another")
	addCalls(t, j, 5, 1)
	drive(t, clk, "the refused call", 10*time.Second, func() bool { return ob.Stats().Dead == 4 })
	run.stop(t)

	var printed []string
	printed = append(printed, fmt.Sprint(target), fmt.Sprintf("%+v", target), fmt.Sprintf("%#v", target),
		fmt.Sprint(ob), fmt.Sprintf("%+v", ob), fmt.Sprintf("%#v", ob), logs.String())
	dls := deadLetters(t, ob)
	statuses := map[int]int{}
	for _, dl := range dls {
		statuses[dl.Status]++
		printed = append(printed, dl.Error)
		if err := ob.Retry(context.Background(), dl.ID); err != nil {
			printed = append(printed, err.Error())
		}
	}
	if statuses[0] != 3 || statuses[401] != 1 {
		t.Errorf("dead letter statuses %v, want 3 without an answer and one 401", statuses)
	}
	if !strings.Contains(logs.String(), "target down") || !strings.Contains(logs.String(), "url="+r.URL()+"?...") {
		t.Errorf("log without the redacted URL:\n%s", logs.String())
	}
	for _, p := range printed {
		for _, s := range []string{password, url.QueryEscape(password), url.PathEscape(password), "w0rd", token, apiKey, string(secret)} {
			if strings.Contains(p, s) {
				t.Errorf("printed %q, which contains a secret (%q)", p, s)
			}
		}
	}
}

// TestHeaders: the Standard Webhooks headers go out in lower case (1C
// reads headers by exact name), override any of the user's, and the
// user's other headers (an Authorization, say) go with every request.
func TestHeaders(t *testing.T) {
	j := journal.New(journal.NewMemoryStore())
	addCalls(t, j, 0, 1)
	r := outboxtest.NewReceiver(t, secret)
	r.RequireBasicAuth("bridge", "pw")
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth("bridge", "pw")
	var mu sync.Mutex
	var seen http.Header
	hc := &http.Client{Transport: roundTripFunc(func(q *http.Request) (*http.Response, error) {
		mu.Lock()
		seen = q.Header.Clone()
		mu.Unlock()
		return http.DefaultTransport.RoundTrip(q)
	})}
	target := outbox.Target{Name: "1c", URL: r.URL(), Secret: secret, Header: http.Header{
		"Authorization": {req.Header.Get("Authorization")},
		"Webhook-Id":    {"forged"},
		"X-Bridge":      {"pbxkit"},
	}}
	ob, err := outbox.New(j, target, fastOpts(outboxtest.NewClock(t0), outbox.WithHTTPClient(hc))...)
	if err != nil {
		t.Fatal(err)
	}
	start(t, ob)
	waitFor(t, "the delivery", 10*time.Second, func() bool { return r.AppliedCount() == 1 })
	mu.Lock()
	defer mu.Unlock()
	for _, k := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
		if len(seen[k]) != 1 {
			t.Errorf("header %q: %q", k, seen[k])
		}
	}
	var lower []string // sent in lower case on purpose
	for k, v := range seen {
		if k == outbox.HeaderID {
			lower = v
		}
	}
	if seen["Webhook-Id"] != nil || len(lower) != 1 || strings.Contains(lower[0], "forged") {
		t.Errorf("the user's Webhook-Id went out: %v", seen)
	}
	if seen.Get("X-Bridge") != "pbxkit" || seen.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", seen)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestNew: New refuses what cannot work, with an error that names the
// problem and never quotes a password.
func TestNew(t *testing.T) {
	j := journal.New(journal.NewMemoryStore())
	ok := outbox.Target{Name: "1c", URL: "https://1c.example/hs/pbx/calls", Secret: secret}
	with := func(f func(*outbox.Target)) outbox.Target { t := ok; f(&t); return t }
	cases := []struct {
		name   string
		j      *journal.Journal
		target outbox.Target
		opts   []outbox.Option
		want   string
	}{
		{"ok", j, ok, nil, ""},
		{"ok with short lease and timeout", j, ok, []outbox.Option{outbox.WithTimeout(time.Second), outbox.WithLeaseTTL(3 * time.Second)}, ""},
		{"nil journal", nil, ok, nil, "nil journal"},
		{"empty name", j, with(func(t *outbox.Target) { t.Name = "" }), nil, "target name"},
		{"slash in name", j, with(func(t *outbox.Target) { t.Name = "1c/x" }), nil, "target name"},
		{"cyrillic name", j, with(func(t *outbox.Target) { t.Name = "1с" }), nil, "target name"},
		{"long name", j, with(func(t *outbox.Target) { t.Name = strings.Repeat("a", 65) }), nil, "target name"},
		{"relative URL", j, with(func(t *outbox.Target) { t.URL = "/hs/pbx" }), nil, "absolute http"},
		{"ftp URL", j, with(func(t *outbox.Target) { t.URL = "ftp://u:hunter2@1c.example/x" }), nil, "absolute http"},
		{"unparsable URL with password", j, with(func(t *outbox.Target) { t.URL = "http://u:hunter2@1c.example/%zz" }), nil, "(invalid URL)"},
		{"empty secret", j, with(func(t *outbox.Target) { t.Secret = nil }), nil, "empty Secret"},
		{"lease shorter than a request", j, ok, []outbox.Option{outbox.WithTimeout(time.Minute), outbox.WithLeaseTTL(time.Minute)}, "lease TTL"},
		{"long timeout, default lease", j, ok, []outbox.Option{outbox.WithTimeout(2 * time.Minute)}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := outbox.New(tc.j, tc.target, tc.opts...)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error quotes the password: %v", err)
			}
		})
	}
}

// TestRunTwice: a second Run of the same Outbox is refused at once.
func TestRunTwice(t *testing.T) {
	j := journal.New(journal.NewMemoryStore())
	r := outboxtest.NewReceiver(t, secret)
	ob := newOutbox(t, j, r.URL(), fastOpts(outboxtest.NewClock(t0))...)
	start(t, ob)
	waitFor(t, "Run", 5*time.Second, func() bool { return ob.Stats().Active })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ob.Run(ctx); err == nil || ctx.Err() != nil {
		t.Errorf("second Run = %v, want an error at once", err)
	}
}

// TestRestartAfterStop: a Run stopped by its context saves the cursor and
// gives up the lease: another replica starts at once where it stopped,
// and nothing is sent twice.
func TestRestartAfterStop(t *testing.T) {
	j := journal.New(journal.NewMemoryStore())
	addCalls(t, j, 0, 30)
	r := outboxtest.NewReceiver(t, secret)
	a := newOutbox(t, j, r.URL(), fastOpts(outboxtest.NewClock(t0))...)
	run := start(t, a)
	waitFor(t, "30 documents", 10*time.Second, func() bool { return a.Stats().Delivered == 30 })
	if err := run.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
	addCalls(t, j, 30, 10)
	b := newOutbox(t, j, r.URL(), fastOpts(outboxtest.NewClock(t0))...)
	began := time.Now()
	start(t, b)
	waitFor(t, "40 documents", 10*time.Second, func() bool { return b.Stats().Delivered == 10 && r.AppliedCount() == 40 })
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("the second replica took %v to start: the lease was not given up", d)
	}
	for _, x := range r.Applied() {
		if n := r.Received(x.ID); n != 1 {
			t.Errorf("%s received %d times", x.ID, n)
		}
	}
	if r.Requests() != 40 {
		t.Errorf("%d requests for 40 documents", r.Requests())
	}
	checkDelivered(t, j, r)
}
