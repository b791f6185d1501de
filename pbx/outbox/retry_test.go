package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/outbox"
	"github.com/pbxkit/pbxkit/pbx/outbox/outboxtest"
)

func deadLetters(t testing.TB, ob *outbox.Outbox) []outbox.DeadLetter {
	t.Helper()
	var out []outbox.DeadLetter
	for dl, err := range ob.DeadLetters(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, dl)
	}
	return out
}

// docOf decodes a call document (Errorf, not Fatalf: receivers call it
// from their own goroutines).
func docOf(t testing.TB, body []byte) outbox.CallDocument {
	t.Helper()
	var d outbox.CallDocument
	if err := d.UnmarshalJSON(body); err != nil {
		t.Errorf("body %s: %v", body, err)
	}
	return d
}

// TestStatusVerdicts: what each answer means. 2xx is delivered at the
// first attempt; a 4xx other than 408, 409 and 429 is a dead letter at
// once, never retried; everything else is retried with the same
// webhook-id until a 2xx.
func TestStatusVerdicts(t *testing.T) {
	const (
		delivered = "delivered"
		dead      = "dead"
		retried   = "retried"
	)
	cases := []struct {
		status int
		want   string
	}{
		{200, delivered}, {201, delivered}, {202, delivered}, {204, delivered},
		{400, dead}, {401, dead}, {403, dead}, {404, dead}, {405, dead}, {410, dead}, {413, dead}, {422, dead},
		{408, retried}, {409, retried}, {429, retried},
		{500, retried}, {502, retried}, {503, retried}, {504, retried},
		{301, retried}, {302, retried}, {303, retried}, {307, retried}, {308, retried},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			j := journal.New(journal.NewMemoryStore())
			addCalls(t, j, 0, 1)
			r := outboxtest.NewReceiver(t, secret)
			r.SetFunc(func(q outboxtest.Request) outboxtest.Behavior {
				if q.Attempt == 1 {
					return outboxtest.Behavior{Mode: outboxtest.Fail, Status: tc.status,
						Header: http.Header{"Location": {"http://127.0.0.1:1/elsewhere"}}}
				}
				return outboxtest.Behavior{Mode: outboxtest.Up}
			})
			if tc.status/100 == 2 {
				r.Set(outboxtest.Behavior{Mode: outboxtest.Up})
			}
			clk := outboxtest.NewClock(t0)
			ob := newOutbox(t, j, r.URL(), fastOpts(clk)...)
			start(t, ob)
			switch tc.want {
			case delivered:
				waitFor(t, "the delivery", 10*time.Second, func() bool { return ob.Stats().Delivered == 1 })
				if r.Requests() != 1 {
					t.Errorf("%d requests, want 1", r.Requests())
				}
			case dead:
				waitFor(t, "the dead letter", 10*time.Second, func() bool { return ob.Stats().Dead == 1 })
				// Time passing does not bring a retry.
				for range 20 {
					clk.Advance(time.Hour)
				}
				time.Sleep(20 * time.Millisecond)
				dls := deadLetters(t, ob)
				if len(dls) != 1 || dls[0].Status != tc.status || dls[0].Attempts != 1 || r.Requests() != 1 {
					t.Errorf("dead letters %+v after %d requests", dls, r.Requests())
				}
			case retried:
				drive(t, clk, "the retry", 10*time.Second, func() bool { return ob.Stats().Delivered == 1 })
				a := r.Applied()
				if len(a) != 1 || r.Received(a[0].ID) != 2 || r.Requests() != 2 {
					t.Errorf("applied %d, received %d requests", len(a), r.Requests())
				}
				if ob.Stats().Dead != 0 {
					t.Errorf("dead letter for a retried status")
				}
			}
		})
	}
}

// TestRedirectNotFollowed: a 3xx is a failure whose error says the
// redirect was not followed, and its Location is never requested.
func TestRedirectNotFollowed(t *testing.T) {
	j := journal.New(journal.NewMemoryStore())
	addCalls(t, j, 0, 1)
	elsewhere := outboxtest.NewReceiver(t, secret)
	r := outboxtest.NewReceiver(t, secret)
	r.Set(outboxtest.Behavior{Mode: outboxtest.Fail, Status: http.StatusFound,
		Header: http.Header{"Location": {elsewhere.URL() + "?token=hidden"}}})
	clk := outboxtest.NewClock(t0)
	ob := newOutbox(t, j, r.URL(), fastOpts(clk, outbox.WithSchedule([]time.Duration{time.Minute}), outbox.WithGiveUpAfter(10*time.Minute))...)
	start(t, ob)
	drive(t, clk, "the dead letter", 10*time.Second, func() bool { return ob.Stats().Dead == 1 })
	dl := deadLetters(t, ob)[0]
	if dl.Status != http.StatusFound || !strings.Contains(dl.Error, "redirect to "+elsewhere.URL()+"?... not followed") {
		t.Errorf("dead letter %+v", dl)
	}
	if strings.Contains(dl.Error, "hidden") {
		t.Errorf("error quotes the Location's query: %s", dl.Error)
	}
	if dl.Attempts < 8 || dl.LastAttempt.Sub(dl.FirstAttempt) < 10*time.Minute {
		t.Errorf("gave up after %d attempts over %v, want about 10 over 10 minutes", dl.Attempts, dl.LastAttempt.Sub(dl.FirstAttempt))
	}
	if elsewhere.Requests() != 0 {
		t.Errorf("the redirect was followed")
	}
}

