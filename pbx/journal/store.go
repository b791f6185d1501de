package journal

import (
	"context"
	"errors"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
)

// Store is the storage a [Journal] keeps its log, its calls and its small
// state in. [NewMemoryStore] is the in-memory one; packages sqlitestore and
// pgstore are the durable ones; every Store passes the conformance suite in
// package journaltest.
//
// A Store is dumb on purpose: it keeps what it is given and answers queries.
// All call logic (how events become a [Call]) lives in package journal and
// reaches the store as the [FoldFunc] passed to Append, so every backend folds
// the same way, and a new fold rule needs no change to any backend.
//
// All methods are safe for concurrent use, also by several processes sharing
// one database where the backend allows it. Every method honours ctx.
type Store interface {
	// Append stores e in the log and refolds its call, in ONE transaction:
	//
	//  1. If an entry with the same (e.Event.Provider, e.Event.DedupeKey) is
	//     stored, Append changes nothing and returns that stored entry with
	//     appended false. The journal always fills DedupeKey; a store may
	//     reject an empty one with an error.
	//  2. Otherwise it assigns e the next Seq (greater than every Seq
	//     assigned before; gaps are allowed), stores e as given (Seq
	//     excepted: an incoming e.Seq is ignored), and, when e.Event.CallID
	//     is not empty, loads every stored entry of the call
	//     (e.Event.Provider, e.Event.CallID), e included, in any order, calls
	//     fold with them and stores the [Call] fold returns under that key,
	//     replacing the previous one. An entry with an empty CallID belongs
	//     to no call: it is only logged, fold is not called.
	//  3. It returns e with its Seq and appended true.
	//
	// Either all of that is stored or none of it: when Append returns an
	// error, nothing was stored (and a retry with the same DedupeKey appends
	// it then). fold is a pure function of its argument; it does not call
	// the store and may be called again if the backend retries the
	// transaction.
	//
	// Visibility: an entry with Seq n must be visible to every reader
	// (Entries, CallEntries, LastSeq, through any connection or replica)
	// no later than any entry with a greater Seq, so that a reader that
	// sees Seq m can never later find a new entry with a Seq below m.
	// Subscribe relies on it to never skip an entry. A backend where
	// transactions commit concurrently takes the number under a lock held
	// until commit (on PostgreSQL: a counter row updated in the
	// transaction), so commit order is Seq order.
	Append(ctx context.Context, e Entry, fold FoldFunc) (stored Entry, appended bool, err error)

	// Entries returns at most limit entries with Seq > after, in Seq order
	// (limit is between 1 and 10,000; the journal pages through the log
	// with it). No entry is an empty slice and a nil error.
	Entries(ctx context.Context, after int64, limit int) ([]Entry, error)

	// CallEntries returns every entry of the call (provider, callID) in Seq
	// order; none is an empty slice and a nil error.
	CallEntries(ctx context.Context, provider, callID string) ([]Entry, error)

	// LastSeq returns the greatest Seq assigned and visible, 0 when the log
	// is empty.
	LastSeq(ctx context.Context) (int64, error)

	// Wait blocks until an entry with Seq > after may be visible, and then
	// returns nil; or until ctx ends, and then returns ctx.Err(). It
	// returns nil at once when such an entry is already visible. It may
	// return nil without a new entry (a spurious wake-up: the caller reads
	// and waits again), but it must wake within about a second of an
	// append by any writer sharing the store (memory and SQLite: an
	// in-process broadcast; PostgreSQL: LISTEN/NOTIFY carrying the Seq,
	// plus a periodic re-check, since notifications can be lost when a
	// connection drops).
	Wait(ctx context.Context, after int64) error

	// Call returns the call stored under (provider, callID), or an error
	// matching [ErrNotFound].
	Call(ctx context.Context, provider, callID string) (Call, error)

	// Calls returns at most f.Limit calls matching f, newest first: by
	// StartedAt descending, then Provider descending, then CallID
	// descending (strings compared byte-wise), starting after f.After when
	// it is set. See [Filter] for each condition; all conditions set must
	// hold. f.Limit is between 1 and 10,000.
	Calls(ctx context.Context, f Filter) ([]Call, error)

	// State returns the value and version stored under key in the store's
	// small key-value space, or (nil, 0, nil) when there is none. Packages
	// built on the journal keep their durable state there: an outbox
	// target's cursor, a lease, a dead letter. Keys are at most 200 bytes,
	// values at most 1 MiB.
	State(ctx context.Context, key string) (value []byte, version int64, err error)

	// SetState stores value under key if the stored version is version
	// (0: the key must not exist) and returns the new version (the old one
	// plus 1; 1 for a new key). A nil value deletes the key and returns 0.
	// When the stored version differs, nothing changes and the error
	// matches [ErrConflict]. This compare-and-set is atomic across
	// connections and replicas.
	SetState(ctx context.Context, key string, value []byte, version int64) (newVersion int64, err error)

	// ListState returns at most limit (1 to 10,000) items whose key starts
	// with prefix and is greater than after, in key order (byte-wise).
	ListState(ctx context.Context, prefix, after string, limit int) ([]StateItem, error)
}

