package outbox_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/journal/sqlitestore"
	"github.com/pbxkit/pbxkit/pbx/outbox"
	"github.com/pbxkit/pbxkit/pbx/outbox/outboxtest"
)

// fill appends calls 0..n-1 (three events each) straight to the store,
// 64 at a time so that the SQLite writer commits them in groups.
func fill(t testing.TB, s journal.Store, n int) {
	t.Helper()
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 64 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || failed.Load() != nil {
					return
				}
				for _, e := range callEvents("sipuni", i) {
					if _, _, err := s.Append(ctx, journal.Entry{ReceivedAt: e.At, Event: e}, journal.Fold); err != nil {
						failed.Store(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		t.Fatal(err)
	}
}

// drain delivers the n calls stored in s to a loopback receiver and
// returns how long it took.
func drain(t testing.TB, s journal.Store, n int, opts ...outbox.Option) time.Duration {
	t.Helper()
	r := outboxtest.NewReceiver(t, secret)
	r.KeepBodies(false)
	ob := newOutbox(t, journal.New(s), r.URL(), opts...)
	began := time.Now()
	run := start(t, ob)
	waitFor(t, "the backlog drained", 10*time.Minute, func() bool { return ob.Stats().Delivered >= n })
	took := time.Since(began)
	if err := run.stop(t); err != nil {
		t.Fatal(err)
	}
	if r.AppliedCount() != n || r.Rejected() != 0 {
		t.Fatalf("applied %d of %d, %d rejected", r.AppliedCount(), n, r.Rejected())
	}
	return took
}

// TestMeasureDrain measures the time to drain a backlog of 100,000
// closed calls (300,000 journal entries) from SQLite to a receiver on
// loopback that checks every signature: the deliveries per second the
// issue asks for (at least 2,000). It runs only with PBXKIT_MEASURE=1
// (PBXKIT_MEASURE_N changes the number of calls; PBXKIT_MEASURE_CPUPROFILE
// names a file for a CPU profile of the drain):
//
//	PBXKIT_MEASURE=1 go test -run TestMeasureDrain -v ./pbx/outbox/
func TestMeasureDrain(t *testing.T) {
	if os.Getenv("PBXKIT_MEASURE") == "" {
		t.Skip("PBXKIT_MEASURE not set: a measurement of a minute or so")
	}
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("PBXKIT_MEASURE_N")); err == nil && v > 0 {
		n = v
	}
	s, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "bridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	began := time.Now()
	fill(t, s, n)
	t.Logf("stored %d calls (%d entries) in %v", n, 3*n, time.Since(began).Round(time.Millisecond))
	if path := os.Getenv("PBXKIT_MEASURE_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	for _, c := range []int{outbox.DefaultConcurrency} {
		cpu0 := cpuTime()
		took := drain(t, s, n, outbox.WithConcurrency(c))
		cpu := cpuTime() - cpu0
		t.Logf("drained %d deliveries from SQLite in %v: %.0f deliveries/s (concurrency %d, GOMAXPROCS %d, %s/%s)",
			n, took.Round(time.Millisecond), float64(n)/took.Seconds(), c, runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
		if cpu > 0 {
			// On a shared machine the wall-clock rate depends on the
			// neighbours; the CPU time does not (much).
			t.Logf("CPU time %v (outbox, SQLite and the receiver together): %.0f µs per delivery; %.0f deliveries/s per core",
				cpu.Round(time.Millisecond), float64(cpu.Microseconds())/float64(n), float64(n)/cpu.Seconds())
		}
		// The next run starts over: a new target name would, too.
		if _, err := s.SetState(context.Background(), "outbox/1c", nil, mustVersion(t, s, "outbox/1c")); err != nil {
			t.Fatal(err)
		}
	}
}

func mustVersion(t testing.TB, s journal.Store, key string) int64 {
	_, v, err := s.State(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// BenchmarkDeliverSQLite is the cost of one delivery from SQLite to a
// loopback receiver, in a backlog of b.N calls (b.N deliveries/op; the
// deliveries per second are 1e9 / ns/op).
func BenchmarkDeliverSQLite(b *testing.B) {
	s, err := sqlitestore.Open(context.Background(), filepath.Join(b.TempDir(), "bridge.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	fill(b, s, b.N)
	b.ResetTimer()
	drain(b, s, b.N)
}

// BenchmarkDeliverMemory is the same from the memory store: the outbox's
// own cost without SQLite's.
func BenchmarkDeliverMemory(b *testing.B) {
	s := journal.NewMemoryStore()
	fill(b, s, b.N)
	b.ResetTimer()
	drain(b, s, b.N)
}
