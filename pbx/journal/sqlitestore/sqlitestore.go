// Package sqlitestore is the embedded, default [journal.Store]: one SQLite
// file, on modernc.org/sqlite (pure Go, so no C compiler is needed and
// `go run` works on a fresh machine).
//
//	s, err := sqlitestore.Open(ctx, "pbxkit.db")
//	if err != nil { ... }
//	defer s.Close()
//	j := journal.New(s)
//
// # Durability
//
// The database runs in WAL mode with synchronous=FULL: the write-ahead log
// is flushed to the disk (fsync) before an append returns. So
//
//   - a crash of the process (panic, SIGKILL, OOM kill) loses nothing that
//     Append acknowledged, and
//   - a crash of the operating system or a power loss loses nothing that
//     Append acknowledged either, provided the disk honours fsync (a disk
//     or virtual disk that acknowledges writes it only cached can lose the
//     last transactions on power loss; no setting of SQLite can help that).
//
// An acknowledged event is exactly what the PBX will not send again, so
// this is the level the journal's promise needs. The fsync is paid once per
// group of concurrent appends, not once per event: appends are queued to a
// single writer, which commits whatever is waiting (up to 256 appends) in
// one transaction; one failing append does not fail its neighbours (the
// transaction is run again without it). A lone append costs one fsync of
// the log (a millisecond or two on an ordinary SSD); concurrent ones share
// it.
//
// (The lower level, synchronous=NORMAL, would skip that fsync: still safe
// against a process crash, but a power loss could roll back every
// transaction committed since the last checkpoint, up to about 4 MB of
// log, which is thousands of acknowledged events. This package does not
// offer it.)
//
// # Concurrency
//
// SQLite allows one writer at a time: every write of a Store goes through
// its single writer connection, in BEGIN IMMEDIATE transactions, so Seq
// order is commit order and [journal.Store.Wait] never misses an entry.
// Reads use a separate pool of read-only connections and never block the
// writer (WAL). Several processes may open the same file: the writers then
// take turns (the busy timeout is 5 s), and a Wait notices another
// process's appends within about a second (it re-reads the last Seq every
// second; in-process appends wake it at once).
//
// # Schema
//
// Open creates the tables on a new file and migrates an older schema; the
// version is kept in the table schema_version. A file written by a newer
// pbxkit, with a schema this one does not know, is refused with an error
// matching [ErrSchemaTooNew] rather than misread. Each call is kept as its
// JSON (journal.Call's MarshalJSON) beside the indexed columns the queries
// filter on; each entry keeps its event as JSON.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pbxkit/pbxkit/pbx/journal"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// SchemaVersion is the schema version this package writes and reads.
const SchemaVersion = 1

// ErrSchemaTooNew is matched (with errors.Is) by the error Open returns for
// a database whose schema version is newer than [SchemaVersion]: it was
// written by a newer pbxkit, and this one would misread it.
var ErrSchemaTooNew = errors.New("sqlitestore: database schema is newer than this version of pbxkit knows")

// ErrClosed is matched by the errors of a Store used after Close.
var ErrClosed = errors.New("sqlitestore: store is closed")

// Store is a [journal.Store] in one SQLite file. Its methods are safe for
// concurrent use. Close it when done.
type Store struct {
	path string
	wdb  *sql.DB // the single writer connection
	rdb  *sql.DB // read-only connections

	wstmts [numWriteStmts]*sql.Stmt
	rstmts [numReadStmts]*sql.Stmt

	jobs       chan *job
	quit       chan struct{} // closed by Close
	writerDone chan struct{} // closed when the writer goroutine ended

	closeOnce sync.Once
	closeErr  error

	mu      sync.Mutex
	wake    chan struct{} // closed and replaced after each commit that appended
	lastSeq atomic.Int64  // the greatest Seq this process committed
}

var _ journal.Store = (*Store)(nil)

