package journal

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
)

// Defaults of the options.
const (
	// DefaultIdleTimeout is how long a call may stay quiet before
	// CloseIdle closes it.
	DefaultIdleTimeout = 2 * time.Hour
	// DefaultCallbackWindow is how long after a missed call an answered
	// outbound call to the same number still counts as calling it back.
	DefaultCallbackWindow = 7 * 24 * time.Hour
)

// pageSize is how many entries or calls the journal asks its store for at
// once.
const pageSize = 500

// Journal is the call journal over a [Store]. It is a [pbx.EventHandler]:
// mount it behind any provider's webhook handler. All methods are safe for
// concurrent use, and several Journals (in several processes) may share one
// store where the store allows it.
type Journal struct {
	store          Store
	idle           time.Duration
	digits         int
	callbackWindow time.Duration
	now            func() time.Time
	log            *slog.Logger
}

var _ pbx.EventHandler = (*Journal)(nil)

// Option configures a Journal.
type Option func(*Journal)

// WithIdleTimeout sets how long a call may go without an event before
// [Journal.CloseIdle] closes it (default [DefaultIdleTimeout]). A d <= 0
// keeps the default.
func WithIdleTimeout(d time.Duration) Option {
	return func(j *Journal) {
		if d > 0 {
			j.idle = d
		}
	}
}

// WithDigits sets n, the number of last digits two numbers must share to
// match in [Query].Phone and when matching a call-back to a missed call
// (default phone.DefaultLastDigits; see phone.Match). An n outside
// phone.MinLastDigits..phone.MaxLastDigits keeps the default. Changing n needs no
// change to stored data.
func WithDigits(n int) Option {
	return func(j *Journal) {
		if n >= phone.MinLastDigits && n <= phone.MaxLastDigits {
			j.digits = n
		}
	}
}

// WithCallbackWindow sets how long after a missed inbound call an answered
// outbound call to the same number marks it called back (default
// [DefaultCallbackWindow]); d <= 0 turns call-back marking off.
func WithCallbackWindow(d time.Duration) Option {
	return func(j *Journal) { j.callbackWindow = d }
}

// WithClock sets the clock that stamps Entry.ReceivedAt (default
// time.Now), for tests.
func WithClock(now func() time.Time) Option {
	return func(j *Journal) {
		if now != nil {
			j.now = now
		}
	}
}

// WithLogger sets the logger for what an operator should see (a vendor
// payload that cannot be stored as JSON). The default discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(j *Journal) {
		if l != nil {
			j.log = l
		}
	}
}

// New returns a journal over store.
func New(store Store, opts ...Option) *Journal {
	j := &Journal{
		store:          store,
		idle:           DefaultIdleTimeout,
		digits:         phone.DefaultLastDigits,
		callbackWindow: DefaultCallbackWindow,
		now:            time.Now,
		log:            slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(j)
	}
	return j
}

// Store returns the journal's store, for packages built on the journal
// that keep their own state in it ([Store.State]).
func (j *Journal) Store() Store { return j.store }

// Digits returns the number of last digits phone matching uses.
func (j *Journal) Digits() int { return j.digits }

// HandleEvent stores e once and folds it into its call. It implements
// [pbx.EventHandler].
//
// A second delivery with the same (Provider, DedupeKey) is acknowledged
// and changes nothing. An empty DedupeKey is derived from the event's
// identifying fields (all but Raw); a zero At becomes the receive time;
// times outside the years 1900 to 2999 and negative durations are dropped
// as unreadable; Raw is stored as its JSON (a Raw that cannot be encoded is
// dropped with a warning). HandleEvent returns an error only when the store
// failed: the provider then answers the PBX with a 5xx and the PBX
// redelivers, so an acknowledged event is never lost.
func (j *Journal) HandleEvent(ctx context.Context, e pbx.CallEvent) error {
	entry := Entry{ReceivedAt: j.now(), Source: SourceEvent, Event: j.clean(e)}
	if entry.Event.At.IsZero() {
		entry.Event.At = entry.ReceivedAt
	}
	if entry.Event.DedupeKey == "" {
		entry.Event.DedupeKey = deriveKey(&entry.Event)
	}
	stored, _, err := j.store.Append(ctx, entry, Fold)
	if err != nil {
		return fmt.Errorf("journal: store event %s %s: %w", e.Type, e.CallID, err)
	}
	// Call-back marking is a consequence of the stored event; it runs also
	// for a redelivery, so that a crash between the two is repaired.
	return j.afterAppend(ctx, &stored)
}