// FoldFunc computes a call from the set of all its entries. The journal
// passes [Fold]; see Store.Append for how a store calls it. The result does
// not depend on the order of entries.
type FoldFunc func(entries []Entry) Call

// Errors a Store returns, matched with errors.Is.
var (
	// ErrNotFound: no such call.
	ErrNotFound = errors.New("journal: not found")
	// ErrConflict: a SetState whose expected version is not the stored
	// one.
	ErrConflict = errors.New("journal: version conflict")
)

// Source says where an entry came from.
type Source uint8

// Sources. The zero value is SourceEvent.
const (
	// SourceEvent: an event a provider delivered ([Journal.HandleEvent]).
	SourceEvent Source = iota
	// SourceHistory: a call_ended built from a row of the PBX's call log
	// by [Journal.Reconcile].
	SourceHistory
	// SourceTimeout: the synthetic call_ended [Journal.CloseIdle] writes
	// for a call that went quiet without a terminal event.
	SourceTimeout
	// SourceCallback: a note that a missed call was called back, written
	// on the missed call when an answered outbound call to the same number
	// follows it. Its Event.Extension is who called back, Event.At when.
	SourceCallback
)

var sourceNames = [...]string{"event", "history", "timeout", "callback"}

// Entry is one stored event: an element of the journal's log.
type Entry struct {
	// Seq is the entry's place in the log: journal-wide, assigned by the
	// store, only growing.
	Seq int64 `json:"seq"`
	// ReceivedAt is when the journal took the event.
	ReceivedAt time.Time `json:"received_at"`
	// Source says where the event came from.
	Source Source `json:"source"`
	// Event is the event as stored: its DedupeKey always set, its At set
	// (ReceivedAt when the provider gave none), and its Raw a
	// json.RawMessage (or nil).
	Event pbx.CallEvent `json:"event"`
}

// CloseReason says why a call counts as over. The zero value, CallOpen,
// means it does not yet.
type CloseReason uint8

// Close reasons.
const (
	// CallOpen: no terminal event yet.
	CallOpen CloseReason = iota
	// ClosedByEvent: the provider sent the call's call_ended.
	ClosedByEvent
	// ClosedByTimeout: the call went quiet for the idle timeout with no
	// terminal event ([Journal.CloseIdle]).
	ClosedByTimeout
	// ClosedByHistory: the PBX's call log closed it ([Journal.Reconcile]):
	// the call was open, timed out or unknown to the journal.
	ClosedByHistory
)

var closeReasonNames = [...]string{"", "event", "timeout", "history"}

