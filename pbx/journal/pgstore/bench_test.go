package pgstore_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
)

// benchEntry is the n-th event of a stream of calls of four events each
// (ringing on two phones, answered, call_ended), so each append also
// refolds a call of up to four entries, as in production.
func benchEntry(n int64) journal.Entry {
	t0 := time.Date(2025, 3, 14, 10, 0, 0, 0, msk)
	call := n / 4
	at := t0.Add(time.Duration(call) * time.Second).Add(time.Duration(n%4) * 100 * time.Millisecond)
	ev := pbx.CallEvent{
		Provider: "sipuni", CallID: fmt.Sprint("call-", call), At: at,
		Direction: pbx.Inbound, Phone: "79991234567", Line: "74951112233",
		DedupeKey: fmt.Sprint("key-", n),
	}
	switch n % 4 {
	case 0:
		ev.Type, ev.Extension = pbx.EventRinging, "101"
	case 1:
		ev.Type, ev.Extension = pbx.EventRinging, "102"
	case 2:
		ev.Type, ev.Extension = pbx.EventAnswered, "101"
	case 3:
		ev.Type, ev.Extension, ev.Outcome = pbx.EventCallEnded, "101", pbx.OutcomeAnswered
	}
	return journal.Entry{ReceivedAt: at, Event: ev}
}

// BenchmarkAppend is one event appended (and its call refolded) at a time.
func BenchmarkAppend(b *testing.B) {
	s := open(b, freshSchema(b))
	ctx := b.Context()
	b.ReportAllocs()
	var n int64
	for b.Loop() {
		if _, _, err := s.Append(ctx, benchEntry(n), journal.Fold); err != nil {
			b.Fatal(err)
		}
		n++
	}
}

// BenchmarkAppendParallel is 8 concurrent appenders. Appends commit one
// at a time (the Seq counter's lock), so this measures the queue.
func BenchmarkAppendParallel(b *testing.B) {
	s := open(b, freshSchema(b))
	ctx := b.Context()
	b.ReportAllocs()
	var n atomic.Int64
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := s.Append(ctx, benchEntry(n.Add(1)-1), journal.Fold); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// The million-call benchmarks: "missed calls today, newest 100" and one
// day's per-employee stats over 1,000,000 stored calls, written with COPY
// into a schema of their own (no log entries: the queries do not read it).

const (
	millionCalls  = 1_000_000
	millionDays   = 100
	millionPerDay = millionCalls / millionDays
)

var millionDay0 = time.Date(2025, 1, 1, 0, 0, 0, 0, msk)

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
	if i%5 == 0 {
		c.Outcome, c.Missed = pbx.OutcomeMissed, true
	} else {
		c.Outcome, c.AnsweredBy = pbx.OutcomeAnswered, ext
		c.AnsweredAt = start.Add(10 * time.Second)
		c.TalkDuration, c.CallDuration = 50*time.Second, time.Minute
		c.Legs[0].Answered, c.Legs[0].AnsweredAt = true, c.AnsweredAt
	}
	return c
}

// millionJournal builds the million calls in a fresh schema, dropped when
// b ends.
func millionJournal(b *testing.B) *journal.Journal {
	dsn := freshSchema(b)
	s := open(b, dsn)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	start := time.Now()
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"pbxkit_journal_calls"},
		[]string{"provider", "call_id", "started_at", "last_event_at", "called_back_at", "direction", "outcome", "missed", "closed_by", "phone_key", "call"},
		pgx.CopyFromFunc(func() func() ([]any, error) {
			i := 0
			return func() ([]any, error) {
				if i == millionCalls {
					return nil, nil
				}
				c := millionCall(i)
				i++
				doc, err := c.MarshalJSON()
				return []any{c.Provider, c.CallID, c.StartedAt.UnixNano(), c.LastEventAt.UnixNano(), int64(0),
					int16(c.Direction), int16(c.Outcome), c.Missed, int16(c.ClosedBy), journal.PhoneKey(c.Phone), doc}, err
			}
		}()))
	if err != nil {
		b.Fatal(err)
	}
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"pbxkit_journal_legs"},
		[]string{"provider", "call_id", "extension", "started_at"},
		pgx.CopyFromFunc(func() func() ([]any, error) {
			i, leg := 0, 0
			return func() ([]any, error) {
				if i == millionCalls {
					return nil, nil
				}
				c := millionCall(i)
				row := []any{c.Provider, c.CallID, c.Legs[leg].Extension, c.StartedAt.UnixNano()}
				if leg++; leg == len(c.Legs) {
					i, leg = i+1, 0
				}
				return row, nil
			}
		}()))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d calls written in %v", millionCalls, time.Since(start).Round(time.Second))
	return journal.New(s)
}

func millionToday() (from, to time.Time) {
	from = millionDay0.AddDate(0, 0, millionDays-1)
	return from, from.AddDate(0, 0, 1)
}

// BenchmarkMillion runs the queries as sub-benchmarks of one benchmark, so
// that the data is built once for all of them.
func BenchmarkMillion(b *testing.B) {
	j := millionJournal(b)
	from, to := millionToday()
	count := func(b *testing.B, q journal.Query, want int) {
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			for _, err := range j.Calls(b.Context(), q) {
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
			if n != want {
				b.Fatalf("%d calls, want %d", n, want)
			}
		}
	}
	b.Run("MissedToday", func(b *testing.B) {
		count(b, journal.Query{From: from, To: to, Missed: true, Limit: 100}, 100)
	})
	b.Run("ExtensionMissedToday", func(b *testing.B) {
		count(b, journal.Query{From: from, To: to, Extension: "101", Missed: true, Limit: 100}, 100)
	})
	b.Run("Phone", func(b *testing.B) {
		count(b, journal.Query{Phone: "+7 999 000-12-34", Limit: 100}, 2)
	})
	b.Run("StatsToday", func(b *testing.B) {
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
	})
}
