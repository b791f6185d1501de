package outbox

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
)

// SelectClosedCalls is the Select of a [Target] that sets none: one
// [CallDocument] per call when it closes, and one more, with a greater
// Version, each time a later entry changes it (a late event, a
// reconciliation from the PBX's call log, a call-back note, a close by
// timeout corrected by the real end).
//
// It selects the entry e when e belongs to call c, c is closed (by event,
// history or timeout) and e is c's latest entry (e.Seq == c.LastSeq). The
// outbox reads a call after its entry, so of the entries a call had when
// the outbox read them, only the latest gives a document: a backlog of
// stored calls gives one document per call, however many events each one
// had, and a call that changes after it was sent gives a new version.
func SelectClosedCalls(e journal.Entry, c journal.Call) (payload any, ok bool) {
	if e.Event.CallID == "" || e.Event.CallID != c.CallID || e.Event.Provider != c.Provider {
		return nil, false
	}
	if c.ClosedBy == journal.CallOpen || e.Seq != c.LastSeq {
		return nil, false
	}
	return NewCallDocument(c), true
}

// CallDocument is the JSON document [SelectClosedCalls] sends: one call as
// the journal holds it, flat, every field always present (1C reads it
// without checking which fields exist). docs/outbox.md shows an example.
//
//	Field           JSON
//	--------------  ----------------------------------------------------------
//	type            "call"
//	version         number; greater for a later document of the same call
//	                (the Seq of the call's latest journal entry): keep the
//	                greatest, ignore a lower or equal one
//	provider        "rostelecom", "sipuni", ...
//	call_id         the PBX's call id; (provider, call_id) names the call
//	direction       "inbound", "outbound", "internal" or "unknown"
//	phone, line     the external party's number, the company number
//	started_at      RFC 3339 with offset, to the second
//	answered_at     the same, or null when not answered
//	ended_at        the same, or null when unknown (closed by timeout)
//	talk_seconds    number (answer to end), 0 when not answered
//	call_seconds    number (start to end), 0 when unknown
//	hold_seconds    number (time on hold), 0 when none or not reported
//	outcome         "answered", "missed", "busy", "cancelled", "failed" or
//	                "unknown"
//	missed          true for an inbound call nobody answered
//	answered_by     the extension that answered, or ""
//	closed_by       "event", "history" or "timeout"
//	called_back     true when a missed call was called back
//	called_back_at  RFC 3339, or null
//	called_back_by  the extension that called back, or ""
//	recording_url   the latest recording link, or ""
//	has_recording   true when the PBX says the call is recorded
//	legs            [] of {extension, rang_at, answered_at, ended_at,
//	                answered}, times RFC 3339 or null
type CallDocument struct {
	// Type is "call".
	Type string
	// Version grows with each document of the same call: the Seq of the
	// call's latest journal entry.
	Version int64
	// Provider and CallID identify the call.
	Provider string
	CallID   string
	// Direction is who started the call.
	Direction pbx.Direction
	// Phone is the external party's number, Line the company number.
	Phone string
	Line  string
	// StartedAt, AnsweredAt, EndedAt: see [journal.Call]. Zero times are
	// written as null.
	StartedAt  time.Time
	AnsweredAt time.Time
	EndedAt    time.Time
	// TalkDuration, CallDuration and HoldDuration are written as
	// talk_seconds, call_seconds and hold_seconds.
	TalkDuration time.Duration
	CallDuration time.Duration
	HoldDuration time.Duration
	// Outcome is how the call ended.
	Outcome pbx.Outcome
	// Missed: an inbound call that is over and nobody answered.
	Missed bool
	// AnsweredBy is the extension that answered.
	AnsweredBy string
	// ClosedBy is why the call counts as over.
	ClosedBy journal.CloseReason
	// CalledBack reports that a missed call was called back, when
	// (CalledBackAt) and by whom (CalledBackBy).
	CalledBack   bool
	CalledBackAt time.Time
	CalledBackBy string
	// RecordingURL and HasRecording: see [journal.Call].
	RecordingURL string
	HasRecording bool
	// Legs: one per employee phone involved.
	Legs []journal.Leg
}

// NewCallDocument returns the document of c.
func NewCallDocument(c journal.Call) CallDocument {
	return CallDocument{
		Type:         "call",
		Version:      c.LastSeq,
		Provider:     c.Provider,
		CallID:       c.CallID,
		Direction:    c.Direction,
		Phone:        c.Phone,
		Line:         c.Line,
		StartedAt:    c.StartedAt,
		AnsweredAt:   c.AnsweredAt,
		EndedAt:      c.EndedAt,
		TalkDuration: c.TalkDuration,
		CallDuration: c.CallDuration,
		HoldDuration: c.HoldDuration,
		Outcome:      c.Outcome,
		Missed:       c.Missed,
		AnsweredBy:   c.AnsweredBy,
		ClosedBy:     c.ClosedBy,
		CalledBack:   !c.CalledBackAt.IsZero(),
		CalledBackAt: c.CalledBackAt,
		CalledBackBy: c.CalledBackBy,
		RecordingURL: c.RecordingURL,
		HasRecording: c.HasRecording,
		Legs:         c.Legs,
	}
}

