package outbox

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pbxkit/pbxkit/pbx/journal"
)

const (
	// readPage is how many entries the reader asks the store for at once.
	readPage = 500
	// maxPending is how many deliveries may be read ahead of the cursor.
	maxPending = 10_000
	// saveEvery is how often the cursor is saved when it moved.
	saveEvery = 250 * time.Millisecond
	// downAfter is how many failures in a row, with no success between
	// them, make the target count as down.
	downAfter = 3
)

// Run delivers until ctx ends. It waits for this replica to hold the
// target's lease (at once when no other replica holds it), reads the
// journal from the target's cursor (from the first entry for a new
// target) and delivers; when ctx ends it stops its requests, saves the
// cursor, gives up the lease and returns nil (or the error of that last
// save). A failing store is logged and retried; Run only returns early
// for a target state it cannot read, or when it is already running.
func (o *Outbox) Run(ctx context.Context) error {
	if !o.running.CompareAndSwap(false, true) {
		return errors.New("outbox: Run is already running for this Outbox")
	}
	defer o.running.Store(false)
	for {
		l, err := o.acquire(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		err = o.lead(ctx, l)
		o.mu.Lock()
		o.stats.active, o.stats.down, o.stats.pending, o.stats.unread = false, false, 0, 0
		o.mu.Unlock()
		if ctx.Err() != nil {
			return err
		}
		if errors.Is(err, errLostLease) {
			o.log.Warn("outbox: lease lost (another replica took the target over, or the store failed for too long); delivering stopped until this replica holds it again", "replica", o.cfg.replica)
			continue
		}
		if err != nil {
			return err
		}
	}
}

// delivery is one entry's payload on its way to the target.
type delivery struct {
	seq      int64
	id       string
	key      string // the call's key: deliveries with one key go in order
	provider string
	callID   string
	received time.Time
	body     []byte
	encErr   string

	attempts   int
	firstFail  time.Time
	next       time.Time
	lastStatus int
	lastErr    string
	done       bool
}

// batch is what the reader hands the loop: the deliveries of a page, and
// how far it read.
type batch struct {
	ds      []*delivery
	upTo    int64
	lastSeq int64
}

type result struct {
	d      *delivery
	a      attempt
	buried bool // stored as a dead letter
	burErr error
}

// byseq and bynext are heaps of deliveries.
type byseq []*delivery

func (h byseq) Len() int           { return len(h) }
func (h byseq) Less(i, j int) bool { return h[i].seq < h[j].seq }
func (h byseq) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *byseq) Push(x any)        { *h = append(*h, x.(*delivery)) }
func (h *byseq) Pop() any {
	old := *h
	d := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return d
}

type bynext struct{ byseq }

func (h bynext) Less(i, j int) bool {
	if !h.byseq[i].next.Equal(h.byseq[j].next) {
		return h.byseq[i].next.Before(h.byseq[j].next)
	}
	return h.byseq[i].seq < h.byseq[j].seq
}

// run is the state of one lease's delivery loop, owned by its goroutine.
type run struct {
	o       *Outbox
	ctx     context.Context // ends when the loop stops: requests use it
	l       *lease
	results chan result

	window  []*delivery // read and not yet past the cursor, in Seq order
	head    int         // window[head] is the first one not done
	pending int
	readPos int64 // every entry <= readPos was read
	lastSeq int64
	calls   map[string][]*delivery // per call, in order; [0] is next to go
	ready   byseq                  // heads of their call, due
	waiting bynext                 // heads of their call, waiting for their time

	inflight    int
	down        bool
	downLogged  bool
	downSince   time.Time
	probe       *delivery
	probeAt     time.Time
	targetFails int
	failsInRow  int
	pauseUntil  time.Time

	wakeAt time.Time
	wakeC  <-chan time.Time
}

