package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx/journal"
)

// ErrNotFound: no dead letter with that id.
var ErrNotFound = errors.New("outbox: no such dead letter")

// errLostLease: another replica holds the target now.
var errLostLease = errors.New("outbox: lease lost to another replica")

// leaseMargin is the time a replica keeps between the end of its last
// request and the end of its lease, for clocks that disagree a little.
const leaseMargin = time.Second

// targetState is the value under the target's state key: the cursor and
// the lease in one compare-and-set record, so that a replica that lost
// the lease can never move the cursor (its write conflicts).
type targetState struct {
	// Cursor: every entry with Seq <= Cursor is done (delivered, dead or
	// not selected).
	Cursor int64 `json:"cursor"`
	// Epoch is random, made when the target's state is created: it is
	// part of every webhook-id, so that a new database (whose Seq starts
	// again at 1) never reuses an id a receiver has seen.
	Epoch string `json:"epoch"`
	// Owner is the replica holding the lease, "" when none.
	Owner string `json:"owner,omitempty"`
	// Until is when the lease ends, Unix milliseconds.
	Until int64 `json:"until,omitempty"`
}

// lease is this replica's hold on the target.
type lease struct {
	st        targetState
	version   int64
	until     time.Time
	lastWrite time.Time
}

// acquire waits until this replica holds the target's lease and returns
// it, or returns ctx's error.
func (o *Outbox) acquire(ctx context.Context) (*lease, error) {
	wait := 50 * time.Millisecond
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		v, ver, err := o.store.State(ctx, o.key)
		if err != nil {
			o.storeTrouble("read the target's state", err)
			if !sleep(ctx, wait) {
				return nil, ctx.Err()
			}
			wait = min(2*wait, 10*time.Second)
			continue
		}
		var st targetState
		if v != nil {
			if err := json.Unmarshal(v, &st); err != nil || st.Epoch == "" || st.Cursor < 0 {
				return nil, fmt.Errorf("outbox: target %s: state %s is unreadable (%v); delete it to start over", o.target.Name, o.key, err)
			}
		} else {
			st.Epoch = randomHex(8)
		}
		now := time.Now()
		if st.Owner == "" || st.Owner == o.cfg.replica || now.UnixMilli() > st.Until {
			prev := st.Owner
			until := now.Add(o.cfg.leaseTTL)
			st.Owner, st.Until = o.cfg.replica, until.UnixMilli()
			b, _ := json.Marshal(st)
			nv, err := o.store.SetState(ctx, o.key, b, ver)
			if errors.Is(err, journal.ErrConflict) {
				continue
			}
			if err != nil {
				o.storeTrouble("take the lease", err)
				if !sleep(ctx, wait) {
					return nil, ctx.Err()
				}
				wait = min(2*wait, 10*time.Second)
				continue
			}
			o.storeOK()
			attrs := []any{"replica", o.cfg.replica, "cursor", st.Cursor}
			if prev != "" && prev != o.cfg.replica {
				attrs = append(attrs, "took_over_from", prev)
			}
			o.log.Info("outbox: delivering", attrs...)
			return &lease{st: st, version: nv, until: until, lastWrite: now}, nil
		}
		// Held by another replica: try again when it expires, or sooner.
		d := time.UnixMilli(st.Until).Sub(now) + 20*time.Millisecond
		d = max(min(d, o.cfg.leaseTTL/4), 20*time.Millisecond)
		if !sleep(ctx, d) {
			return nil, ctx.Err()
		}
	}
}

