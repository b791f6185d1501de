package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/journal/sqlitestore"
	"github.com/pbxkit/pbxkit/sipuni/sipunitest"
)

// childEnv marks the test binary re-executed as a webhook-server process.
const childEnv = "PBXKIT_WEBHOOK_SERVER_CHILD"

// TestHelperProcess is not a test: it is webhook-server's main when the
// test binary is re-executed by startChild. The server's arguments follow
// "--" on the command line.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("helper process of TestSIGKILLLosesNoAcknowledgedEvent")
	}
	args := os.Args
	if i := slices.Index(args, "--"); i >= 0 {
		args = args[i+1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, args, func(string) string { return "" }, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "webhook-server:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// child is a webhook-server process.
type child struct {
	cmd    *exec.Cmd
	addr   string
	exited chan struct{} // closed once cmd.Wait returned
}

// startChild starts webhook-server in a child process with args and waits
// for the address it listens on.
func startChild(ctx context.Context, t *testing.T, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestHelperProcess$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	c := &child{cmd: cmd, exited: make(chan struct{})}
	addrc := make(chan string, 1)
	// The log is read to the end, so the child never blocks on a full pipe.
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" {
				addrc <- rec.Addr
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.exited
	})
	select {
	case c.addr = <-addrc:
	case <-c.exited:
		t.Fatal("the child exited before listening")
	case <-ctx.Done():
		t.Fatal("the child did not start listening in time")
	}
	return c
}

// stop sends sig and waits for the child to exit.
func (c *child) stop(ctx context.Context, t *testing.T, sig os.Signal) {
	t.Helper()
	require.NoError(t, c.cmd.Process.Signal(sig))
	select {
	case <-c.exited:
	case <-ctx.Done():
		t.Fatalf("the child did not exit after %v", sig)
	}
}

// sipuniEvent is the i-th event of the load: the call_ended of a call of
// its own, as Sipuni sends it (event 2).
func sipuniEvent(i int, start time.Time) url.Values {
	begin := start.Add(time.Duration(i) * time.Second)
	v := url.Values{}
	v.Set("event", "2")
	v.Set("call_id", fmt.Sprintf("load.%05d", i))
	v.Set("src_num", fmt.Sprintf("7903%07d", i))
	v.Set("src_type", "1")
	v.Set("dst_num", "012345101")
	v.Set("dst_type", "2")
	v.Set("short_dst_num", "101")
	v.Set("status", "ANSWER")
	v.Set("call_start_timestamp", strconv.FormatInt(begin.Unix(), 10))
	v.Set("call_answer_timestamp", strconv.FormatInt(begin.Add(5*time.Second).Unix(), 10))
	v.Set("timestamp", strconv.FormatInt(begin.Add(65*time.Second).Unix(), 10))
	return v
}