// lead runs the delivery loop while this replica holds the lease l.
func (o *Outbox) lead(parent context.Context, l *lease) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	if n, err := o.countDead(ctx); err == nil {
		o.mu.Lock()
		o.stats.dead = n
		o.mu.Unlock()
	}
	r := &run{
		o: o, ctx: ctx, l: l,
		results: make(chan result, o.cfg.concurrency+1),
		readPos: l.st.Cursor, lastSeq: l.st.Cursor,
		calls: map[string][]*delivery{},
	}
	batches := make(chan batch)
	var wg sync.WaitGroup
	wg.Go(func() { o.read(ctx, l.st.Cursor, l.st.Epoch, batches) })
	ticker := time.NewTicker(saveEvery)
	defer ticker.Stop()

	err := r.loop(batches, ticker.C)

	// Stop: end the requests, take their results (a delivered one still
	// moves the cursor), then save.
	cancel()
	for r.inflight > 0 {
		r.handle(<-r.results)
	}
	wg.Wait()
	if errors.Is(err, errLostLease) {
		return err
	}
	sctx, scancel := context.WithTimeout(context.WithoutCancel(parent), 5*time.Second)
	defer scancel()
	if serr := o.save(sctx, l, r.cursor(), true); serr != nil {
		if errors.Is(serr, errLostLease) {
			return serr
		}
		return errors.Join(err, fmt.Errorf("outbox: target %s: save the cursor at stop: %w", o.target.Name, serr))
	}
	return err
}

func (r *run) loop(batches <-chan batch, tick <-chan time.Time) error {
	o := r.o
	for {
		r.dispatch()
		r.publish()
		r.arm()
		var in <-chan batch
		if r.pending < maxPending {
			in = batches
		}
		select {
		case <-r.ctx.Done():
			return nil
		case b := <-in:
			r.add(b)
		case res := <-r.results:
			r.handle(res)
		case <-r.wakeC:
			r.wakeC = nil
		case <-tick:
			now := time.Now()
			c := r.cursor()
			if c == r.l.st.Cursor && now.Sub(r.l.lastWrite) < o.cfg.leaseTTL/4 {
				continue
			}
			if err := o.save(r.ctx, r.l, c, false); err != nil {
				if errors.Is(err, errLostLease) || r.ctx.Err() != nil {
					return err
				}
				o.storeTrouble("save the cursor", err)
				if now.After(r.l.until) {
					// Another replica may hold the target by now.
					return errLostLease
				}
				continue
			}
			o.storeOK()
		}
	}
}

// cursor returns the greatest Seq such that every entry up to it is done.
func (r *run) cursor() int64 {
	if r.head < len(r.window) {
		return r.window[r.head].seq - 1
	}
	return r.readPos
}

func (r *run) add(b batch) {
	for _, d := range b.ds {
		r.window = append(r.window, d)
		r.pending++
		q := r.calls[d.key]
		r.calls[d.key] = append(q, d)
		if len(q) == 0 {
			heap.Push(&r.ready, d)
		}
	}
	r.readPos = max(r.readPos, b.upTo)
	r.lastSeq = max(r.lastSeq, b.lastSeq, r.readPos)
}

// leaseOK reports whether a request started now ends before the lease.
func (r *run) leaseOK() bool {
	return time.Now().Add(r.o.cfg.timeout + leaseMargin).Before(r.l.until)
}

func (r *run) dispatch() {
	now := r.o.cfg.clock.Now()
	for r.waiting.Len() > 0 && !r.waiting.byseq[0].next.After(now) {
		heap.Push(&r.ready, heap.Pop(&r.waiting))
	}
	if now.Before(r.pauseUntil) || !r.leaseOK() {
		return
	}
	for r.ready.Len() > 0 {
		if r.down {
			if r.inflight > 0 || now.Before(r.probeAt) {
				return
			}
		} else if r.inflight >= r.o.cfg.concurrency {
			return
		}
		d := heap.Pop(&r.ready).(*delivery)
		if d.encErr != "" {
			r.bury(d, attempt{verdict: dead, err: d.encErr}, now)
			continue
		}
		if r.down {
			r.probe = d
		}
		r.start(d)
	}
}

