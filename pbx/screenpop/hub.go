package screenpop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pbxkit/pbxkit/pbx/journal"
)

// Defaults of Config.
const (
	DefaultLookupTimeout = 300 * time.Millisecond
	DefaultRecentCalls   = 5
	DefaultHeartbeat     = 15 * time.Second
	DefaultBuffer        = 64
	DefaultWriteTimeout  = 10 * time.Second
	DefaultReplayBuffer  = 4096
)

// Config configures a Hub. Only Secret is required.
type Config struct {
	// Secret keys the tokens (see Token). Required: a hub without a secret
	// would show every caller to anyone, so New refuses an empty one.
	Secret []byte

	// Lookup names the client behind a number and the client's responsible
	// manager's extension; both may be empty. It is called under
	// LookupTimeout: when it fails or is slower, the card goes out without
	// the name (and a missed card to MissedTo), on time. Its answers are
	// reused for 30 seconds. A routing.Directory adapts to it in one line.
	Lookup func(ctx context.Context, phone string) (name, responsible string, err error)
	// LookupTimeout bounds Lookup and the journal query for RecentCalls
	// (default DefaultLookupTimeout).
	LookupTimeout time.Duration

	// Incoming and Outgoing say when a card pops up for incoming and for
	// outgoing calls (the zero value: OnRing); a stream may choose
	// otherwise with ?incoming=answer&outgoing=never. Internal calls and
	// calls of unknown direction count as incoming.
	Incoming, Outgoing Moment

	// MissedTo is the extension that gets the missed card of a client
	// without a responsible manager (the seeds' «Абонент уведомлений о
	// пропущенных вызовах»). When empty, such a card goes to the phones
	// that rang.
	MissedTo string

	// RecentCalls is how many earlier calls with the same number a card
	// lists (default DefaultRecentCalls; negative: none).
	RecentCalls int

	// Heartbeat is the interval of the comments that keep proxies from
	// closing an idle stream (default DefaultHeartbeat).
	Heartbeat time.Duration
	// Buffer is how many deliveries a stream may have waiting before it
	// counts as too slow and is closed (default DefaultBuffer).
	Buffer int
	// WriteTimeout bounds each write to a stream; a browser that does not
	// read for that long is disconnected (default DefaultWriteTimeout).
	WriteTimeout time.Duration
	// ReplayBuffer is how many recent cards the hub keeps in memory to
	// resume a reconnecting stream without reading the journal (default
	// DefaultReplayBuffer; a reconnect from before them reads the journal).
	ReplayBuffer int

	// Logger receives what an operator should see (the journal failing);
	// the default discards everything.
	Logger *slog.Logger
}

// Hub pushes cards to employees' browsers as Server-Sent Events. It is an
// http.Handler: each GET is one stream for the extension its token names.
// The hub follows the journal with one subscription and fans each entry's
// cards out to the streams; see the package doc for the stream's protocol.
type Hub struct {
	j      *journal.Journal
	cfg    Config
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	ready  chan struct{} // closed once pos is known
	done   chan struct{} // closed when the pump has stopped

	cacheMu sync.Mutex
	cache   map[string]lookupResult // by number
	abouts  map[string]aboutResult  // by call

	mu        sync.Mutex
	closed    bool
	pos       int64 // the Seq up to which cards have been fanned out
	conns     map[string]map[*conn]struct{}
	nconns    int
	ring      []*batch // recent batches with cards, in Seq order
	ringCards int
	ringFrom  int64 // the ring holds every card of Seq in (ringFrom, pos]

	dropped atomic.Int64
}

// conn is one stream.
type conn struct {
	ext  string
	mo   moments
	ch   chan delivery
	gone chan struct{} // closed when the hub dropped the stream
}

// delivery is the cards of one entry for one stream.
type delivery struct {
	seq    int64
	frames []*frame
}

// Stats is a snapshot of a hub's state.
type Stats struct {
	// Streams is the number of connected streams.
	Streams int
	// Dropped is how many streams were closed for being too slow.
	Dropped int64
	// Position is the journal Seq up to which cards have been sent.
	Position int64
}

