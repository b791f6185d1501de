// Package pgstore is the [journal.Store] on PostgreSQL, on
// github.com/jackc/pgx/v5, for running several receivers behind a load
// balancer: every replica opens the same database, writes to it and reads
// from it, and a [journal.Journal.Subscribe] on one replica sees the
// entries appended through any other.
//
//	s, err := pgstore.Open(ctx, "postgres://pbxkit:secret@db:5432/pbxkit")
//	if err != nil { ... }
//	defer s.Close()
//	j := journal.New(s)
//
// # Tables
//
// The store keeps its tables in the connection's current schema (the first
// existing schema of search_path; set it in the DSN, for example
// ?search_path=pbxkit, to keep the journal apart): pbxkit_journal_entries
// (the log), pbxkit_journal_calls and pbxkit_journal_legs (the folded calls),
// pbxkit_journal_state (the key-value space), pbxkit_journal_seq (the Seq
// counter) and pbxkit_journal_schema (the schema version). Open creates them
// and migrates an older schema, one replica at a time (under an advisory
// lock); a schema newer than this pbxkit knows is refused with an error
// matching [ErrSchemaTooNew]. The role needs CREATE on the schema the first
// time, and SELECT, INSERT, UPDATE, DELETE after that.
//
// # Order and the live tail
//
// Seq comes from a one-row counter that each append increments in its
// transaction. The row lock is held until the transaction commits, so
// appends, from every replica, commit in Seq order: a reader that sees Seq
// n can never later find a new entry below n, and Subscribe never skips an
// entry (no window to re-read, no gap to wait for). (A transaction-scoped
// lock on a row of the journal's own schema, rather than an advisory lock,
// so that journals in two schemas of one database do not wait for each
// other and no key can collide with an application's advisory locks.)
//
// The price is that transactions that append do not overlap. Each Store
// therefore queues its appends to one writer goroutine, which commits
// everything waiting (up to 64 appends) in one transaction: one WAL flush
// for the group, one round trip per append, and one pool connection busy
// with appends rather than one per appender blocked on the lock while
// queries wait for a connection. An append that fails (a refused
// statement, a panicking fold) fails alone: the transaction is run again
// without it.
//
// Each transaction sends NOTIFY on a channel of the schema's own, carrying
// only the greatest Seq it appended; readers then read the rows from the
// table. A Wait listens on one dedicated connection per Store (opened at
// the first Wait, reopened after a failure) and also re-reads the last Seq
// every second, because notifications sent while the listening connection
// was down are never delivered.
//
// # Durability
//
// An append returns after PostgreSQL committed it, with the server's
// synchronous_commit setting (on by default: the commit is flushed to the
// server's WAL). Leave it on: with synchronous_commit=off a server crash
// can lose appends the PBX was told were stored. Once the writer has taken
// an append, the append waits for the commit even when its context ends
// (at most 30 s): an error then would be a lie if the commit went through.
// When the connection fails during a commit, the writer asks the database
// (after the failed transaction released the counter's lock) whether the
// entries are there before answering; only if it cannot reach the database
// either does an append report an error for an entry that may be stored,
// and a retry then finds it (appended false): nothing is lost or stored
// twice.
//
// # Secrets
//
// Errors never contain the DSN's password: pgx's connection errors are
// rewritten with the password masked, and an unparsable DSN gives an error
// that does not quote it.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pbxkit/pbxkit/pbx/journal"
)

// ErrSchemaTooNew is matched (with errors.Is) by the error Open returns when
// the database's journal schema is newer than [SchemaVersion]: a newer
// pbxkit wrote it, and this one would misread it.
var ErrSchemaTooNew = errors.New("pgstore: database schema is newer than this version of pbxkit knows")

// ErrClosed is matched by the errors of a Store used after Close.
var ErrClosed = errors.New("pgstore: store is closed")

