package sqlitestore

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
)

// historyOnly is a provider whose call log holds n generated calls.
type historyOnly struct{ n int }

func (historyOnly) Name() string { return "sipuni" }
func (historyOnly) WebhookHandler(pbx.EventHandler, pbx.Router) http.Handler {
	return http.NotFoundHandler()
}
func (h historyOnly) History(context.Context, pbx.HistoryQuery) iter.Seq2[pbx.CallRecord, error] {
	start := time.Date(2025, 3, 1, 8, 0, 0, 0, time.FixedZone("MSK", 3*3600))
	return func(yield func(pbx.CallRecord, error) bool) {
		for i := range h.n {
			r := pbx.CallRecord{
				CallID: fmt.Sprintf("h-%07d", i), Direction: pbx.Inbound,
				Phone: fmt.Sprintf("7999%07d", i), Extension: fmt.Sprint(101 + i%20),
				StartedAt: start.Add(time.Duration(i) * time.Second), Outcome: pbx.OutcomeMissed,
				CallDuration: 20 * time.Second,
			}
			if i%3 != 0 {
				r.Outcome, r.TalkDuration, r.CallDuration = pbx.OutcomeAnswered, 40*time.Second, 50*time.Second
			}
			if !yield(r, nil) {
				return
			}
		}
	}
}

// TestMeasureReconcile times Reconcile of 100,000 history rows into an
// empty SQLite journal, then the second, idempotent run. It is a
// measurement, not a check of speed: it runs only with
// PBXKIT_MEASURE=1 and asserts only the counts.
//
//	PBXKIT_MEASURE=1 go test -run TestMeasureReconcile -v ./pbx/journal/sqlitestore
func TestMeasureReconcile(t *testing.T) {
	if os.Getenv("PBXKIT_MEASURE") == "" {
		t.Skip("a measurement: set PBXKIT_MEASURE=1 to run it")
	}
	const rows = 100_000
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "reconcile.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	j := journal.New(s)
	q := pbx.HistoryQuery{From: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)}
	for run, want := range []int{rows, 0} {
		start := time.Now()
		rep, err := j.Reconcile(ctx, historyOnly{n: rows}, q)
		took := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Read != rows || rep.Added != want {
			t.Fatalf("run %d: %+v, want %d read and %d added", run+1, rep, rows, want)
		}
		t.Logf("run %d: %d rows read, %d added, %d updated in %v (%.0f rows/s)",
			run+1, rep.Read, rep.Added, rep.Updated, took.Round(time.Millisecond), float64(rows)/took.Seconds())
	}
}