// New returns a hub following j. It starts following at once, from the
// journal's latest entry; call Close to stop it. The error reports a
// missing journal, an empty Secret or an invalid moment.
func New(j *journal.Journal, cfg Config) (*Hub, error) {
	if j == nil {
		return nil, errors.New("screenpop: New needs a journal")
	}
	if len(cfg.Secret) == 0 {
		return nil, errors.New("screenpop: Config.Secret is empty: a hub without a secret would be open to anyone")
	}
	if cfg.Incoming > Never || cfg.Outgoing > Never {
		return nil, fmt.Errorf("screenpop: invalid moment (Incoming %v, Outgoing %v)", cfg.Incoming, cfg.Outgoing)
	}
	cfg.Secret = append([]byte(nil), cfg.Secret...)
	if cfg.LookupTimeout <= 0 {
		cfg.LookupTimeout = DefaultLookupTimeout
	}
	switch {
	case cfg.RecentCalls == 0:
		cfg.RecentCalls = DefaultRecentCalls
	case cfg.RecentCalls < 0:
		cfg.RecentCalls = 0
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.ReplayBuffer <= 0 {
		cfg.ReplayBuffer = DefaultReplayBuffer
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{
		j: j, cfg: cfg, log: log, ctx: ctx, cancel: cancel,
		ready: make(chan struct{}), done: make(chan struct{}),
		cache: map[string]lookupResult{}, abouts: map[string]aboutResult{},
		conns: map[string]map[*conn]struct{}{},
	}
	go h.run()
	return h, nil
}

// Close stops following the journal and ends every stream. It returns
// once the hub has stopped; later requests get 503. Streams are long
// requests: close the hub before (*http.Server).Shutdown, or register
// Close with RegisterOnShutdown, so the shutdown does not wait for them.
func (h *Hub) Close() error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	<-h.done
	return nil
}

// Stats returns the hub's figures.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Stats{Streams: h.nconns, Dropped: h.dropped.Load(), Position: h.pos}
}

// Authenticate returns the extension that r's token (see RequestToken)
// names, or an error matching ErrBadToken or ErrTokenExpired. Other
// handlers behind the same tokens (the operator's page) use it.
func (h *Hub) Authenticate(r *http.Request) (string, error) {
	return VerifyToken(h.cfg.Secret, RequestToken(r), time.Now())
}

// run is the pump: one journal subscription, its entries' cards computed
// in parallel (the lookups) and fanned out in Seq order.
func (h *Hub) run() {
	defer close(h.done)
	defer h.closeAll()
	backoff := newBackoff()
	var pos int64
	for {
		n, err := h.j.LastSeq(h.ctx)
		if err == nil {
			pos = n
			break
		}
		if !h.failed(err, backoff) {
			return
		}
	}
	h.mu.Lock()
	h.pos, h.ringFrom = pos, pos
	h.mu.Unlock()
	close(h.ready)
	for h.ctx.Err() == nil {
		next, err := h.follow(pos)
		if next > pos {
			pos = next
			backoff.reset()
		}
		if err != nil && !h.failed(err, backoff) {
			return
		}
	}
}

// failed logs a store error (once per run of failures) and waits before
// the next try; it reports false when the hub is closing.
func (h *Hub) failed(err error, b *backoff) bool {
	if h.ctx.Err() != nil {
		return false
	}
	if b.attempt == 0 {
		h.log.Warn("screenpop: cannot read the journal; retrying", "err", err)
	}
	t := time.NewTimer(b.next())
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-h.ctx.Done():
		return false
	}
}

// parallel is how many entries may be in the works (their lookups) at
// once while they are fanned out in order.
const parallel = 32

type pending struct {
	entry   journal.Entry
	b       *batch
	err     error
	skipped bool
	done    chan struct{}
}