// cleanText makes s valid UTF-8 (invalid bytes become U+FFFD) and drops
// NUL bytes; it returns s itself, without allocating, when s is clean.
func cleanText(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// clean returns e with unreadable values dropped and Raw as JSON. Text
// fields are made valid UTF-8 without NUL bytes, so every backend stores the
// same thing: PostgreSQL's text refuses both, and an event it cannot store
// would be answered 5xx and redelivered forever.
func (j *Journal) clean(e pbx.CallEvent) pbx.CallEvent {
	for _, s := range []*string{&e.Provider, &e.CallID, &e.Extension, &e.Phone, &e.Line, &e.RecordingURL, &e.DedupeKey} {
		*s = cleanText(*s)
	}
	e.At = saneTime(e.At)
	e.StartedAt = saneTime(e.StartedAt)
	e.AnsweredAt = saneTime(e.AnsweredAt)
	e.EndedAt = saneTime(e.EndedAt)
	e.TalkDuration = max(e.TalkDuration, 0)
	e.CallDuration = max(e.CallDuration, 0)
	switch raw := e.Raw.(type) {
	case nil:
	case json.RawMessage:
		if !json.Valid(raw) {
			j.log.Warn("journal: vendor payload is not valid JSON; stored without it", "event", e)
			e.Raw = nil
		}
	default:
		b, err := json.Marshal(raw)
		if err != nil {
			j.log.Warn("journal: vendor payload cannot be stored as JSON; stored without it", "event", e, "err", err)
			e.Raw = nil
		} else {
			e.Raw = json.RawMessage(b)
		}
	}
	if string(asRaw(e.Raw)) == "null" {
		e.Raw = nil
	}
	return e
}

func asRaw(v any) json.RawMessage {
	r, _ := v.(json.RawMessage)
	return r
}

var (
	minSane = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	maxSane = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
)

func saneTime(t time.Time) time.Time {
	if t.Before(minSane) || !t.Before(maxSane) {
		return time.Time{}
	}
	return t
}

// digest returns a short hex digest of parts, each length-prefixed so that
// no two lists of parts collide by concatenation.
func digest(parts ...string) string {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func timeKey(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// deriveKey is the DedupeKey of an event that came without one: a digest
// of every field but Raw and DedupeKey.
func deriveKey(e *pbx.CallEvent) string {
	return "j:" + digest("event", e.Provider, e.Type.String(), e.CallID, e.Direction.String(),
		e.Extension, e.Phone, e.Line, timeKey(e.At), timeKey(e.StartedAt), timeKey(e.AnsweredAt),
		timeKey(e.EndedAt), e.TalkDuration.String(), e.CallDuration.String(), e.Outcome.String(),
		e.RecordingURL, fmt.Sprint(e.HasRecording))
}

// Entries reads the log in Seq order, starting after Seq after (0: from the
// beginning), up to the entry that was last when the iteration reached the
// end. A store error is yielded once and ends the sequence.
func (j *Journal) Entries(ctx context.Context, after int64) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		for {
			page, err := j.store.Entries(ctx, after, pageSize)
			if err != nil {
				yield(Entry{}, fmt.Errorf("journal: read log after %d: %w", after, err))
				return
			}
			for _, e := range page {
				if !yield(e, nil) {
					return
				}
				after = e.Seq
			}
			if len(page) < pageSize {
				return
			}
		}
	}
}

// Subscribe is the live tail of the log: first the stored entries after
// Seq after, then the new ones as they are appended, in Seq order, each
// once, never skipping one (the store guarantees that entries become
// visible in Seq order; see Store.Append). It ends without an error when
// ctx ends or the loop stops. A store error is yielded once and ends the
// sequence; resume with Subscribe from the last Seq seen.
func (j *Journal) Subscribe(ctx context.Context, after int64) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		for ctx.Err() == nil {
			page, err := j.store.Entries(ctx, after, pageSize)
			if err != nil {
				if ctx.Err() == nil {
					yield(Entry{}, fmt.Errorf("journal: read log after %d: %w", after, err))
				}
				return
			}
			for _, e := range page {
				if !yield(e, nil) {
					return
				}
				after = e.Seq
			}
			if len(page) == pageSize {
				continue
			}
			if err := j.store.Wait(ctx, after); err != nil {
				if ctx.Err() == nil {
					yield(Entry{}, fmt.Errorf("journal: wait after %d: %w", after, err))
				}
				return
			}
		}
	}
}

