package outbox_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/journal/sqlitestore"
	"github.com/pbxkit/pbxkit/pbx/outbox"
	"github.com/pbxkit/pbxkit/pbx/outbox/outboxtest"
)

// TestDeliversStoredCalls: a new target starts at the journal's first
// entry: calls stored before the outbox existed are all delivered, one
// document per call however many events it had, and calls stored later
// follow.
func TestDeliversStoredCalls(t *testing.T) {
	j := journal.New(journal.NewMemoryStore())
	addCalls(t, j, 0, 20)
	r := outboxtest.NewReceiver(t, secret)
	ob := newOutbox(t, j, r.URL(), outbox.WithTimeout(time.Second), outbox.WithLeaseTTL(4*time.Second))
	start(t, ob)
	waitFor(t, "20 documents", 10*time.Second, func() bool { return r.AppliedCount() == 20 })
	addCalls(t, j, 20, 5)
	waitFor(t, "25 documents", 10*time.Second, func() bool { return r.AppliedCount() == 25 })
	if n := checkDelivered(t, j, r); n != 25 {
		t.Errorf("applied %d documents, want 25", n)
	}
	waitFor(t, "stats", 5*time.Second, func() bool { s := ob.Stats(); return s.Pending == 0 && s.Delivered == 25 })
	if s := ob.Stats(); !s.Active || s.Down || s.Dead != 0 || s.OldestPending != 0 {
		t.Errorf("stats %+v", s)
	}
}

// storeKind opens a journal store that survives a "process" restart:
// the same memory store, or the same SQLite file opened again.
type storeKind struct {
	name   string
	open   func(t *testing.T) journal.Store
	reopen func(t *testing.T, s journal.Store) journal.Store
}

func storeKinds() []storeKind {
	return []storeKind{
		{
			name:   "memory",
			open:   func(t *testing.T) journal.Store { return journal.NewMemoryStore() },
			reopen: func(t *testing.T, s journal.Store) journal.Store { return s },
		},
		{
			name: "sqlite",
			open: func(t *testing.T) journal.Store {
				s, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "bridge.db"))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			},
			reopen: func(t *testing.T, s journal.Store) journal.Store {
				path := s.(*sqlitestore.Store).Path()
				if err := s.(*sqlitestore.Store).Close(); err != nil {
					t.Fatal(err)
				}
				s2, err := sqlitestore.Open(context.Background(), path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s2.Close() })
				return s2
			},
		},
	}
}

