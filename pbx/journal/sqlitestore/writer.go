package sqlitestore

import (
	"context"
	"fmt"
	"sync/atomic"
)

// maxBatch is the most writes committed in one transaction.
const maxBatch = 256

// A job is one write (an Append, a SetState) queued to the writer. The
// writer runs it in the current batch's transaction and reports its
// outcome once the transaction committed.
type job struct {
	// run does the write. It may only use w, and leaves its results in
	// variables of the caller, which the caller reads after done. It
	// returns the Seq it appended, 0 when it appended nothing.
	run writeFunc
	// state: jobQueued until the writer takes the job or the caller
	// abandons it (its ctx ended first); whoever moves it first decides.
	state atomic.Int32
	done  chan outcome
}

type writeFunc func(w *wtx) (seq int64, err error)

const (
	jobQueued int32 = iota
	jobTaken
	jobAbandoned
)

type outcome struct {
	err error
	// panicked: run panicked with value p; the caller panics with it
	// again, in its own goroutine, as a MemoryStore would.
	panicked bool
	p        any
}

// write queues run to the writer and waits for its outcome. When ctx ends
// before the writer took the job, the job is dropped and ctx.Err() returned;
// once taken, write waits for the commit, so that an error always means
// that nothing was stored.
func (s *Store) write(ctx context.Context, run writeFunc) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-s.quit:
		return ErrClosed
	default:
	}
	j := &job{run: run, done: make(chan outcome, 1)}
	select {
	case s.jobs <- j:
	case <-s.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	var o outcome
	select {
	case o = <-j.done:
	case <-ctx.Done():
		if j.state.CompareAndSwap(jobQueued, jobAbandoned) {
			return ctx.Err()
		}
		o = <-j.done // taken: its transaction is short
	case <-s.writerDone:
		if j.state.CompareAndSwap(jobQueued, jobAbandoned) {
			return ErrClosed
		}
		o = <-j.done
	}
	if o.panicked {
		panic(o.p)
	}
	return o.err
}

// writer is the one goroutine that writes: it takes the queued jobs, as
// many as are waiting (up to maxBatch), and commits them in one
// transaction, so concurrent appends share one fsync.
func (s *Store) writer() {
	defer close(s.writerDone)
	batch := make([]*job, 0, maxBatch)
	for {
		select {
		case <-s.quit: // first: no new batch after Close
			s.failQueued()
			return
		default:
		}
		select {
		case j := <-s.jobs:
			batch = append(batch, j)
		case <-s.quit:
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

// failQueued answers the jobs still queued at Close.
func (s *Store) failQueued() {
	for {
		select {
		case j := <-s.jobs:
			if j.state.CompareAndSwap(jobQueued, jobTaken) {
				j.done <- outcome{err: ErrClosed}
			}
		default:
			return
		}
	}
}

// commit runs the batch in one transaction and reports every outcome
// after the commit. When a job fails (an error, a panicking fold), the
// transaction is rolled back and run again without it: failures are rare,
// and this is cheaper than a savepoint around every job. Jobs may run more
// than once; the store's contract allows it (fold is pure).
func (s *Store) commit(batch []*job) {
	jobs := batch[:0:0]
	for _, j := range batch {
		if j.state.CompareAndSwap(jobQueued, jobTaken) {
			jobs = append(jobs, j)
		}
	}
	for len(jobs) > 0 {
		failed, last, err := s.try(jobs)
		if err != nil {
			// The transaction itself failed: every job in it fails.
			for _, j := range jobs {
				j.done <- outcome{err: err}
			}
			return
		}
		if failed < 0 {
			if last > 0 {
				s.broadcast(last)
			}
			for _, j := range jobs {
				j.done <- outcome{}
			}
			return
		}
		jobs = append(jobs[:failed], jobs[failed+1:]...)
	}
}

// try runs jobs in one transaction. When job i fails, it rolls back,
// answers job i with its outcome and returns failed = i; when all succeed
// and the commit too, failed is -1 and last the greatest Seq appended. err
// is a failure of the transaction (begin, commit), not of a job.
func (s *Store) try(jobs []*job) (failed int, last int64, err error) {
	// The jobs' contexts only govern their wait in the queue: once taken, a
	// job's fate is the transaction's, so the transaction does not end
	// when one caller gives up.
	ctx := context.Background()
	tx, err := s.wdb.BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock)
	if err != nil {
		return -1, 0, fmt.Errorf("sqlitestore: begin: %w", err)
	}
	w := &wtx{ctx: ctx, tx: tx, prepared: &s.wstmts}
	for i, j := range jobs {
		seq, o := runJob(w, j)
		if o.err != nil || o.panicked {
			tx.Rollback()
			j.done <- o
			return i, 0, nil
		}
		last = max(last, seq)
	}
	if err := tx.Commit(); err != nil {
		return -1, 0, fmt.Errorf("sqlitestore: commit: %w", err)
	}
	return -1, last, nil
}

// runJob runs j, turning a panic into an outcome.
func runJob(w *wtx, j *job) (seq int64, o outcome) {
	defer func() {
		if p := recover(); p != nil {
			seq, o = 0, outcome{panicked: true, p: p}
		}
	}()
	seq, err := j.run(w)
	return seq, outcome{err: err}
}