// LastSeq returns the Seq of the latest entry, 0 when the log is empty.
func (j *Journal) LastSeq(ctx context.Context) (int64, error) {
	n, err := j.store.LastSeq(ctx)
	if err != nil {
		return 0, fmt.Errorf("journal: last seq: %w", err)
	}
	return n, nil
}

// Call returns the call (provider, callID), or an error matching
// [ErrNotFound].
func (j *Journal) Call(ctx context.Context, provider, callID string) (Call, error) {
	c, err := j.store.Call(ctx, provider, callID)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Call{}, err
		}
		return Call{}, fmt.Errorf("journal: read call %s/%s: %w", provider, callID, err)
	}
	return c, nil
}

// CallEntries returns every entry of the call (provider, callID) in Seq
// order: the events it was folded from.
func (j *Journal) CallEntries(ctx context.Context, provider, callID string) ([]Entry, error) {
	es, err := j.store.CallEntries(ctx, provider, callID)
	if err != nil {
		return nil, fmt.Errorf("journal: read entries of call %s/%s: %w", provider, callID, err)
	}
	return es, nil
}

// CloseIdle closes the open calls whose latest event is older than the idle
// timeout at now (see [WithIdleTimeout]): for each it writes a synthetic
// call_ended entry (Source [SourceTimeout]) through the log, so readers of
// the log see the close. Such a call is [ClosedByTimeout], answered when a
// leg answered, else of unknown outcome; a later terminal event or
// reconciliation still corrects it. It returns how many calls it closed;
// running it again, or on another replica at the same time, closes none
// twice. Run it periodically (every minute, say).
func (j *Journal) CloseIdle(ctx context.Context, now time.Time) (int, error) {
	f := Filter{Open: true, IdleBefore: now.Add(-j.idle), Limit: pageSize}
	closed := 0
	for {
		page, err := j.store.Calls(ctx, f)
		if err != nil {
			return closed, fmt.Errorf("journal: find idle calls: %w", err)
		}
		for _, c := range page {
			e := Entry{ReceivedAt: j.now(), Source: SourceTimeout, Event: pbx.CallEvent{
				Provider:  c.Provider,
				Type:      pbx.EventCallEnded,
				CallID:    c.CallID,
				At:        now,
				DedupeKey: "j:" + digest("timeout", c.Provider, c.CallID),
			}}
			_, appended, err := j.store.Append(ctx, e, Fold)
			if err != nil {
				return closed, fmt.Errorf("journal: close idle call %s/%s: %w", c.Provider, c.CallID, err)
			}
			if appended {
				closed++
			}
		}
		if len(page) < f.Limit {
			return closed, nil
		}
		last := page[len(page)-1].Key()
		f.After = &last
	}
}

