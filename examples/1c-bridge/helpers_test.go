package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx/outbox"
	"github.com/pbxkit/pbxkit/pbx/outbox/outboxtest"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
)

const (
	testSecret    = "test-signing-secret-0123456789"
	testPopSecret = "test-screenpop-secret-0123456789"
	test1CUser    = "bridge"
	test1CPass    = "1c-Pa55w0rd-secret"
)

func noEnv(string) string { return "" }

// syncBuffer is a bytes.Buffer safe for the bridge's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startFakes starts every registered vendor fake.
func startFakes(t *testing.T) []pbxtest.Fake {
	t.Helper()
	var fakes []pbxtest.Fake
	for _, v := range pbxtest.Vendors() {
		f, err := pbxtest.Start(v.Name, pbxtest.Options{})
		require.NoError(t, err, v.Name)
		t.Cleanup(f.Close)
		fakes = append(fakes, f)
	}
	require.NotEmpty(t, fakes, "no vendor fake registered")
	return fakes
}

// providerArgs returns a -provider flag per fake.
func providerArgs(fakes []pbxtest.Fake) []string {
	var args []string
	for _, f := range fakes {
		args = append(args, "-provider", f.DSN())
	}
	return args
}

// testBridge is a bridge running in this process.
type testBridge struct {
	addr   string
	logs   *syncBuffer
	b      *bridge
	cancel context.CancelFunc
	done   chan error
}

// startBridge runs the bridge with args (and -addr 127.0.0.1:0) until the
// test ends or stop is called.
func startBridge(t *testing.T, args []string, s seams) *testBridge {
	t.Helper()
	tb := &testBridge{logs: &syncBuffer{}, done: make(chan error, 1)}
	built := make(chan *bridge, 1)
	started := s.started
	s.started = func(b *bridge) {
		if started != nil {
			started(b)
		}
		built <- b
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb.cancel = cancel
	go func() {
		tb.done <- runWith(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), noEnv, tb.logs, io.Discard, s)
	}()
	t.Cleanup(func() { tb.stop(t) })
	deadline := time.After(30 * time.Second)
	for tb.addr == "" {
		select {
		case err := <-tb.done:
			tb.done <- err
			t.Fatalf("the bridge stopped before listening: %v\n%s", err, tb.logs.String())
		case <-deadline:
			t.Fatalf("the bridge did not start listening in 30 s\n%s", tb.logs.String())
		case <-time.After(5 * time.Millisecond):
		}
		tb.addr = listeningAddr(tb.logs.String())
	}
	tb.b = <-built
	return tb
}

// listeningAddr finds the address in the "listening" log line.
func listeningAddr(logs string) string {
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" {
			return rec.Addr
		}
	}
	return ""
}

// stop cancels the bridge and waits for run to return (at most 30 s).
func (tb *testBridge) stop(t *testing.T) {
	t.Helper()
	if tb.cancel == nil {
		return
	}
	tb.cancel()
	tb.cancel = nil
	select {
	case err := <-tb.done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("run did not return 30 s after its context ended")
	}
}

// hook is the webhook URL of fake f on the bridge at addr.
func hook(addr string, f pbxtest.Fake) string { return "http://" + addr + "/pbx/" + f.Name() + "/" }

// playedCall is a call played through a vendor fake.
type playedCall struct {
	provider string
	pbxtest.Played
}

// key names a call as the journal does.
func (p playedCall) key() string { return p.provider + "/" + p.CallID }

// scenarioOf is the i-th call's scenario: answered and missed calls mixed.
func scenarioOf(i int) pbxtest.Scenario {
	if i%3 == 2 {
		return pbxtest.MissedIncoming
	}
	return pbxtest.AnsweredIncoming
}

// playCalls plays n incoming calls, round-robin over the fakes (the fakes
// in parallel, each fake's calls one after the other), each from a number
// of its own; hookOf gives the webhook of the i-th call (so calls can be
// spread over replicas). It fails the test on any play error.
func playCalls(ctx context.Context, t *testing.T, fakes []pbxtest.Fake, n int, hookOf func(i int, f pbxtest.Fake) string) []playedCall {
	t.Helper()
	return playCallsFrom(ctx, t, fakes, 0, n, hookOf)
}