// attemptTimes runs one delivery against a receiver failing as fail says
// and returns the fake clock's time at each request, until n requests.
func attemptTimes(t *testing.T, n int, fail outboxtest.Behavior, opts ...outbox.Option) []time.Time {
	t.Helper()
	j := journal.New(journal.NewMemoryStore())
	addCalls(t, j, 0, 1)
	clk := outboxtest.NewClock(t0)
	r := outboxtest.NewReceiver(t, secret)
	var mu sync.Mutex
	var times []time.Time
	r.SetFunc(func(outboxtest.Request) outboxtest.Behavior {
		mu.Lock()
		defer mu.Unlock()
		times = append(times, clk.Now())
		return fail
	})
	ob := newOutbox(t, j, r.URL(), fastOpts(clk, opts...)...)
	run := start(t, ob)
	drive(t, clk, fmt.Sprint(n, " attempts"), 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(times) >= n
	})
	run.stop(t)
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(times[:n])
}

// TestSchedule: one failing delivery is retried after 5 s, 30 s, 2 min,
// 10 min, 30 min, then every hour, each within ±20 % (jitter, which does
// vary); WithSchedule replaces the delays, the last repeating.
func TestSchedule(t *testing.T) {
	cases := []struct {
		name string
		opts []outbox.Option
		want []time.Duration
	}{
		{"default", nil, []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute,
			30 * time.Minute, time.Hour, time.Hour, time.Hour}},
		{"WithSchedule", []outbox.Option{outbox.WithSchedule([]time.Duration{time.Minute, 0, 3 * time.Minute})},
			[]time.Duration{time.Minute, 3 * time.Minute, 3 * time.Minute, 3 * time.Minute, 3 * time.Minute}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			times := attemptTimes(t, len(tc.want)+1, outboxtest.Behavior{Mode: outboxtest.Fail, Status: 500}, tc.opts...)
			exact := 0
			for i, want := range tc.want {
				got := times[i+1].Sub(times[i])
				if got < want*8/10 || got > want*12/10 {
					t.Errorf("delay %d: %v, want %v ±20%%", i+1, got, want)
				}
				if got == want {
					exact++
				}
			}
			if exact == len(tc.want) {
				t.Errorf("no jitter: every delay exactly as published")
			}
		})
	}
}

// TestRetryAfter: a 429 or 503 with Retry-After waits that long instead
// of the schedule's delay, at most the schedule's longest delay.
func TestRetryAfter(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		retryAfter string
		opts       []outbox.Option
		min, max   time.Duration
	}{
		{"429 seconds", 429, "120", nil, 120 * time.Second, 121 * time.Second},
		{"503 seconds", 503, "300", nil, 300 * time.Second, 301 * time.Second},
		{"429 capped by the schedule", 429, "86400", []outbox.Option{outbox.WithSchedule([]time.Duration{10 * time.Second})},
			10 * time.Second, 11 * time.Second},
		{"429 without Retry-After follows the schedule", 429, "", nil, 4 * time.Second, 6 * time.Second},
		{"429 unreadable Retry-After follows the schedule", 429, "soon", nil, 4 * time.Second, 6 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.retryAfter != "" {
				h.Set("Retry-After", tc.retryAfter)
			}
			times := attemptTimes(t, 2, outboxtest.Behavior{Mode: outboxtest.Fail, Status: tc.status, Header: h}, tc.opts...)
			if got := times[1].Sub(times[0]); got < tc.min || got > tc.max {
				t.Errorf("second attempt after %v, want %v to %v", got, tc.min, tc.max)
			}
		})
	}
}

