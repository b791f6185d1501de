package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/journal/sqlitestore"
	"github.com/pbxkit/pbxkit/prostiezvonki/prostiezvonkitest"
	"github.com/pbxkit/pbxkit/rostelecom/rostelecomtest"
	"github.com/pbxkit/pbxkit/sipuni/sipunitest"
)

// newJournalFile creates an empty SQLite journal in a temporary directory.
func newJournalFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pbxkit.db")
	s, err := sqlitestore.Open(context.Background(), path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	return path
}

var reportRE = regexp.MustCompile(`^(\w+) (\S+) – (\S+): read (\d+), added (\d+), updated (\d+), skipped (\d+)\n$`)

// report parses pbxctl reconcile's output: read, added, updated, skipped.
func report(t *testing.T, out string) [4]int {
	t.Helper()
	m := reportRE.FindStringSubmatch(out)
	require.NotNil(t, m, "output %q", out)
	var r [4]int
	for i := range r {
		r[i], _ = strconv.Atoi(m[4+i])
	}
	return r
}

// journalCalls returns the calls of the journal file, by call id.
func journalCalls(t *testing.T, path string) map[string]journal.Call {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), path)
	require.NoError(t, err)
	defer s.Close()
	calls := map[string]journal.Call{}
	for c, err := range journal.New(s).Calls(context.Background(), journal.Query{}) {
		require.NoError(t, err)
		calls[c.Provider+"/"+c.CallID] = c
	}
	return calls
}

// TestReconcileAgainstFakes runs pbxctl reconcile against the Sipuni and
// Rostelecom fakes' call logs with a SQLite journal: the first run adds
// every call of the period, the second adds and updates nothing, and the
// journal holds each call once, closed by history.
func TestReconcileAgainstFakes(t *testing.T) {
	sip := sipunitest.NewServer(sipunitest.Options{WebhookToken: "T"})
	t.Cleanup(sip.Close)
	sipDSN := sip.DSN()
	rt := rostelecomtest.NewServer(rostelecomtest.Options{HistoryNotReady: -1})
	t.Cleanup(rt.Close)
	now := time.Now().Truncate(time.Second)
	rtDSN := rt.DSN() // polls for the export every 20 ms (rostelecomtest.DefaultHistoryPoll); the file is ready at once
	rt.AddHistory(rostelecomtest.HistoryEntry{CallID: "rt-1", Caller: "79031234567", Extension: "101", Answered: true, Start: now.Add(-3 * time.Hour), Ring: 5 * time.Second, Talk: time.Minute})
	rt.AddHistory(rostelecomtest.HistoryEntry{CallID: "rt-2", Caller: "79037654321", Extension: "102", Start: now.Add(-2 * time.Hour)})
	rt.AddHistory(rostelecomtest.HistoryEntry{CallID: "rt-old", Caller: "79030000000", Extension: "102", Start: now.Add(-50 * time.Hour)})

	for _, tc := range []struct {
		name, dsn string
		want      int // calls in the period
	}{
		{"sipuni", sipDSN, len(sip.History())},
		{"rostelecom", rtDSN, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NotZero(t, tc.want, "the fake has calls to reconcile")
			db := newJournalFile(t)
			from := now.Add(-24 * time.Hour).Format(time.RFC3339)
			out, err := pbxctl(t, "-provider", tc.dsn, "reconcile", "-journal", db, "-from", from)
			require.NoError(t, err)
			assert.Equal(t, [4]int{tc.want, tc.want, 0, 0}, report(t, out), out)
			assert.Contains(t, out, tc.name+" ")

			calls := journalCalls(t, db)
			assert.Len(t, calls, tc.want)
			for id, c := range calls {
				assert.Equal(t, journal.ClosedByHistory, c.ClosedBy, id)
				assert.Equal(t, tc.name, c.Provider)
			}

			out, err = pbxctl(t, "-provider", tc.dsn, "reconcile", "-from", from, "-journal", db)
			require.NoError(t, err)
			assert.Equal(t, [4]int{tc.want, 0, 0, 0}, report(t, out), "second run: %s", out)
			assert.Len(t, journalCalls(t, db), tc.want, "nothing duplicated")
		})
	}
	calls := journalCalls(t, func() string {
		db := newJournalFile(t)
		_, err := pbxctl(t, "-provider", rtDSN, "reconcile", "-journal", db, "-from", now.Add(-24*time.Hour).Format(time.RFC3339))
		require.NoError(t, err)
		return db
	}())
	assert.Equal(t, pbx.OutcomeAnswered, calls["rostelecom/rt-1"].Outcome)
	assert.True(t, calls["rostelecom/rt-2"].Missed)
	assert.NotContains(t, calls, "rostelecom/rt-old", "outside the period")
}

