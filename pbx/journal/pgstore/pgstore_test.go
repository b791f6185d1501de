package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/journal/journaltest"
	"github.com/pbxkit/pbxkit/pbx/journal/pgstore"
)

const envDSN = "PBXKIT_TEST_POSTGRES"

// baseDSN returns the test server's DSN, or skips the test.
func baseDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(envDSN)
	if dsn == "" {
		t.Skip(envDSN + " not set: set it to a PostgreSQL DSN to run the pgstore suite (.ci/run does)")
	}
	return dsn
}

var schemaN atomic.Int64

// freshSchema creates an empty schema for the test, dropped at its end,
// and returns a DSN whose search_path selects it.
func freshSchema(t testing.TB) string {
	t.Helper()
	base := baseDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	require.NoError(t, err)
	defer conn.Close(ctx)
	name := fmt.Sprintf("pbxkit_test_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6, schemaN.Add(1))
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize())
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	return withSearchPath(t, base, name)
}

// withSearchPath adds search_path to a URL or keyword/value DSN.
func withSearchPath(t testing.TB, dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		require.NoError(t, err, "%s is not a valid URL", envDSN)
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}

func open(t testing.TB, dsn string) *pgstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := pgstore.Open(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	baseDSN(t)
	var dsns sync.Map // *pgstore.Store -> its DSN, for Reopen
	journaltest.Run(t, func(t *testing.T) journal.Store {
		dsn := freshSchema(t)
		s := open(t, dsn)
		dsns.Store(s, dsn)
		return s
	}, journaltest.Options{Reopen: func(t *testing.T, st journal.Store) journal.Store {
		dsn, ok := dsns.Load(st)
		require.True(t, ok)
		require.NoError(t, st.(*pgstore.Store).Close())
		s := open(t, dsn.(string))
		dsns.Store(s, dsn)
		return s
	}})
}

var msk = time.FixedZone("MSK", 3*3600)

func event(callID, key string, typ pbx.EventType, at time.Time) pbx.CallEvent {
	return pbx.CallEvent{
		Provider: "sipuni", CallID: callID, Type: typ, At: at, DedupeKey: key,
		Direction: pbx.Inbound, Phone: "79991234567", Extension: "101",
	}
}

