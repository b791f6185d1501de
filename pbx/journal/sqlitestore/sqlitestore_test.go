package sqlitestore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/journal/journaltest"
	"github.com/pbxkit/pbxkit/pbx/journal/sqlitestore"
)

func open(t testing.TB, path string) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), path)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	journaltest.Run(t, func(t *testing.T) journal.Store {
		return open(t, filepath.Join(t.TempDir(), "journal.db"))
	}, journaltest.Options{Reopen: func(t *testing.T, st journal.Store) journal.Store {
		s := st.(*sqlitestore.Store)
		require.NoError(t, s.Close())
		return open(t, s.Path())
	}})
}

var msk = time.FixedZone("MSK", 3*3600)

func entry(callID, key string, typ pbx.EventType, at time.Time) journal.Entry {
	return journal.Entry{
		ReceivedAt: at,
		Event: pbx.CallEvent{
			Provider: "sipuni", CallID: callID, Type: typ, At: at, DedupeKey: key,
			Direction: pbx.Inbound, Phone: "79991234567", Extension: "101",
		},
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "j.db")
	s := open(t, path)
	t0 := time.Date(2025, 3, 14, 10, 0, 0, 0, msk)
	var want []journal.Entry
	for i := range 5 {
		e := entry("c1", fmt.Sprint("k", i), pbx.EventRinging, t0.Add(time.Duration(i)*time.Second))
		e.Event.Raw = json.RawMessage(`{"vendor": "field"}`)
		got, ok, err := s.Append(ctx, e, journal.Fold)
		require.NoError(t, err)
		require.True(t, ok)
		want = append(want, got)
	}
	_, err := s.SetState(ctx, "cursor", []byte("5"), 0)
	require.NoError(t, err)
	call, err := s.Call(ctx, "sipuni", "c1")
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "a second Close is harmless")

	s2 := open(t, path)
	got, err := s2.Entries(ctx, 0, 100)
	require.NoError(t, err)
	require.Len(t, got, len(want))
	for i := range want {
		assert.Equal(t, want[i].Seq, got[i].Seq)
		assert.True(t, want[i].ReceivedAt.Equal(got[i].ReceivedAt))
		assert.Equal(t, want[i].Event.DedupeKey, got[i].Event.DedupeKey)
		assert.JSONEq(t, `{"vendor":"field"}`, string(got[i].Event.Raw.(json.RawMessage)))
	}
	call2, err := s2.Call(ctx, "sipuni", "c1")
	require.NoError(t, err)
	assert.Equal(t, call.LastSeq, call2.LastSeq)
	assert.True(t, call.StartedAt.Equal(call2.StartedAt))
	v, ver, err := s2.State(ctx, "cursor")
	require.NoError(t, err)
	assert.Equal(t, "5", string(v))
	assert.EqualValues(t, 1, ver)
	// Seq keeps growing after the reopen.
	e, ok, err := s2.Append(ctx, entry("c1", "k-after", pbx.EventCallEnded, t0.Add(time.Minute)), journal.Fold)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Greater(t, e.Seq, want[len(want)-1].Seq)
}

func TestNewerSchemaIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	s := open(t, path)
	require.NoError(t, s.Close())

	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = db.Exec(`UPDATE schema_version SET version = ?`, sqlitestore.SchemaVersion+1)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	_, err = sqlitestore.Open(t.Context(), path)
	require.Error(t, err)
	assert.ErrorIs(t, err, sqlitestore.ErrSchemaTooNew)
	assert.Contains(t, err.Error(), fmt.Sprintf("schema version %d", sqlitestore.SchemaVersion+1))
}

func TestOpenRefusesNonFiles(t *testing.T) {
	for _, p := range []string{"", ":memory:"} {
		_, err := sqlitestore.Open(t.Context(), p)
		assert.Error(t, err, "%q", p)
	}
	_, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "no-such-dir", "j.db"))
	assert.Error(t, err)
}

func TestPathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a b?c#d%20")
	s := open(t, filepath.Join(dir+".db"))
	_, _, err := s.Append(t.Context(), entry("c", "k", pbx.EventRinging, time.Now()), journal.Fold)
	require.NoError(t, err)
	assert.FileExists(t, dir+".db", "the name is taken literally, not as a URI")
}