// Call is one call as folded from its entries. See the package doc for the
// rules.
type Call struct {
	// Provider and CallID identify the call (the events' Provider and
	// CallID).
	Provider string `json:"provider"`
	CallID   string `json:"call_id"`
	// Direction is who started the call.
	Direction pbx.Direction `json:"direction,omitzero"`
	// Phone is the external party's number, Line the company number.
	Phone string `json:"phone,omitempty"`
	Line  string `json:"line,omitempty"`
	// StartedAt is when the call started (never zero); AnsweredAt when it
	// was answered (zero unless Outcome is answered); EndedAt when it ended
	// (zero while open and when closed by timeout).
	StartedAt  time.Time `json:"started_at"`
	AnsweredAt time.Time `json:"answered_at,omitzero"`
	EndedAt    time.Time `json:"ended_at,omitzero"`
	// TalkDuration is answer to end; CallDuration start to end. Written to
	// JSON as talk_seconds and call_seconds.
	TalkDuration time.Duration `json:"-"`
	CallDuration time.Duration `json:"-"`
	// HoldDuration is how long the call was on hold: the union of the
	// intervals between each pbx.EventHeld and the next pbx.EventResumed
	// of the same extension (a hold never resumed lasts until EndedAt).
	// Zero when the vendor sends no hold events. Written to JSON as
	// hold_seconds.
	HoldDuration time.Duration `json:"-"`
	// Outcome is how the call ended; OutcomeUnknown while it is open.
	Outcome pbx.Outcome `json:"outcome,omitzero"`
	// Missed reports an inbound call that is over and that nobody answered
	// (outcome missed, busy, cancelled or failed). It is what missed-call
	// lists select on.
	Missed bool `json:"missed,omitempty"`
	// AnsweredBy is the extension whose leg answered the call (the first,
	// when it was transferred); empty unless Outcome is answered.
	AnsweredBy string `json:"answered_by,omitempty"`
	// Legs has one element per employee extension involved, rung or not
	// answered included, in the order they joined the call.
	Legs []Leg `json:"legs,omitempty"`
	// RecordingURL is the latest recording link a vendor sent; HasRecording
	// reports that some event said the call is recorded.
	RecordingURL string `json:"recording_url,omitempty"`
	HasRecording bool   `json:"has_recording,omitempty"`
	// ClosedBy is why the call counts as over; CallOpen while it does not.
	ClosedBy CloseReason `json:"closed_by,omitzero"`
	// CalledBackAt and CalledBackBy: for a missed call, when and by which
	// extension an answered outbound call to the same number followed it
	// (the earliest such call); zero and empty otherwise.
	CalledBackAt time.Time `json:"called_back_at,omitzero"`
	CalledBackBy string    `json:"called_back_by,omitempty"`
	// LastEventAt is the time of the call's latest provider event (its At;
	// synthetic entries do not count). Idle calls are found by it.
	LastEventAt time.Time `json:"last_event_at"`
	// FirstSeq and LastSeq are the smallest and greatest Seq of the call's
	// entries.
	FirstSeq int64 `json:"first_seq"`
	LastSeq  int64 `json:"last_seq"`
}

// Leg is one employee phone's part in a call.
type Leg struct {
	// Extension is the employee's internal number.
	Extension string `json:"extension"`
	// RangAt is when it first rang (zero when no ringing event named it),
	// AnsweredAt when it answered, EndedAt when its part ended (its own
	// leg_ended, else the call's end).
	RangAt     time.Time `json:"rang_at,omitzero"`
	AnsweredAt time.Time `json:"answered_at,omitzero"`
	EndedAt    time.Time `json:"ended_at,omitzero"`
	// Answered reports that this phone answered.
	Answered bool `json:"answered,omitempty"`
}

// CallPos is a position in the newest-first order of [Store.Calls]: the
// sort key of the last call of the previous page.
type CallPos struct {
	StartedAt time.Time
	Provider  string
	CallID    string
}

// Filter is what [Store.Calls] selects on. The journal builds it from a
// [Query]. Zero fields do not filter. Each condition is chosen to be an
// indexed lookup in SQL: store the call's StartedAt, LastEventAt and
// CalledBackAt as int64 Unix nanoseconds, PhoneKey([Call.Phone]), the legs'
// extensions in a table of their own, and index by what missed-call lists
// and day ranges need.
type Filter struct {
	// From and To: StartedAt in [From, To). A zero bound is open.
	From, To time.Time
	// Provider: Call.Provider equals it.
	Provider string
	// Extension: some element of Call.Legs has this Extension.
	Extension string
	// PhoneKey: when set, [PhoneKey](Call.Phone) equals it, or, when
	// PhonePrefix is true, begins with it. Keys hold only digits, so a
	// prefix is the range [PhoneKey, PhoneKey+":") in byte order.
	PhoneKey    string
	PhonePrefix bool
	// Direction and Outcome: equal to the call's when not zero.
	Direction pbx.Direction
	Outcome   pbx.Outcome
	// Missed: only calls with Call.Missed.
	Missed bool
	// NotCalledBack: only calls with a zero Call.CalledBackAt.
	NotCalledBack bool
	// Open: only calls with ClosedBy == CallOpen.
	Open bool
	// IdleBefore: only calls with LastEventAt before it.
	IdleBefore time.Time
	// After: continue after this position (the previous page's last call).
	After *CallPos
	// Limit: at most this many calls (1 to 10,000).
	Limit int
}

// StateItem is one key of the store's key-value space.
type StateItem struct {
	Key     string
	Value   []byte
	Version int64
}
