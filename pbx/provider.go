package pbx

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"iter"
	"net/http"
	"time"
)

// Provider is one configured cloud PBX account.
//
// Outbound features are separate capability interfaces; discover them with a
// type assertion:
//
//	if c, ok := p.(pbx.Caller); ok {
//		_, err := c.MakeCall(ctx, pbx.CallRequest{Extension: "101", Phone: "+7 999 123-45-67"})
//	}
type Provider interface {
	// Name is the provider's registry name, such as "rostelecom".
	Name() string
	// WebhookHandler returns the http.Handler that serves the PBX's
	// notifications and routing questions.
	//
	// It authenticates every request before decoding it, calls
	// events.HandleEvent synchronously and in request order before it answers
	// the PBX, and asks router (under a deadline) for routing questions.
	// Either argument may be nil: events are then acknowledged and dropped,
	// and routing questions get "no decision". When HandleEvent returns an
	// error, the PBX gets a 5xx status and the error is logged.
	WebhookHandler(events EventHandler, router Router) http.Handler
}

// CallRequest asks the PBX to connect an employee with an external number
// ("click to call").
type CallRequest struct {
	// Extension is the employee's short internal number; the PBX rings it
	// first.
	Extension string
	// Phone is the number to call, in any form phone.Normalize accepts
	// ("+7 (999) 123-45-67", "89991234567", ...).
	Phone string
}

// CallResult is what the PBX said about a placed call.
type CallResult struct {
	// CallID is the id the new call's events will carry
	// ([CallEvent.CallID]), when the vendor returns it. Empty when the
	// vendor returns no such id.
	CallID string
	// OrderID is the vendor's id for the call-back order itself when it is
	// not the call's id (Sipuni returns one; its events do not carry it).
	// Each provider says how such an order is matched to the call's events.
	OrderID string
}

// Caller places calls (Rostelecom call_back, Sipuni callback/call_number,
// Prostie Zvonki makecall).
//
// MakeCall may ring a phone, so providers never retry it once the request may
// have reached the PBX: a failed MakeCall is reported, not repeated.
type Caller interface {
	MakeCall(ctx context.Context, req CallRequest) (CallResult, error)
}

// Recording is a call recording being streamed from the PBX. The caller must
// close Body.
type Recording struct {
	// Body streams the recording; nothing buffers the whole file.
	Body io.ReadCloser
	// ContentType is the media type the PBX declared, such as "audio/mpeg".
	ContentType string
	// Size is the length in bytes, or -1 when unknown.
	Size int64
}

// RecordingFetcher streams call recordings.
type RecordingFetcher interface {
	// FetchRecording opens the recording of the call. A recording the PBX
	// has not prepared yet gives an error that matches ErrNotReady with
	// errors.Is.
	FetchRecording(ctx context.Context, callID string) (*Recording, error)
}

// Subscriber is an employee account on the PBX.
type Subscriber struct {
	// Extension is the employee's short internal number (Rostelecom PIN).
	Extension string `json:"extension,omitempty"`
	// Login is the employee's login or SIP account.
	Login string `json:"login,omitempty"`
	// Name is the employee's name as the PBX knows it.
	Name string `json:"name,omitempty"`
	// Raw is the provider's decoded vendor record.
	Raw any `json:"raw,omitempty"`
}

// SubscriberLister lists the PBX's employees (Rostelecom users_info, Sipuni
// operators).
type SubscriberLister interface {
	Subscribers(ctx context.Context) ([]Subscriber, error)
}

// HistoryQuery selects calls from the PBX's call log.
type HistoryQuery struct {
	// From is the start of the period, inclusive.
	From time.Time
	// To is the end of the period.
	To time.Time
	// Direction filters by direction; DirectionUnknown means all calls.
	Direction Direction
}

// CallRecord is one call in the PBX's call log.
type CallRecord struct {
	CallID    string    `json:"call_id,omitempty"`
	Direction Direction `json:"direction,omitzero"`
	// Phone is the external party, normalised like CallEvent.Phone.
	Phone string `json:"phone,omitempty"`
	// Line is the company number.
	Line string `json:"line,omitempty"`
	// Extension is the employee's internal number.
	Extension string    `json:"extension,omitempty"`
	StartedAt time.Time `json:"started_at,omitzero"`
	// TalkDuration is the talk time (answer to end); zero when the call
	// was not answered or the vendor does not say. Written to JSON as
	// talk_seconds.
	TalkDuration time.Duration `json:"-"`
	// CallDuration is the whole call, ringing included; zero when the
	// vendor does not say. Written to JSON as call_seconds.
	CallDuration time.Duration `json:"-"`
	Outcome      Outcome       `json:"outcome,omitzero"`
	HasRecording bool          `json:"has_recording,omitempty"`
	// Raw is the provider's decoded vendor row.
	Raw any `json:"raw,omitempty"`
}

type callRecordJSON CallRecord

// MarshalJSON writes r with durations in seconds (talk_seconds,
// call_seconds), like [CallEvent.MarshalJSON].
func (r CallRecord) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		callRecordJSON
		TalkSeconds Seconds `json:"talk_seconds,omitzero"`
		CallSeconds Seconds `json:"call_seconds,omitzero"`
	}{callRecordJSON(r), Seconds(r.TalkDuration), Seconds(r.CallDuration)})
}

// UnmarshalJSON reads what MarshalJSON writes; Raw comes back as a
// json.RawMessage.
func (r *CallRecord) UnmarshalJSON(b []byte) error {
	var w struct {
		callRecordJSON
		TalkSeconds Seconds         `json:"talk_seconds"`
		CallSeconds Seconds         `json:"call_seconds"`
		Raw         json.RawMessage `json:"raw"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = CallRecord(w.callRecordJSON)
	r.TalkDuration = time.Duration(w.TalkSeconds)
	r.CallDuration = time.Duration(w.CallSeconds)
	r.Raw = nil
	if len(w.Raw) > 0 && string(w.Raw) != "null" {
		r.Raw = w.Raw
	}
	return nil
}

// HistoryExporter exports the PBX's call log (Rostelecom
// domain_call_history, Sipuni statistic export).
//
// The sequence yields records in the vendor's order. An error ends it: it is
// yielded once, with a zero CallRecord, and nothing follows. Stopping the
// iteration early releases everything the export holds.
type HistoryExporter interface {
	History(ctx context.Context, q HistoryQuery) iter.Seq2[CallRecord, error]
}

// ErrNotReady is matched (with errors.Is) by errors for resources the PBX has
// not prepared yet, such as a recording still being written or a call
// history file still being built. Trying again later may succeed.
var ErrNotReady = errors.New("pbx: not ready yet")

// ErrNotSupported is matched by errors for features a provider lacks.
var ErrNotSupported = errors.New("pbx: not supported by this provider")
