package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pbxkit/pbxkit/pbx/journal"
)

// Appends go through one writer goroutine per Store. Appends commit one at
// a time anyway (the counter row's lock orders them), so the writer takes
// every append waiting (up to maxBatch) and commits them in one
// transaction: one WAL flush for the group, and one pool connection busy
// with appends instead of one per appender, blocked on the lock, while
// queries wait for a connection.

// maxBatch is the most appends committed in one transaction.
const maxBatch = 64

// commitTimeout bounds a batch's transaction, which does not end with its
// callers' contexts.
const commitTimeout = 30 * time.Second

type job struct {
	entry      journal.Entry // Seq zero
	receivedAt string
	event      []byte
	fold       journal.FoldFunc
	// state: jobQueued until the writer takes the job or the caller
	// abandons it (its ctx ended first); whoever moves it first decides.
	state atomic.Int32
	done  chan result
}

const (
	jobQueued int32 = iota
	jobTaken
	jobAbandoned
)

type result struct {
	stored   journal.Entry
	appended bool
	err      error
	// panicked: fold panicked with p; the caller panics with it again, in
	// its own goroutine, as a MemoryStore would.
	panicked bool
	p        any
}

// Append implements [journal.Store.Append]. The entry is queued to the
// store's writer, which commits it with the other appends waiting (see the
// package doc). In the transaction, for each entry, in two round trips:
//
//  1. take the next Seq from the counter row (whose lock is then held until
//     commit) and insert the entry unless its (Provider, DedupeKey) is
//     stored, in one statement; read back the entry stored under that key;
//     read the call's entries. The reads are later statements, so their
//     snapshots include every append committed before this transaction
//     got the lock;
//  2. store the call fold returns and its legs.
//
// Then NOTIFY the greatest Seq, and COMMIT. A redelivery (the stored entry
// has another Seq) appends nothing; its Seq is skipped (a gap, which the
// contract allows). When an append fails (a refused statement, a
// panicking fold), the transaction is rolled back and run again without
// it.
//
// Once the writer took the entry, Append waits for the commit even if ctx
// ends (for at most commitTimeout): an error would be a lie if the commit
// went through. Should the connection fail during the commit, the writer
// asks the database whether the entries are there before answering.
func (s *Store) Append(ctx context.Context, e journal.Entry, fold journal.FoldFunc) (journal.Entry, bool, error) {
	if e.Event.DedupeKey == "" {
		return journal.Entry{}, false, errors.New("pgstore: append: empty DedupeKey")
	}
	if fold == nil {
		return journal.Entry{}, false, errors.New("pgstore: append: nil fold")
	}
	if err := ctx.Err(); err != nil {
		return journal.Entry{}, false, err
	}
	if s.closed.Load() {
		return journal.Entry{}, false, fmt.Errorf("pgstore: append: %w", ErrClosed)
	}
	e.Seq = 0
	receivedAt, err := e.ReceivedAt.MarshalText()
	if err != nil {
		return journal.Entry{}, false, fmt.Errorf("pgstore: append: receive time: %w", err)
	}
	event, err := json.Marshal(e.Event)
	if err != nil {
		return journal.Entry{}, false, fmt.Errorf("pgstore: append: encode event: %w", err)
	}
	j := &job{entry: e, receivedAt: string(receivedAt), event: event, fold: fold, done: make(chan result, 1)}
	select {
	case s.jobs <- j:
	case <-s.closing.Done():
		return journal.Entry{}, false, fmt.Errorf("pgstore: append: %w", ErrClosed)
	case <-ctx.Done():
		return journal.Entry{}, false, ctx.Err()
	}
	var r result
	select {
	case r = <-j.done:
	case <-ctx.Done():
		if j.state.CompareAndSwap(jobQueued, jobAbandoned) {
			return journal.Entry{}, false, ctx.Err()
		}
		r = <-j.done // taken: its transaction is bounded by commitTimeout
	case <-s.writerDone:
		if j.state.CompareAndSwap(jobQueued, jobAbandoned) {
			return journal.Entry{}, false, fmt.Errorf("pgstore: append: %w", ErrClosed)
		}
		r = <-j.done
	}
	if r.panicked {
		panic(r.p)
	}
	if r.err != nil {
		return journal.Entry{}, false, s.wrap(fmt.Sprintf("append %s %s", e.Event.Type, e.Event.CallID), r.err)
	}
	return r.stored, r.appended, nil
}