// save writes the cursor and renews the lease (or gives it up, with
// release). A write that conflicts means another replica took the lease:
// errLostLease.
func (o *Outbox) save(ctx context.Context, l *lease, cursor int64, release bool) error {
	now := time.Now()
	st := l.st
	st.Cursor = max(cursor, st.Cursor)
	until := now.Add(o.cfg.leaseTTL)
	if release {
		st.Owner, st.Until = "", 0
	} else {
		st.Until = until.UnixMilli()
	}
	b, _ := json.Marshal(st)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	nv, err := o.store.SetState(ctx, o.key, b, l.version)
	if errors.Is(err, journal.ErrConflict) {
		return errLostLease
	}
	if err != nil {
		return err
	}
	l.st, l.version, l.lastWrite = st, nv, now
	if !release {
		l.until = until
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// DeadLetter is a delivery that will not be retried by itself: the target
// refused it (a 4xx other than 408, 409 and 429), or it still failed
// [WithGiveUpAfter] after its first failed attempt. It is kept in the
// journal's store until [Outbox.Retry] delivers it or [Outbox.Discard]
// drops it.
type DeadLetter struct {
	// ID is the delivery's webhook-id.
	ID string `json:"id"`
	// Seq is the journal entry it was made from.
	Seq int64 `json:"seq"`
	// Provider and CallID name the entry's call, if any.
	Provider string `json:"provider,omitempty"`
	CallID   string `json:"call_id,omitempty"`
	// Status is the last HTTP status, 0 when no answer came.
	Status int `json:"status,omitempty"`
	// Error says why the last attempt failed. It never contains a
	// secret.
	Error string `json:"error"`
	// Attempts is the number of requests made.
	Attempts int `json:"attempts"`
	// FirstAttempt and LastAttempt are when the first failed attempt and
	// the last one were made (the outbox's clock).
	FirstAttempt time.Time `json:"first_attempt"`
	LastAttempt  time.Time `json:"last_attempt"`
	// Body is what was sent.
	Body []byte `json:"body"`
}

// DeliveryError is the error [Outbox.Retry] returns when the target did
// not accept the delivery.
type DeliveryError struct {
	// ID is the delivery's webhook-id.
	ID string
	// Status is the HTTP status, 0 when no answer came.
	Status int
	// Message says what happened; it never contains a secret.
	Message string
}

func (e *DeliveryError) Error() string {
	return fmt.Sprintf("outbox: delivery %s failed: %s", e.ID, e.Message)
}

func deliveryID(epoch string, seq int64) string {
	return "msg_" + epoch + "_" + strconv.FormatInt(seq, 10)
}

// parseID returns the Seq in a webhook-id made by deliveryID.
func parseID(id string) (int64, bool) {
	rest, ok := strings.CutPrefix(id, "msg_")
	if !ok {
		return 0, false
	}
	i := strings.LastIndexByte(rest, '_')
	if i < 0 {
		return 0, false
	}
	seq, err := strconv.ParseInt(rest[i+1:], 10, 64)
	if err != nil || seq <= 0 {
		return 0, false
	}
	return seq, true
}

func (o *Outbox) deadKey(seq int64) string { return fmt.Sprintf("%s%020d", o.dead, seq) }

// putDead stores dl, replacing a dead letter of the same Seq.
func (o *Outbox) putDead(ctx context.Context, dl *DeadLetter) error {
	b, err := json.Marshal(dl)
	if err != nil {
		return fmt.Errorf("outbox: encode dead letter %s: %w", dl.ID, err)
	}
	key := o.deadKey(dl.Seq)
	for range 5 {
		_, ver, err := o.store.State(ctx, key)
		if err != nil {
			return fmt.Errorf("outbox: store dead letter %s: %w", dl.ID, err)
		}
		if _, err = o.store.SetState(ctx, key, b, ver); err == nil {
			return nil
		} else if !errors.Is(err, journal.ErrConflict) {
			return fmt.Errorf("outbox: store dead letter %s: %w", dl.ID, err)
		}
	}
	return fmt.Errorf("outbox: store dead letter %s: %w", dl.ID, journal.ErrConflict)
}

// DeadLetters lists the target's dead letters in journal order. The store
// is read in pages; a store error is yielded once and ends the sequence.
// It works without [Outbox.Run] (from a command-line tool, say).
func (o *Outbox) DeadLetters(ctx context.Context) iter.Seq2[DeadLetter, error] {
	return func(yield func(DeadLetter, error) bool) {
		after := ""
		for {
			items, err := o.store.ListState(ctx, o.dead, after, 500)
			if err != nil {
				yield(DeadLetter{}, fmt.Errorf("outbox: list dead letters of %s: %w", o.target.Name, err))
				return
			}
			for _, it := range items {
				var dl DeadLetter
				if err := json.Unmarshal(it.Value, &dl); err != nil {
					if !yield(DeadLetter{}, fmt.Errorf("outbox: dead letter %s unreadable: %w", it.Key, err)) {
						return
					}
					continue
				}
				if !yield(dl, nil) {
					return
				}
			}
			if len(items) < 500 {
				return
			}
			after = items[len(items)-1].Key
		}
	}
}

// countDead counts the target's dead letters.
func (o *Outbox) countDead(ctx context.Context) (int, error) {
	n, after := 0, ""
	for {
		items, err := o.store.ListState(ctx, o.dead, after, 1000)
		if err != nil {
			return 0, err
		}
		n += len(items)
		if len(items) < 1000 {
			return n, nil
		}
		after = items[len(items)-1].Key
	}
}

// loadDead reads the dead letter id.
func (o *Outbox) loadDead(ctx context.Context, id string) (DeadLetter, int64, error) {
	seq, ok := parseID(id)
	if !ok {
		return DeadLetter{}, 0, fmt.Errorf("%w: %q is not a webhook-id of this outbox", ErrNotFound, id)
	}
	v, ver, err := o.store.State(ctx, o.deadKey(seq))
	if err != nil {
		return DeadLetter{}, 0, fmt.Errorf("outbox: read dead letter %s: %w", id, err)
	}
	var dl DeadLetter
	if v == nil || json.Unmarshal(v, &dl) != nil || dl.ID != id {
		return DeadLetter{}, 0, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return dl, ver, nil
}

// Retry sends the dead letter id once more, now, with its webhook-id and
// body, whatever the schedule. On a 2xx it is removed and Retry returns
// nil; otherwise it stays a dead letter with the new status and error,
// and Retry returns a [*DeliveryError] (or an error matching
// [ErrNotFound] when there is no such dead letter). It works without
// [Outbox.Run] and on any replica.
//
// A retried delivery may reach the target after later documents of the
// same call: receivers keep the greatest version of a call.
func (o *Outbox) Retry(ctx context.Context, id string) error {
	dl, ver, err := o.loadDead(ctx, id)
	if err != nil {
		return err
	}
	if len(dl.Body) == 0 {
		return fmt.Errorf("outbox: dead letter %s has no body to send again (%s); Discard it", id, dl.Error)
	}
	a := o.send(ctx, dl.ID, dl.Body)
	if a.verdict == delivered {
		if _, err := o.store.SetState(ctx, o.deadKey(dl.Seq), nil, ver); err != nil && !errors.Is(err, journal.ErrConflict) {
			return fmt.Errorf("outbox: delivered %s but could not remove its dead letter: %w", id, err)
		}
		o.mu.Lock()
		o.stats.delivered++
		o.stats.dead = max(o.stats.dead-1, 0)
		o.mu.Unlock()
		o.log.Info("outbox: dead letter delivered", "id", id, "seq", dl.Seq)
		return nil
	}
	dl.Attempts++
	dl.LastAttempt = o.cfg.clock.Now()
	dl.Status, dl.Error = a.status, a.err
	if b, err := json.Marshal(dl); err == nil {
		_, _ = o.store.SetState(ctx, o.deadKey(dl.Seq), b, ver)
	}
	return &DeliveryError{ID: id, Status: a.status, Message: a.err}
}

// Discard deletes the dead letter id without sending it. It returns an
// error matching [ErrNotFound] when there is none.
func (o *Outbox) Discard(ctx context.Context, id string) error {
	dl, ver, err := o.loadDead(ctx, id)
	if err != nil {
		return err
	}
	if _, err := o.store.SetState(ctx, o.deadKey(dl.Seq), nil, ver); err != nil {
		if errors.Is(err, journal.ErrConflict) {
			return fmt.Errorf("outbox: dead letter %s changed meanwhile; list again", id)
		}
		return fmt.Errorf("outbox: discard %s: %w", id, err)
	}
	o.mu.Lock()
	o.stats.dead = max(o.stats.dead-1, 0)
	o.mu.Unlock()
	o.log.Info("outbox: dead letter discarded", "id", id, "seq", dl.Seq)
	return nil
}
