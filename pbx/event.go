package pbx

import (
	"context"
	"time"
)

// CallEvent is one thing that happened to one call, in vendor-neutral form.
//
// Times carry a real zone: providers read vendor local times in their
// configured location (Europe/Moscow by default). JSON field names are
// snake_case and zero values are omitted; Duration is written as
// encoding/json writes a time.Duration (nanoseconds).
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
	// Duration is the talk time, when known.
	Duration time.Duration `json:"duration,omitzero"`
	// Outcome is how the call ended; meaningful on EventCallEnded.
	Outcome Outcome `json:"outcome,omitzero"`
	// RecordingURL is a link to the call recording, when the vendor sends
	// one. Vendors' links may be one-time or expire.
	RecordingURL string `json:"recording_url,omitempty"`
	// DedupeKey is equal for two deliveries of the same vendor notification
	// and different otherwise. Vendors deliver duplicates (Sipuni repeats
	// event 1; the Prostie Zvonki family has no event id), so a handler that
	// must act once per notification keys on it.
	DedupeKey string `json:"dedupe_key,omitempty"`
	// Raw is the provider's decoded vendor payload, for fields the neutral
	// form does not carry. Its concrete type is documented by each provider.
	Raw any `json:"raw,omitempty"`
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