// TestDownThenBack is the promise of the package: 1C is down for the
// whole of 500 calls (and for six hours of the fake clock), 50 of them
// are corrected meanwhile, then 1C comes back. Every call arrives with its
// latest version, each document is applied once (the receiver counts by
// webhook-id), the documents of a call in version order, none lost; the
// outbox probed the down target a few times instead of once per call per
// retry, and logged it down once and back once.
//
// Variants: the outbox process is killed halfway through the backlog (its
// store fails and Run is cancelled: no final save) and restarted (for
// SQLite, from the file opened again); 1C applies some documents and then
// does not answer (the "maybe delivered" case).
func TestDownThenBack(t *testing.T) {
	const calls, fixes = 500, 50
	cases := []struct {
		name string
		kill bool
		hang bool
	}{
		{name: "down"},
		{name: "killed-halfway", kill: true},
		{name: "applies-then-times-out", hang: true},
	}
	for _, sk := range storeKinds() {
		for _, tc := range cases {
			t.Run(sk.name+"/"+tc.name, func(t *testing.T) {
				clk := outboxtest.NewClock(t0.Add(24 * time.Hour))
				store := sk.open(t)
				j := journal.New(store, journal.WithClock(clk.Now))
				fill(t, store, calls)

				r := outboxtest.NewReceiver(t, secret)
				r.Set(outboxtest.Behavior{Mode: outboxtest.Down})
				hc, ct := countingClient()
				var logs logBuffer
				timeout := time.Second
				if tc.hang {
					timeout = 200 * time.Millisecond
				}
				ks := &killable{Store: store}
				opts := fastOpts(clk, outbox.WithHTTPClient(hc), outbox.WithLogger(newLogger(&logs)),
					outbox.WithTimeout(timeout), outbox.WithReplicaID("bridge-1"))
				obA := newOutbox(t, journal.New(ks), r.URL(), opts...)
				runA := start(t, obA)

				waitFor(t, "the target down", 10*time.Second, func() bool { return obA.Stats().Down })
				waitFor(t, "the backlog read", 10*time.Second, func() bool { return obA.Stats().Pending == calls })
				// Corrections while 1C is down: a second version of 50
				// calls, queued behind the first.
				for i := range fixes {
					handle(t, j, correction("sipuni", i*7, 1))
				}
				waitFor(t, "the corrections read", 10*time.Second, func() bool { return obA.Stats().Pending == calls+fixes })
				downFrom := clk.Now()
				drive(t, clk, "six hours down", 20*time.Second, func() bool { return clk.Now().Sub(downFrom) >= 6*time.Hour })
				if n := ct.n.Load(); n > 25 {
					t.Errorf("%d requests to a target down for 6 hours, want at most 25 (8 at first, then one probe per retry)", n)
				}
				if s := obA.Stats(); s.OldestPending < 6*time.Hour || s.Pending != calls+fixes || s.Delivered != 0 {
					t.Errorf("stats while down: %+v", s)
				}

				var hung atomic.Int64
				switch {
				case tc.hang:
					var n atomic.Int64
					r.SetFunc(func(q outboxtest.Request) outboxtest.Behavior {
						if q.Attempt == 1 && n.Add(1)%10 == 0 {
							hung.Add(1)
							return outboxtest.Behavior{Mode: outboxtest.HangAfterApply}
						}
						return outboxtest.Behavior{Mode: outboxtest.Up}
					})
				case tc.kill:
					// Slow enough that the cursor is saved while the
					// backlog drains.
					r.Set(outboxtest.Behavior{Mode: outboxtest.Slow, Delay: 10 * time.Millisecond})
				default:
					r.Set(outboxtest.Behavior{Mode: outboxtest.Up})
				}

				ob := obA
				if tc.kill {
					// Kill once half the backlog is applied and the cursor
					// was saved past some of it: a restart must neither lose
					// what follows nor apply anything twice.
					drive(t, clk, "half the backlog", 20*time.Second, func() bool {
						return r.AppliedCount() >= calls/2 && savedCursor(t, store) > 0
					})
					ks.dead.Store(true)
					runA.stop(t)
					n := r.AppliedCount()
					if n >= calls+fixes {
						t.Fatalf("killed after %d documents, want halfway", n)
					}
					saved := savedCursor(t, store)
					last, _ := j.LastSeq(context.Background())
					if saved >= last {
						t.Fatalf("cursor saved at %d of %d: nothing left to deliver after the restart", saved, last)
					}
					r.Set(outboxtest.Behavior{Mode: outboxtest.Up})
					store = sk.reopen(t, store)
					j = journal.New(store, journal.WithClock(clk.Now))
					ob = newOutbox(t, j, r.URL(), fastOpts(clk, outbox.WithLogger(newLogger(&logs)), outbox.WithReplicaID("bridge-1"))...)
					start(t, ob)
				}
				drive(t, clk, "every document", 60*time.Second, func() bool {
					s := ob.Stats()
					return s.Active && s.Pending == 0 && s.Unread == 0 && r.AppliedCount() >= calls
				})

				n := checkDelivered(t, j, r)
				if !tc.kill && n != calls+fixes {
					t.Errorf("applied %d documents, want %d", n, calls+fixes)
				}
				if tc.kill && (n < calls || n > calls+fixes) {
					t.Errorf("applied %d documents, want %d to %d", n, calls, calls+fixes)
				}
				s := ob.Stats()
				if s.Dead != 0 || s.Down {
					t.Errorf("stats after: %+v", s)
				}
				if !tc.kill && s.Delivered != calls+fixes {
					t.Errorf("Delivered %d, want %d", s.Delivered, calls+fixes)
				}
				if tc.hang {
					again := 0
					for _, a := range r.Applied() {
						if r.Received(a.ID) > 1 {
							again++
						}
					}
					if hung.Load() == 0 || again < int(hung.Load()) {
						t.Errorf("%d requests applied then unanswered, %d documents received again; want every one received again", hung.Load(), again)
					}
				}
				// A receiver that hangs on some requests fills every slot
				// with them now and then, and so looks down for a moment:
				// only the clean cases count the lines.
				if !tc.hang {
					for _, msg := range []string{"target down", "target back"} {
						if got := logs.count(msg); got != 1 {
							t.Errorf("%d %q lines, want 1:\n%s", got, msg, logs.String())
						}
					}
				}
			})
		}
	}
}

// savedCursor reads the cursor the outbox "1c" saved in store (white box:
// the state record is {"cursor": n, ...}).
func savedCursor(t testing.TB, store journal.Store) int64 {
	t.Helper()
	v, _, err := store.State(context.Background(), "outbox/1c")
	if err != nil || v == nil {
		return 0
	}
	var st struct {
		Cursor int64 `json:"cursor"`
	}
	if err := json.Unmarshal(v, &st); err != nil {
		t.Fatalf("state %s: %v", v, err)
	}
	return st.Cursor
}
