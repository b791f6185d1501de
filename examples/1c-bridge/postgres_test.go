package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx/outbox"
	"github.com/pbxkit/pbxkit/pbx/outbox/outboxtest"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
)

// envPostgres names the PostgreSQL server the replica test runs on.
const envPostgres = "PBXKIT_TEST_POSTGRES"

// postgresDSN returns a DSN of the server in PBXKIT_TEST_POSTGRES whose
// search_path is a fresh schema, dropped at the end of the test; without
// the variable the test is skipped.
func postgresDSN(t *testing.T) string {
	t.Helper()
	base := os.Getenv(envPostgres)
	if base == "" {
		t.Skip(envPostgres + " not set: set it to a PostgreSQL DSN (postgres://user:password@127.0.0.1:5432/db) to run two bridge replicas on one database (.ci/run and .ci/postgres.sh do)")
	}
	u, err := url.Parse(base)
	if err != nil || !isPostgres(base) {
		t.Skip(envPostgres + " is not a postgres:// URL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	require.NoError(t, err)
	defer conn.Close(ctx)
	schema := fmt.Sprintf("bridge_test_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
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

// TestTwoReplicasOnePostgres: two bridges share one PostgreSQL journal;
// the PBXs' webhooks are spread over both (call i to replica i mod 2),
// while 1C is down and after it is back. One replica delivers at a time,
// and 1C receives each call once. When that replica stops, the other
// takes over and delivers the calls that follow, still once each.
func TestTwoReplicasOnePostgres(t *testing.T) {
	dsn := postgresDSN(t)
	const n = 300
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	fakes := startFakes(t)
	rec := outboxtest.NewReceiver(t, []byte(testSecret))
	rec.RequireBasicAuth(test1CUser, test1CPass)
	rec.Set(outboxtest.Behavior{Mode: outboxtest.Down})
	fast := seams{outbox: []outbox.Option{outbox.WithSchedule([]time.Duration{20 * time.Millisecond})}}
	replicas := []*testBridge{
		startBridge(t, append(oneCArgs(t, fakes, rec, dsn), "-replica-id", "replica-a"), fast),
		startBridge(t, append(oneCArgs(t, fakes, rec, dsn), "-replica-id", "replica-b"), fast),
	}
	spread := func(i int, f pbxtest.Fake) string { return hook(replicas[i%2].addr, f) }

	// Half the calls while 1C is down, half once it is back.
	calls := playCalls(ctx, t, fakes, n/2, spread)
	rec.Set(outboxtest.Behavior{Mode: outboxtest.Up})
	calls = append(calls, playCallsFrom(ctx, t, fakes, n/2, n, spread)...)
	drained := func() bool {
		active := 0
		for _, r := range replicas {
			s := r.b.outbox.Stats()
			if s.Active {
				active++
				if s.Pending != 0 || s.Unread != 0 {
					return false
				}
			}
		}
		return active == 1 && rec.AppliedCount() >= len(calls)
	}
	until(t, 2*time.Minute, "the calls of both replicas to reach 1C", nil, drained)
	var active, standby *testBridge
	for _, r := range replicas {
		if r.b.outbox.Stats().Active {
			active = r
		} else {
			standby = r
		}
	}
	require.NotNil(t, active)
	require.NotNil(t, standby)
	checkEachCallOnce(t, rec, calls, journalLastSeq(t, active))

	// The delivering replica stops (gracefully: it gives its lease up);
	// the other takes over for the calls that follow.
	active.stop(t)
	last := playCallsFrom(ctx, t, fakes, n, n+60, func(_ int, f pbxtest.Fake) string { return hook(standby.addr, f) })
	calls = append(calls, last...)
	until(t, 2*time.Minute, "the standby replica to take over", nil, func() bool {
		s := standby.b.outbox.Stats()
		return s.Active && s.Pending == 0 && s.Unread == 0 && rec.AppliedCount() >= len(calls)
	})
	checkEachCallOnce(t, rec, calls, journalLastSeq(t, standby))
	assert.Equal(t, 0, rec.Rejected())
	t.Logf("%d calls, %d documents applied, %d requests", len(calls), rec.AppliedCount(), rec.Requests())
}