func TestFailingFoldStoresNothingAndSparesItsNeighbours(t *testing.T) {
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "j.db"))
	t0 := time.Date(2025, 3, 14, 10, 0, 0, 0, msk)
	var wg sync.WaitGroup
	panics := make(chan any, 1)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fold := journal.Fold
			if i == 7 {
				fold = func([]journal.Entry) journal.Call { panic("fold broke") }
				defer func() { panics <- recover() }()
			}
			_, ok, err := s.Append(ctx, entry(fmt.Sprint("c", i), fmt.Sprint("k", i), pbx.EventRinging, t0), fold)
			assert.NoError(t, err)
			assert.True(t, ok)
		}()
	}
	wg.Wait()
	assert.Equal(t, "fold broke", <-panics, "the panic reaches the caller whose fold panicked")
	es, err := s.Entries(ctx, 0, 100)
	require.NoError(t, err)
	assert.Len(t, es, 15)
	for _, e := range es {
		assert.NotEqual(t, "k7", e.Event.DedupeKey)
	}
	_, err = s.Call(ctx, "sipuni", "c7")
	assert.ErrorIs(t, err, journal.ErrNotFound)
	// The retry with a working fold appends it.
	_, ok, err := s.Append(ctx, entry("c7", "k7", pbx.EventRinging, t0), journal.Fold)
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestClosedStore(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "j.db"))
	require.NoError(t, s.Close())
	ctx := t.Context()
	_, _, err := s.Append(ctx, entry("c", "k", pbx.EventRinging, time.Now()), journal.Fold)
	assert.ErrorIs(t, err, sqlitestore.ErrClosed)
	_, err = s.SetState(ctx, "k", []byte("v"), 0)
	assert.ErrorIs(t, err, sqlitestore.ErrClosed)
	_, err = s.Entries(ctx, 0, 10)
	assert.Error(t, err)
	assert.ErrorIs(t, s.Wait(ctx, 0), sqlitestore.ErrClosed)
}

func TestCancelledAppendStoresNothing(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "j.db"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, err := s.Append(ctx, entry("c", "k", pbx.EventRinging, time.Now()), journal.Fold)
	assert.ErrorIs(t, err, context.Canceled)
	n, err := s.LastSeq(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n)
}

// TestEveryAppendAnsweredUnderCancellation: appends whose contexts end at
// random moments either report success and are stored, or report an error
// and are not: never an error for a stored entry.
func TestEveryAppendAnsweredUnderCancellation(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "j.db"))
	t0 := time.Date(2025, 3, 14, 10, 0, 0, 0, msk)
	const n = 200
	ok := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(t.Context(), time.Duration(i%7)*100*time.Microsecond)
			defer cancel()
			_, appended, err := s.Append(ctx, entry(fmt.Sprint("c", i%10), fmt.Sprint("k", i), pbx.EventRinging, t0), journal.Fold)
			ok[i] = err == nil && appended
		}()
	}
	wg.Wait()
	es, err := s.Entries(t.Context(), 0, 1000)
	require.NoError(t, err)
	stored := map[string]bool{}
	for _, e := range es {
		stored[e.Event.DedupeKey] = true
	}
	for i := range n {
		assert.Equal(t, ok[i], stored[fmt.Sprint("k", i)], "append %d: reported %v", i, ok[i])
	}
}

func TestStateEmptyValueAndPrefixes(t *testing.T) {
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "j.db"))
	v, err := s.SetState(ctx, "empty", []byte{}, 0)
	require.NoError(t, err)
	assert.EqualValues(t, 1, v)
	got, ver, err := s.State(ctx, "empty")
	require.NoError(t, err)
	assert.NotNil(t, got, "an empty value is a value, not an absent key")
	assert.Empty(t, got)
	assert.EqualValues(t, 1, ver)

	keys := []string{"ж/1", "ж/2", "жа", "з", "\xff\xff", "\xff\xff\x00", "\xff"}
	for _, k := range keys {
		_, err := s.SetState(ctx, k, []byte(k), 0)
		require.NoError(t, err)
	}
	list := func(prefix, after string) []string {
		items, err := s.ListState(ctx, prefix, after, 100)
		require.NoError(t, err)
		var out []string
		for _, it := range items {
			out = append(out, it.Key)
		}
		return out
	}
	assert.Equal(t, []string{"ж/1", "ж/2", "жа"}, list("ж", ""))
	assert.Equal(t, []string{"ж/2"}, list("ж/", "ж/1"))
	assert.Equal(t, []string{"\xff", "\xff\xff", "\xff\xff\x00"}, list("\xff", ""))
	assert.Equal(t, []string{"\xff\xff", "\xff\xff\x00"}, list("\xff\xff", ""))
	assert.Len(t, list("", ""), len(keys)+1)
}

