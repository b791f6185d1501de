package sqlitestore_test

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

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

// BenchmarkAppend is one event appended (and its call refolded) at a time:
// each append waits for its own fsync (synchronous=FULL).
func BenchmarkAppend(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "bench.db"))
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

// BenchmarkAppendParallel is 8 concurrent appenders, as behind a busy
// webhook: concurrent appends share a transaction and its fsync.
func BenchmarkAppendParallel(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "bench.db"))
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