// TestSIGKILLLosesNoAcknowledgedEvent: webhook-server (a child process
// with a SQLite journal) is killed with SIGKILL in the middle of a load
// and restarted on the same file; the events it did not acknowledge are
// sent again, as a PBX redelivers, with some it did acknowledge
// (duplicates). In the journal file afterwards: every acknowledged event
// is stored, none is stored twice, and the total is the number of distinct
// events sent.
func TestSIGKILLLosesNoAcknowledgedEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	const (
		n       = 2000
		senders = 6
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	began := time.Now()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	// The fake serves the empty call log the server reconciles with on
	// start; Sipuni's webhook token authenticates the events.
	sip := sipunitest.NewServer(sipunitest.Options{WebhookToken: "T"})
	t.Cleanup(sip.Close)
	sip.SetHistory(nil)
	db := filepath.Join(t.TempDir(), "journal.db")
	args := []string{"-addr", "127.0.0.1:0", "-provider", sipuniDSN(sip), "-journal", db}

	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	events := make([]string, n)
	for i := range events {
		events[i] = sipuniEvent(i, start).Encode() + "&token=T"
	}
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: senders},
	}
	defer client.CloseIdleConnections()
	// send delivers event i to addr and reports whether it got a 2xx.
	send := func(addr string, i int) bool {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/pbx/sipuni/?"+events[i], nil)
		if err != nil {
			return false
		}
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode/100 == 2
	}
	// load sends the events of idx with the senders, each event once,
	// recording the acknowledged ones; afterEach runs after every send.
	acked := make([]atomic.Bool, n)
	var nacked atomic.Int64
	load := func(addr string, idx []int, afterEach func()) {
		work := make(chan int)
		var wg sync.WaitGroup
		for range senders {
			wg.Go(func() {
				for i := range work {
					if send(addr, i) && !acked[i].Swap(true) {
						nacked.Add(1)
					}
					afterEach()
				}
			})
		}
		for _, i := range idx {
			work <- i
		}
		close(work)
		wg.Wait()
	}

	// Phase 1: the load, and SIGKILL at a random point after about 40%.
	first := startChild(ctx, t, args...)
	killAt := int64(n*35/100 + rng.IntN(n*15/100))
	var killed atomic.Bool
	order := rng.Perm(n)
	load(first.addr, order, func() {
		if nacked.Load() >= killAt && !killed.Swap(true) {
			_ = first.cmd.Process.Signal(syscall.SIGKILL)
		}
	})
	require.True(t, killed.Load(), "the child was killed")
	select {
	case <-first.exited:
	case <-ctx.Done():
		t.Fatal("the killed child did not exit")
	}
	ackedBeforeKill := nacked.Load()
	t.Logf("phase 1: %d of %d events acknowledged, SIGKILL after %d", ackedBeforeKill, n, killAt)
	require.Less(t, ackedBeforeKill, int64(n), "killed in the middle of the load")
	require.GreaterOrEqual(t, ackedBeforeKill, killAt)
	var wasAcked []int
	for i := range acked {
		if acked[i].Load() {
			wasAcked = append(wasAcked, i)
		}
	}

	// Before anything is sent again: every acknowledged event is in the
	// file (a later duplicate must not be what makes this hold).
	stored := storedCalls(ctx, t, db)
	for _, i := range wasAcked {
		if stored[fmt.Sprintf("load.%05d", i)] != 1 {
			t.Errorf("acknowledged event %d stored %d times after SIGKILL", i, stored[fmt.Sprintf("load.%05d", i)])
		}
	}
	t.Logf("after SIGKILL: %d events stored, %d of them not acknowledged (the answer was lost)", len(stored), len(stored)-len(wasAcked))

	// Phase 2: restart on the same file; resend what was not acknowledged
	// (up to 3 tries each) and a tenth of what was.
	second := startChild(ctx, t, args...)
	var resend []int
	for i := range acked {
		if !acked[i].Load() {
			resend = append(resend, i)
		}
	}
	dups := len(wasAcked) / 10
	for _, k := range rng.Perm(len(wasAcked))[:dups] {
		resend = append(resend, wasAcked[k])
	}
	rng.Shuffle(len(resend), func(a, b int) { resend[a], resend[b] = resend[b], resend[a] })
	for try := 0; try < 3 && len(resend) > 0; try++ {
		load(second.addr, resend, func() {})
		resend = slices.DeleteFunc(resend, func(i int) bool { return acked[i].Load() })
	}
	require.Empty(t, resend, "the restarted server acknowledges every event")
	require.Equal(t, int64(n), nacked.Load())
	second.stop(ctx, t, syscall.SIGTERM)

	// The journal file, read directly.
	store, err := sqlitestore.Open(ctx, db)
	require.NoError(t, err)
	defer store.Close()
	byKey, byCall, total := countEntries(ctx, t, store)
	for key, count := range byKey {
		if count != 1 {
			t.Errorf("dedupe key %q stored %d times", key, count)
		}
	}
	for i := range n {
		id := fmt.Sprintf("load.%05d", i)
		if byCall[id] != 1 {
			t.Errorf("event %d (acknowledged: %v) stored %d times", i, slices.Contains(wasAcked, i), byCall[id])
		}
	}
	assert.Equal(t, n, total, "total entries")
	assert.Len(t, byKey, n)

	// And the calls folded from them: one per event, all answered.
	answered := 0
	for c, err := range journal.New(store).Calls(ctx, journal.Query{Outcome: pbx.OutcomeAnswered}) {
		require.NoError(t, err)
		if c.ClosedBy == journal.ClosedByEvent {
			answered++
		}
	}
	assert.Equal(t, n, answered)
	t.Logf("%d events, %d acknowledged before SIGKILL, %d duplicates resent; took %s",
		n, ackedBeforeKill, dups, time.Since(began).Round(time.Millisecond))
}

// countEntries reads the whole log of store and counts its entries by
// (provider, DedupeKey) and by call id; every entry must come from a
// provider's event.
func countEntries(ctx context.Context, t *testing.T, store *sqlitestore.Store) (byKey, byCall map[string]int, total int) {
	t.Helper()
	byKey, byCall = map[string]int{}, map[string]int{}
	var after int64
	for page := 0; page < 1000; page++ {
		entries, err := store.Entries(ctx, after, 1000)
		require.NoError(t, err)
		if len(entries) == 0 {
			return byKey, byCall, total
		}
		for _, e := range entries {
			total++
			byKey[e.Event.Provider+"\x00"+e.Event.DedupeKey]++
			byCall[e.Event.CallID]++
			assert.Equal(t, journal.SourceEvent, e.Source, "only the events sent: seq %d", e.Seq)
			after = e.Seq
		}
	}
	t.Fatal("the log does not end")
	return nil, nil, 0
}

// storedCalls opens the journal file, counts its entries by call id, and
// closes it again.
func storedCalls(ctx context.Context, t *testing.T, db string) map[string]int {
	t.Helper()
	store, err := sqlitestore.Open(ctx, db)
	require.NoError(t, err)
	defer func() { require.NoError(t, store.Close()) }()
	_, byCall, _ := countEntries(ctx, t, store)
	return byCall
}
