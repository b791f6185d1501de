package mango

import (
	"container/list"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
)

// Recordings by call. Mango finds a recording by its own recording_id,
// while pbx.RecordingFetcher promises the call id the events carry
// (entry_id). The webhook therefore remembers, per entry_id, the recording
// ids that events/recording, events/record/added and events/record/tagged
// announced, and the calls it heard of at all, so that FetchRecording can
// tell "not recorded yet" without asking Mango: an unknown recording_id is
// answered 3320, and Mango answers every request 401 for 2 minutes after
// more than one 3xxx in 2 minutes, so polling it with a call id would lock
// the key out.
//
// The memory is per process (a replica that did not receive a call's
// notifications, or pbxctl, knows nothing of it), bounded in entries and
// time, and safe for concurrent use.

const (
	// maxRecordedCalls bounds the calls remembered; beyond it the least
	// recently heard of is forgotten.
	maxRecordedCalls = 10000
	// recordingMemory is how long a call is remembered after its last
	// notification.
	recordingMemory = 24 * time.Hour
	// maxRecordingsPerCall bounds the recording ids kept per call (a call
	// with many transfers may have several); the oldest go first.
	maxRecordingsPerCall = 8
	// maxIndexedID is the longest entry_id or recording_id remembered
	// (recording_id is at most 128 characters; entry_id is shorter). A
	// longer one is not remembered: it still works passed to
	// FetchRecording as a recording id.
	maxIndexedID = 256
)

// recordingIndex remembers the recordings announced for each call, least
// recently touched call first out.
type recordingIndex struct {
	mu      sync.Mutex
	max     int
	ttl     time.Duration
	order   *list.List // of *indexedCall, most recently touched in front
	byEntry map[string]*list.Element
}

// indexedCall is one call and the recordings announced for it.
type indexedCall struct {
	entry   string
	touched time.Time
	recs    []*indexedRecording
}

// indexedRecording is what the notifications said about one recording.
type indexedRecording struct {
	id string
	// at is the latest time a notification gave for it (when it was
	// received, for one without a time): "newest" compares these.
	at time.Time
	// order breaks ties of at: the later announced wins.
	order uint64
	// added: events/record/added or tagged (in the cloud storage).
	// completed: events/recording Completed, kept saying whether it went
	// to the cloud storage (code 1000 or none, recipient not Mail alone).
	added, completed, kept bool
}

// ready reports whether the file can be fetched.
func (r *indexedRecording) ready() bool { return r.added || (r.completed && r.kept) }

// lost reports whether the recording ended without a file to fetch (too
// short, failed, or sent by mail only).
func (r *indexedRecording) lost() bool { return r.completed && !r.kept && !r.added }

func newRecordingIndex(maxCalls int, ttl time.Duration) *recordingIndex {
	return &recordingIndex{max: maxCalls, ttl: ttl, order: list.New(), byEntry: map[string]*list.Element{}}
}

// indexable reports whether an id is remembered.
func indexable(id string) bool { return id != "" && len(id) <= maxIndexedID }

// touch returns the call entry, created or moved to the front, and forgets
// what is over the bounds; r.mu is held.
func (x *recordingIndex) touch(entry string, now time.Time) *indexedCall {
	var c *indexedCall
	if el, ok := x.byEntry[entry]; ok {
		c = el.Value.(*indexedCall)
		x.order.MoveToFront(el)
	} else {
		c = &indexedCall{entry: entry}
		x.byEntry[entry] = x.order.PushFront(c)
	}
	c.touched = now
	x.evict(now)
	return c
}

// evict forgets the calls past the time limit and those over the count,
// least recently touched first; r.mu is held.
func (x *recordingIndex) evict(now time.Time) {
	for el := x.order.Back(); el != nil; el = x.order.Back() {
		c := el.Value.(*indexedCall)
		if len(x.byEntry) <= x.max && now.Sub(c.touched) <= x.ttl {
			return
		}
		x.order.Remove(el)
		delete(x.byEntry, c.entry)
	}
}

// seen remembers that a notification of the call entry arrived.
func (x *recordingIndex) seen(entry string, now time.Time) {
	if !indexable(entry) {
		return
	}
	x.mu.Lock()
	x.touch(entry, now)
	x.mu.Unlock()
}

