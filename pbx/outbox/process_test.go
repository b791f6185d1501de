package outbox_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/journal/sqlitestore"
	"github.com/pbxkit/pbxkit/pbx/outbox"
	"github.com/pbxkit/pbxkit/pbx/outbox/outboxtest"
)

// The child process of TestKilledProcess reads these.
const (
	envChildDB  = "PBXKIT_OUTBOX_CHILD_DB"
	envChildURL = "PBXKIT_OUTBOX_CHILD_URL"
)

// TestKilledProcess: the outbox runs in a real child process over an
// SQLite file and is killed with SIGKILL halfway through a backlog of 300
// calls (after it saved its cursor past some of them); a new process
// (here, the test itself) opening the file delivers the rest. Every call
// arrives with its document applied once, none lost.
func TestKilledProcess(t *testing.T) {
	if path := os.Getenv(envChildDB); path != "" {
		runChild(t, path, os.Getenv(envChildURL))
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	const calls = 300
	path := filepath.Join(t.TempDir(), "bridge.db")
	s, err := sqlitestore.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	j := journal.New(s)
	addCalls(t, j, 0, calls)

	r := outboxtest.NewReceiver(t, secret)
	r.Set(outboxtest.Behavior{Mode: outboxtest.Slow, Delay: 20 * time.Millisecond})
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^TestKilledProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envChildDB+"="+path, envChildURL+"="+r.URL())
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waitFor(t, "the child halfway with its cursor saved", 30*time.Second, func() bool {
		return r.AppliedCount() >= calls/3 && savedCursor(t, s) > 0
	})
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the child did not die")
	}
	killedAt := r.AppliedCount()
	if killedAt >= calls {
		t.Fatalf("the child delivered everything (%d) before it was killed", killedAt)
	}

	r.Set(outboxtest.Behavior{Mode: outboxtest.Up})
	ob := newOutbox(t, j, r.URL(), outbox.WithTimeout(time.Second), outbox.WithLeaseTTL(4*time.Second), outbox.WithReplicaID("bridge-1"))
	start(t, ob)
	waitFor(t, "every document", 30*time.Second, func() bool { s := ob.Stats(); return s.Active && s.Pending == 0 && r.AppliedCount() == calls })
	checkDelivered(t, j, r)
	t.Logf("killed after %d of %d documents; %d requests in all", killedAt, calls, r.Requests())
}

// runChild is the child process: an outbox over the file, until killed
// (or a minute has passed).
func runChild(t *testing.T, path, url string) {
	s, err := sqlitestore.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ob := newOutbox(t, journal.New(s), url, outbox.WithTimeout(time.Second), outbox.WithLeaseTTL(4*time.Second), outbox.WithReplicaID("bridge-1"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = ob.Run(ctx)
}