// Store is a [journal.Store] on PostgreSQL. Its methods are safe for
// concurrent use, and any number of Stores (in one process or in several)
// may share a database. Close it when done.
type Store struct {
	pool     *pgxpool.Pool
	connCfg  *pgx.ConnConfig // for the listening connection
	secret   string          // the password, to mask it in errors
	channel  string          // the NOTIFY channel of this schema
	schema   string          // the schema the tables are in
	closing  context.Context // ends at Close
	stop     context.CancelFunc
	closed   atomic.Bool
	listenMu sync.Mutex
	// listening is closed once the listener first listens (or gave up
	// trying); nil until the first Wait starts the listener.
	listening  chan struct{}
	listenDone chan struct{} // closed when the listener goroutine ended
	jobs       chan *job     // appends queued to the writer
	writerDone chan struct{} // closed when the writer goroutine ended

	mu       sync.Mutex
	wake     chan struct{} // closed and replaced on every notification
	notified atomic.Int64  // the greatest Seq notified (or re-read)
}

var _ journal.Store = (*Store)(nil)

// Open connects to the database named by dsn (a postgres:// URL or a
// keyword/value string, as pgx accepts it, pool settings such as
// pool_max_conns included), creates the journal's tables in the current
// schema or migrates them, and returns the store. It fails with an error
// matching [ErrSchemaTooNew] when the schema was written by a newer pbxkit.
// The error never contains the password.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx quotes the DSN in this error and keeps it in a field:
		// neither is passed on.
		return nil, errors.New("pgstore: open: the DSN cannot be parsed (not quoted here: it may hold a password); it must be a postgres:// URL or keyword=value pairs")
	}
	s := &Store{
		connCfg:    cfg.ConnConfig.Copy(),
		secret:     cfg.ConnConfig.Password,
		wake:       make(chan struct{}),
		jobs:       make(chan *job, maxBatch),
		writerDone: make(chan struct{}),
	}
	s.closing, s.stop = context.WithCancel(context.Background())
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		s.stop()
		return nil, s.wrap("open", err)
	}
	if err := s.init(ctx); err != nil {
		s.pool.Close()
		s.stop()
		return nil, err
	}
	go s.writer()
	return s, nil
}

// init checks the connection, finds the schema, migrates.
func (s *Store) init(ctx context.Context) error {
	var db string
	var schema *string
	err := s.pool.QueryRow(ctx, `SELECT current_database(), current_schema()`).Scan(&db, &schema)
	if err != nil {
		return s.wrap("open", err)
	}
	if schema == nil {
		return errors.New("pgstore: open: no schema to create the tables in: the search_path names no existing schema")
	}
	s.schema = *schema
	h := fnv.New64a()
	h.Write([]byte(db + "\x00" + s.schema))
	s.channel = fmt.Sprintf("pbxkit_journal_%016x", h.Sum64())
	return s.migrate(ctx)
}

// Close waits for the appends being committed, fails those still queued
// with an error matching [ErrClosed], and closes the listening connection
// and the pool. It is safe to call more than once.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.stop()
	<-s.writerDone
	s.listenMu.Lock()
	done := s.listenDone
	s.listenMu.Unlock()
	if done != nil {
		<-done
	}
	s.pool.Close()
	return nil
}

// Schema returns the schema the store's tables are in.
func (s *Store) Schema() string { return s.schema }

// safeError is a database error with the password masked in its text. It
// unwraps to the PostgreSQL error (*pgconn.PgError) and to a context error
// when there is one, never to pgx's connection errors (which carry the
// configuration, password included).
type safeError struct {
	msg  string
	errs []error
}

func (e *safeError) Error() string   { return e.msg }
func (e *safeError) Unwrap() []error { return e.errs }

// wrap returns err prefixed with what, the password masked.
func (s *Store) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrClosed) || errors.Is(err, journal.ErrConflict) || errors.Is(err, journal.ErrNotFound) || errors.Is(err, ErrSchemaTooNew) {
		return fmt.Errorf("pgstore: %s: %w", what, err)
	}
	var keep []error
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		keep = append(keep, pgErr)
	}
	for _, c := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, c) {
			keep = append(keep, c)
		}
	}
	if s.closed.Load() {
		keep = append(keep, ErrClosed)
	}
	return &safeError{msg: "pgstore: " + what + ": " + mask(err.Error(), s.secret), errs: keep}
}