func (r *run) start(d *delivery) {
	r.inflight++
	o := r.o
	go func() {
		a := o.send(r.ctx, d.id, d.body)
		res := result{d: d, a: a}
		if a.verdict == dead {
			dl := o.deadLetter(d, a, o.cfg.clock.Now())
			if err := o.putDead(r.ctx, dl); err != nil {
				res.burErr = err
			} else {
				res.buried = true
			}
		}
		r.results <- res
	}()
}

func (o *Outbox) deadLetter(d *delivery, a attempt, now time.Time) *DeadLetter {
	first := d.firstFail
	if first.IsZero() {
		first = now
	}
	dl := &DeadLetter{
		ID: d.id, Seq: d.seq, Provider: d.provider, CallID: d.callID,
		Status: a.status, Error: a.err, Attempts: d.attempts + 1,
		FirstAttempt: first, LastAttempt: now, Body: d.body,
	}
	if len(dl.Body) > maxDeadBody {
		// The store keeps values up to 1 MiB, and the body is kept as
		// base64.
		dl.Error += fmt.Sprintf(" (the body, %d bytes, is too large to keep: Retry cannot send it again)", len(dl.Body))
		dl.Body = nil
	}
	return dl
}

// maxDeadBody is the largest body a dead letter keeps.
const maxDeadBody = 512 << 10

func (r *run) handle(res result) {
	r.inflight--
	o, d, a := r.o, res.d, res.a
	now := o.cfg.clock.Now()
	isProbe := d == r.probe
	if isProbe {
		r.probe = nil
	}
	if r.ctx.Err() != nil && a.verdict != delivered && !res.buried {
		// Stopped, not failed: the next holder of the lease sends it.
		return
	}
	d.attempts++
	d.lastStatus, d.lastErr = a.status, a.err
	if a.verdict != delivered && d.firstFail.IsZero() {
		d.firstFail = now
	}
	switch {
	case a.verdict == delivered:
		r.targetUp(now)
		o.mu.Lock()
		o.stats.delivered++
		o.mu.Unlock()
		r.finish(d)
	case a.verdict == dead && res.buried:
		r.targetUp(now) // it answered: it is up
		r.buried(d, a)
	case a.verdict == dead:
		// Refused, but the dead letter could not be stored: keep it and
		// try again later rather than lose it.
		o.storeTrouble("store a dead letter", res.burErr)
		d.attempts--
		r.later(d, now.Add(jitter(o.delay(0))))
	case now.Sub(d.firstFail) >= o.cfg.giveUp:
		r.bury(d, a, now)
	case a.throttled && a.retryAfter > 0:
		// 429 with Retry-After: the target is up and asks everyone to
		// wait.
		r.pauseUntil = now.Add(min(a.retryAfter, o.maxDelay()))
		heap.Push(&r.ready, d)
	default:
		if a.retryAfter > 0 {
			r.pauseUntil = now.Add(min(a.retryAfter, o.maxDelay()))
		}
		r.failsInRow++
		switch {
		case r.down:
			if isProbe {
				r.probeAt = now.Add(jitter(o.delay(r.targetFails)))
				r.targetFails++
			}
			heap.Push(&r.ready, d)
		case r.failsInRow >= downAfter:
			// The target's schedule goes on from where the delivery that
			// tipped it over was: one delivery failing alone sees the
			// published schedule unchanged.
			r.down, r.downSince, r.targetFails = true, now, d.attempts
			r.probeAt = now.Add(jitter(o.delay(r.targetFails - 1)))
			if ok, held := o.allowLog("down", now); ok {
				r.downLogged = true
				attrs := []any{"url", RedactURL(o.target.URL), "err", a.err, "pending", r.pending}
				if held > 0 {
					attrs = append(attrs, "flaps_not_logged", held)
				}
				o.log.Warn("outbox: target down; retrying on schedule, one request at a time", attrs...)
			}
			heap.Push(&r.ready, d)
		default:
			r.later(d, now.Add(jitter(o.delay(d.attempts-1))))
		}
	}
}

// targetUp notes an answer from the target.
func (r *run) targetUp(now time.Time) {
	r.failsInRow = 0
	if !r.down {
		return
	}
	r.down = false
	if r.downLogged {
		r.o.log.Info("outbox: target back", "down_for", now.Sub(r.downSince).Round(time.Second).String(), "pending", r.pending)
	}
	r.downLogged = false
}

