package screenpop

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
)

// frame is one card and its SSE lines (event and data, without the id and
// the blank line), encoded once for every stream, when first needed: a
// card no connected stream shows (an answered card while every stream pops
// on the ring) is kept for reconnects but never encoded unless one asks.
type frame struct {
	card Card
	once sync.Once
	data []byte
}

// batch is the cards one journal entry caused, sorted by extension.
type batch struct {
	seq    int64
	frames []*frame
}

// bytes returns the frame's SSE lines, encoding them on first use.
func (f *frame) bytes() []byte {
	f.once.Do(func() {
		js, err := json.Marshal(f.card)
		if err != nil {
			// Card holds only strings, times and numbers: this cannot
			// happen, short of a time outside year 0..9999, which the
			// journal drops on the way in.
			js = []byte(`{}`)
		}
		b := make([]byte, 0, len(js)+len(f.card.Kind)+16)
		b = append(b, "event: "...)
		b = append(b, f.card.Kind...)
		b = append(b, "\ndata: "...)
		b = append(b, js...)
		b = append(b, '\n')
		f.data = b
	})
	return f.data
}

// mayConcern reports whether entry e can cause a card for extension only
// ("" for any): cards come from entries that name the extension (ringing,
// answered) and from call_ended entries (ended, missed). It lets a replay
// skip reading the calls of unrelated entries.
func mayConcern(e *journal.Entry, only string) bool {
	if e.Event.CallID == "" {
		return false
	}
	if e.Event.Type == pbx.EventCallEnded {
		return true
	}
	if e.Event.Extension == "" || e.Source != journal.SourceEvent {
		return false
	}
	return only == "" || e.Event.Extension == only
}

// pendingCard is a card before the lookup: its target and kind.
type pendingCard struct {
	ext, kind string
}

// derive returns the cards entry e causes, for every extension (only ""),
// or only for extension only. The cards depend on the journal entries up to
// e.Seq (the call as it was folded then, and as it was just before), never
// on later ones, so a replay gives the cards live streams got; only the
// lookup's answer may differ. entries are the call's entries (at least
// those up to e.Seq), or nil to read them from the journal. An error is a
// store error: the cards could not be computed.
func (h *Hub) derive(ctx context.Context, e journal.Entry, entries []journal.Entry, only string) (*batch, error) {
	b := &batch{seq: e.Seq}
	if !mayConcern(&e, only) {
		return b, nil
	}
	if entries == nil {
		var err error
		if entries, err = h.j.CallEntries(ctx, e.Event.Provider, e.Event.CallID); err != nil {
			return nil, err
		}
	}
	var upto, beforeEs []journal.Entry
	for _, x := range entries {
		if x.Seq <= e.Seq {
			upto = append(upto, x)
			if x.Seq < e.Seq {
				beforeEs = append(beforeEs, x)
			}
		}
	}
	after := journal.Fold(upto)
	before := journal.Fold(beforeEs)

	pend := transitions(&e, &before, &after)
	hasMissed := slices.ContainsFunc(pend, func(p pendingCard) bool { return p.kind == KindMissed })
	if only != "" && !hasMissed && !slices.ContainsFunc(pend, func(p pendingCard) bool { return p.ext == only }) {
		return b, nil
	}
	if len(pend) == 0 {
		return b, nil
	}

	info := h.about(ctx, &after)
	var cards []Card
	seen := map[pendingCard]bool{}
	add := func(p pendingCard) {
		if p.ext == "" || seen[p] || (only != "" && p.ext != only) {
			return
		}
		seen[p] = true
		c := Card{
			Seq: e.Seq, Kind: p.kind, CallID: after.CallID, Provider: after.Provider,
			Direction: after.Direction, Phone: after.Phone, Line: after.Line, Extension: p.ext,
			Contact: info.name, Responsible: info.responsible, At: e.Event.At,
			RecentCalls: info.recent,
		}
		if p.kind == KindEnded || p.kind == KindMissed {
			c.Outcome, c.TalkDuration = after.Outcome, after.TalkDuration
			if p.kind == KindEnded && !after.EndedAt.IsZero() {
				c.At = after.EndedAt
			}
		}
		cards = append(cards, c)
	}
	for _, p := range pend {
		if p.kind != KindMissed {
			add(p)
			continue
		}
		// A missed call goes to the client's responsible manager, else to
		// the designated person, else to the phones that rang.
		switch {
		case info.responsible != "":
			add(pendingCard{info.responsible, KindMissed})
		case h.cfg.MissedTo != "":
			add(pendingCard{h.cfg.MissedTo, KindMissed})
		default:
			for _, l := range after.Legs {
				add(pendingCard{l.Extension, KindMissed})
			}
		}
	}
	slices.SortStableFunc(cards, func(a, b Card) int { return strings.Compare(a.Extension, b.Extension) })
	b.frames = make([]*frame, len(cards))
	for i, c := range cards {
		b.frames[i] = &frame{card: c}
		if only != "" || h.shown(&b.frames[i].card) {
			b.frames[i].bytes() // here, in parallel, rather than in the fan-out
		}
	}
	return b, nil
}

