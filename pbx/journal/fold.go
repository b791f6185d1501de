package journal

import (
	"cmp"
	"slices"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
)

// Fold computes a call from the set of all its entries (see the package doc
// for the rules). It is the [FoldFunc] the journal gives its store, and a
// pure function: it depends on the entries, never on their order or on the
// clock, and it does not modify them. Entries of other calls must not be
// mixed in; the first entry's Provider and CallID name the call. An empty
// set gives a zero Call.
func Fold(entries []Entry) Call {
	if len(entries) == 0 {
		return Call{}
	}
	es := make([]*Entry, len(entries))
	for i := range entries {
		es[i] = &entries[i]
	}
	slices.SortFunc(es, compareEntries)

	f := folder{c: Call{Provider: entries[0].Event.Provider, CallID: entries[0].Event.CallID}}
	f.c.FirstSeq, f.c.LastSeq = entries[0].Seq, entries[0].Seq
	for _, e := range es {
		f.add(e)
	}
	return f.finish()
}

// typeRank orders events of equal time as they happen in a call.
func typeRank(t pbx.EventType) int {
	switch t {
	case pbx.EventCallStarted:
		return 0
	case pbx.EventRinging:
		return 1
	case pbx.EventAnswered:
		return 2
	case pbx.EventTransferred:
		return 3
	case pbx.EventLegEnded:
		return 4
	case pbx.EventCallEnded:
		return 5
	}
	return 6
}

// entryTime is the event's time, else the time it was received.
func entryTime(e *Entry) time.Time {
	if !e.Event.At.IsZero() {
		return e.Event.At
	}
	return e.ReceivedAt
}

// compareEntries is the canonical order of a call's entries: by event time,
// then by type (start before ringing before answer ... before end), then by
// source, then by DedupeKey, which is unique within a provider. Seq and the
// receive time only break ties that cannot occur between stored entries.
func compareEntries(a, b *Entry) int {
	if c := entryTime(a).Compare(entryTime(b)); c != 0 {
		return c
	}
	if c := cmp.Compare(typeRank(a.Event.Type), typeRank(b.Event.Type)); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Source, b.Source); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Event.DedupeKey, b.Event.DedupeKey); c != 0 {
		return c
	}
	if c := a.ReceivedAt.Compare(b.ReceivedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.Seq, b.Seq)
}

// legAcc accumulates one extension's leg.
type legAcc struct {
	ext       string
	firstSeen time.Time
	rangAt    time.Time
	// direct: an answered event or an answered leg_ended named this
	// extension.
	direct     bool
	answeredAt time.Time
	endedAt    time.Time // latest leg_ended
	// byTerminal: a terminal entry with an answered outcome named this
	// extension (used only when no leg has direct evidence).
	byTerminal   bool
	terminalAnsw time.Time
}

type folder struct {
	c    Call
	legs []*legAcc

	// First non-empty values from provider events, and from history.
	dir, histDir       pbx.Direction
	phone, histPhone   string
	line, histLine     string
	started            time.Time
	lastEvent, lastRcv time.Time

	// Answer evidence that names no extension, and answer times given by
	// terminal entries.
	anonAnswer                                   bool
	anonAnsweredAt, evAnsweredAt, histAnsweredAt time.Time

	// Provider call_ended entries (the latest known values win).
	evEnded        bool
	evOutcome      pbx.Outcome
	evEndedAt      time.Time
	evTalk, evCall time.Duration
	evAnswerHint   bool
	// History entries (answered wins; the longest durations win).
	hist               bool
	histOutcome        pbx.Outcome
	histAnswered       bool
	histEndedAt        time.Time
	histTalk, histCall time.Duration
	// Timeout entries.
	timeout bool

	recordingURL string
	hasRecording bool

	calledBackAt time.Time
	calledBackBy string

	// holds are the provider's held and resumed events.
	holds []holdMark
}

// holdMark is one held or resumed event.
type holdMark struct {
	ext    string
	at     time.Time
	resume bool
}

func (f *folder) leg(ext string, at time.Time) *legAcc {
	for _, l := range f.legs {
		if l.ext == ext {
			if !at.IsZero() && (l.firstSeen.IsZero() || at.Before(l.firstSeen)) {
				l.firstSeen = at
			}
			return l
		}
	}
	l := &legAcc{ext: ext, firstSeen: at}
	f.legs = append(f.legs, l)
	return l
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.After(a)) {
		return b
	}
	return a
}