// TestQueryPlans checks that the lists the journal runs use an index, not
// a scan of every call (what makes them fast over a million calls).
func TestQueryPlans(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	open(t, path)
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	day := time.Date(2025, 3, 14, 0, 0, 0, 0, msk)
	after := &journal.CallPos{StartedAt: day.Add(time.Hour), Provider: "p", CallID: "c"}
	tests := []struct {
		name string
		f    journal.Filter
		want string // the index the plan must name
		sort bool   // the matches are sorted after the lookup (few: one number's calls)
	}{
		{"day", journal.Filter{From: day, To: day.Add(24 * time.Hour), Limit: 100}, "calls_started", false},
		{"day page 2", journal.Filter{From: day, To: day.Add(24 * time.Hour), After: after, Limit: 100}, "calls_started", false},
		{"missed today", journal.Filter{From: day, To: day.Add(24 * time.Hour), Missed: true, Limit: 100}, "calls_missed", false},
		{"missed not called back", journal.Filter{From: day, Missed: true, NotCalledBack: true, Limit: 100}, "calls_missed", false},
		{"outcome", journal.Filter{From: day, Outcome: pbx.OutcomeBusy, Limit: 100}, "calls_outcome", false},
		{"extension", journal.Filter{From: day, To: day.Add(24 * time.Hour), Extension: "101", Limit: 100}, "call_legs_extension", false},
		{"phone", journal.Filter{PhoneKey: "7654321999", PhonePrefix: true, Limit: 100}, "calls_phone", true},
		{"phone exact", journal.Filter{PhoneKey: "101", Limit: 100}, "calls_phone", false},
		{"idle", journal.Filter{Open: true, IdleBefore: day, Limit: 100}, "calls_open", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			query, args := sqlitestore.CallsQuery(tt.f)
			rows, err := db.Query("EXPLAIN QUERY PLAN "+query, args...)
			require.NoError(t, err)
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, notused int
				var detail string
				require.NoError(t, rows.Scan(&id, &parent, &notused, &detail))
				plan = append(plan, detail)
			}
			require.NoError(t, rows.Err())
			joined := strings.Join(plan, "; ")
			assert.Contains(t, joined, tt.want, "plan: %s", joined)
			assert.NotContains(t, joined, "SCAN c ", "plan: %s", joined)
			if !tt.sort {
				assert.NotContains(t, joined, "USE TEMP B-TREE FOR ORDER BY", "plan: %s", joined)
			}
		})
	}
}

// TestTwoStoresOneFile: two Stores on one file, as two processes sharing
// it. Both write concurrently (they take turns: BEGIN IMMEDIATE and the
// busy timeout); a Subscribe on the second sees every entry once, in
// increasing Seq order, the other store's included (its Wait re-reads the
// last Seq every second).
func TestTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	s1, s2 := open(t, path), open(t, path)
	j1, j2 := journal.New(s1), journal.New(s2)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	const writers, perWriter = 4, 25
	const total = writers * perWriter
	seen := make(chan []int64, 1)
	go func() {
		var seqs []int64
		for e, err := range j2.Subscribe(ctx, 0) {
			if err != nil {
				break
			}
			if seqs = append(seqs, e.Seq); len(seqs) == total {
				break
			}
		}
		seen <- seqs
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
				e := pbx.CallEvent{Provider: "sipuni", CallID: fmt.Sprint("c", i%5), Type: pbx.EventRinging,
					At: t0, Extension: fmt.Sprint(100 + w), DedupeKey: fmt.Sprintf("w%d-%d", w, i)}
				if err := j.HandleEvent(ctx, e); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	seqs := <-seen
	require.Len(t, seqs, total)
	for i := 1; i < len(seqs); i++ {
		assert.Greater(t, seqs[i], seqs[i-1])
	}
	c, err := j1.Call(ctx, "sipuni", "c0")
	require.NoError(t, err)
	assert.Len(t, c.Legs, writers, "legs from both stores' events")
}

// TestStoredAsJSONText: events and calls are JSON text in the file, so
// that SQLite's own json functions (and people) can read them.
func TestStoredAsJSONText(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	s := open(t, path)
	_, _, err := s.Append(t.Context(), entry("c1", "k1", pbx.EventRinging, time.Date(2025, 3, 14, 10, 0, 0, 0, msk)), journal.Fold)
	require.NoError(t, err)
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	var evType, callType, ext, typ string
	require.NoError(t, db.QueryRow(`SELECT typeof(event), json_extract(event, '$.type') FROM entries`).Scan(&evType, &typ))
	require.NoError(t, db.QueryRow(`SELECT typeof(call), json_extract(call, '$.legs[0].extension') FROM calls`).Scan(&callType, &ext))
	assert.Equal(t, "text", evType)
	assert.Equal(t, "text", callType)
	assert.Equal(t, "ringing", typ)
	assert.Equal(t, "101", ext)
}
