package mango

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// Routing by command. Mango asks nothing: a call that appears in the IVR
// is a notification like any other, and the PBX's scheme goes on (a prompt,
// then silence) unless a commands/route arrives. So the webhook, once the
// notification is authenticated, starts the routing in the background and
// answers at once; the routing asks the Router under RouteTimeout, takes a
// slot of the route limit (see routeGate: Mango's 2 s per PBX by default)
// that starts before the same deadline, and sends the command once.
// Whatever fails, nothing is sent and the scheme routes the call.

// MaxPendingRoutes bounds the routings in progress at once; a call that
// appears beyond it is left to the PBX's scheme (counted in
// RouteStats.Skipped).
const MaxPendingRoutes = 64

const (
	// maxRoutedLegs bounds the legs remembered as routed (never twice per
	// leg); routedMemory is how long one is remembered.
	maxRoutedLegs = 4096
	routedMemory  = 10 * time.Minute
	// warnEvery is the shortest interval between two Warn lines for the
	// same reason.
	warnEvery = time.Minute
)

// RouteStats counts what the provider did with the calls that appeared in
// the IVR (see Client.RouteStats).
type RouteStats struct {
	// Asked is the number of calls the Router was asked about.
	Asked uint64 `json:"asked"`
	// Sent is the number of route commands the PBX accepted.
	Sent uint64 `json:"sent"`
	// NoDecision is the number of zero Routes (or Routes with no
	// Extension) the Router answered.
	NoDecision uint64 `json:"no_decision"`
	// RouterFailed is the number of Router errors, panics and timeouts.
	RouterFailed uint64 `json:"router_failed"`
	// RateLimited is the number of decisions dropped because no slot of
	// the route limit (one command per Config.RouteInterval, 2 s by
	// default, Mango's limit per PBX) started before the deadline: the
	// scheme routed those calls.
	RateLimited uint64 `json:"rate_limited"`
	// SendFailed is the number of route commands that failed (refused by
	// the PBX, or not delivered); none is sent again.
	SendFailed uint64 `json:"send_failed"`
	// Skipped is the number of calls not routed because their leg was
	// routed already (a redelivery), too many routings were in progress,
	// or the Client was closed (routings cancelled by Close included).
	Skipped uint64 `json:"skipped"`
}

// RouteStats returns the routing counters since New: a metric to export
// (RateLimited, in particular, counts the calls the route limit left to
// the scheme).
func (c *Client) RouteStats() RouteStats {
	s := &c.rt.stats
	return RouteStats{
		Asked: s.asked.Load(), Sent: s.sent.Load(), NoDecision: s.noDecision.Load(),
		RouterFailed: s.routerFailed.Load(), RateLimited: s.rateLimited.Load(),
		SendFailed: s.sendFailed.Load(), Skipped: s.skipped.Load(),
	}
}

type routeCounters struct {
	asked, sent, noDecision, routerFailed, rateLimited, sendFailed, skipped atomic.Uint64
}

// routing is the routing work of one Client.
type routing struct {
	c      *Client
	ctx    context.Context // ended by close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stats  routeCounters
	now    func() time.Time

	mu      sync.Mutex
	closed  bool
	pending int
	routed  map[string]time.Time // leg -> when its routing started
	warns   map[string]*warnState
}

type warnState struct {
	last       time.Time
	suppressed int
}

func newRouting(c *Client) *routing {
	ctx, cancel := context.WithCancel(context.Background())
	return &routing{c: c, ctx: ctx, cancel: cancel, now: time.Now,
		routed: map[string]time.Time{}, warns: map[string]*warnState{}}
}

// start begins routing the leg n, which Routable says is a new inbound call
// in the IVR, if router is set; it returns at once.
func (r *routing) start(router pbx.Router, n *CallNotification) {
	if router == nil || !n.Routable() {
		return
	}
	leg := str(n.CallID)
	now := r.now()
	deadline := now.Add(r.c.cfg.RouteTimeout)
	r.mu.Lock()
	switch {
	case r.closed:
		r.mu.Unlock()
		r.stats.skipped.Add(1)
		return
	case !r.routed[leg].IsZero():
		r.mu.Unlock()
		r.stats.skipped.Add(1)
		return
	case r.pending >= MaxPendingRoutes:
		r.mu.Unlock()
		r.stats.skipped.Add(1)
		r.warn("overload", "mango: too many calls routing at once; the PBX's scheme routes this one",
			slog.Int("max_pending", MaxPendingRoutes))
		return
	}
	r.remember(leg, now)
	r.pending++
	r.wg.Add(1)
	r.mu.Unlock()
	go r.run(router, n, leg, deadline)
}

// remember marks leg as routed; r.mu is held.
func (r *routing) remember(leg string, now time.Time) {
	if len(r.routed) >= maxRoutedLegs {
		for k, t := range r.routed {
			if now.Sub(t) > routedMemory {
				delete(r.routed, k)
			}
		}
		if len(r.routed) >= maxRoutedLegs {
			// Beyond the bound within routedMemory: forget all. A
			// redelivery older than that could be routed again, and would
			// meet 4101 (call gone) or a leg already out of the IVR.
			clear(r.routed)
		}
	}
	r.routed[leg] = now
}

