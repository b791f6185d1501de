package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/sipuni/sipunitest"
)

// postgresDSN returns a DSN of the PostgreSQL server in
// PBXKIT_TEST_POSTGRES whose search_path is a fresh schema, dropped at the
// end of the test; without the variable the test is skipped.
func postgresDSN(t *testing.T) string {
	t.Helper()
	base := os.Getenv("PBXKIT_TEST_POSTGRES")
	if base == "" {
		t.Skip("PBXKIT_TEST_POSTGRES not set: set it to a PostgreSQL DSN to run webhook-server on PostgreSQL (.ci/run does)")
	}
	u, err := url.Parse(base)
	if err != nil || !isPostgres(base) {
		t.Skip("PBXKIT_TEST_POSTGRES is not a postgres:// URL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	require.NoError(t, err)
	defer conn.Close(ctx)
	schema := fmt.Sprintf("webhook_server_test_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize())
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestRunWithPostgresJournal: with -journal postgres://..., run keeps the
// journal in PostgreSQL: a played call is stored and served by the journal
// API, and the DSN's password never reaches the log.
func TestRunWithPostgresJournal(t *testing.T) {
	dsn := postgresDSN(t)
	sip := sipunitest.NewServer(sipunitest.Options{WebhookToken: "T"})
	t.Cleanup(sip.Close)
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-provider", sip.DSN(), "-journal", dsn, "-journal-token", testToken}, noEnv, logs, io.Discard)
	}()
	addr := waitListening(t, logs)
	s := &journalServer{URL: "http://" + addr, sip: sip}
	played := s.play(t, pbxtest.Call{Scenario: pbxtest.MissedIncoming})
	calls, _ := s.calls(t, "/journal/missed?limit=1000")
	assert.Contains(t, callIDs(calls), played.CallID)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
	assert.Contains(t, logs.String(), `"store":"postgres"`)
	u, _ := url.Parse(dsn)
	if pw, ok := u.User.Password(); ok && pw != "" {
		assert.NotContains(t, logs.String(), pw, "the DSN's password is never logged")
	}

}