// transitions lists the cards (target and kind, missed without a target)
// that entry e causes, given the call just before it and with it.
func transitions(e *journal.Entry, before, after *journal.Call) []pendingCard {
	var out []pendingCard
	ext := e.Event.Extension
	if e.Source == journal.SourceEvent && ext != "" {
		switch e.Event.Type {
		case pbx.EventCallStarted, pbx.EventRinging:
			// The first event that brings the extension into a call still
			// going on: its phone rings (incoming) or its call starts
			// (outgoing).
			if after.ClosedBy == journal.CallOpen && findLeg(before, ext) == nil && findLeg(after, ext) != nil {
				out = append(out, pendingCard{ext, KindRinging})
			}
		}
		if l := findLeg(after, ext); l != nil && l.Answered {
			if p := findLeg(before, ext); p == nil || !p.Answered {
				out = append(out, pendingCard{ext, KindAnswered})
			}
		}
	}
	if e.Event.Type != pbx.EventCallEnded {
		return out
	}
	if e.Source == journal.SourceEvent && before.ClosedBy == journal.CallOpen && after.ClosedBy == journal.ClosedByEvent {
		// The end of the conversation: for the phones that took it, and
		// for the employee who placed an outgoing call (answered or not).
		// An unanswered incoming call gets a missed card instead.
		for _, l := range after.Legs {
			if l.Answered || after.Direction == pbx.Outbound {
				out = append(out, pendingCard{l.Extension, KindEnded})
			}
		}
	}
	if (e.Source == journal.SourceEvent || e.Source == journal.SourceHistory) &&
		!before.Missed && after.Missed && after.CalledBackAt.IsZero() {
		out = append(out, pendingCard{"", KindMissed})
	}
	return out
}

func findLeg(c *journal.Call, ext string) *journal.Leg {
	for i := range c.Legs {
		if c.Legs[i].Extension == ext {
			return &c.Legs[i]
		}
	}
	return nil
}

// callInfo is what a card says about the client.
type callInfo struct {
	name, responsible string
	recent            []journal.Call
}

// about asks the lookup and the journal about c's number, both at once
// and each under the lookup timeout: what is not known by then is left
// out, so the card is never late.
func (h *Hub) about(ctx context.Context, c *journal.Call) callInfo {
	var info callInfo
	if c.Phone == "" {
		return info
	}
	// The cards of one call (ringing, answered, ended) share the answer.
	key := c.Provider + "\x00" + c.CallID
	now := time.Now()
	h.cacheMu.Lock()
	r, ok := h.abouts[key]
	h.cacheMu.Unlock()
	if ok && now.Sub(r.at) < lookupTTL {
		return r.info
	}
	answered := true
	defer func() {
		if !answered {
			return // ask again for the next card
		}
		h.cacheMu.Lock()
		defer h.cacheMu.Unlock()
		if len(h.abouts) >= lookupCacheMax {
			clear(h.abouts)
		}
		h.abouts[key] = aboutResult{info: info, at: now}
	}()
	ctx, cancel := context.WithTimeout(ctx, h.cfg.LookupTimeout)
	defer cancel()
	var wg sync.WaitGroup
	if h.cfg.RecentCalls > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			info.recent = h.recent(ctx, c)
		}()
	}
	info.name, info.responsible, answered = h.lookup(ctx, c.Phone)
	wg.Wait()
	return info
}

// recent returns the latest calls with c's number that started before c.
func (h *Hub) recent(ctx context.Context, c *journal.Call) []journal.Call {
	var out []journal.Call
	q := journal.Query{Phone: c.Phone, To: c.StartedAt, Limit: h.cfg.RecentCalls + 1}
	for rc, err := range h.j.Calls(ctx, q) {
		if err != nil {
			return out // what came in time
		}
		if rc.Provider == c.Provider && rc.CallID == c.CallID {
			continue
		}
		// The card needs the outline: not the legs' detail, nor the
		// recording link (a vendor's link may carry a signature that
		// lets anyone holding it download the recording).
		rc.Legs, rc.RecordingURL = nil, ""
		out = append(out, rc)
		if len(out) == h.cfg.RecentCalls {
			break
		}
	}
	return out
}

// aboutResult is what the cards of one call said about the client.
type aboutResult struct {
	info callInfo
	at   time.Time
}

// lookupResult is one answer of Config.Lookup.
type lookupResult struct {
	name, responsible string
	at                time.Time
}

// lookupTTL is how long an answer of Config.Lookup is reused: the cards of
// one call (ringing, answered, ended) ask once.
const lookupTTL = 30 * time.Second

// lookupCacheMax bounds the cache; when full it is emptied.
const lookupCacheMax = 10000