// TestTwoReplicas: two Stores on one database, as two replicas behind a
// load balancer. Writers append through both concurrently; a Subscribe on
// the second sees every entry, each once, in increasing Seq order, and
// the calls fold events that arrived through either.
func TestTwoReplicas(t *testing.T) {
	dsn := freshSchema(t)
	r1, r2 := open(t, dsn), open(t, dsn)
	j1, j2 := journal.New(r1), journal.New(r2)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	const writers, perWriter = 6, 40
	const total = writers * perWriter
	got := make(chan journal.Entry, total)
	subDone := make(chan error, 1)
	go func() {
		n := 0
		for e, err := range j2.Subscribe(ctx, 0) {
			if err != nil {
				subDone <- err
				return
			}
			got <- e
			if n++; n == total {
				break
			}
		}
		subDone <- nil
	}()

	t0 := time.Date(2025, 3, 14, 10, 0, 0, 0, msk)
	var wg sync.WaitGroup
	for w := range writers {
		j := j1
		if w%2 == 1 {
			j = j2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				// Calls are shared between writers on both replicas.
				e := event(fmt.Sprint("call-", i%10), fmt.Sprintf("w%d-%d", w, i), pbx.EventRinging, t0.Add(time.Duration(i)*time.Second))
				e.Extension = fmt.Sprint(100 + w)
				if err := j.HandleEvent(ctx, e); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, <-subDone)
	close(got)
	var last int64
	keys := map[string]bool{}
	for e := range got {
		assert.Greater(t, e.Seq, last, "Seq order")
		last = e.Seq
		keys[e.Event.DedupeKey] = true
	}
	assert.Equal(t, total, len(keys), "every entry once")

	// Each call has a leg from every writer, through either replica.
	for i := range 10 {
		c, err := j1.Call(ctx, "sipuni", fmt.Sprint("call-", i))
		require.NoError(t, err)
		assert.Len(t, c.Legs, writers, "call-%d", i)
	}
}

// TestWaitWakesAcrossReplicas: a Wait on one replica returns when the
// other appends.
func TestWaitWakesAcrossReplicas(t *testing.T) {
	dsn := freshSchema(t)
	r1, r2 := open(t, dsn), open(t, dsn)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	woke := make(chan error, 1)
	go func() { woke <- r2.Wait(ctx, 0) }()
	select {
	case err := <-woke:
		t.Fatalf("Wait returned before any append: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	_, ok, err := r1.Append(ctx, journal.Entry{ReceivedAt: time.Now(), Event: event("c", "k", pbx.EventRinging, time.Now())}, journal.Fold)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, <-woke)
}

func TestReopenKeepsEverything(t *testing.T) {
	dsn := freshSchema(t)
	ctx := t.Context()
	s := open(t, dsn)
	t0 := time.Date(2025, 3, 14, 10, 0, 0, 0, msk)
	var want []journal.Entry
	for i := range 5 {
		e, ok, err := s.Append(ctx, journal.Entry{ReceivedAt: t0, Event: event("c1", fmt.Sprint("k", i), pbx.EventRinging, t0.Add(time.Duration(i)*time.Second))}, journal.Fold)
		require.NoError(t, err)
		require.True(t, ok)
		want = append(want, e)
	}
	_, err := s.SetState(ctx, "cursor", []byte("5"), 0)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "a second Close is harmless")

	s2 := open(t, dsn)
	got, err := s2.Entries(ctx, 0, 100)
	require.NoError(t, err)
	require.Len(t, got, len(want))
	for i := range want {
		assert.Equal(t, want[i].Seq, got[i].Seq)
		assert.Equal(t, want[i].Event.DedupeKey, got[i].Event.DedupeKey)
	}
	c, err := s2.Call(ctx, "sipuni", "c1")
	require.NoError(t, err)
	assert.Equal(t, want[len(want)-1].Seq, c.LastSeq)
	v, ver, err := s2.State(ctx, "cursor")
	require.NoError(t, err)
	assert.Equal(t, "5", string(v))
	assert.EqualValues(t, 1, ver)
	e, ok, err := s2.Append(ctx, journal.Entry{ReceivedAt: t0, Event: event("c1", "k-after", pbx.EventCallEnded, t0.Add(time.Minute))}, journal.Fold)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Greater(t, e.Seq, want[len(want)-1].Seq)
}

func TestNewerSchemaIsRefused(t *testing.T) {
	dsn := freshSchema(t)
	s := open(t, dsn)
	require.NoError(t, s.Close())
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `UPDATE pbxkit_journal_schema SET version = $1`, pgstore.SchemaVersion+1)
	require.NoError(t, err)
	conn.Close(ctx)

	_, err = pgstore.Open(ctx, dsn)
	require.Error(t, err)
	assert.ErrorIs(t, err, pgstore.ErrSchemaTooNew)
	assert.Contains(t, err.Error(), fmt.Sprintf("version %d", pgstore.SchemaVersion+1))
}

// TestConcurrentOpenMigratesOnce: replicas starting together on an empty
// schema all open it.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	dsn := freshSchema(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := pgstore.Open(t.Context(), dsn)
			if assert.NoError(t, err) {
				s.Close()
			}
		}()
	}
	wg.Wait()
}

func TestNoSchemaIsAClearError(t *testing.T) {
	dsn := withSearchPath(t, baseDSN(t), "pbxkit_no_such_schema")
	_, err := pgstore.Open(t.Context(), dsn)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "search_path")
}

