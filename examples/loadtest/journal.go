package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/journal/pgstore"
	"github.com/pbxkit/pbxkit/pbx/journal/sqlitestore"
	"github.com/pbxkit/pbxkit/provider/providertest"
)

// sqliteSynchronous is the synchronous setting sqlitestore runs with, as
// its package documentation states (WAL mode, synchronous=FULL: the log is
// fsynced before an append returns). sqlitestore offers no other level, so
// the figure is always for this one.
const sqliteSynchronous = "synchronous=FULL"

// journalBackend is a journal.Store opened for the load, and how to get rid
// of it.
type journalBackend struct {
	label string // "SQLite, synchronous=FULL"
	store journal.Store
	// describe is printed under the table: where the store is and with
	// which durability.
	describe string
	close    func() error
}

// openSQLite opens a SQLite journal in a new file under dir (the system's
// temporary directory when dir is ""), removed by close.
func openSQLite(ctx context.Context, dir string) (*journalBackend, error) {
	tmp, err := os.MkdirTemp(dir, "pbxkit-loadtest-")
	if err != nil {
		return nil, fmt.Errorf("SQLite journal: %w", err)
	}
	s, err := sqlitestore.Open(ctx, filepath.Join(tmp, "journal.db"))
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("SQLite journal: %w", err)
	}
	return &journalBackend{
		label:    "SQLite, " + sqliteSynchronous,
		store:    s,
		describe: fmt.Sprintf("SQLite journal: %s (WAL, %s: every acknowledged event is fsynced; on a tmpfs the fsync costs nothing, use -sqlite-dir to measure the disk you will use)", s.Path(), sqliteSynchronous),
		close: func() error {
			err := s.Close()
			return errors.Join(err, os.RemoveAll(tmp))
		},
	}, nil
}

// openPostgres creates a schema of its own in the database dsn names, opens
// a pgstore journal in it, and drops the schema on close. It never prints
// the DSN (it holds a password).
func openPostgres(ctx context.Context, dsn string) (*journalBackend, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, errors.New("PostgreSQL journal: cannot connect (check -postgres or PBXKIT_TEST_POSTGRES)")
	}
	defer conn.Close(ctx)
	var syncCommit, fsync, version string
	for q, dst := range map[string]*string{"SHOW synchronous_commit": &syncCommit, "SHOW fsync": &fsync, "SHOW server_version": &version} {
		if err := conn.QueryRow(ctx, q).Scan(dst); err != nil {
			return nil, fmt.Errorf("PostgreSQL journal: %s: %w", q, err)
		}
	}
	schema := fmt.Sprintf("pbxkit_loadtest_%d_%d", os.Getpid(), time.Now().UnixNano())
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		return nil, fmt.Errorf("PostgreSQL journal: create schema %s: %w", schema, err)
	}
	drop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return fmt.Errorf("PostgreSQL journal: drop schema %s: cannot connect", schema)
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			return fmt.Errorf("PostgreSQL journal: drop schema %s: %w", schema, err)
		}
		return nil
	}
	s, err := pgstore.Open(ctx, withSearchPath(dsn, schema))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("PostgreSQL journal: %w", err), drop())
	}
	label := "PostgreSQL, synchronous_commit=" + syncCommit
	if fsync != "on" {
		label += ", fsync=" + fsync
	}
	return &journalBackend{
		label:    label,
		store:    s,
		describe: fmt.Sprintf("PostgreSQL journal: server %s, synchronous_commit=%s, fsync=%s, schema %s (dropped at the end)", version, syncCommit, fsync, schema),
		close:    func() error { return errors.Join(s.Close(), drop()) },
	}, nil
}

// withSearchPath adds search_path to a URL or keyword/value DSN.
func withSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}

// journalPath is h's call event into a journal kept in b: the provider's
// webhook handler with the journal as its EventHandler. The journal stores
// each event once, so every request carries a new event (a new call), built
// when it is sent, from next, a counter shared by every journal path of the
// run; the bare handler gets requests built the same way. verify checks
// that the journal stored exactly the events it acknowledged.
func journalPath(h providertest.Harness, b *journalBackend, next *atomic.Int64) (path, error) {
	p, err := newProvider(h)
	if err != nil {
		return path{}, err
	}
	ctx := context.Background()
	before, err := b.store.LastSeq(ctx)
	if err != nil {
		return path{}, fmt.Errorf("%s: %w", b.label, err)
	}
	j := journal.New(b.store)
	events := &counter{next: j}
	name := fmt.Sprintf("%s event → journal (%s)", h.Name, b.label)
	return path{
		name:    name,
		handler: p.WebhookHandler(events, nil),
		newRequest: func(base string, _ int) (*http.Request, error) {
			return h.CallEvent(base, int(next.Add(1)))
		},
		verify: func(acked int) error {
			if err := atLeast(name, &events.n)(acked); err != nil {
				return err
			}
			stored := int64(0)
			for _, err := range j.Entries(ctx, before) {
				if err != nil {
					return fmt.Errorf("%s: reading the journal back: %w", name, err)
				}
				stored++
			}
			if want := events.n.Load(); stored != want {
				return fmt.Errorf("%s: the journal acknowledged %d events and holds %d", name, want, stored)
			}
			return nil
		},
		note: b.describe,
	}, nil
}