// writer takes the queued appends, as many as are waiting, and commits
// them together, until Close.
func (s *Store) writer() {
	defer close(s.writerDone)
	batch := make([]*job, 0, maxBatch)
	for {
		select {
		case <-s.closing.Done(): // first: no new batch after Close
			s.failQueued()
			return
		default:
		}
		select {
		case j := <-s.jobs:
			batch = append(batch, j)
		case <-s.closing.Done():
			s.failQueued()
			return
		}
	gather:
		for len(batch) < maxBatch {
			select {
			case j := <-s.jobs:
				batch = append(batch, j)
			default:
				break gather
			}
		}
		s.commit(batch)
		clear(batch)
		batch = batch[:0]
	}
}

// failQueued answers the appends still queued at Close.
func (s *Store) failQueued() {
	for {
		select {
		case j := <-s.jobs:
			if j.state.CompareAndSwap(jobQueued, jobTaken) {
				j.done <- result{err: ErrClosed}
			}
		default:
			return
		}
	}
}

// commit runs the batch in one transaction and answers every job. A job
// that fails alone is answered and the rest run again without it.
func (s *Store) commit(batch []*job) {
	jobs := batch[:0:0]
	for _, j := range batch {
		if j.state.CompareAndSwap(jobQueued, jobTaken) {
			jobs = append(jobs, j)
		}
	}
	for len(jobs) > 0 {
		results, failed, err := s.try(jobs)
		switch {
		case err != nil:
			for _, j := range jobs {
				j.done <- result{err: err}
			}
			return
		case failed >= 0:
			jobs[failed].done <- results[failed]
			jobs = append(jobs[:failed], jobs[failed+1:]...)
		default:
			for i, j := range jobs {
				j.done <- results[i]
			}
			return
		}
	}
}

// try runs jobs in one transaction on one connection. It returns either
// every job's result (failed -1, err nil: committed), or the index of the
// one job that failed on its own with its result in results[failed] (the
// transaction rolled back), or err, a failure of the transaction that
// fails every job.
func (s *Store) try(jobs []*job) (results []result, failed int, err error) {
	// Not s.closing: Close waits for the batch in progress rather than
	// leave its commit in doubt.
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, -1, err
	}
	defer conn.Release()
	open := true // a transaction to roll back on the way out
	defer func() {
		if open {
			rollback(conn)
		}
	}()
	results = make([]result, len(jobs))
	var (
		last int64
		// pending holds statements to send before the next job's: BEGIN,
		// then each job's writes, so that a job costs one round trip.
		pending = []*pgx.QueuedQuery{{SQL: "BEGIN"}}
		owner   = -1 // the job pending belongs to; -1: BEGIN
	)
	for i, j := range jobs {
		r, writes, err := s.appendOne(ctx, conn, j, pending)
		var prev *prevError
		if errors.As(err, &prev) {
			if owner < 0 {
				return nil, -1, prev.err
			}
			err = prev.err
			i, r = owner, result{}
		}
		if err != nil {
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) {
				return nil, -1, err // the connection, not the job
			}
			r = result{err: err}
		}
		results[i] = r
		if r.err != nil || r.panicked {
			return results, i, nil
		}
		if r.appended {
			last = r.stored.Seq
		}
		pending, owner = writes, i
	}
	final := &pgx.Batch{QueuedQueries: pending}
	if last == 0 {
		return results, -1, nil // only redeliveries: nothing to commit (the rollback gives the numbers back)
	}
	final.Queue(`SELECT pg_notify($1, $2)`, s.channel, strconv.FormatInt(last, 10))
	final.Queue(`COMMIT`)
	err = conn.SendBatch(ctx, final).Close()
	if err == nil && conn.Conn().PgConn().TxStatus() == 'I' {
		open = false
		s.noteSeq(last)
		return results, -1, nil
	}
	if err == nil {
		err = errors.New("the transaction did not commit")
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if final.Len() > 2 && owner >= 0 {
			// Most likely the last job's writes were refused: run the
			// others again without it.
			results[owner] = result{err: err}
			return results, owner, nil
		}
		return nil, -1, err // refused: rolled back
	}
	// The connection failed during the commit: ask whether it happened.
	open = false
	conn.Conn().Close(ctx)
	if s.committed(ctx, jobs, results) {
		s.noteSeq(last)
		return results, -1, nil
	}
	return nil, -1, err
}