// later puts d back to wait until at.
func (r *run) later(d *delivery, at time.Time) {
	d.next = at
	heap.Push(&r.waiting, d)
}

// bury stores d as a dead letter now (from the loop: give-up and
// payloads that cannot be encoded).
func (r *run) bury(d *delivery, a attempt, now time.Time) {
	o := r.o
	if d.encErr == "" {
		d.attempts-- // deadLetter counts the attempt that was just made
	}
	dl := o.deadLetter(d, a, now)
	if d.encErr != "" {
		dl.Attempts = 0
	}
	if err := o.putDead(r.ctx, dl); err != nil {
		o.storeTrouble("store a dead letter", err)
		r.later(d, now.Add(jitter(o.delay(0))))
		return
	}
	r.buried(d, a)
}

func (r *run) buried(d *delivery, a attempt) {
	o := r.o
	o.mu.Lock()
	o.stats.dead++
	o.mu.Unlock()
	if ok, held := o.allowLog("dead", o.cfg.clock.Now()); ok {
		attrs := []any{"id", d.id, "seq", d.seq, "status", a.status, "err", a.err}
		if d.callID != "" {
			attrs = append(attrs, "provider", d.provider, "call_id", d.callID)
		}
		if held > 0 {
			attrs = append(attrs, "more_not_logged", held)
		}
		o.log.Warn("outbox: dead letter; list with DeadLetters, replay with Retry", attrs...)
	}
	r.finish(d)
}

// finish takes d, the head of its call, out of the pending deliveries.
func (r *run) finish(d *delivery) {
	d.done, d.body = true, nil
	r.pending--
	q := r.calls[d.key]
	if len(q) > 0 && q[0] == d {
		q[0] = nil
		q = q[1:]
	}
	if len(q) == 0 {
		delete(r.calls, d.key)
	} else {
		r.calls[d.key] = q
		heap.Push(&r.ready, q[0])
	}
	for r.head < len(r.window) && r.window[r.head].done {
		r.window[r.head] = nil
		r.head++
	}
	if r.head > 1024 && r.head*2 > len(r.window) {
		r.window = append(r.window[:0:0], r.window[r.head:]...)
		r.head = 0
	}
}