// TestPasswordNeverInErrors: whatever fails, the error text does not
// contain the password, and nothing reachable with errors.As holds it.
func TestPasswordNeverInErrors(t *testing.T) {
	const secret = "S3cr3t-pw_1"
	tests := []struct{ name, dsn string }{
		{"nothing listens", "postgres://pbxkit:" + secret + "@127.0.0.1:1/pbxkit?sslmode=disable&connect_timeout=5"},
		{"keyword form", "host=127.0.0.1 port=1 user=pbxkit password=" + secret + " dbname=pbxkit sslmode=disable connect_timeout=5"},
		{"unparsable", "postgres://pbxkit:" + secret + "@127.0.0.1:port/pbxkit"},
		{"unparsable keyword form", "host=127.0.0.1 password=" + secret + " port="},
	}
	if dsn := os.Getenv(envDSN); dsn != "" && strings.HasPrefix(dsn, "postgres") {
		u, err := url.Parse(dsn)
		require.NoError(t, err)
		u.User = url.UserPassword(u.User.Username(), secret) // wrong password
		tests = append(tests, struct{ name, dsn string }{"wrong password", u.String()})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			s, err := pgstore.Open(ctx, tt.dsn)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			assert.NotContains(t, err.Error(), secret)
			assert.NotContains(t, fmt.Sprintf("%+v %#v", err, err), secret)
			var ce *pgconn.ConnectError
			assert.False(t, errors.As(err, &ce), "a pgconn.ConnectError carries the password in its Config")
			var pe *pgconn.ParseConfigError
			assert.False(t, errors.As(err, &pe), "a pgconn.ParseConfigError carries the DSN")
		})
	}
}

func TestClosedStore(t *testing.T) {
	s := open(t, freshSchema(t))
	require.NoError(t, s.Close())
	ctx := t.Context()
	_, _, err := s.Append(ctx, journal.Entry{Event: event("c", "k", pbx.EventRinging, time.Now())}, journal.Fold)
	assert.ErrorIs(t, err, pgstore.ErrClosed)
	_, err = s.Entries(ctx, 0, 10)
	assert.ErrorIs(t, err, pgstore.ErrClosed)
	assert.ErrorIs(t, s.Wait(ctx, 0), pgstore.ErrClosed)
}

func TestFailingFoldStoresNothing(t *testing.T) {
	s := open(t, freshSchema(t))
	ctx := t.Context()
	t0 := time.Date(2025, 3, 14, 10, 0, 0, 0, msk)
	func() {
		defer func() { assert.Equal(t, "fold broke", recover()) }()
		s.Append(ctx, journal.Entry{Event: event("c", "k", pbx.EventRinging, t0)}, func([]journal.Entry) journal.Call { panic("fold broke") })
	}()
	n, err := s.LastSeq(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
	e, ok, err := s.Append(ctx, journal.Entry{Event: event("c", "k", pbx.EventRinging, t0)}, journal.Fold)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.EqualValues(t, 1, e.Seq, "the failed append gave its number back")
}

// TestNotificationReachesOtherReplica: an append on one replica is
// notified to the other's listening connection (nothing else on it reads
// the log: no Wait runs, so no polling).
func TestNotificationReachesOtherReplica(t *testing.T) {
	dsn := freshSchema(t)
	r1, r2 := open(t, dsn), open(t, dsn)
	ctx := t.Context()
	select {
	case <-r2.StartListener():
	case <-time.After(20 * time.Second):
		t.Fatal("the listener did not listen")
	}
	require.Zero(t, r2.Notified())
	e, _, err := r1.Append(ctx, journal.Entry{ReceivedAt: time.Now(), Event: event("c", "k", pbx.EventRinging, time.Now())}, journal.Fold)
	require.NoError(t, err)
	deadline := time.Now().Add(20 * time.Second)
	for r2.Notified() < e.Seq && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	assert.Equal(t, e.Seq, r2.Notified())
}

// TestFailingAppendSparesItsNeighbours: concurrent appends are committed
// together; one whose fold panics, one the database refuses in its first
// statement (a call id that is not UTF-8) and one refused in its writes
// (a leg's extension that is not UTF-8) fail alone: the panic reaches its
// caller, the refusals are errors, and every other append is stored.
func TestFailingAppendSparesItsNeighbours(t *testing.T) {
	s := open(t, freshSchema(t))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	t0 := time.Date(2025, 3, 14, 10, 0, 0, 0, msk)
	const n = 24
	var wg sync.WaitGroup
	errs := make([]error, n)
	panics := make(chan any, 1)
	for round := range 3 {
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e := event(fmt.Sprint("c", i%6), fmt.Sprintf("r%d-k%d", round, i), pbx.EventRinging, t0)
				fold := journal.Fold
				switch i {
				case 5:
					fold = func([]journal.Entry) journal.Call { panic("fold broke") }
					defer func() {
						if p := recover(); p != nil {
							select {
							case panics <- p:
							default:
							}
						}
					}()
				case 11:
					e.CallID = "bad\xff"
				case 17:
					fold = func(es []journal.Entry) journal.Call {
						c := journal.Fold(es)
						c.Legs = append(c.Legs, journal.Leg{Extension: "bad\xff"})
						return c
					}
				}
				_, _, errs[i] = s.Append(ctx, journal.Entry{ReceivedAt: t0, Event: e}, fold)
			}()
		}
		wg.Wait()
		assert.Equal(t, "fold broke", <-panics)
		for i, err := range errs {
			if i == 11 || i == 17 {
				assert.Error(t, err, "append %d", i)
			} else if i != 5 {
				assert.NoError(t, err, "append %d", i)
			}
		}
	}
	es, err := s.Entries(ctx, 0, 1000)
	require.NoError(t, err)
	var last int64
	got := map[string]bool{}
	for _, e := range es {
		assert.Greater(t, e.Seq, last)
		last = e.Seq
		got[e.Event.DedupeKey] = true
	}
	assert.Equal(t, 3*(n-3), len(got))
	for round := range 3 {
		for _, bad := range []int{5, 11, 17} {
			assert.False(t, got[fmt.Sprintf("r%d-k%d", round, bad)])
		}
	}
}