// mask replaces every form of secret in text with xxxxx.
func mask(text, secret string) string {
	if secret == "" {
		return text
	}
	for _, form := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret), url.UserPassword("u", secret).String()[2:]} {
		if form != "" {
			text = strings.ReplaceAll(text, form, "xxxxx")
		}
	}
	return text
}

// pollInterval is how often Wait re-reads the last Seq.
const pollInterval = time.Second

// Wait implements [journal.Store.Wait]: it returns when a notification
// names a Seq above after, when the last Seq re-read every second is above
// it, or when ctx ends.
func (s *Store) Wait(ctx context.Context, after int64) error {
	if s.closed.Load() {
		return fmt.Errorf("pgstore: wait: %w", ErrClosed)
	}
	if s.notified.Load() > after {
		return nil
	}
	// Listen first, then read: an append committed after the read is
	// notified to a connection that already listens.
	listening := s.startListener()
	t := time.NewTimer(pollInterval)
	defer t.Stop()
	select {
	case <-listening:
	case <-t.C: // the listener keeps trying; the polling covers meanwhile
	case <-ctx.Done():
		return ctx.Err()
	}
	read := true
	for {
		s.mu.Lock()
		wake := s.wake
		s.mu.Unlock()
		if s.notified.Load() > after {
			return nil
		}
		if read {
			last, err := s.LastSeq(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return err
			}
			s.noteSeq(last)
			if last > after {
				return nil
			}
			read = false
			t.Reset(pollInterval)
		}
		select {
		case <-wake:
		case <-t.C:
			read = true
		case <-s.closing.Done():
			return fmt.Errorf("pgstore: wait: %w", ErrClosed)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// noteSeq records that seq is committed and wakes the waiters when it is
// news.
func (s *Store) noteSeq(seq int64) {
	for {
		cur := s.notified.Load()
		if seq <= cur {
			return
		}
		if s.notified.CompareAndSwap(cur, seq) {
			break
		}
	}
	s.broadcast()
}

func (s *Store) broadcast() {
	s.mu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}

// startListener starts the listening goroutine once and returns a channel
// closed when it first listens.
func (s *Store) startListener() <-chan struct{} {
	s.listenMu.Lock()
	defer s.listenMu.Unlock()
	if s.listening == nil {
		s.listening = make(chan struct{})
		s.listenDone = make(chan struct{})
		if s.closed.Load() {
			close(s.listening)
			close(s.listenDone)
		} else {
			go s.listen(s.listening)
		}
	}
	return s.listening
}

// listen keeps one connection LISTENing on the store's channel until Close,
// reconnecting after a failure (after 1 s, then up to 5 s apart).
func (s *Store) listen(listening chan struct{}) {
	defer close(s.listenDone)
	first := true
	backoff := time.Second
	for s.closing.Err() == nil {
		err := s.listenOnce(func() {
			if first {
				first = false
				close(listening)
			}
			backoff = time.Second
		})
		if s.closing.Err() != nil {
			break
		}
		_ = err // the polling in Wait covers while the listener is down
		select {
		case <-time.After(backoff):
		case <-s.closing.Done():
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	if first {
		close(listening)
	}
}

// listenOnce connects, listens, and passes notifications on until the
// connection fails or the store closes. ready is called once it listens.
func (s *Store) listenOnce(ready func()) error {
	ctx := s.closing
	conn, err := pgx.ConnectConfig(ctx, s.connCfg.Copy())
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return err
	}
	ready()
	// Appends committed while no connection listened were not notified:
	// re-read the last Seq now that one does.
	var last int64
	if err := conn.QueryRow(ctx, lastSeqSQL).Scan(&last); err != nil {
		return err
	}
	s.noteSeq(last)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var seq int64
		if _, err := fmt.Sscan(n.Payload, &seq); err == nil {
			s.noteSeq(seq)
		} else {
			s.broadcast() // an unexpected payload: let the waiters re-check
		}
	}
}