// appendOne does a job's round trip in the transaction, after the
// pending statements (BEGIN, the previous job's writes), and folds its
// call; writes holds the statements that store the call, for the caller to
// send (none when there is nothing to write). A failure of a pending
// statement is a *prevError. Any other error is the job's statement's or
// the connection's; a failure of the job itself (its fold panicked, its
// call cannot be encoded) is in the result.
func (s *Store) appendOne(ctx context.Context, conn *pgxpool.Conn, j *job, pending []*pgx.QueuedQuery) (r result, writes []*pgx.QueuedQuery, err error) {
	ev := &j.entry.Event
	b := &pgx.Batch{QueuedQueries: append([]*pgx.QueuedQuery(nil), pending...)}
	b.Queue(`
		WITH s AS (UPDATE pbxkit_journal_seq SET last = last + 1 RETURNING last)
		INSERT INTO pbxkit_journal_entries (seq, provider, dedupe_key, call_id, received_at, source, event)
		SELECT s.last, $1, $2, $3, $4, $5, $6 FROM s
		ON CONFLICT (provider, dedupe_key) DO NOTHING
		RETURNING seq`,
		ev.Provider, ev.DedupeKey, ev.CallID, j.receivedAt, int16(j.entry.Source), j.event)
	b.Queue(`SELECT `+entryColumns+` FROM pbxkit_journal_entries WHERE provider = $1 AND dedupe_key = $2`, ev.Provider, ev.DedupeKey)
	if ev.CallID != "" {
		b.Queue(`SELECT `+entryColumns+` FROM pbxkit_journal_entries
			WHERE provider = $1 AND call_id = $2 AND call_id <> '' ORDER BY seq`, ev.Provider, ev.CallID)
	}
	var (
		seq    int64
		stored journal.Entry
		all    []journal.Entry
	)
	err = func() error {
		br := conn.SendBatch(ctx, b)
		defer br.Close()
		for range pending {
			if _, err := br.Exec(); err != nil {
				return &prevError{err}
			}
		}
		if err := br.QueryRow().Scan(&seq); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var err error
		if stored, err = scanEntry(br.QueryRow()); err != nil {
			return err
		}
		if ev.CallID != "" {
			rows, err := br.Query()
			if err != nil {
				return err
			}
			if all, err = scanEntries(rows); err != nil {
				return err
			}
		}
		return br.Close()
	}()
	if err != nil {
		return result{}, nil, err
	}
	if seq == 0 || stored.Seq != seq {
		return result{stored: stored}, nil, nil // stored before: a redelivery
	}
	stored = j.entry
	stored.Seq = seq
	if ev.CallID == "" {
		return result{stored: stored, appended: true}, nil, nil
	}
	c, r := foldCall(j.fold, all)
	if r.panicked {
		return r, nil, nil
	}
	wb := &pgx.Batch{}
	if err := queueCall(wb, ev.Provider, ev.CallID, c); err != nil {
		return result{err: err}, nil, nil
	}
	return result{stored: stored, appended: true}, wb.QueuedQueries, nil
}

// prevError is the failure of a statement sent ahead of a job's own.
type prevError struct{ err error }

func (e *prevError) Error() string { return e.err.Error() }
func (e *prevError) Unwrap() error { return e.err }

// foldCall calls fold, turning a panic into a result.
func foldCall(fold journal.FoldFunc, all []journal.Entry) (c journal.Call, r result) {
	defer func() {
		if p := recover(); p != nil {
			r = result{panicked: true, p: p}
		}
	}()
	return fold(all), result{}
}

// rollback ends the transaction on conn, or closes conn (which the pool
// then drops) when it cannot.
func rollback(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		conn.Conn().Close(ctx)
	}
}

// committed reports whether the appended entries of results are stored
// with their Seq, asking on another connection; false when it cannot
// tell. It first waits for the counter row's lock: the failed
// transaction holds it until the server has committed or aborted it.
func (s *Store) committed(ctx context.Context, jobs []*job, results []result) bool {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT 1 FROM pbxkit_journal_seq FOR SHARE`); err != nil {
			return err
		}
		for i, j := range jobs {
			if !results[i].appended {
				continue
			}
			var got int64
			err := tx.QueryRow(ctx, `SELECT seq FROM pbxkit_journal_entries WHERE provider = $1 AND dedupe_key = $2`,
				j.entry.Event.Provider, j.entry.Event.DedupeKey).Scan(&got)
			if err != nil {
				return err
			}
			if got != results[i].stored.Seq {
				return errors.New("not committed")
			}
		}
		return nil
	})
	return err == nil
}