// TestQueryPlans checks that every list the journal runs can be answered
// from an index, in order: with sequential scans, bitmap scans and sorts
// priced out, the plan names no Seq Scan, and no Sort where the order
// should come from the index. (On an empty table the planner's choice between two usable
// indexes says nothing; BenchmarkMillion shows the choice on a million
// calls.)
func TestQueryPlans(t *testing.T) {
	dsn := freshSchema(t)
	open(t, dsn)
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	for _, off := range []string{"seqscan", "bitmapscan", "sort"} {
		_, err = conn.Exec(ctx, "SET enable_"+off+" = off")
		require.NoError(t, err)
	}
	day := time.Date(2025, 3, 14, 0, 0, 0, 0, msk)
	after := &journal.CallPos{StartedAt: day.Add(time.Hour), Provider: "p", CallID: "c"}
	tests := []struct {
		name string
		f    journal.Filter
		sort bool // the matches are sorted after the lookup (few: one number's calls, the open calls)
	}{
		{"day", journal.Filter{From: day, To: day.Add(24 * time.Hour), Limit: 100}, false},
		{"day page 2", journal.Filter{From: day, To: day.Add(24 * time.Hour), After: after, Limit: 100}, false},
		{"missed today", journal.Filter{From: day, To: day.Add(24 * time.Hour), Missed: true, Limit: 100}, false},
		{"missed not called back", journal.Filter{From: day, Missed: true, NotCalledBack: true, Limit: 100}, false},
		{"outcome", journal.Filter{From: day, Outcome: pbx.OutcomeBusy, Limit: 100}, false},
		{"extension", journal.Filter{From: day, To: day.Add(24 * time.Hour), Extension: "101", Limit: 100}, false},
		{"extension page 2", journal.Filter{Extension: "101", After: after, Limit: 100}, false},
		{"phone", journal.Filter{PhoneKey: "7654321999", PhonePrefix: true, Limit: 100}, true},
		{"phone exact", journal.Filter{PhoneKey: "101", Limit: 100}, true},
		{"idle", journal.Filter{Open: true, IdleBefore: day, Limit: 100}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			query, args := pgstore.CallsQuery(tt.f)
			rows, err := conn.Query(ctx, "EXPLAIN "+query, args...)
			require.NoError(t, err)
			var plan []string
			for rows.Next() {
				var line string
				require.NoError(t, rows.Scan(&line))
				plan = append(plan, line)
			}
			require.NoError(t, rows.Err())
			joined := strings.Join(plan, "\n")
			assert.NotContains(t, joined, "Seq Scan", "plan:\n%s", joined)
			assert.Contains(t, joined, "Index", "plan:\n%s", joined)
			if !tt.sort {
				assert.NotContains(t, joined, "Sort", "plan:\n%s", joined)
			}
		})
	}
}