// follow fans out the entries after pos until the subscription fails or
// the hub closes, and returns the Seq of the last entry fanned out.
func (h *Hub) follow(pos int64) (int64, error) {
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	queue := make(chan *pending, parallel)
	var last atomic.Int64
	last.Store(pos)
	delivered := make(chan error, 1)
	go func() {
		var err error
		for p := range queue {
			if err != nil {
				continue // drain
			}
			<-p.done
			if err = h.deliver(ctx, p); err != nil {
				cancel()
				continue
			}
			last.Store(p.entry.Seq)
		}
		delivered <- err
	}()
	var subErr error
	calls := newCallCache(callCacheMax)
	for e, err := range h.j.Subscribe(ctx, pos) {
		if err != nil {
			subErr = err
			break
		}
		p := &pending{entry: e, done: make(chan struct{})}
		if h.active() {
			// The call's entries: kept from the subscription, read from
			// the journal once per call.
			entries, err := calls.entries(ctx, h.j, &e)
			if err != nil {
				subErr = err
				break
			}
			go func() {
				p.b, p.err = h.derive(ctx, p.entry, entries, "")
				close(p.done)
			}()
		} else {
			calls.add(&e)
			p.skipped = true
			close(p.done)
		}
		select {
		case queue <- p:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(queue)
	derr := <-delivered
	if subErr == nil {
		subErr = derr
	}
	return last.Load(), subErr
}

// shown reports whether a connected stream shows c.
func (h *Hub) shown(c *Card) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.conns[c.Extension] {
		if s.mo.shows(c) {
			return true
		}
	}
	return false
}

// active reports whether any stream is connected.
func (h *Hub) active() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.nconns > 0
}

// deliver fans p's cards out to the streams of their extensions, in
// Seq order, and moves the hub's position past it.
func (h *Hub) deliver(ctx context.Context, p *pending) error {
	if p.err != nil {
		return p.err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if p.skipped && h.nconns == 0 {
		// Nobody listens: nothing to send, nothing to keep.
		h.pos, h.ringFrom = p.entry.Seq, p.entry.Seq
		h.ring, h.ringCards = nil, 0
		return nil
	}
	if p.skipped {
		// Computed nothing while nobody listened, and somebody connected
		// since (at the hub's position, before this entry): compute it
		// now, without the lock. Only this goroutine moves the position.
		h.mu.Unlock()
		p.b, p.err = h.derive(ctx, p.entry, nil, "")
		h.mu.Lock()
		if p.err != nil {
			return p.err
		}
	}
	h.fanOut(p.b)
	h.pos = p.entry.Seq
	return nil
}

// fanOut offers b's cards to the streams of their extensions and keeps b
// for reconnects. It runs under h.mu and never blocks.
func (h *Hub) fanOut(b *batch) {
	if len(b.frames) == 0 {
		return
	}
	for i := 0; i < len(b.frames); {
		ext := b.frames[i].card.Extension
		j := i + 1
		for j < len(b.frames) && b.frames[j].card.Extension == ext {
			j++
		}
		for c := range h.conns[ext] {
			h.offer(c, b.seq, b.frames[i:j])
		}
		i = j
	}
	h.ring = append(h.ring, b)
	h.ringCards += len(b.frames)
	for h.ringCards > h.cfg.ReplayBuffer && len(h.ring) > 1 {
		old := h.ring[0]
		h.ring[0] = nil
		h.ring = h.ring[1:]
		h.ringCards -= len(old.frames)
		h.ringFrom = old.seq
	}
}

// offer queues the frames c shows, or drops c when its buffer is full. It
// runs under h.mu.
func (h *Hub) offer(c *conn, seq int64, frames []*frame) {
	fs := frames
	for k, f := range frames {
		if !c.mo.shows(&f.card) {
			// Copy only when something is filtered out.
			fs = append([]*frame(nil), frames[:k]...)
			for _, g := range frames[k+1:] {
				if c.mo.shows(&g.card) {
					fs = append(fs, g)
				}
			}
			break
		}
	}
	if len(fs) == 0 {
		return
	}
	select {
	case c.ch <- delivery{seq: seq, frames: fs}:
	default:
		h.dropped.Add(1)
		h.removeLocked(c)
		close(c.gone)
	}
}

// register adds c and returns the hub's position. When c resumes after
// last, it also returns the cards after last that the ring still holds;
// fromJournal reports that the ring no longer reaches back to last, so
// the cards in (last, start] must be computed from the journal.
func (h *Hub) register(c *conn, last int64, resume bool) (start int64, replay []delivery, fromJournal bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return 0, nil, false, errClosed
	}
	set := h.conns[c.ext]
	if set == nil {
		set = map[*conn]struct{}{}
		h.conns[c.ext] = set
	}
	set[c] = struct{}{}
	h.nconns++
	start = h.pos
	if !resume || last >= start {
		return start, nil, false, nil
	}
	if last < h.ringFrom {
		return start, nil, true, nil
	}
	for _, b := range h.ring {
		if b.seq <= last {
			continue
		}
		var fs []*frame
		for _, f := range b.frames {
			if f.card.Extension == c.ext && c.mo.shows(&f.card) {
				fs = append(fs, f)
			}
		}
		if len(fs) > 0 {
			replay = append(replay, delivery{seq: b.seq, frames: fs})
		}
	}
	return start, replay, false, nil
}