// TestGiveUp: a delivery failing for WithGiveUpAfter becomes a dead
// letter with its last status and error; the log has one line for the
// target down and one for the dead letter, none per retry.
func TestGiveUp(t *testing.T) {
	j := journal.New(journal.NewMemoryStore())
	addCalls(t, j, 0, 1)
	r := outboxtest.NewReceiver(t, secret)
	r.Set(outboxtest.Behavior{Mode: outboxtest.Fail, Status: 502})
	clk := outboxtest.NewClock(t0)
	var logs logBuffer
	ob := newOutbox(t, j, r.URL(), fastOpts(clk, outbox.WithSchedule([]time.Duration{time.Minute}),
		outbox.WithGiveUpAfter(time.Hour), outbox.WithLogger(newLogger(&logs)))...)
	start(t, ob)
	drive(t, clk, "the dead letter", 20*time.Second, func() bool { return ob.Stats().Dead == 1 })
	dls := deadLetters(t, ob)
	if len(dls) != 1 {
		t.Fatalf("%d dead letters", len(dls))
	}
	dl := dls[0]
	if dl.Status != 502 || !strings.Contains(dl.Error, "HTTP 502") || dl.Attempts != r.Requests() || dl.Attempts < 50 || dl.Attempts > 80 {
		t.Errorf("dead letter %+v after %d requests", dl, r.Requests())
	}
	if d := dl.LastAttempt.Sub(dl.FirstAttempt); d < time.Hour || d > time.Hour+2*time.Minute {
		t.Errorf("gave up %v after the first attempt, want 1 h", d)
	}
	if dl.CallID != "call-00000" || dl.Provider != "sipuni" || docOf(t, dl.Body).CallID != "call-00000" || !strings.HasPrefix(dl.ID, "msg_") {
		t.Errorf("dead letter %+v", dl)
	}
	if n := strings.Count(logs.String(), "\n"); n != 3 || logs.count("target down") != 1 || logs.count("dead letter") != 1 {
		t.Errorf("log:\n%s\nwant the lease line, one target down, one dead letter", logs.String())
	}
}