// lookup asks Config.Lookup about number under ctx's deadline without ever
// waiting past it, even for a lookup that ignores its context. A failed
// or late lookup gives empty strings and ok false.
func (h *Hub) lookup(ctx context.Context, number string) (name, responsible string, ok bool) {
	if h.cfg.Lookup == nil {
		return "", "", true
	}
	now := time.Now()
	h.cacheMu.Lock()
	r, cached := h.cache[number]
	h.cacheMu.Unlock()
	if cached && now.Sub(r.at) < lookupTTL {
		return r.name, r.responsible, true
	}
	ch := make(chan lookupResult, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				h.log.Warn("screenpop: lookup panicked", "panic", p)
				ch <- lookupResult{}
			}
		}()
		n, resp, err := h.cfg.Lookup(ctx, number)
		if err != nil {
			h.log.Debug("screenpop: lookup failed", "err", err)
			ch <- lookupResult{}
			return
		}
		ch <- lookupResult{name: n, responsible: resp, at: time.Now()}
	}()
	select {
	case r := <-ch:
		if !r.at.IsZero() {
			h.cacheMu.Lock()
			if len(h.cache) >= lookupCacheMax {
				clear(h.cache)
			}
			h.cache[number] = r
			h.cacheMu.Unlock()
		}
		return r.name, r.responsible, !r.at.IsZero()
	case <-ctx.Done():
		h.log.Debug("screenpop: lookup too slow; card sent without a name", "timeout", h.cfg.LookupTimeout)
		return "", "", false
	}
}

// snapshot returns the cards of ext's calls still open at Seq pos (as the
// journal folded them then), for a fresh connection: ringing, or answered
// when its phone answered; the moments choose which it shows.
func (h *Hub) snapshot(ctx context.Context, ext string, pos int64, mo moments) ([]*frame, error) {
	var open []journal.Call
	now := time.Now()
	q := journal.Query{Extension: ext, Open: true, From: now.Add(-snapshotWindow), Limit: maxSnapshot}
	for c, err := range h.j.Calls(ctx, q) {
		if err != nil {
			return nil, err
		}
		// A call quiet for long is one whose end the PBX never sent (until
		// CloseIdle closes it), not a call going on.
		if c.FirstSeq <= pos && now.Sub(c.LastEventAt) < snapshotQuiet {
			open = append(open, c)
		}
	}
	frames := make([]*frame, len(open))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := range open {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := h.snapshotCard(ctx, open[i], ext, pos, mo)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			frames[i] = f
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	// Oldest call first, as they happened.
	slices.Reverse(frames)
	return slices.DeleteFunc(frames, func(f *frame) bool { return f == nil }), nil
}

// The open calls a fresh connection is shown: at most maxSnapshot, started
// within snapshotWindow, with an event within snapshotQuiet.
const (
	maxSnapshot    = 50
	snapshotWindow = 12 * time.Hour
	snapshotQuiet  = time.Hour
)

func (h *Hub) snapshotCard(ctx context.Context, c journal.Call, ext string, pos int64, mo moments) (*frame, error) {
	entries, err := h.j.CallEntries(ctx, c.Provider, c.CallID)
	if err != nil {
		return nil, err
	}
	entries = slices.DeleteFunc(entries, func(e journal.Entry) bool { return e.Seq > pos })
	if len(entries) == 0 {
		return nil, nil
	}
	call := journal.Fold(entries)
	l := findLeg(&call, ext)
	if call.ClosedBy != journal.CallOpen || l == nil || !l.EndedAt.IsZero() {
		return nil, nil
	}
	card := Card{
		Seq: call.LastSeq, Kind: KindRinging, CallID: call.CallID, Provider: call.Provider,
		Direction: call.Direction, Phone: call.Phone, Line: call.Line, Extension: ext,
		At: call.StartedAt,
	}
	if !l.RangAt.IsZero() {
		card.At = l.RangAt
	}
	if l.Answered {
		card.Kind, card.At = KindAnswered, l.AnsweredAt
		if card.At.IsZero() {
			card.At = call.AnsweredAt
		}
	}
	// A call already answered is shown to a stream that pops cards on the
	// ring too: it would have had the card, had it been connected.
	m := mo.in
	if call.Direction == pbx.Outbound {
		m = mo.out
	}
	if m == Never || m == OnEnd || (m == OnAnswer && card.Kind != KindAnswered) {
		return nil, nil
	}
	info := h.about(ctx, &call)
	card.Contact, card.Responsible, card.RecentCalls = info.name, info.responsible, info.recent
	return &frame{card: card}, nil
}

// positionFrame is the SSE block that moves the client's position to seq
// without a card: the id, and a position event whose data is the Seq, so a
// page that keeps its place across reloads can read it.
func positionFrame(seq int64) []byte {
	s := strconv.FormatInt(seq, 10)
	return []byte("event: position\nid: " + s + "\ndata: {\"seq\":" + s + "}\n\n")
}