// playCallsFrom is playCalls for the calls numbered from to to-1.
func playCallsFrom(ctx context.Context, t *testing.T, fakes []pbxtest.Fake, from, to int, hookOf func(i int, f pbxtest.Fake) string) []playedCall {
	t.Helper()
	out := make([]playedCall, to-from)
	var wg sync.WaitGroup
	errs := make(chan error, len(fakes))
	for fi, f := range fakes {
		wg.Go(func() {
			for i := from + fi; i < to; i += len(fakes) {
				p, err := f.Play(ctx, hookOf(i, f), pbxtest.Call{
					Scenario: scenarioOf(i),
					Caller:   fmt.Sprintf("7916%07d", i),
					Start:    time.Now().Add(-time.Hour).Add(time.Duration(i) * time.Second),
				})
				if err == nil {
					err = p.Err
				}
				if err != nil {
					errs <- fmt.Errorf("%s call %d: %w", f.Name(), i, err)
					return
				}
				out[i-from] = playedCall{provider: f.Name(), Played: p}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return out
}

// delivered is what the fake 1C applied, by call.
type delivered struct {
	// docs are the documents applied for each call, in the order 1C
	// applied them.
	docs map[string][]appliedDoc
	// ids are the webhook-ids applied for each (call, version).
	ids map[string][]string
}

type appliedDoc struct {
	id  string
	doc outbox.CallDocument
}

func readDelivered(t *testing.T, r *outboxtest.Receiver) delivered {
	t.Helper()
	d := delivered{docs: map[string][]appliedDoc{}, ids: map[string][]string{}}
	for _, a := range r.Applied() {
		doc, err := a.Document()
		require.NoError(t, err, "1C got a document it cannot read")
		k := doc.Provider + "/" + doc.CallID
		d.docs[k] = append(d.docs[k], appliedDoc{id: a.ID, doc: doc})
		vk := fmt.Sprintf("%s@%d", k, doc.Version)
		d.ids[vk] = append(d.ids[vk], a.ID)
	}
	return d
}

// checkEachCallOnce checks what 1C applied against the calls played:
// every call arrived, each document (call and version) under one
// webhook-id only (the fake applies a webhook-id once: a document under two
// ids would be applied twice), the documents of a call in increasing
// version order, and the latest one says what happened (answered by whom,
// or missed). lastSeq, when not nil, gives the journal's final version of
// each call, which must be the latest applied.
func checkEachCallOnce(t *testing.T, r *outboxtest.Receiver, calls []playedCall, lastSeq func(provider, callID string) int64) delivered {
	t.Helper()
	d := readDelivered(t, r)
	for vk, ids := range d.ids {
		if len(ids) != 1 {
			t.Errorf("document %s applied %d times, under ids %v", vk, len(ids), ids)
		}
	}
	missing := 0
	for _, c := range calls {
		docs := d.docs[c.key()]
		if len(docs) == 0 {
			missing++
			if missing <= 5 {
				t.Errorf("call %s (%v) never reached 1C", c.key(), c.Call.Scenario)
			}
			continue
		}
		versions := make([]int64, len(docs))
		for i, ad := range docs {
			versions[i] = ad.doc.Version
		}
		if !slices.IsSorted(versions) || len(slices.Compact(slices.Clone(versions))) != len(versions) {
			t.Errorf("call %s: versions applied out of order: %v", c.key(), versions)
		}
		last := docs[len(docs)-1].doc
		if c.Call.Scenario == pbxtest.MissedIncoming {
			if !last.Missed || last.AnsweredBy != "" {
				t.Errorf("call %s: missed, 1C's latest document says missed=%v answered_by=%q", c.key(), last.Missed, last.AnsweredBy)
			}
		} else if last.Missed || last.AnsweredBy != c.AnsweredBy {
			t.Errorf("call %s: answered by %s, 1C's latest document says missed=%v answered_by=%q", c.key(), c.AnsweredBy, last.Missed, last.AnsweredBy)
		}
		if lastSeq != nil {
			if want := lastSeq(c.provider, c.CallID); last.Version != want {
				t.Errorf("call %s: 1C's latest version %d, the journal's %d", c.key(), last.Version, want)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d calls never reached 1C", missing, len(calls))
	}
	return d
}

// bridgeStatus reads GET /status.
func bridgeStatus(t *testing.T, addr string) status {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/status")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var s status
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&s))
	return s
}

// writeFile writes content to a new file in the test's directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// until polls cond every few milliseconds, calling step (if any) between
// polls, for at most limit; it fails the test with what when cond never
// holds.
func until(t *testing.T, limit time.Duration, what string, step func(), cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		if step != nil {
			step()
		}
		time.Sleep(3 * time.Millisecond)
	}
}
