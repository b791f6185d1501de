package outbox_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/journal/pgstore"
	"github.com/pbxkit/pbxkit/pbx/journal/sqlitestore"
	"github.com/pbxkit/pbxkit/pbx/outbox"
	"github.com/pbxkit/pbxkit/pbx/outbox/outboxtest"
)

// addSpread stores calls from..from+n-1 through the journals in turn, as
// webhooks spread over replicas by a load balancer.
func addSpread(t testing.TB, js []*journal.Journal, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		handle(t, js[i%len(js)], callEvents("sipuni", i)...)
	}
}

// testReplicas runs two replicas of the target "1c", one over each store
// (two connections to one database), with webhooks spread over both:
// one replica delivers at a time and the receiver gets each document
// once; a replica stopped gives the target to the other at once; a
// replica that dies is taken over when its lease expires, and nothing is
// lost or applied twice.
func testReplicas(t *testing.T, storeA, storeB journal.Store) {
	r := outboxtest.NewReceiver(t, secret)
	jA, jB := journal.New(storeA), journal.New(storeB)
	js := []*journal.Journal{jA, jB}
	ks := []*killable{{Store: storeA}, {Store: storeB}}
	var obs [2]*outbox.Outbox
	var runs [2]*running
	for i := range 2 {
		obs[i] = newOutbox(t, journal.New(ks[i]), r.URL(), fastOpts(outboxtest.NewClock(t0), outbox.WithReplicaID(fmt.Sprint("replica-", i)))...)
		runs[i] = start(t, obs[i])
	}
	onceEach := func(stage string) {
		t.Helper()
		for _, a := range r.Applied() {
			if n := r.Received(a.ID); n != 1 {
				t.Errorf("%s: %s received %d times", stage, a.ID, n)
			}
		}
	}

	addSpread(t, js, 0, 100)
	waitFor(t, "100 documents", 30*time.Second, func() bool {
		return r.AppliedCount() == 100 && obs[0].Stats().Delivered+obs[1].Stats().Delivered == 100
	})
	s0, s1 := obs[0].Stats(), obs[1].Stats()
	if s0.Active == s1.Active || s0.Delivered+s1.Delivered != 100 || min(s0.Delivered, s1.Delivered) != 0 {
		t.Errorf("both replicas delivered, or neither: %+v / %+v", s0, s1)
	}
	onceEach("two replicas")
	active := 0
	if s1.Active {
		active = 1
	}
	other := 1 - active

	// The active replica stops: the other one takes over at once.
	if err := runs[active].stop(t); err != nil {
		t.Fatalf("Run of the stopped replica = %v", err)
	}
	addSpread(t, js, 100, 50)
	waitFor(t, "150 documents", 30*time.Second, func() bool { return r.AppliedCount() == 150 && obs[other].Stats().Delivered == 50 })
	if !obs[other].Stats().Active {
		t.Errorf("after the hand-over: %+v", obs[other].Stats())
	}
	onceEach("after a hand-over")

	// The other one dies (no save, no release); a new replica over the
	// first store takes over when the lease expires.
	ks[other].dead.Store(true)
	runs[other].stop(t)
	late := newOutbox(t, journal.New(storeA), r.URL(), fastOpts(outboxtest.NewClock(t0), outbox.WithReplicaID("replica-late"))...)
	start(t, late)
	addSpread(t, js, 150, 50)
	waitFor(t, "200 documents", 30*time.Second, func() bool { return r.AppliedCount() == 200 })
	checkDelivered(t, jA, r)
	if n := r.Requests(); n > 200+50 {
		t.Errorf("%d requests for 200 documents", n)
	}
}

// TestReplicas: two replicas on one memory store and on one SQLite file
// (two handles, as two processes).
func TestReplicas(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		s := journal.NewMemoryStore()
		testReplicas(t, s, s)
	})
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bridge.db")
		var ss [2]journal.Store
		for i := range ss {
			s, err := sqlitestore.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			ss[i] = s
		}
		testReplicas(t, ss[0], ss[1])
	})
}

const envPostgres = "PBXKIT_TEST_POSTGRES"

// TestReplicasPostgres: two replicas, each with its own connection pool
// to one PostgreSQL database, as two bridge processes behind a load
// balancer: 1C receives each call once.
func TestReplicasPostgres(t *testing.T) {
	dsn := os.Getenv(envPostgres)
	if dsn == "" {
		t.Skip(envPostgres + " not set: set it to a PostgreSQL DSN (bash .ci/postgres.sh go test ./pbx/outbox/) to run two replicas on PostgreSQL")
	}
	dsn = freshSchema(t, dsn)
	var ss [2]journal.Store
	for i := range ss {
		s, err := pgstore.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		ss[i] = s
	}
	testReplicas(t, ss[0], ss[1])
}

var schemaN atomic.Int64

// freshSchema creates an empty schema, dropped when the test ends, and
// returns base with a search_path selecting it.
func freshSchema(t *testing.T, base string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", envPostgres, err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("pbxkit_outbox_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6, schemaN.Add(1))
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
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
	if strings.HasPrefix(base, "postgres://") || strings.HasPrefix(base, "postgresql://") {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatalf("%s is not a valid URL", envPostgres)
		}
		q := u.Query()
		q.Set("search_path", name)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return base + " search_path=" + name
}