func (r *routing) run(router pbx.Router, n *CallNotification, leg string, deadline time.Time) {
	defer func() {
		r.mu.Lock()
		r.pending--
		r.mu.Unlock()
		r.wg.Done()
	}()
	ctx := r.ctx
	log := r.c.log
	r.stats.asked.Add(1)
	route, err := provider.AskRouter(ctx, router, n.RouteQuery(), time.Until(deadline))
	if err != nil {
		if ctx.Err() != nil {
			r.stats.skipped.Add(1)
			return
		}
		r.stats.routerFailed.Add(1)
		log.LogAttrs(ctx, slog.LevelDebug, "mango: router gave no route; the PBX's scheme routes the call",
			slog.String("call_id", str(n.EntryID)), slog.String("error", err.Error()))
		return
	}
	to := strings.TrimSpace(route.Extension)
	if to == "" {
		r.stats.noDecision.Add(1)
		return
	}
	cmd := RouteCommand{CallID: leg, ToNumber: to, DisplayName: route.DisplayName}
	payload, err := routePayload(&cmd)
	if err == nil {
		var b []byte
		if b, err = json.Marshal(payload); err == nil {
			r.send(ctx, n, cmd, b, deadline)
			return
		}
	}
	r.stats.sendFailed.Add(1)
}

// send takes a slot of the route limit that starts before deadline and
// sends the command once.
func (r *routing) send(ctx context.Context, n *CallNotification, cmd RouteCommand, payload []byte, deadline time.Time) {
	err := r.c.sendRoute(ctx, payload, time.Until(deadline))
	var le *limitError
	if errors.As(err, &le) {
		r.stats.rateLimited.Add(1)
		r.warn("rate limit", "mango: route decision dropped: Mango takes one route command per RouteInterval per PBX and no slot came before RouteTimeout; the PBX's scheme routes the call",
			slog.String("call_id", str(n.EntryID)), slog.Duration("route_interval", r.c.cfg.RouteInterval), slog.Duration("next_slot_in", le.wait))
		return
	}
	if err != nil {
		if ctx.Err() != nil {
			r.stats.skipped.Add(1)
			return
		}
		r.stats.sendFailed.Add(1)
		r.warn("send failed", "mango: route command failed; the PBX's scheme routes the call",
			slog.String("call_id", str(n.EntryID)), slog.String("to", cmd.ToNumber), slog.String("error", err.Error()))
		return
	}
	r.stats.sent.Add(1)
	r.c.log.LogAttrs(ctx, slog.LevelDebug, "mango: call routed",
		slog.String("call_id", str(n.EntryID)), slog.String("to", cmd.ToNumber), slog.String("command_id", cmd.CommandID))
}

// routeGate is the route limit (Config.RouteInterval). Mango counts the
// route commands it receives, one every 2 s per PBX; spacing the starts of
// the requests is not enough, as a request delayed on its way (by the
// first request's TLS handshake, say) arrives closer to the next than it
// was sent. So one command is in flight at a time, and the next starts
// RouteInterval after the previous one's answer, which came after Mango
// received it.
type routeGate struct {
	every time.Duration // 0: no limit
	turn  chan struct{} // holds a token while a command is on its way
	// next is the earliest start of the next command; only the holder of
	// the turn reads or writes it.
	next time.Time
}

func newRouteGate(every time.Duration) *routeGate {
	return &routeGate{every: every, turn: make(chan struct{}, 1)}
}

// sendRoute sends one commands/route with payload, once: it waits for the
// route limit, at most maxWait (a *limitError beyond) and while ctx lasts,
// then for the limit every request counts against, sends, and reads the
// answer.
func (c *Client) sendRoute(ctx context.Context, payload []byte, maxWait time.Duration) error {
	g := c.routes
	start := time.Now()
	if g.every > 0 {
		t := time.NewTimer(max(maxWait, 0))
		select {
		case g.turn <- struct{}{}:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
			return &limitError{op: OpRoute, wait: maxWait, busy: true}
		}
		defer func() { <-g.turn }()
		wait := time.Until(g.next)
		if wait > maxWait-time.Since(start) {
			return &limitError{op: OpRoute, wait: wait}
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
	if err := c.lim.wait(ctx, OpRoute, max(maxWait-time.Since(start), time.Nanosecond)); err != nil {
		return err
	}
	if g.every > 0 {
		// The command may reach Mango from here: the next one starts
		// every after its answer (this runs before the turn is given
		// back).
		defer func() { g.next = time.Now().Add(g.every) }()
	}
	resp, err := c.sendNow(ctx, OpRoute, provider.PolicyAction, payload, false)
	if err != nil {
		return err
	}
	return c.answer(OpRoute, resp, &commandAnswer{})
}

// warn writes a Warn line for reason at most once a minute, with the count
// of the occurrences it stands for, to Config.Logger or slog.Default().
func (r *routing) warn(reason, msg string, attrs ...slog.Attr) {
	now := r.now()
	r.mu.Lock()
	w := r.warns[reason]
	if w == nil {
		w = &warnState{}
		r.warns[reason] = w
	} else if now.Sub(w.last) < warnEvery {
		w.suppressed++
		r.mu.Unlock()
		return
	}
	count := w.suppressed + 1
	w.last, w.suppressed = now, 0
	r.mu.Unlock()
	logger := r.c.cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.LogAttrs(context.Background(), slog.LevelWarn, msg, append(attrs, slog.Int("count", count))...)
}

// close cancels the routing in progress, waits for it, and stops new
// routing.
func (r *routing) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
}
