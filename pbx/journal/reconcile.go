package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pbxkit/pbxkit/pbx"
)

// ReconcileReport says what [Journal.Reconcile] did.
type ReconcileReport struct {
	// Read is the number of history rows read.
	Read int `json:"read"`
	// Added is the number of calls the journal did not know, now added
	// (ClosedByHistory).
	Added int `json:"added"`
	// Updated is the number of rows that corrected a known call.
	Updated int `json:"updated"`
	// Skipped is the number of rows without a call id, which cannot be
	// matched to a call.
	Skipped int `json:"skipped"`
}

// Reconcile catches the journal up with the PBX's call log for the period
// of q: the calls it never saw (because the receiver was down, or the PBX
// gave up redelivering) are added, closed by history; the calls it knows
// are corrected where the log knows better: a known outcome that differs,
// a talk time that differs by a second or more, a call still open or
// closed by timeout (which becomes [ClosedByHistory]). Every addition or
// correction is a call_ended entry built from the row, with Source
// [SourceHistory] and a DedupeKey derived from the row, written through the
// log, so that readers of the log see it and a second identical run
// appends nothing.
//
// p must implement [pbx.HistoryExporter]; otherwise the error matches
// pbx.ErrNotSupported. A provider without a history export (Prostie
// Zvonki) cannot be caught up: calls missed while the receiver was down
// stay unknown. Calls are keyed by p.Name(). An error ends the run; what
// was appended before it stays, and running again completes it.
func (j *Journal) Reconcile(ctx context.Context, p pbx.Provider, q pbx.HistoryQuery) (ReconcileReport, error) {
	var rep ReconcileReport
	name := p.Name()
	he, ok := p.(pbx.HistoryExporter)
	if !ok {
		return rep, fmt.Errorf("journal: reconcile %s: %w", name, pbx.ErrNotSupported)
	}
	for rec, err := range he.History(ctx, q) {
		if err != nil {
			return rep, fmt.Errorf("journal: reconcile %s: read history: %w", name, err)
		}
		rep.Read++
		if rec.CallID == "" {
			rep.Skipped++
			continue
		}
		c, err := j.store.Call(ctx, name, rec.CallID)
		known := err == nil
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return rep, fmt.Errorf("journal: reconcile %s: read call %s: %w", name, rec.CallID, err)
		case !needsCorrection(c, rec):
			continue
		}
		e := j.historyEntry(name, rec)
		_, appended, err := j.store.Append(ctx, e, Fold)
		if err != nil {
			return rep, fmt.Errorf("journal: reconcile %s: store call %s: %w", name, rec.CallID, err)
		}
		if !appended {
			continue
		}
		if known {
			rep.Updated++
		} else {
			rep.Added++
		}
		if j.callbackWindow > 0 && rec.Direction != pbx.Internal {
			if err := j.afterAppend(ctx, &e); err != nil {
				return rep, fmt.Errorf("journal: reconcile %s: %w", name, err)
			}
		}
	}
	return rep, nil
}

// needsCorrection reports whether the history row r knows better than the
// journal's call c.
func needsCorrection(c Call, r pbx.CallRecord) bool {
	switch {
	case c.ClosedBy == CallOpen || c.ClosedBy == ClosedByTimeout:
		return true
	case r.Outcome != pbx.OutcomeUnknown && r.Outcome != c.Outcome:
		return true
	case r.TalkDuration > 0 && (r.TalkDuration-c.TalkDuration >= 1e9 || c.TalkDuration-r.TalkDuration >= 1e9):
		return true
	}
	return false
}

// historyEntry builds the call_ended entry of a history row. Times the row
// does not give are computed from the ones it gives: the end from the start
// and the call duration, the answer from the end and the talk time.
func (j *Journal) historyEntry(provider string, r pbx.CallRecord) Entry {
	e := pbx.CallEvent{
		Provider:     provider,
		Type:         pbx.EventCallEnded,
		CallID:       r.CallID,
		Direction:    r.Direction,
		Extension:    r.Extension,
		Phone:        r.Phone,
		Line:         r.Line,
		StartedAt:    saneTime(r.StartedAt),
		TalkDuration: max(r.TalkDuration, 0),
		CallDuration: max(r.CallDuration, 0),
		Outcome:      r.Outcome,
		HasRecording: r.HasRecording,
	}
	if !e.StartedAt.IsZero() && e.CallDuration > 0 {
		e.EndedAt = e.StartedAt.Add(e.CallDuration)
		if e.TalkDuration > 0 && e.TalkDuration <= e.CallDuration {
			e.AnsweredAt = e.EndedAt.Add(-e.TalkDuration)
		}
	}
	e.At = e.EndedAt
	if e.At.IsZero() {
		e.At = e.StartedAt
	}
	received := j.now()
	if e.At.IsZero() {
		e.At = received
	}
	e.DedupeKey = "j:" + digest("history", r.CallID, r.Direction.String(), r.Extension, r.Phone, r.Line,
		timeKey(r.StartedAt), r.TalkDuration.String(), r.CallDuration.String(), r.Outcome.String(),
		fmt.Sprint(r.HasRecording))
	// The row itself, for readers of the log; its vendor Raw goes with it.
	if b, err := json.Marshal(r); err == nil {
		e.Raw = json.RawMessage(b)
	}
	return Entry{ReceivedAt: received, Source: SourceHistory, Event: e}
}
