package routing

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
)

// Defaults of [NewLastAnswered]'s options.
const (
	// DefaultLastAnsweredTTL is how long LastAnswered remembers an answer by
	// default.
	DefaultLastAnsweredTTL = 30 * 24 * time.Hour
	// DefaultLastAnsweredMax is how many client numbers LastAnswered
	// remembers by default (some 150 bytes each).
	DefaultLastAnsweredMax = 100_000
)

// LastAnswered remembers which employee last answered each client's number
// and routes that client's next call to the same employee ("sticky agent").
// It is a [pbx.EventHandler] and a [pbx.Router] at once: give it to a
// provider's webhook handler as both.
//
// It learns from [pbx.EventAnswered] events that carry both the external
// Phone and the employee's Extension, on inbound calls and on outbound ones
// (the employee who called a client and was answered also talked to the
// client); internal calls and other event types are ignored. Numbers are
// keyed on their normalised form (phone.Normalize), exactly: the last-digits
// rule of [MemoryDirectory] does not apply.
//
// It ignores an event whose Phone is empty or has more than
// [phone.MaxDigits] digits (no telephone number is that long;
// phone.Normalize gives "" for it) and, so that a flood of absurd values
// cannot fill memory, one whose Phone (a login, when it is not a number) or
// Extension is longer than 256 bytes.
//
// Memory is bounded: at most a number of entries is kept
// ([WithMaxEntries]), and the number answered longest ago is forgotten
// first (an LRU where "use" is an answer; routing a call does not refresh
// an entry, so the TTL always counts from the last answer). An entry older
// than the TTL ([WithTTL]) is never used and is dropped when met. All methods are safe for concurrent use. Create it with
// [NewLastAnswered]; the zero value works with the default options.
type LastAnswered struct {
	mu  sync.Mutex
	ttl time.Duration
	max int
	now func() time.Time

	entries map[string]*lastEntry
	// head is a sentinel of a circular list ordered by answer time: head.next
	// is the latest answer, head.prev the oldest.
	head lastEntry
}

type lastEntry struct {
	phone, ext string
	at         time.Time
	prev, next *lastEntry
}

// maxKeyLen bounds the bytes of a remembered number (a login, when it is
// not a telephone number) and of an extension. Real ones are far shorter.
const maxKeyLen = 256

// NewLastAnswered returns an empty LastAnswered configured by opts
// ([WithTTL], [WithMaxEntries], [WithClock]); without options it
// remembers up to [DefaultLastAnsweredMax] numbers for
// [DefaultLastAnsweredTTL]. Nil options are ignored.
func NewLastAnswered(opts ...LastAnsweredOption) *LastAnswered {
	l := &LastAnswered{}
	for _, opt := range opts {
		if opt != nil {
			opt.applyLastAnswered(l)
		}
	}
	l.init()
	return l
}

// init applies the defaults; it runs under l.mu or before l is shared.
func (l *LastAnswered) init() {
	if l.entries != nil {
		return
	}
	if l.ttl <= 0 {
		l.ttl = DefaultLastAnsweredTTL
	}
	if l.max <= 0 {
		l.max = DefaultLastAnsweredMax
	}
	if l.now == nil {
		l.now = time.Now
	}
	l.entries = make(map[string]*lastEntry)
	l.head.next, l.head.prev = &l.head, &l.head
}

// HandleEvent implements pbx.EventHandler: an Answered event with an
// external phone and an extension records that extension for the phone. It
// never fails.
func (l *LastAnswered) HandleEvent(_ context.Context, e pbx.CallEvent) error {
	if e.Type == pbx.EventAnswered && e.Direction != pbx.Internal {
		l.Remember(e.Phone, e.Extension)
	}
	return nil
}

// Remember records that ext answered the client at number, as an Answered
// event would, at the current time. An empty number or ext is ignored, and
// so is a number with more than phone.MaxDigits digits, or a number or ext
// longer than 256 bytes. Use it to warm a new LastAnswered up, for example
// from the call history (pbx.HistoryExporter) at start-up.
func (l *LastAnswered) Remember(number, ext string) {
	key := phone.Normalize(number)
	if key == "" || ext == "" || len(key) > maxKeyLen || len(ext) > maxKeyLen {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	now := l.now()
	if en, ok := l.entries[key]; ok {
		if en.ext != ext {
			en.ext = strings.Clone(ext)
		}
		en.at = now
		l.unlink(en)
		l.pushFront(en)
		return
	}
	// Evict the oldest: first what has expired, then beyond the bound.
	for last := l.head.prev; last != &l.head; last = l.head.prev {
		if len(l.entries) < l.max && now.Sub(last.at) <= l.ttl {
			break
		}
		l.remove(last)
	}
	// Copy both strings into one new string: they may point into a large
	// request buffer.
	both := key + ext
	en := &lastEntry{phone: both[:len(key)], ext: both[len(key):], at: now}
	l.entries[en.phone] = en
	l.pushFront(en)
}

// Route implements pbx.Router: a client whose last answered call is at most
// TTL old is routed to the extension that answered it; anyone else gets the
// zero Route ("no decision"). It returns (pbx.Route{}, ctx.Err()) at once
// when ctx is done, otherwise it never fails. It does not allocate when
// q.Phone is normalised, as providers send it.
func (l *LastAnswered) Route(ctx context.Context, q pbx.RouteQuery) (pbx.Route, error) {
	if err := ctx.Err(); err != nil {
		return pbx.Route{}, err
	}
	return pbx.Route{Extension: l.Lookup(q.Phone)}, nil
}

// Lookup returns the extension that last answered number, or "" when there
// is none within TTL.
func (l *LastAnswered) Lookup(number string) string {
	key := phone.Normalize(number)
	if key == "" {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	now := l.now()
	en, ok := l.entries[key]
	if !ok {
		return ""
	}
	if now.Sub(en.at) > l.ttl {
		l.remove(en)
		return ""
	}
	return en.ext
}

// Forget drops what is remembered for number.
func (l *LastAnswered) Forget(number string) {
	key := phone.Normalize(number)
	l.mu.Lock()
	defer l.mu.Unlock()
	if en, ok := l.entries[key]; ok {
		l.remove(en)
	}
}

// Len returns the number of client numbers remembered, including expired
// ones not dropped yet.
func (l *LastAnswered) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

func (l *LastAnswered) pushFront(en *lastEntry) {
	en.prev, en.next = &l.head, l.head.next
	l.head.next.prev = en
	l.head.next = en
}

func (l *LastAnswered) unlink(en *lastEntry) {
	en.prev.next = en.next
	en.next.prev = en.prev
	en.prev, en.next = nil, nil
}

func (l *LastAnswered) remove(en *lastEntry) {
	l.unlink(en)
	delete(l.entries, en.phone)
}