// afterAppend marks call-backs the stored entry may have caused: an
// answered outbound call marks the missed calls from its number before it;
// a call that became missed is marked by an answered outbound call to its
// number after it.
func (j *Journal) afterAppend(ctx context.Context, e *Entry) error {
	if j.callbackWindow <= 0 || e.Event.CallID == "" || e.Source == SourceCallback || e.Source == SourceTimeout {
		return nil
	}
	// Only a terminal event makes an inbound call missed; an answer
	// evidence arriving after the end can still make an outbound call
	// answered.
	switch t := e.Event.Type; e.Event.Direction {
	case pbx.Internal:
		return nil
	case pbx.Inbound:
		if t != pbx.EventCallEnded {
			return nil
		}
	default:
		if t != pbx.EventAnswered && t != pbx.EventLegEnded && t != pbx.EventCallEnded {
			return nil
		}
	}
	c, err := j.store.Call(ctx, e.Event.Provider, e.Event.CallID)
	if err != nil {
		return fmt.Errorf("journal: read call %s/%s: %w", e.Event.Provider, e.Event.CallID, err)
	}
	return j.markCallbacks(ctx, c)
}

// markCallbacks links c to the calls it calls back or that call it back.
func (j *Journal) markCallbacks(ctx context.Context, c Call) error {
	if j.callbackWindow <= 0 {
		return nil
	}
	key, prefix, ok := j.phoneFilter(c.Phone)
	if !ok {
		return nil
	}
	switch {
	case isCallback(c):
		f := Filter{PhoneKey: key, PhonePrefix: prefix, Missed: true, NotCalledBack: true,
			From: c.StartedAt.Add(-j.callbackWindow), To: c.StartedAt, Limit: pageSize}
		missed, err := j.store.Calls(ctx, f)
		if err != nil {
			return fmt.Errorf("journal: find missed calls from %s: %w", c.CallID, err)
		}
		for _, m := range missed {
			if err := j.appendCallback(ctx, m, c); err != nil {
				return err
			}
		}
	case c.Missed && c.CalledBackAt.IsZero():
		f := Filter{PhoneKey: key, PhonePrefix: prefix, Direction: pbx.Outbound, Outcome: pbx.OutcomeAnswered,
			From: c.StartedAt.Add(time.Nanosecond), To: c.StartedAt.Add(j.callbackWindow), Limit: pageSize}
		var first *Call
		for {
			page, err := j.store.Calls(ctx, f)
			if err != nil {
				return fmt.Errorf("journal: find call-backs of %s: %w", c.CallID, err)
			}
			for i := range page {
				if isCallback(page[i]) {
					first = &page[i] // newest first: the last one kept is the earliest
				}
			}
			if len(page) < f.Limit {
				break
			}
			last := page[len(page)-1].Key()
			f.After = &last
		}
		if first != nil {
			return j.appendCallback(ctx, c, *first)
		}
	}
	return nil
}

// isCallback reports whether c can call back a missed call: an outbound
// call that is over and was answered. (While it is open, an answer may be
// the employee's own phone on a call-back order the client then does not
// pick up.)
func isCallback(c Call) bool {
	return c.Direction == pbx.Outbound && c.Outcome == pbx.OutcomeAnswered &&
		(c.ClosedBy == ClosedByEvent || c.ClosedBy == ClosedByHistory)
}

// appendCallback writes on missed the note that by called it back.
func (j *Journal) appendCallback(ctx context.Context, missed, by Call) error {
	at := by.AnsweredAt
	if at.IsZero() {
		at = by.StartedAt
	}
	raw, _ := json.Marshal(struct {
		Provider string `json:"provider"`
		CallID   string `json:"call_id"`
	}{by.Provider, by.CallID})
	e := Entry{ReceivedAt: j.now(), Source: SourceCallback, Event: pbx.CallEvent{
		Provider:  missed.Provider,
		Type:      pbx.EventUnknown,
		CallID:    missed.CallID,
		Direction: missed.Direction,
		Extension: by.AnsweredBy,
		Phone:     by.Phone,
		At:        at,
		DedupeKey: "j:" + digest("callback", missed.CallID, by.Provider, by.CallID),
		Raw:       json.RawMessage(raw),
	}}
	if _, _, err := j.store.Append(ctx, e, Fold); err != nil {
		return fmt.Errorf("journal: mark %s/%s called back: %w", missed.Provider, missed.CallID, err)
	}
	return nil
}