// add takes one entry, in canonical order.
func (f *folder) add(e *Entry) {
	ev := &e.Event
	f.c.FirstSeq = min(f.c.FirstSeq, e.Seq)
	f.c.LastSeq = max(f.c.LastSeq, e.Seq)
	f.lastRcv = maxTime(f.lastRcv, e.ReceivedAt)
	at := entryTime(e)

	switch e.Source {
	case SourceTimeout:
		f.timeout = true
		return
	case SourceCallback:
		if f.calledBackAt.IsZero() {
			// Canonical order is by time: the first is the earliest.
			f.calledBackAt, f.calledBackBy = at, ev.Extension
		}
		return
	case SourceHistory:
		f.addHistory(ev, at)
		return
	}

	// A provider event.
	f.lastEvent = maxTime(f.lastEvent, at)
	if f.dir == pbx.DirectionUnknown {
		f.dir = ev.Direction
	}
	if f.phone == "" {
		f.phone = ev.Phone
	}
	if f.line == "" {
		f.line = ev.Line
	}
	f.started = minTime(f.started, ev.StartedAt)
	f.started = minTime(f.started, at)
	if ev.RecordingURL != "" {
		f.recordingURL = ev.RecordingURL
	}
	f.hasRecording = f.hasRecording || ev.HasRecording || ev.RecordingURL != ""

	switch ev.Type {
	case pbx.EventCallStarted, pbx.EventTransferred:
		if ev.Extension != "" {
			f.leg(ev.Extension, at)
		}
	case pbx.EventRinging:
		if ev.Extension != "" {
			l := f.leg(ev.Extension, at)
			l.rangAt = minTime(l.rangAt, at)
		}
	case pbx.EventAnswered:
		t := ev.AnsweredAt
		if t.IsZero() {
			t = at
		}
		if ev.Extension == "" {
			f.anonAnswer = true
			f.anonAnsweredAt = minTime(f.anonAnsweredAt, t)
			break
		}
		l := f.leg(ev.Extension, at)
		l.direct = true
		l.answeredAt = minTime(l.answeredAt, t)
	case pbx.EventLegEnded:
		if ev.Extension == "" {
			break
		}
		l := f.leg(ev.Extension, at)
		end := ev.EndedAt
		if end.IsZero() {
			end = at
		}
		l.endedAt = maxTime(l.endedAt, end)
		// A leg that reports its own answer (Sipuni event 4 with status
		// ANSWER) answered.
		if ev.Outcome == pbx.OutcomeAnswered || (!ev.AnsweredAt.IsZero() && ev.Outcome == pbx.OutcomeUnknown) {
			l.direct = true
			l.answeredAt = minTime(l.answeredAt, ev.AnsweredAt)
		}
	case pbx.EventHeld, pbx.EventResumed:
		f.holds = append(f.holds, holdMark{ext: ev.Extension, at: at, resume: ev.Type == pbx.EventResumed})
	case pbx.EventCallEnded:
		f.evEnded = true
		if ev.Outcome != pbx.OutcomeUnknown {
			f.evOutcome = ev.Outcome // canonical order: the latest wins
		}
		end := ev.EndedAt
		if end.IsZero() {
			end = at
		}
		f.evEndedAt = maxTime(f.evEndedAt, end)
		if ev.TalkDuration > 0 {
			f.evTalk = ev.TalkDuration
		}
		if ev.CallDuration > 0 {
			f.evCall = ev.CallDuration
		}
		answered := ev.Outcome == pbx.OutcomeAnswered ||
			(ev.Outcome == pbx.OutcomeUnknown && (ev.TalkDuration > 0 || !ev.AnsweredAt.IsZero()))
		if answered {
			f.evAnswerHint = true
			f.evAnsweredAt = minTime(f.evAnsweredAt, ev.AnsweredAt)
		}
		if ev.Extension != "" {
			l := f.leg(ev.Extension, at)
			if answered {
				l.byTerminal = true
				l.terminalAnsw = minTime(l.terminalAnsw, ev.AnsweredAt)
			}
		}
	}
}