// announce remembers a notification about the recording id of the call
// entry: at is its time; added marks events/record/added (or tagged);
// completed and kept an events/recording Completed and whether the file
// went to the cloud storage.
func (x *recordingIndex) announce(entry, id string, at, now time.Time, added, completed, kept bool) {
	if !indexable(entry) || !indexable(id) {
		x.seen(entry, now)
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	c := x.touch(entry, now)
	var r *indexedRecording
	var next uint64
	for _, have := range c.recs {
		next = max(next, have.order+1)
		if have.id == id {
			r = have
		}
	}
	if r == nil {
		if len(c.recs) >= maxRecordingsPerCall {
			// Forget the oldest.
			oldest := 0
			for i, have := range c.recs {
				if newer(have, c.recs[oldest]) {
					oldest = i
				}
			}
			c.recs = append(c.recs[:oldest], c.recs[oldest+1:]...)
		}
		r = &indexedRecording{id: id}
		c.recs = append(c.recs, r)
	}
	r.order = next
	if at.After(r.at) {
		r.at = at
	}
	r.added = r.added || added
	if completed {
		r.completed = true
		// A Completed into the cloud wins over another that says
		// otherwise (a redelivery cannot contradict it; tolerant).
		r.kept = r.kept || kept
	}
}

// newer reports whether b is newer than a.
func newer(a, b *indexedRecording) bool {
	if !b.at.Equal(a.at) {
		return b.at.After(a.at)
	}
	return b.order > a.order
}

// recordingState is what the index knows of a call's recording.
type recordingState int

const (
	// unknownCall: no notification of the call (or it was forgotten).
	unknownCall recordingState = iota
	// readyRecording: the id returned can be fetched.
	readyRecording
	// pendingRecording: the call is known, its recording not ready (or
	// not announced) yet.
	pendingRecording
	// lostRecording: every recording of the call ended without a file.
	lostRecording
)

// lookup returns the newest fetchable recording of the call entry, or
// what is known of it.
func (x *recordingIndex) lookup(entry string, now time.Time) (string, recordingState) {
	x.mu.Lock()
	defer x.mu.Unlock()
	el, ok := x.byEntry[entry]
	if !ok {
		return "", unknownCall
	}
	c := el.Value.(*indexedCall)
	if now.Sub(c.touched) > x.ttl {
		x.order.Remove(el)
		delete(x.byEntry, entry)
		return "", unknownCall
	}
	var best *indexedRecording
	pending := len(c.recs) == 0
	for _, r := range c.recs {
		switch {
		case r.ready():
			if best == nil || newer(best, r) {
				best = r
			}
		case !r.lost():
			pending = true
		}
	}
	switch {
	case best != nil:
		return best.id, readyRecording
	case pending:
		return "", pendingRecording
	}
	return "", lostRecording
}

// len returns the number of calls remembered.
func (x *recordingIndex) len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.byEntry)
}

// FetchRecording streams the recording of a call. callID is the CallID of
// the call's events (Mango's entry_id): the Client remembers the recording
// ids that events/recording and events/record/added announced for each
// call its webhook received, and fetches the newest one (see
// OpenRecording). It remembers the last 10,000 calls heard of, for 24 h
// after their last notification, in this process only.
//
//   - A call whose notifications arrived but whose recording is not
//     announced as stored yet (no events/record/added, no events/recording
//     Completed into the cloud) gives an error matching pbx.ErrNotReady,
//     without a request to Mango; so does a call that was not recorded at
//     all, which cannot be told apart. Retry after events/record/added,
//     or about a minute later.
//   - A call whose every recording ended without a file (too short, or
//     sent by mail only) gives an error that does not match
//     pbx.ErrNotReady.
//   - An id the Client knows no call for is sent to Mango as a
//     recording_id itself, so a recording id works too: from the events'
//     Raw (RecordingNotification.RecordingID,
//     RecordAddedNotification.RecordingID) or the call log's records
//     column (StatsRow.Records). A process that did not receive the
//     call's notifications (pbxctl, another replica, the same one after a
//     restart) cannot map a call id: pass it the recording id. Mango
//     answers an unknown id 3320, which matches pbx.ErrNotReady but counts
//     as an invalid request (more than one in 2 minutes locks the key out
//     for 2 minutes): do not poll Mango with it.
func (c *Client) FetchRecording(ctx context.Context, callID string) (*pbx.Recording, error) {
	callID = strings.TrimSpace(callID)
	if callID == "" {
		return nil, errBadRequest(OpRecordingPost, "the call id (or recording id) is empty")
	}
	id, state := c.recs.lookup(callID, time.Now())
	switch state {
	case pendingRecording:
		return nil, fmt.Errorf("mango: no recording of call %q is stored yet (none announced by events/record/added or events/recording Completed; a call not recorded stays so): %w",
			callID, pbx.ErrNotReady)
	case lostRecording:
		return nil, fmt.Errorf("mango: the recording of call %q was not stored in the cloud (too short, failed, or sent by mail only)", callID)
	case readyRecording:
		rec, err := c.OpenRecording(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("mango: recording %q of call %q: %w", id, callID, err)
		}
		return rec, nil
	}
	return c.OpenRecording(ctx, callID)
}