// arm sets the wake-up for the earliest time something becomes due.
func (r *run) arm() {
	now := r.o.cfg.clock.Now()
	var at time.Time
	consider := func(t time.Time) {
		// A time already past needs no wake-up: dispatch saw it, and what
		// still holds it back (the lease) is checked on every tick.
		if t.After(now) && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	if r.waiting.Len() > 0 {
		consider(r.waiting.byseq[0].next)
	}
	if r.ready.Len() > 0 {
		if r.down && r.inflight == 0 {
			consider(r.probeAt)
		}
		consider(r.pauseUntil)
	}
	if at.IsZero() {
		return
	}
	if r.wakeC != nil && !at.Before(r.wakeAt) {
		return
	}
	r.wakeAt = at
	r.wakeC = r.o.cfg.clock.After(at.Sub(now))
}

func (r *run) publish() {
	o := r.o
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stats.active = true
	o.stats.down = r.down
	o.stats.pending = r.pending
	o.stats.oldest = time.Time{}
	if r.head < len(r.window) {
		o.stats.oldest = r.window[r.head].received
	}
	o.stats.unread = max(r.lastSeq-r.readPos, 0)
}

// delay returns the schedule's i-th delay (0-based), the last repeating.
func (o *Outbox) delay(i int) time.Duration {
	s := o.cfg.schedule
	return s[max(min(i, len(s)-1), 0)]
}

func (o *Outbox) maxDelay() time.Duration {
	m := time.Duration(0)
	for _, d := range o.cfg.schedule {
		m = max(m, d)
	}
	return m
}

// jitter multiplies d by a random factor in [0.8, 1.2).
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// read feeds the loop: it reads the log after Seq after, asks Select
// about each entry and encodes what it selects.
func (o *Outbox) read(ctx context.Context, after int64, epoch string, out chan<- batch) {
	wait := 50 * time.Millisecond
	trouble := func(what string, err error) bool {
		if ctx.Err() != nil {
			return false
		}
		o.storeTrouble(what, err)
		if !sleep(ctx, wait) {
			return false
		}
		wait = min(2*wait, 10*time.Second)
		return true
	}
	for ctx.Err() == nil {
		page, err := o.store.Entries(ctx, after, readPage)
		if err != nil {
			if !trouble("read the journal", err) {
				return
			}
			continue
		}
		if len(page) > 0 {
			b, err := o.selectPage(ctx, page, epoch)
			if err != nil {
				if !trouble("read calls", err) {
					return
				}
				continue
			}
			wait = 50 * time.Millisecond
			if last, err := o.store.LastSeq(ctx); err == nil {
				b.lastSeq = last
			}
			select {
			case out <- b:
			case <-ctx.Done():
				return
			}
			after = b.upTo
		}
		if len(page) < readPage {
			if err := o.store.Wait(ctx, after); err != nil {
				if !trouble("wait for the journal", err) {
					return
				}
			}
		}
	}
}

// selectPage turns a page of entries into deliveries.
func (o *Outbox) selectPage(ctx context.Context, page []journal.Entry, epoch string) (batch, error) {
	type ck struct{ provider, id string }
	calls := map[ck]journal.Call{}
	for _, e := range page {
		k := ck{e.Event.Provider, e.Event.CallID}
		if k.id == "" {
			continue
		}
		if _, ok := calls[k]; ok {
			continue
		}
		c, err := o.store.Call(ctx, k.provider, k.id)
		if errors.Is(err, journal.ErrNotFound) {
			c, err = journal.Call{Provider: k.provider, CallID: k.id}, nil
		}
		if err != nil {
			return batch{}, err
		}
		calls[k] = c
	}
	b := batch{upTo: page[len(page)-1].Seq}
	for _, e := range page {
		var c journal.Call
		if e.Event.CallID != "" {
			c = calls[ck{e.Event.Provider, e.Event.CallID}]
		}
		payload, ok := o.sel(e, c)
		if !ok {
			continue
		}
		d := &delivery{
			seq: e.Seq, id: deliveryID(epoch, e.Seq),
			provider: e.Event.Provider, callID: e.Event.CallID, received: e.ReceivedAt,
		}
		if e.Event.CallID != "" {
			d.key = e.Event.Provider + "\x00" + e.Event.CallID
		} else {
			d.key = fmt.Sprintf("\x01%d", e.Seq)
		}
		body, err := encode(payload)
		if err != nil {
			d.encErr = trimErr("encode the payload: " + err.Error())
		}
		d.body = body
		b.ds = append(b.ds, d)
	}
	return b, nil
}

func encode(p any) ([]byte, error) {
	switch v := p.(type) {
	case json.RawMessage:
		return v, nil
	case []byte:
		return v, nil
	default:
		return json.Marshal(v)
	}
}

func trimErr(s string) string {
	if len(s) <= 300 {
		return s
	}
	cut := 300
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}

// storeTrouble logs a failing store, once per minute at most.
func (o *Outbox) storeTrouble(what string, err error) {
	now := time.Now()
	o.mu.Lock()
	ok, held := o.lim.allow("store", now)
	o.storeBad = true
	o.mu.Unlock()
	if ok {
		attrs := []any{"err", err}
		if held > 0 {
			attrs = append(attrs, "more_not_logged", held)
		}
		o.log.Warn("outbox: the journal's store fails; retrying: cannot "+what, attrs...)
	}
}

// storeOK logs that a failing store works again.
func (o *Outbox) storeOK() {
	o.mu.Lock()
	was := o.storeBad
	o.storeBad = false
	o.mu.Unlock()
	if was {
		o.log.Info("outbox: the journal's store works again")
	}
}

func (o *Outbox) allowLog(kind string, now time.Time) (bool, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lim.allow(kind, now)
}

var _ slog.LogValuer = Target{}
