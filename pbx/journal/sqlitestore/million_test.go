package sqlitestore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
)

// The million-call benchmarks: "missed calls today, newest 100" and one
// day's per-employee stats over 1,000,000 stored calls. The database is
// built once per process (about a minute) in a temporary directory, with
// calls written straight into the calls tables (no log entries: the
// queries do not read the log).

const (
	millionCalls   = 1_000_000
	millionDays    = 100 // 10,000 calls a day
	millionPerDay  = millionCalls / millionDays
	millionMissedN = 5 // every 5th call is a missed inbound one
)

var millionDay0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("MSK", 3*3600))

var million struct {
	once  sync.Once
	dir   string
	store *Store
	err   error
}

// millionCall is the i-th call of the generated set.
func millionCall(i int) journal.Call {
	day, n := i/millionPerDay, i%millionPerDay
	start := millionDay0.AddDate(0, 0, day).Add(8 * time.Hour).Add(time.Duration(n) * 3 * time.Second)
	ext := fmt.Sprint(101 + i%20)
	c := journal.Call{
		Provider: "sipuni", CallID: fmt.Sprintf("call-%07d", i),
		Direction: pbx.Inbound, Phone: fmt.Sprintf("7999%07d", i%500_000), Line: "74951112233",
		StartedAt: start, LastEventAt: start.Add(time.Minute), EndedAt: start.Add(time.Minute),
		ClosedBy: journal.ClosedByEvent, FirstSeq: int64(4*i + 1), LastSeq: int64(4*i + 4),
		Legs: []journal.Leg{{Extension: ext, RangAt: start}, {Extension: fmt.Sprint(101 + (i+7)%20), RangAt: start}},
	}
	if i%millionMissedN == 0 {
		c.Outcome, c.Missed = pbx.OutcomeMissed, true
	} else {
		c.Outcome, c.AnsweredBy = pbx.OutcomeAnswered, ext
		c.AnsweredAt = start.Add(10 * time.Second)
		c.TalkDuration, c.CallDuration = 50*time.Second, time.Minute
		c.Legs[0].Answered, c.Legs[0].AnsweredAt = true, c.AnsweredAt
	}
	return c
}

func millionStore(b *testing.B) *Store {
	million.once.Do(func() {
		million.dir, million.err = os.MkdirTemp("", "pbxkit-million-*")
		if million.err != nil {
			return
		}
		ctx := context.Background()
		s, err := Open(ctx, filepath.Join(million.dir, "million.db"))
		if err != nil {
			million.err = err
			return
		}
		million.store = s
		start := time.Now()
		const chunk = 20_000
		for i := 0; i < millionCalls; i += chunk {
			err := s.write(ctx, func(w *wtx) (int64, error) {
				for k := i; k < i+chunk; k++ {
					c := millionCall(k)
					if err := putCall(w, c.Provider, c.CallID, c); err != nil {
						return 0, err
					}
				}
				return 0, nil
			})
			if err != nil {
				million.err = err
				return
			}
		}
		fmt.Fprintf(os.Stderr, "million: %d calls written in %v\n", millionCalls, time.Since(start).Round(time.Second))
	})
	if million.err != nil {
		b.Fatal(million.err)
	}
	return million.store
}

func TestMain(m *testing.M) {
	code := m.Run()
	if million.store != nil {
		million.store.Close()
		os.RemoveAll(million.dir)
	}
	os.Exit(code)
}

// today is the last generated day.
func millionToday() (from, to time.Time) {
	from = millionDay0.AddDate(0, 0, millionDays-1)
	return from, from.AddDate(0, 0, 1)
}

func BenchmarkMillionMissedToday(b *testing.B) {
	s := millionStore(b)
	j := journal.New(s)
	from, to := millionToday()
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for c, err := range j.Calls(b.Context(), journal.Query{From: from, To: to, Missed: true, Limit: 100}) {
			if err != nil {
				b.Fatal(err)
			}
			if !c.Missed {
				b.Fatal("not a missed call")
			}
			n++
		}
		if n != 100 {
			b.Fatalf("%d calls, want 100", n)
		}
	}
}

func BenchmarkMillionStatsToday(b *testing.B) {
	s := millionStore(b)
	j := journal.New(s)
	from, to := millionToday()
	b.ReportAllocs()
	for b.Loop() {
		st, err := j.Stats(b.Context(), journal.Query{From: from, To: to})
		if err != nil {
			b.Fatal(err)
		}
		if len(st) != 20 {
			b.Fatalf("%d extensions, want 20", len(st))
		}
	}
}

func BenchmarkMillionExtensionMissedToday(b *testing.B) {
	s := millionStore(b)
	j := journal.New(s)
	from, to := millionToday()
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for _, err := range j.Calls(b.Context(), journal.Query{From: from, To: to, Extension: "101", Missed: true, Limit: 100}) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 100 {
			b.Fatalf("%d calls, want 100", n)
		}
	}
}

func BenchmarkMillionPhone(b *testing.B) {
	s := millionStore(b)
	j := journal.New(s)
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for _, err := range j.Calls(b.Context(), journal.Query{Phone: "+7 999 000-12-34", Limit: 100}) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 2 {
			b.Fatalf("%d calls, want 2", n)
		}
	}
}