var errClosed = errors.New("screenpop: hub closed")

func (h *Hub) unregister(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(c)
}

func (h *Hub) removeLocked(c *conn) {
	set := h.conns[c.ext]
	if _, ok := set[c]; !ok {
		return
	}
	delete(set, c)
	if len(set) == 0 {
		delete(h.conns, c.ext)
	}
	h.nconns--
}

// closeAll ends every stream when the hub stops.
func (h *Hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, set := range h.conns {
		for c := range set {
			close(c.gone)
		}
	}
	clear(h.conns)
	h.nconns = 0
}

// backoff is an exponential delay from 100 ms to 10 s.
type backoff struct{ attempt int }

func newBackoff() *backoff { return &backoff{} }

func (b *backoff) next() time.Duration {
	d := 100 * time.Millisecond << min(b.attempt, 7)
	b.attempt++
	return min(d, 10*time.Second)
}

func (b *backoff) reset() { b.attempt = 0 }

// lastEventID reads the position a reconnecting client gives: the
// Last-Event-ID header (EventSource's own reconnect), else the
// last_event_id query parameter (a page that stored its place across a
// reload). Anything but a non-negative integer counts as none.
func lastEventID(r *http.Request) (int64, bool) {
	s := r.Header.Get("Last-Event-ID")
	if s == "" {
		s = r.URL.Query().Get("last_event_id")
	}
	if s == "" || len(s) > 19 {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// callCacheMax bounds the calls whose entries the pump keeps.
const callCacheMax = 2048

// callCache keeps the entries of recent calls as the subscription brings
// them, so that the cards of a call's second and later entries need no
// journal read. Only the pump uses it. The entries are kept without their
// vendor payload (Raw), which folding does not use.
type callCache struct {
	max   int
	calls map[callKey]*cachedCall
	order []callKey // oldest first, for eviction
}

type callKey struct{ provider, id string }

type cachedCall struct {
	entries []journal.Entry
	last    int64 // the greatest Seq in entries
}

func newCallCache(n int) *callCache {
	return &callCache{max: n, calls: map[callKey]*cachedCall{}}
}

// add records e on its call when the call is kept.
func (cc *callCache) add(e *journal.Entry) *cachedCall {
	if e.Event.CallID == "" {
		return nil
	}
	c := cc.calls[callKey{e.Event.Provider, e.Event.CallID}]
	if c != nil && e.Seq > c.last {
		x := *e
		x.Event.Raw = nil
		c.entries = append(c.entries, x)
		c.last = e.Seq
	}
	return c
}

// entries returns the entries of e's call (all those up to e.Seq at
// least) when e may cause cards, reading the journal for a call not kept
// yet; nil when e causes none.
func (cc *callCache) entries(ctx context.Context, j *journal.Journal, e *journal.Entry) ([]journal.Entry, error) {
	c := cc.add(e)
	if !mayConcern(e, "") {
		return nil, nil
	}
	if c == nil {
		es, err := j.CallEntries(ctx, e.Event.Provider, e.Event.CallID)
		if err != nil {
			return nil, err
		}
		c = &cachedCall{last: e.Seq}
		for _, x := range es {
			x.Event.Raw = nil
			c.entries = append(c.entries, x)
			c.last = max(c.last, x.Seq)
		}
		k := callKey{e.Event.Provider, e.Event.CallID}
		if len(cc.order) >= cc.max {
			delete(cc.calls, cc.order[0])
			cc.order = cc.order[1:]
		}
		cc.calls[k] = c
		cc.order = append(cc.order, k)
	}
	// Capped: later appends never write where the reader looks.
	return c.entries[:len(c.entries):len(c.entries)], nil
}