// TestDeadLetterRetry: a refused document becomes a dead letter at once
// while the other calls go on; a later version of its call is not held
// up by it; Retry through another Outbox that is not running (as pbxctl
// does) sends it again with the same webhook-id, and it is gone once
// delivered; Discard drops one.
func TestDeadLetterRetry(t *testing.T) {
	ctx := context.Background()
	j := journal.New(journal.NewMemoryStore())
	addCalls(t, j, 0, 3)
	r := outboxtest.NewReceiver(t, secret)
	var mu sync.Mutex
	refuse := true
	r.SetFunc(func(q outboxtest.Request) outboxtest.Behavior {
		mu.Lock()
		defer mu.Unlock()
		// 1C refuses call 1 without a recording (its first version), and
		// call 2 always.
		if refuse && (strings.Contains(string(q.Body), `"call-00001"`) && strings.Contains(string(q.Body), `"recording_url":""`) ||
			strings.Contains(string(q.Body), `"call-00002"`)) {
			return outboxtest.Behavior{Mode: outboxtest.Fail, Status: 422}
		}
		return outboxtest.Behavior{Mode: outboxtest.Up}
	})
	clk := outboxtest.NewClock(t0)
	ob := newOutbox(t, j, r.URL(), fastOpts(clk)...)
	start(t, ob)
	waitFor(t, "two dead letters", 10*time.Second, func() bool { return ob.Stats().Dead == 2 && r.AppliedCount() == 1 })
	handle(t, j, correction("sipuni", 1, 1))
	waitFor(t, "the corrected call", 10*time.Second, func() bool { return r.AppliedCount() == 2 })

	dls := deadLetters(t, ob)
	if len(dls) != 2 {
		t.Fatalf("%d dead letters, want 2", len(dls))
	}
	if dls[0].CallID == "call-00002" {
		dls[0], dls[1] = dls[1], dls[0] // addCalls stores calls concurrently
	}
	if dls[0].CallID != "call-00001" || dls[1].CallID != "call-00002" || dls[0].Status != 422 ||
		!strings.Contains(dls[0].Error, "HTTP 422: Ошибка при вызове метода") || dls[0].Attempts != 1 ||
		docOf(t, dls[0].Body).RecordingURL != "" || !strings.HasSuffix(dls[0].ID, fmt.Sprint("_", dls[0].Seq)) {
		t.Fatalf("dead letters: first %s %s %d %q", dls[0].ID, dls[0].CallID, dls[0].Status, dls[0].Error)
	}

	cli := newOutbox(t, j, r.URL()) // not running: a command-line tool
	var de *outbox.DeliveryError
	if err := cli.Retry(ctx, dls[0].ID); !errors.As(err, &de) || de.Status != 422 || de.ID != dls[0].ID {
		t.Fatalf("Retry while still refused = %v", err)
	}
	for _, dl := range deadLetters(t, ob) {
		if want := map[string]int{dls[0].ID: 2, dls[1].ID: 1}[dl.ID]; dl.Attempts != want {
			t.Fatalf("after a failed Retry: %s attempts %d, want %d", dl.ID, dl.Attempts, want)
		}
	}
	mu.Lock()
	refuse = false
	mu.Unlock()
	if err := cli.Retry(ctx, dls[0].ID); err != nil {
		t.Fatalf("Retry = %v", err)
	}
	if r.Received(dls[0].ID) != 3 || r.AppliedCount() != 3 {
		t.Errorf("the retried delivery: received %d times, %d applied", r.Received(dls[0].ID), r.AppliedCount())
	}
	if err := cli.Retry(ctx, dls[0].ID); !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("Retry of a delivered dead letter = %v, want ErrNotFound", err)
	}
	if err := cli.Discard(ctx, dls[1].ID); err != nil {
		t.Fatal(err)
	}
	if left := deadLetters(t, ob); len(left) != 0 {
		t.Errorf("dead letters left: %+v", left)
	}
	for _, id := range []string{"", "garbage", "msg_x_y", "msg_" + strings.Repeat("0", 16) + "_5", dls[1].ID} {
		if err := cli.Retry(ctx, id); !errors.Is(err, outbox.ErrNotFound) {
			t.Errorf("Retry(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

// TestPoisonDoesNotBlockOthers: a document the target keeps failing
// waits on its own schedule; the other calls are delivered meanwhile.
func TestPoisonDoesNotBlockOthers(t *testing.T) {
	j := journal.New(journal.NewMemoryStore())
	addCalls(t, j, 0, 20)
	r := outboxtest.NewReceiver(t, secret)
	r.SetFunc(func(q outboxtest.Request) outboxtest.Behavior {
		if strings.Contains(string(q.Body), `"call-00000"`) {
			return outboxtest.Behavior{Mode: outboxtest.Fail, Status: 500}
		}
		return outboxtest.Behavior{Mode: outboxtest.Up}
	})
	ob := newOutbox(t, j, r.URL(), fastOpts(outboxtest.NewClock(t0))...)
	start(t, ob)
	// The clock stands still: call 0 is never retried, and the others
	// must not wait for it.
	waitFor(t, "the other 19 calls", 10*time.Second, func() bool { s := ob.Stats(); return s.Delivered == 19 && s.Pending == 1 })
	if s := ob.Stats(); s.Down || r.AppliedCount() != 19 {
		t.Errorf("stats %+v, %d applied", s, r.AppliedCount())
	}
}

// TestCallOrder: a call's second version waits until its first, which
// the target fails twice, is delivered; another call is not held up.
func TestCallOrder(t *testing.T) {
	j := journal.New(journal.NewMemoryStore())
	r := outboxtest.NewReceiver(t, secret)
	type receipt struct {
		call    string
		version int64
		ok      bool
	}
	var mu sync.Mutex
	var log []receipt
	r.SetFunc(func(q outboxtest.Request) outboxtest.Behavior {
		d := docOf(t, q.Body)
		ok := !(d.CallID == "call-00000" && d.RecordingURL == "" && q.Attempt <= 2)
		mu.Lock()
		log = append(log, receipt{d.CallID, d.Version, ok})
		mu.Unlock()
		if !ok {
			return outboxtest.Behavior{Mode: outboxtest.Fail, Status: 503}
		}
		return outboxtest.Behavior{Mode: outboxtest.Up}
	})
	clk := outboxtest.NewClock(t0)
	ob := newOutbox(t, j, r.URL(), fastOpts(clk)...)
	start(t, ob)
	addCalls(t, j, 0, 1)
	waitFor(t, "the first refusal", 10*time.Second, func() bool { return r.Requests() == 1 })
	handle(t, j, correction("sipuni", 0, 1))
	addCalls(t, j, 1, 1)
	waitFor(t, "the other call", 10*time.Second, func() bool { return r.AppliedCount() == 1 })
	drive(t, clk, "both versions", 10*time.Second, func() bool { return r.AppliedCount() == 3 })
	mu.Lock()
	defer mu.Unlock()
	var call0 []receipt
	for _, x := range log {
		if x.call == "call-00000" {
			call0 = append(call0, x)
		}
	}
	if len(call0) != 4 || call0[2].version != call0[0].version || !call0[2].ok || call0[3].version <= call0[0].version || !call0[3].ok {
		t.Errorf("call 0 received %+v; want its first version three times (two refused), then the second", call0)
	}
	if log[1].call != "call-00001" {
		t.Errorf("receipts %+v: the other call should come second, while call 0 waits", log)
	}
}
