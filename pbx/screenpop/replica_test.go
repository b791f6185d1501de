package screenpop_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/journal/pgstore"
	"github.com/pbxkit/pbxkit/pbx/screenpop"
)

const envPostgres = "PBXKIT_TEST_POSTGRES"

var schemaN atomic.Int64

// pgSchema creates an empty schema for the test, dropped at its end, and
// returns a DSN selecting it; it skips the test without PBXKIT_TEST_POSTGRES.
func pgSchema(t *testing.T) string {
	t.Helper()
	base := os.Getenv(envPostgres)
	if base == "" {
		t.Skip(envPostgres + " not set: set it to a PostgreSQL DSN (.ci/postgres.sh does) to run the two-replica test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", envPostgres, err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("screenpop_test_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6, schemaN.Add(1))
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

// TestTwoReplicas: two hubs on two journals over one PostgreSQL database,
// as two replicas behind a load balancer. A browser on replica A gets the
// cards of calls whose webhooks replica B received, and the other way
// round; a reconnect to the other replica resumes from the same position.
func TestTwoReplicas(t *testing.T) {
	dsn := pgSchema(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var envs [2]*env
	for i := range envs {
		s, err := pgstore.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		envs[i] = newEnvOn(t, journal.New(s), screenpop.Config{})
	}
	a, b := envs[0], envs[1]
	b.now = a.now.Add(time.Hour) // the two "webhook receivers" stamp distinct times

	onA := a.connect("101", "", nil)
	onA.position()
	onB := b.connect("102", "", nil)
	onB.position()

	b.answeredIn("via-b", "101", clientPhone)        // webhook on B, browser on A
	a.answeredIn("via-a", "102", "79990000002")      // webhook on A, browser on B
	b.missedIn("missed-via-b", "79990000003", "101") // missed, on B

	if got := summary(onA.cardsUntil("missed-via-b")); strings.Join(got, " ") != "via-b:ringing missed-via-b:ringing" {
		t.Fatalf("replica A's browser got %v", got)
	}
	if card := onA.nextCard(); card.CallID != "missed-via-b" || card.Kind != screenpop.KindMissed {
		t.Fatalf("replica A's browser got %s %s", card.CallID, card.Kind)
	}
	if got := summary(onB.cardsUntil("via-a")); strings.Join(got, " ") != "via-a:ringing" {
		t.Fatalf("replica B's browser got %v", got)
	}

	// The browser of A moves to B (A died) with its position, and gets
	// what happened meanwhile, received by A.
	last := onA.LastID()
	onA.close()
	a.answeredIn("while-moving", "101", "79990000004")
	waitPosition(t, b.hub, b.j)
	moved := b.connect("101", "", map[string]string{"Last-Event-ID": last})
	if got := summary(moved.cardsUntil("while-moving")); strings.Join(got, " ") != "while-moving:ringing" {
		t.Fatalf("after moving to B: %v", got)
	}
}