// docTime is a time written as RFC 3339 to the second with its offset, or
// null when zero.
type docTime time.Time

const docTimeLayout = "2006-01-02T15:04:05Z07:00"

func (t docTime) MarshalJSON() ([]byte, error) {
	tt := time.Time(t)
	if tt.IsZero() {
		return []byte("null"), nil
	}
	if y := tt.Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("outbox: time %v outside years 0 to 9999", tt.UTC())
	}
	b := make([]byte, 0, len(docTimeLayout)+2)
	b = append(b, '"')
	b = tt.Truncate(time.Second).AppendFormat(b, docTimeLayout)
	return append(b, '"'), nil
}

func (t *docTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = docTime{}
		return nil
	}
	var tt time.Time
	if err := tt.UnmarshalJSON(b); err != nil {
		return err
	}
	*t = docTime(tt)
	return nil
}

type legWire struct {
	Extension  string  `json:"extension"`
	RangAt     docTime `json:"rang_at"`
	AnsweredAt docTime `json:"answered_at"`
	EndedAt    docTime `json:"ended_at"`
	Answered   bool    `json:"answered"`
}

type callDocumentWire struct {
	Type         string              `json:"type"`
	Version      int64               `json:"version"`
	Provider     string              `json:"provider"`
	CallID       string              `json:"call_id"`
	Direction    pbx.Direction       `json:"direction"`
	Phone        string              `json:"phone"`
	Line         string              `json:"line"`
	StartedAt    docTime             `json:"started_at"`
	AnsweredAt   docTime             `json:"answered_at"`
	EndedAt      docTime             `json:"ended_at"`
	TalkSeconds  pbx.Seconds         `json:"talk_seconds"`
	CallSeconds  pbx.Seconds         `json:"call_seconds"`
	HoldSeconds  pbx.Seconds         `json:"hold_seconds"`
	Outcome      pbx.Outcome         `json:"outcome"`
	Missed       bool                `json:"missed"`
	AnsweredBy   string              `json:"answered_by"`
	ClosedBy     journal.CloseReason `json:"closed_by"`
	CalledBack   bool                `json:"called_back"`
	CalledBackAt docTime             `json:"called_back_at"`
	CalledBackBy string              `json:"called_back_by"`
	RecordingURL string              `json:"recording_url"`
	HasRecording bool                `json:"has_recording"`
	Legs         []legWire           `json:"legs"`
}

// MarshalJSON writes d as documented on [CallDocument].
func (d CallDocument) MarshalJSON() ([]byte, error) {
	w := callDocumentWire{
		Type: d.Type, Version: d.Version, Provider: d.Provider, CallID: d.CallID,
		Direction: d.Direction, Phone: d.Phone, Line: d.Line,
		StartedAt: docTime(d.StartedAt), AnsweredAt: docTime(d.AnsweredAt), EndedAt: docTime(d.EndedAt),
		TalkSeconds: pbx.Seconds(d.TalkDuration), CallSeconds: pbx.Seconds(d.CallDuration), HoldSeconds: pbx.Seconds(d.HoldDuration),
		Outcome: d.Outcome, Missed: d.Missed, AnsweredBy: d.AnsweredBy, ClosedBy: d.ClosedBy,
		CalledBack: d.CalledBack, CalledBackAt: docTime(d.CalledBackAt), CalledBackBy: d.CalledBackBy,
		RecordingURL: d.RecordingURL, HasRecording: d.HasRecording,
		Legs: make([]legWire, len(d.Legs)),
	}
	for i, l := range d.Legs {
		w.Legs[i] = legWire{l.Extension, docTime(l.RangAt), docTime(l.AnsweredAt), docTime(l.EndedAt), l.Answered}
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads what MarshalJSON writes, for receivers written in Go.
func (d *CallDocument) UnmarshalJSON(b []byte) error {
	var w callDocumentWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*d = CallDocument{
		Type: w.Type, Version: w.Version, Provider: w.Provider, CallID: w.CallID,
		Direction: w.Direction, Phone: w.Phone, Line: w.Line,
		StartedAt: time.Time(w.StartedAt), AnsweredAt: time.Time(w.AnsweredAt), EndedAt: time.Time(w.EndedAt),
		TalkDuration: time.Duration(w.TalkSeconds), CallDuration: time.Duration(w.CallSeconds), HoldDuration: time.Duration(w.HoldSeconds),
		Outcome: w.Outcome, Missed: w.Missed, AnsweredBy: w.AnsweredBy, ClosedBy: w.ClosedBy,
		CalledBack: w.CalledBack, CalledBackAt: time.Time(w.CalledBackAt), CalledBackBy: w.CalledBackBy,
		RecordingURL: w.RecordingURL, HasRecording: w.HasRecording,
	}
	for _, l := range w.Legs {
		d.Legs = append(d.Legs, journal.Leg{Extension: l.Extension, RangAt: time.Time(l.RangAt),
			AnsweredAt: time.Time(l.AnsweredAt), EndedAt: time.Time(l.EndedAt), Answered: l.Answered})
	}
	return nil
}