// TestReconcileToDefaultsToNow: without -to the period ends now, as for
// history.
func TestReconcileToDefaultsToNow(t *testing.T) {
	now := time.Date(2024, 5, 2, 15, 4, 5, 0, time.UTC)
	hist := &historyFake{}
	var out, errOut bytes.Buffer
	env := environment{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" },
		open: func(string) (pbx.Provider, error) { return hist, nil }, now: func() time.Time { return now }}
	db := newJournalFile(t)
	require.NoError(t, run(context.Background(), []string{"-provider", "fake://", "reconcile", "-journal", db, "-from", "2024-05-01"}, env))
	assert.True(t, hist.query.To.Equal(now), "to: %s", hist.query.To)
	assert.Equal(t, time.Date(2024, 5, 1, 0, 0, 0, 0, time.FixedZone("MSK", 3*3600)).Unix(), hist.query.From.Unix())
	assert.Contains(t, out.String(), "read ")

	require.NoError(t, run(context.Background(), []string{"-provider", "fake://", "reconcile", "-journal", db, "-from", "2024-04-30", "-to", "2024-05-01"}, env))
	assert.Equal(t, time.Date(2024, 5, 1, 23, 59, 59, 0, time.FixedZone("MSK", 3*3600)).Unix(), hist.query.To.Unix(), "a bare -to date is the end of that day")
}

// TestReconcileErrors: usage mistakes are usage errors; a missing journal
// file, a provider without history and an unreachable PBX are failures
// that say so, and none leaks a secret.
func TestReconcileErrors(t *testing.T) {
	sip := sipunitest.NewServer(sipunitest.Options{WebhookToken: "T"})
	t.Cleanup(sip.Close)
	dsn := sip.DSN()
	db := newJournalFile(t)
	for _, args := range [][]string{
		{"-provider", dsn, "reconcile"},
		{"-provider", dsn, "reconcile", "-journal", db},
		{"-provider", dsn, "reconcile", "-from", "2024-05-01"},
		{"-provider", dsn, "reconcile", "-journal", db, "-from", "yesterday"},
		{"-provider", dsn, "reconcile", "-journal", db, "-from", "2024-05-02", "-to", "2024-05-01"},
		{"-provider", dsn, "reconcile", "-journal", db, "-from", "2999-01-01"},
		{"-provider", dsn, "reconcile", "-journal", db, "-from", "2024-05-01", "extra"},
	} {
		_, err := pbxctl(t, args...)
		var ue usageError
		assert.True(t, errors.As(err, &ue), "%q: want a usage error, got %v", args, err)
	}

	out, err := pbxctl(t, "reconcile", "-h")
	require.NoError(t, err)
	assert.Contains(t, out, "reconcile -journal FILE|DSN -from DATE [-to DATE]")

	missing := filepath.Join(t.TempDir(), "nosuch.db")
	_, err = pbxctl(t, "-provider", dsn, "reconcile", "-journal", missing, "-from", "2024-05-01")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "does not exist")
	assert.NoFileExists(t, missing, "no journal is created by mistake")

	pz := prostiezvonkitest.NewServer(prostiezvonkitest.Options{})
	t.Cleanup(pz.Close)
	_, err = pbxctl(t, "-provider", pz.DSN(), "reconcile", "-journal", db, "-from", "2024-05-01")
	assert.ErrorIs(t, err, pbx.ErrNotSupported)
	assert.Contains(t, err.Error(), "prostiezvonki")

	// The journal is opened only once the arguments are right: a bad
	// PostgreSQL DSN fails without printing its password.
	_, err = pbxctl(t, "-provider", dsn, "reconcile", "-journal", "postgres://u:TOPSECRET@127.0.0.1:1/db?connect_timeout=1", "-from", "2024-05-01")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "TOPSECRET")

	// An unreachable PBX: the error, and the (empty) report, with no secret.
	closed := rostelecomtest.NewServer(rostelecomtest.Options{SignKey: "TOPSECRETKEY"})
	closedDSN := closed.DSN()
	closed.Close()
	out, err = pbxctl(t, "-timeout", "20s", "-provider", closedDSN, "reconcile", "-journal", db, "-from", "2024-05-01")
	require.Error(t, err)
	assert.NotContains(t, err.Error()+out, "TOPSECRETKEY")
	assert.Contains(t, out, "read 0, added 0")
}