// addHistory takes an entry built from a row of the PBX's call log. A call
// may have several rows (one per leg in some exports): any row saying
// answered makes it answered, and the longest durations win, so the result
// does not depend on the rows' order.
func (f *folder) addHistory(ev *pbx.CallEvent, at time.Time) {
	f.hist = true
	if f.histDir == pbx.DirectionUnknown {
		f.histDir = ev.Direction
	}
	if f.histPhone == "" {
		f.histPhone = ev.Phone
	}
	if f.histLine == "" {
		f.histLine = ev.Line
	}
	f.started = minTime(f.started, ev.StartedAt)
	if ev.StartedAt.IsZero() {
		f.started = minTime(f.started, at)
	}
	f.lastEvent = maxTime(f.lastEvent, at)
	f.hasRecording = f.hasRecording || ev.HasRecording || ev.RecordingURL != ""
	answered := ev.Outcome == pbx.OutcomeAnswered || (ev.Outcome == pbx.OutcomeUnknown && ev.TalkDuration > 0)
	switch {
	case answered:
		f.histAnswered = true
		f.histOutcome = pbx.OutcomeAnswered
		f.histAnsweredAt = minTime(f.histAnsweredAt, ev.AnsweredAt)
	case ev.Outcome != pbx.OutcomeUnknown && !f.histAnswered:
		f.histOutcome = ev.Outcome // canonical order: the latest wins
	}
	f.histEndedAt = maxTime(f.histEndedAt, ev.EndedAt)
	f.histTalk = max(f.histTalk, ev.TalkDuration)
	f.histCall = max(f.histCall, ev.CallDuration)
	if ev.Extension != "" {
		l := f.leg(ev.Extension, ev.StartedAt)
		if answered {
			l.byTerminal = true
			l.terminalAnsw = minTime(l.terminalAnsw, ev.AnsweredAt)
		}
	}
}

func (f *folder) finish() Call {
	c := &f.c

	c.Direction = f.dir
	if c.Direction == pbx.DirectionUnknown {
		c.Direction = f.histDir
	}
	c.Phone = cmp.Or(f.phone, f.histPhone)
	c.Line = cmp.Or(f.line, f.histLine)
	c.StartedAt = f.started
	if c.StartedAt.IsZero() {
		c.StartedAt = f.lastRcv
	}
	c.LastEventAt = f.lastEvent
	if c.LastEventAt.IsZero() {
		c.LastEventAt = f.lastRcv
	}
	c.RecordingURL = f.recordingURL
	c.HasRecording = f.hasRecording

	switch {
	case f.evEnded:
		c.ClosedBy = ClosedByEvent
	case f.hist:
		c.ClosedBy = ClosedByHistory
	case f.timeout:
		c.ClosedBy = ClosedByTimeout
	}

	// Which legs answered: direct evidence; else what a terminal entry
	// with an answered outcome names.
	anyDirect := false
	for _, l := range f.legs {
		anyDirect = anyDirect || l.direct
	}
	answeredLegs := 0
	for _, l := range f.legs {
		if l.direct || (!anyDirect && l.byTerminal) {
			answeredLegs++
		}
	}
	evidence := answeredLegs > 0 || f.anonAnswer || f.evAnswerHint || f.histAnswered

	switch {
	case f.histOutcome != pbx.OutcomeUnknown:
		c.Outcome = f.histOutcome
	case f.evOutcome != pbx.OutcomeUnknown:
		c.Outcome = f.evOutcome
	case evidence:
		c.Outcome = pbx.OutcomeAnswered
	case c.ClosedBy == ClosedByEvent || c.ClosedBy == ClosedByHistory:
		c.Outcome = pbx.OutcomeMissed
	}
	answered := c.Outcome == pbx.OutcomeAnswered

	switch c.ClosedBy {
	case ClosedByEvent:
		c.EndedAt = f.evEndedAt
	case ClosedByHistory:
		c.EndedAt = f.histEndedAt
	}

	// Legs, in the order they joined.
	slices.SortStableFunc(f.legs, func(a, b *legAcc) int {
		if c := compareZeroLast(a.firstSeen, b.firstSeen); c != 0 {
			return c
		}
		return cmp.Compare(a.ext, b.ext)
	})
	if len(f.legs) > 0 {
		c.Legs = make([]Leg, len(f.legs))
	}
	var firstAnswer time.Time
	for i, l := range f.legs {
		leg := Leg{Extension: l.ext, RangAt: l.rangAt}
		switch {
		case l.direct:
			leg.Answered, leg.AnsweredAt = true, l.answeredAt
		case !anyDirect && l.byTerminal:
			leg.Answered, leg.AnsweredAt = true, l.terminalAnsw
		}
		leg.EndedAt = l.endedAt
		if leg.EndedAt.IsZero() || (!leg.AnsweredAt.IsZero() && leg.EndedAt.Before(leg.AnsweredAt)) {
			leg.EndedAt = c.EndedAt
		}
		c.Legs[i] = leg
		if answered && leg.Answered {
			if c.AnsweredBy == "" || (!leg.AnsweredAt.IsZero() && (firstAnswer.IsZero() || leg.AnsweredAt.Before(firstAnswer))) {
				c.AnsweredBy, firstAnswer = leg.Extension, leg.AnsweredAt
			}
		}
	}

	if answered {
		// The answer time from provider events first, else from history.
		t := minTime(firstAnswer, f.anonAnsweredAt)
		t = minTime(t, f.evAnsweredAt)
		if t.IsZero() {
			t = f.histAnsweredAt
		}
		c.AnsweredAt = t
		switch {
		case f.histTalk > 0:
			c.TalkDuration = f.histTalk
		case f.evTalk > 0:
			c.TalkDuration = f.evTalk
		case !c.AnsweredAt.IsZero() && c.EndedAt.After(c.AnsweredAt):
			c.TalkDuration = c.EndedAt.Sub(c.AnsweredAt)
		}
	}
	if c.ClosedBy == ClosedByEvent || c.ClosedBy == ClosedByHistory {
		switch {
		case f.histCall > 0:
			c.CallDuration = f.histCall
		case f.evCall > 0:
			c.CallDuration = f.evCall
		case !c.EndedAt.IsZero() && c.EndedAt.After(c.StartedAt):
			c.CallDuration = c.EndedAt.Sub(c.StartedAt)
		}
	}

	c.HoldDuration = holdTotal(f.holds, c.EndedAt)

	c.Missed = c.Direction == pbx.Inbound &&
		(c.ClosedBy == ClosedByEvent || c.ClosedBy == ClosedByHistory) &&
		c.Outcome != pbx.OutcomeAnswered && c.Outcome != pbx.OutcomeUnknown
	if c.Missed {
		c.CalledBackAt, c.CalledBackBy = f.calledBackAt, f.calledBackBy
	}
	return *c
}