// Open opens the journal database at path, creating the file and its
// tables when they do not exist and migrating an older schema. It fails
// with an error matching [ErrSchemaTooNew] when the file was written by a
// newer pbxkit. path is a file name (relative names are resolved against
// the working directory); ":memory:" is refused, use journal.NewMemoryStore.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || path == ":memory:" {
		return nil, fmt.Errorf("sqlitestore: need a file name, not %q (journal.NewMemoryStore keeps a journal in memory)", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	s := &Store{
		path:       abs,
		jobs:       make(chan *job, maxBatch),
		quit:       make(chan struct{}),
		writerDone: make(chan struct{}),
		wake:       make(chan struct{}),
	}
	// A file: URI, so that any character of the path is taken literally.
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}
	base := u.String() + "?_pragma=busy_timeout(5000)&_pragma=foreign_keys(0)&_pragma=temp_store(MEMORY)"
	s.wdb, err = sql.Open("sqlite", base+"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		return nil, s.openErr(err)
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	s.wdb.SetConnMaxIdleTime(0)
	if err := s.checkWAL(ctx); err != nil {
		s.wdb.Close()
		return nil, err
	}
	if err := migrate(ctx, s.wdb, s.path); err != nil {
		s.wdb.Close()
		return nil, err
	}
	s.rdb, err = sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		s.wdb.Close()
		return nil, s.openErr(err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	s.rdb.SetMaxOpenConns(n)
	s.rdb.SetMaxIdleConns(n)
	if err := s.rdb.PingContext(ctx); err != nil {
		s.wdb.Close()
		s.rdb.Close()
		return nil, s.openErr(err)
	}
	if err := s.prepare(ctx); err != nil {
		s.wdb.Close()
		s.rdb.Close()
		return nil, err
	}
	last, err := s.LastSeq(ctx)
	if err != nil {
		s.wdb.Close()
		s.rdb.Close()
		return nil, err
	}
	s.lastSeq.Store(last)
	go s.writer()
	return s, nil
}

func (s *Store) openErr(err error) error {
	return fmt.Errorf("sqlitestore: open %s: %w", s.path, err)
}

// checkWAL makes sure the writer connection is open and in WAL mode (a
// file system that cannot share memory, such as some network mounts,
// silently keeps the rollback journal).
func (s *Store) checkWAL(ctx context.Context) error {
	var mode string
	if err := s.wdb.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return s.openErr(err)
	}
	if mode != "wal" {
		return fmt.Errorf("sqlitestore: open %s: the database cannot use WAL mode here (journal_mode is %q)", s.path, mode)
	}
	return nil
}

// Close stops the writer, after the transaction in progress, fails the
// appends still queued with an error matching [ErrClosed], and closes the
// database. It is safe to call more than once; later calls return the first
// call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.quit)
		<-s.writerDone
		s.closeErr = errors.Join(s.wdb.Close(), s.rdb.Close())
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("sqlitestore: close %s: %w", s.path, s.closeErr)
		}
	})
	return s.closeErr
}

// Path returns the absolute file name of the database.
func (s *Store) Path() string { return s.path }

// broadcast wakes every Wait after a commit that appended up to seq.
func (s *Store) broadcast(seq int64) {
	for {
		cur := s.lastSeq.Load()
		if seq <= cur || s.lastSeq.CompareAndSwap(cur, seq) {
			break
		}
	}
	s.mu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}

// pollInterval is how often Wait re-reads the last Seq, for appends by
// other processes sharing the file.
const pollInterval = time.Second

// Wait implements [journal.Store.Wait]. Appends through this Store wake it
// at once; appends by another process sharing the file within about a
// second.
func (s *Store) Wait(ctx context.Context, after int64) error {
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for {
		s.mu.Lock()
		wake := s.wake
		s.mu.Unlock()
		if s.lastSeq.Load() > after {
			return nil
		}
		last, err := s.LastSeq(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if last > after {
			return nil
		}
		t.Reset(pollInterval)
		select {
		case <-wake:
			return nil
		case <-t.C:
		case <-s.quit:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
