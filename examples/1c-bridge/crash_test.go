package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/journal/sqlitestore"
	"github.com/pbxkit/pbxkit/pbx/outbox"
	"github.com/pbxkit/pbxkit/pbx/outbox/outboxtest"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
)

// childEnv marks the test binary re-executed as a bridge process.
const childEnv = "PBXKIT_1C_BRIDGE_CHILD"

// TestHelperProcess is not a test: it is the bridge's main when the test
// binary is re-executed by startChild, with the outbox retrying every
// 20 ms instead of the published schedule. The bridge's arguments follow
// "--".
func TestHelperProcess(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("helper process of TestBridgeKilledHalfwayThroughTheBacklog")
	}
	args := os.Args
	if i := slices.Index(args, "--"); i >= 0 {
		args = args[i+1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := runWith(ctx, args, noEnv, os.Stdout, os.Stderr,
		seams{outbox: []outbox.Option{outbox.WithSchedule([]time.Duration{20 * time.Millisecond})}})
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "1c-bridge:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// child is a bridge process.
type child struct {
	cmd    *exec.Cmd
	addr   string
	exited chan struct{}
}

// startChild starts the bridge in a child process with args and waits for
// the address it listens on.
func startChild(ctx context.Context, t *testing.T, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestHelperProcess$", "--", "-addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	c := &child{cmd: cmd, exited: make(chan struct{})}
	addrc := make(chan string, 1)
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
		t.Fatal("the bridge exited before listening")
	case <-ctx.Done():
		t.Fatal("the bridge did not start listening in time")
	}
	return c
}

// wait waits for the child to exit.
func (c *child) wait(ctx context.Context, t *testing.T) {
	t.Helper()
	select {
	case <-c.exited:
	case <-ctx.Done():
		t.Fatal("the bridge did not exit in time")
	}
}

// TestBridgeKilledHalfwayThroughTheBacklog: 1C is down while 500 calls are
// played through the vendor fakes to a bridge process with a SQLite
// journal; 1C comes back and, when it has applied half of the backlog,
// the bridge is killed with SIGKILL. A new bridge process on the same file
// (and with the same -replica-id, so it resumes at once) delivers the
// rest: every call reaches 1C, each document under one webhook-id, the
// documents of a call in order, the latest one the journal's.
func TestBridgeKilledHalfwayThroughTheBacklog(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	const n = 500
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	fakes := startFakes(t)
	rec := outboxtest.NewReceiver(t, []byte(testSecret))
	rec.RequireBasicAuth(test1CUser, test1CPass)
	rec.Set(outboxtest.Behavior{Mode: outboxtest.Down})
	db := filepath.Join(t.TempDir(), "bridge.db")
	args := append(oneCArgs(t, fakes, rec, db), "-replica-id", "bridge-test")

	first := startChild(ctx, t, args...)
	calls := playCalls(ctx, t, fakes, n, func(_ int, f pbxtest.Fake) string { return hook(first.addr, f) })
	require.Zero(t, rec.AppliedCount())

	var applied, atKill atomic.Int64
	rec.OnApply(func(outboxtest.Applied) {
		if applied.Add(1) == n/2 {
			_ = first.cmd.Process.Kill() // SIGKILL: no cursor saved, no lease given up
			atKill.Store(int64(rec.AppliedCount()))
		}
	})
	rec.Set(outboxtest.Behavior{Mode: outboxtest.Up})
	first.wait(ctx, t)
	time.Sleep(100 * time.Millisecond) // let requests the dead process had sent finish arriving
	halfway := rec.AppliedCount()
	t.Logf("killed with %d of %d calls applied (%d when the kill was sent)", halfway, n, atKill.Load())
	require.Less(t, halfway, n, "killed before the backlog was delivered")

	second := startChild(ctx, t, args...)
	until(t, 2*time.Minute, "the rest of the backlog to reach 1C", nil, func() bool {
		s := bridgeStatus(t, second.addr)
		return s.Outbox.Active && s.Outbox.Pending == 0 && s.Outbox.Unread == 0 && rec.AppliedCount() >= n
	})
	require.NoError(t, second.cmd.Process.Signal(syscall.SIGTERM))
	second.wait(ctx, t)
	assert.Equal(t, 0, second.cmd.ProcessState.ExitCode(), "SIGTERM is a graceful shutdown")

	store, err := sqlitestore.Open(ctx, db)
	require.NoError(t, err)
	defer store.Close()
	j := journal.New(store)
	d := checkEachCallOnce(t, rec, calls, func(provider, callID string) int64 {
		c, err := j.Call(ctx, provider, callID)
		require.NoError(t, err)
		return c.LastSeq
	})
	resent := 0
	for _, docs := range d.docs {
		for _, ad := range docs {
			if rec.Received(ad.id) > 1 {
				resent++
			}
		}
	}
	t.Logf("%d documents applied in all; %d were sent again after the restart (same webhook-id, applied once)", rec.AppliedCount(), resent)
	assert.Equal(t, 0, rec.Rejected())
}