// compareZeroLast compares times with the zero time after every other.
func compareZeroLast(a, b time.Time) int {
	switch {
	case a.IsZero() && b.IsZero():
		return 0
	case a.IsZero():
		return 1
	case b.IsZero():
		return -1
	}
	return a.Compare(b)
}

// holdTotal is the time on hold: per extension, each held event opens a
// hold (a second one while held changes nothing) and the next resumed
// event closes it (a resumed event with no open hold is ignored); a hold
// still open closes at end, when the call has ended. Overlapping holds of
// different extensions count once. It depends on the set of marks, not on
// their order: equal times put held before resumed, so a hold and its end
// within the same second (vendors send whole seconds) make no open hold.
func holdTotal(marks []holdMark, end time.Time) time.Duration {
	if len(marks) == 0 {
		return 0
	}
	ms := slices.Clone(marks)
	slices.SortFunc(ms, func(a, b holdMark) int {
		if c := cmp.Compare(a.ext, b.ext); c != 0 {
			return c
		}
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		switch {
		case a.resume == b.resume:
			return 0
		case a.resume:
			return 1
		}
		return -1
	})
	type interval struct{ from, to time.Time }
	var ivs []interval
	var open time.Time
	for i, m := range ms {
		switch {
		case !m.resume && open.IsZero():
			open = m.at
		case m.resume && !open.IsZero():
			if m.at.After(open) {
				ivs = append(ivs, interval{open, m.at})
			}
			open = time.Time{}
		}
		if last := i == len(ms)-1 || ms[i+1].ext != m.ext; last {
			if !open.IsZero() && end.After(open) {
				ivs = append(ivs, interval{open, end})
			}
			open = time.Time{}
		}
	}
	slices.SortFunc(ivs, func(a, b interval) int { return a.from.Compare(b.from) })
	var total time.Duration
	var cur interval
	for i, iv := range ivs {
		switch {
		case i == 0:
			cur = iv
		case !iv.from.After(cur.to):
			cur.to = maxTime(cur.to, iv.to)
		default:
			total += cur.to.Sub(cur.from)
			cur = iv
		}
	}
	if len(ivs) > 0 {
		total += cur.to.Sub(cur.from)
	}
	return total
}
