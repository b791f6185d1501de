package outbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/outbox"
	"github.com/pbxkit/pbxkit/pbx/outbox/outboxtest"
)

var secret = []byte("whsec-test-0123456789")

var msk = time.FixedZone("MSK", 3*3600)

var t0 = time.Date(2025, 3, 14, 10, 0, 0, 0, msk)

// callEvents returns the events of call i: answered by 101 when i is
// even, missed (rang 101 and 102) when odd.
func callEvents(provider string, i int) []pbx.CallEvent {
	id := fmt.Sprintf("call-%05d", i)
	at := func(s int) time.Time { return t0.Add(time.Duration(i)*time.Minute + time.Duration(s)*time.Second) }
	ph := fmt.Sprintf("7999%07d", i)
	base := pbx.CallEvent{Provider: provider, CallID: id, Direction: pbx.Inbound, Phone: ph, Line: "74951112233"}
	ev := func(typ pbx.EventType, s int, ext, key string) pbx.CallEvent {
		e := base
		e.Type, e.At, e.Extension, e.DedupeKey = typ, at(s), ext, id+"/"+key
		return e
	}
	if i%2 == 0 {
		end := ev(pbx.EventCallEnded, 65, "101", "end")
		end.Outcome, end.TalkDuration, end.CallDuration = pbx.OutcomeAnswered, 60*time.Second, 65*time.Second
		return []pbx.CallEvent{ev(pbx.EventRinging, 1, "101", "ring"), ev(pbx.EventAnswered, 5, "101", "ans"), end}
	}
	end := ev(pbx.EventCallEnded, 30, "", "end")
	end.Outcome = pbx.OutcomeMissed
	return []pbx.CallEvent{ev(pbx.EventRinging, 1, "101", "ring1"), ev(pbx.EventRinging, 1, "102", "ring2"), end}
}

// correction is a late event for call i that changes it: a recording link.
func correction(provider string, i, n int) pbx.CallEvent {
	id := fmt.Sprintf("call-%05d", i)
	return pbx.CallEvent{
		Provider: provider, CallID: id, Type: pbx.EventCallEnded, Direction: pbx.Inbound,
		At:           t0.Add(time.Duration(i)*time.Minute + 70*time.Second),
		RecordingURL: fmt.Sprintf("https://rec.example/%s/%d.mp3", id, n), HasRecording: true,
		DedupeKey: fmt.Sprintf("%s/fix%d", id, n),
	}
}

