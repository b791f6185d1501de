package pbx

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"
)

// CallEvent is one thing that happened to one call, in vendor-neutral form.
//
// Times carry a real zone: providers read vendor local times in their
// configured location (Europe/Moscow by default). JSON field names are
// snake_case and zero values are omitted; the durations are written as
// numbers of seconds (talk_seconds, call_seconds; see [Seconds]), with a
// fraction only when the vendor gives sub-second precision.
type CallEvent struct {
	// Provider is the name of the provider that produced the event, such as
	// "rostelecom".
	Provider string `json:"provider,omitempty"`
	// Type is what happened.
	Type EventType `json:"type,omitzero"`
	// CallID is the vendor's call identifier (Rostelecom session_id, Sipuni
	// call_id, Prostie Zvonki callid).
	CallID string `json:"call_id,omitempty"`
	// Direction says who started the call.
	Direction Direction `json:"direction,omitzero"`
	// Extension is the internal number of the employee involved.
	Extension string `json:"extension,omitempty"`
	// Phone is the external party's number, normalised by phone.Normalize
	// (for Russia: 11 digits starting with 7).
	Phone string `json:"phone,omitempty"`
	// Line is the company number the call came to or went out from.
	Line string `json:"line,omitempty"`
	// At is when the event happened; the time the notification was received
	// when the vendor sends none.
	At time.Time `json:"at,omitzero"`
	// StartedAt is when the call started, when known.
	StartedAt time.Time `json:"started_at,omitzero"`
	// AnsweredAt is when the call was answered, when known.
	AnsweredAt time.Time `json:"answered_at,omitzero"`
	// EndedAt is when the call ended, when known.
	EndedAt time.Time `json:"ended_at,omitzero"`
	// TalkDuration is the talk time: from the answer to the end of the
	// call. Zero when the call was not answered or the vendor does not say.
	TalkDuration time.Duration `json:"-"`
	// CallDuration is the whole call, ringing included: from its start to
	// its end. Zero when the vendor does not say.
	//
	// Providers fill each duration only from what the payload supports (the
	// vendor's own figure, or both of its times); neither is ever guessed
	// from the other.
	CallDuration time.Duration `json:"-"`
	// Outcome is how the call ended; meaningful on EventCallEnded.
	Outcome Outcome `json:"outcome,omitzero"`
	// RecordingURL is a link to the call recording, when the vendor sends
	// one. Vendors' links may be one-time or expire.
	RecordingURL string `json:"recording_url,omitempty"`
	// HasRecording reports that the vendor says the call is recorded
	// (Rostelecom is_record, a recording link from Sipuni or Prostie
	// Zvonki), so an application knows whether fetching is worth trying.
	// False means "not said", not "certainly none".
	HasRecording bool `json:"has_recording,omitempty"`
	// DedupeKey is equal for two deliveries of the same vendor notification
	// and different otherwise. Vendors deliver duplicates (Sipuni repeats
	// event 1; the Prostie Zvonki family has no event id), so a handler that
	// must act once per notification keys on it.
	DedupeKey string `json:"dedupe_key,omitempty"`
	// Raw is the provider's decoded vendor payload, for fields the neutral
	// form does not carry. Its concrete type is documented by each provider.
	Raw any `json:"raw,omitempty"`
}

// callEventJSON is CallEvent without its methods, for MarshalJSON.
type callEventJSON CallEvent

type callEventWire struct {
	callEventJSON
	TalkSeconds Seconds `json:"talk_seconds,omitzero"`
	CallSeconds Seconds `json:"call_seconds,omitzero"`
}

// MarshalJSON writes e with snake_case names, durations in seconds
// (talk_seconds, call_seconds) and zero values omitted.
func (e CallEvent) MarshalJSON() ([]byte, error) {
	return json.Marshal(callEventWire{callEventJSON(e), Seconds(e.TalkDuration), Seconds(e.CallDuration)})
}

// UnmarshalJSON reads what MarshalJSON writes. Raw, when present, is kept as
// a json.RawMessage: the vendor type it had is not recorded in the JSON.
func (e *CallEvent) UnmarshalJSON(b []byte) error {
	var w struct {
		callEventJSON
		TalkSeconds Seconds         `json:"talk_seconds"`
		CallSeconds Seconds         `json:"call_seconds"`
		Raw         json.RawMessage `json:"raw"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*e = CallEvent(w.callEventJSON)
	e.TalkDuration = time.Duration(w.TalkSeconds)
	e.CallDuration = time.Duration(w.CallSeconds)
	e.Raw = nil
	if len(w.Raw) > 0 && string(w.Raw) != "null" {
		e.Raw = w.Raw
	}
	return nil
}

// LogValue makes a CallEvent one readable group in slog output: the fields
// that identify and describe it, never Raw (the vendor payload may carry
// more than a log should).
func (e CallEvent) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, 12)
	add := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	add("provider", e.Provider)
	add("type", e.Type.String())
	add("call_id", e.CallID)
	if e.Direction != DirectionUnknown {
		add("direction", e.Direction.String())
	}
	add("extension", e.Extension)
	add("phone", e.Phone)
	add("line", e.Line)
	if !e.At.IsZero() {
		attrs = append(attrs, slog.Time("at", e.At))
	}
	if e.Outcome != OutcomeUnknown {
		add("outcome", e.Outcome.String())
	}
	if e.TalkDuration != 0 {
		attrs = append(attrs, slog.Duration("talk", e.TalkDuration))
	}
	if e.CallDuration != 0 {
		attrs = append(attrs, slog.Duration("call", e.CallDuration))
	}
	if e.HasRecording {
		attrs = append(attrs, slog.Bool("has_recording", true))
	}
	add("dedupe_key", e.DedupeKey)
	return slog.GroupValue(attrs...)
}

// EventHandler takes call events from a provider's webhook handler.
//
// HandleEvent is called synchronously and in request order, before the PBX
// gets its answer: an event is acknowledged only once HandleEvent returned.
// A non-nil error makes the provider answer the PBX with a 5xx status (what
// the PBX then does, for example redelivering or giving up, is documented by
// each provider). HandleEvent should be quick; a handler that needs slow work
// queues the event and returns.
type EventHandler interface {
	HandleEvent(ctx context.Context, e CallEvent) error
}

// EventHandlerFunc adapts a function to the EventHandler interface.
type EventHandlerFunc func(ctx context.Context, e CallEvent) error

// HandleEvent calls f(ctx, e).
func (f EventHandlerFunc) HandleEvent(ctx context.Context, e CallEvent) error { return f(ctx, e) }
