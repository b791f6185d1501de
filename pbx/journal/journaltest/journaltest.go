// Package journaltest is the conformance suite every [journal.Store]
// passes. A backend runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		journaltest.Run(t, func(t *testing.T) journal.Store {
//			s, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "j.db"))
//			require.NoError(t, err)
//			t.Cleanup(func() { s.Close() })
//			return s
//		}, journaltest.Options{Reopen: reopen})
//	}
//
// The suite drives the store through a [journal.Journal] (which is what
// users do) and directly where the contract is the store's own (paging,
// visibility, compare-and-set). Subtests are named after the rule they
// check, so a failure says which rule broke.
package journaltest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
)

// Options are the optional parts of the suite.
type Options struct {
	// Reopen closes s and opens the same storage again, for backends that
	// keep data across a restart. When nil, the reopen tests are skipped.
	Reopen func(t *testing.T, s journal.Store) journal.Store
}

// Run runs the conformance suite. open must return an empty store each time
// it is called (and register its cleanup with t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) journal.Store, opts ...Options) {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	s := &suite{open: open, opts: o}
	t.Run("Log", s.testLog)
	t.Run("Fold", s.testFold)
	t.Run("IdleClose", s.testIdleClose)
	t.Run("Reconcile", s.testReconcile)
	t.Run("Query", s.testQuery)
	t.Run("Stats", s.testStats)
	t.Run("Callback", s.testCallback)
	t.Run("Subscribe", s.testSubscribe)
	t.Run("State", s.testState)
	t.Run("Reopen", s.testReopen)
}

type suite struct {
	open func(t *testing.T) journal.Store
	opts Options
}

// msk is Moscow time without depending on the tz database.
var msk = time.FixedZone("MSK", 3*3600)

// base is the suite's "today", 10:00 Moscow time.
var base = time.Date(2025, 3, 14, 10, 0, 0, 0, msk)

// clock is a deterministic clock for journal.WithClock: each reading is
// one millisecond after the previous one. Safe for concurrent use.
type clock struct{ n atomic.Int64 }

func (c *clock) now() time.Time {
	return base.Add(time.Duration(c.n.Add(1)) * time.Millisecond)
}

// newJournal opens a store and returns a journal over it with a test clock.
func (s *suite) newJournal(t *testing.T, opts ...journal.Option) (*journal.Journal, journal.Store) {
	t.Helper()
	st := s.open(t)
	c := &clock{}
	opts = append([]journal.Option{journal.WithClock(c.now)}, opts...)
	return journal.New(st, opts...), st
}

// ctx returns a context that ends with the test or after a generous bound.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// at is base plus d.
func at(d time.Duration) time.Time { return base.Add(d) }

// sec is n seconds.
func sec(n int) time.Duration { return time.Duration(n) * time.Second }

// ev builds an event; key is its DedupeKey.
func ev(provider, callID string, typ pbx.EventType, when time.Time, key string) pbx.CallEvent {
	return pbx.CallEvent{Provider: provider, CallID: callID, Type: typ, At: when, DedupeKey: key}
}