// addCalls stores calls from..from+n-1, several at a time.
func addCalls(t testing.TB, j *journal.Journal, from, n int) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := from; i < from+n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			for _, e := range callEvents("sipuni", i) {
				if err := j.HandleEvent(ctx, e); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func handle(t testing.TB, j *journal.Journal, es ...pbx.CallEvent) {
	t.Helper()
	for _, e := range es {
		if err := j.HandleEvent(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

// fastOpts are options for tests: short timeout and lease, fake clock.
func fastOpts(clk outbox.Clock, more ...outbox.Option) []outbox.Option {
	return append([]outbox.Option{
		outbox.WithClock(clk), outbox.WithTimeout(time.Second), outbox.WithLeaseTTL(4 * time.Second),
	}, more...)
}

func newOutbox(t testing.TB, j *journal.Journal, url string, opts ...outbox.Option) *outbox.Outbox {
	t.Helper()
	ob, err := outbox.New(j, outbox.Target{Name: "1c", URL: url, Secret: secret}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return ob
}

// running is an Outbox's Run in a goroutine.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

func start(t testing.TB, ob *outbox.Outbox) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- ob.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and waits for it (bounded).
func (r *running) stop(t testing.TB) error {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return within 20 s of its context ending")
		return nil
	}
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// drive moves the fake clock from one wake-up to the next until cond
// holds, failing after timeout (real time).
func drive(t testing.TB, clk *outboxtest.Clock, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		clk.AdvanceToNext()
		time.Sleep(time.Millisecond)
	}
}

// checkDelivered checks the receiver against the journal: every closed
// call's latest version was applied with exactly the document the
// journal gives now; each call's documents were applied in increasing
// version order; nothing was rejected. It returns the number of
// documents applied.
func checkDelivered(t testing.TB, j *journal.Journal, r *outboxtest.Receiver) int {
	t.Helper()
	ctx := context.Background()
	type key struct{ p, id string }
	last := map[key]int64{}
	final := map[key][]byte{}
	for _, a := range r.Applied() {
		d, err := a.Document()
		if err != nil {
			t.Fatalf("applied %s: %v", a.ID, err)
		}
		k := key{d.Provider, d.CallID}
		if d.Version <= last[k] {
			t.Errorf("call %s: version %d applied after version %d", d.CallID, d.Version, last[k])
		}
		last[k] = d.Version
		final[k] = a.Body
	}
	closed := 0
	for c, err := range j.Calls(ctx, journal.Query{}) {
		if err != nil {
			t.Fatal(err)
		}
		if c.ClosedBy == journal.CallOpen {
			continue
		}
		closed++
		k := key{c.Provider, c.CallID}
		if last[k] != c.LastSeq {
			t.Errorf("call %s: last version applied %d, want %d", c.CallID, last[k], c.LastSeq)
			continue
		}
		want, _ := json.Marshal(outbox.NewCallDocument(c))
		if !bytes.Equal(final[k], want) {
			t.Errorf("call %s: applied\n%s\nwant\n%s", c.CallID, final[k], want)
		}
	}
	if len(last) != closed {
		t.Errorf("documents for %d calls applied, journal has %d closed calls", len(last), closed)
	}
	if n := r.Rejected(); n != 0 {
		t.Errorf("receiver rejected %d requests", n)
	}
	return len(r.Applied())
}

// countingTransport counts the requests an outbox makes.
type countingTransport struct {
	n    atomic.Int64
	base http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

func countingClient() (*http.Client, *countingTransport) {
	ct := &countingTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
	return &http.Client{Transport: ct}, ct
}

// logBuffer collects log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) count(msg string) int { return strings.Count(l.String(), msg) }

func newLogger(buf *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// killable is a store that can be made to fail every call at once: the
// database gone with the process, as far as that process can tell.
type killable struct {
	journal.Store
	dead atomic.Bool
}

var errKilled = errors.New("killed")

func (k *killable) err() error {
	if k.dead.Load() {
		return errKilled
	}
	return nil
}

func (k *killable) Entries(ctx context.Context, after int64, limit int) ([]journal.Entry, error) {
	if err := k.err(); err != nil {
		return nil, err
	}
	return k.Store.Entries(ctx, after, limit)
}

func (k *killable) Call(ctx context.Context, p, id string) (journal.Call, error) {
	if err := k.err(); err != nil {
		return journal.Call{}, err
	}
	return k.Store.Call(ctx, p, id)
}

func (k *killable) LastSeq(ctx context.Context) (int64, error) {
	if err := k.err(); err != nil {
		return 0, err
	}
	return k.Store.LastSeq(ctx)
}

func (k *killable) Wait(ctx context.Context, after int64) error {
	if err := k.err(); err != nil {
		return err
	}
	return k.Store.Wait(ctx, after)
}

func (k *killable) State(ctx context.Context, key string) ([]byte, int64, error) {
	if err := k.err(); err != nil {
		return nil, 0, err
	}
	return k.Store.State(ctx, key)
}

func (k *killable) SetState(ctx context.Context, key string, v []byte, ver int64) (int64, error) {
	if err := k.err(); err != nil {
		return 0, err
	}
	return k.Store.SetState(ctx, key, v, ver)
}

func (k *killable) ListState(ctx context.Context, prefix, after string, limit int) ([]journal.StateItem, error) {
	if err := k.err(); err != nil {
		return nil, err
	}
	return k.Store.ListState(ctx, prefix, after, limit)
}
