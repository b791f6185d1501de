package pbx

import "fmt"

// Direction says who started a call, seen from the company.
type Direction uint8

// Directions. The zero value is DirectionUnknown.
const (
	// DirectionUnknown means the vendor did not say.
	DirectionUnknown Direction = iota
	// Inbound: an external party called the company (Rostelecom type
	// "incoming", Sipuni src_type 1 to dst_type 2, Prostie Zvonki "in").
	Inbound
	// Outbound: an employee called an external party (Rostelecom "outbound",
	// Sipuni src_type 2 to dst_type 1, Prostie Zvonki "out").
	Outbound
	// Internal: an employee called another employee (Rostelecom "internal",
	// Sipuni src_type 2 to dst_type 2).
	Internal
)

var directionNames = [...]string{"unknown", "inbound", "outbound", "internal"}

// String returns "unknown", "inbound", "outbound" or "internal".
func (d Direction) String() string {
	if int(d) < len(directionNames) {
		return directionNames[d]
	}
	return fmt.Sprintf("Direction(%d)", uint8(d))
}

// MarshalText implements encoding.TextMarshaler with the String form.
func (d Direction) MarshalText() ([]byte, error) {
	if int(d) >= len(directionNames) {
		return nil, fmt.Errorf("pbx: invalid Direction %d", uint8(d))
	}
	return []byte(directionNames[d]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler. It accepts the String
// forms; an empty text gives DirectionUnknown.
func (d *Direction) UnmarshalText(b []byte) error {
	v, ok := lookupName(directionNames[:], b)
	if !ok {
		return fmt.Errorf("pbx: unknown direction %q", b)
	}
	*d = Direction(v)
	return nil
}

// EventType says what happened to a call.
type EventType uint8

// Event types. The zero value is EventUnknown.
const (
	// EventUnknown is a vendor notification with no normalised meaning, such
	// as a call state the SDK does not know yet or a Prostie Zvonki "rating".
	// It still reaches [EventHandler.HandleEvent], with CallEvent.Raw holding
	// the decoded payload.
	EventUnknown EventType = iota
	// EventCallStarted: the call reached the PBX, before routing
	// (Rostelecom state "new").
	EventCallStarted
	// EventRinging: an employee's phone rings; a group ring gives one event
	// per phone (Rostelecom "calling", Sipuni event 1, Prostie Zvonki
	// INCOMING/OUTGOING).
	EventRinging
	// EventAnswered: an employee (or the external party, on an outbound
	// call) answered (Rostelecom "connected", Sipuni event 3, Prostie Zvonki
	// ACCEPTED).
	EventAnswered
	// EventLegEnded: one employee's leg ended while the call goes on, for
	// example a phone that stopped ringing because a colleague answered
	// (Rostelecom "disconnected", Sipuni event 4, Prostie Zvonki COMPLETED and
	// CANCELLED).
	EventLegEnded
	// EventTransferred: the call was transferred to another employee
	// (Prostie Zvonki TRANSFERRED).
	EventTransferred
	// EventCallEnded: the call is over. It carries the Outcome, the times,
	// the talk Duration and the RecordingURL when the vendor sends them
	// (Rostelecom "end", Sipuni event 2, Prostie Zvonki cmd=history).
	EventCallEnded
	// EventHeld: an employee put the external party on hold (Mango
	// OnHold; the Creatio CTI model's hold). The call goes on.
	EventHeld
	// EventResumed: the held party is back in the conversation (unhold).
	EventResumed
)

var eventTypeNames = [...]string{"unknown", "call_started", "ringing", "answered", "leg_ended", "transferred", "call_ended", "held", "resumed"}

// String returns "unknown", "call_started", "ringing", "answered",
// "leg_ended", "transferred" or "call_ended".
func (t EventType) String() string {
	if int(t) < len(eventTypeNames) {
		return eventTypeNames[t]
	}
	return fmt.Sprintf("EventType(%d)", uint8(t))
}

// MarshalText implements encoding.TextMarshaler with the String form.
func (t EventType) MarshalText() ([]byte, error) {
	if int(t) >= len(eventTypeNames) {
		return nil, fmt.Errorf("pbx: invalid EventType %d", uint8(t))
	}
	return []byte(eventTypeNames[t]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler. It accepts the String
// forms; an empty text gives EventUnknown.
func (t *EventType) UnmarshalText(b []byte) error {
	v, ok := lookupName(eventTypeNames[:], b)
	if !ok {
		return fmt.Errorf("pbx: unknown event type %q", b)
	}
	*t = EventType(v)
	return nil
}

// Outcome says how a call ended. It is meaningful on EventCallEnded and in
// CallRecord.
type Outcome uint8

// Outcomes. The zero value is OutcomeUnknown.
const (
	// OutcomeUnknown means the vendor did not say (Rostelecom "end" carries no
	// outcome unless the provider is asked to resolve it).
	OutcomeUnknown Outcome = iota
	// OutcomeAnswered: somebody talked (Sipuni ANSWER, Prostie Zvonki
	// "success").
	OutcomeAnswered
	// OutcomeMissed: nobody answered (Sipuni NOANSWER, Prostie Zvonki
	// "missed").
	OutcomeMissed
	// OutcomeBusy: the called party was busy (Sipuni BUSY, Prostie Zvonki
	// "Busy").
	OutcomeBusy
	// OutcomeCancelled: the caller hung up before an answer (Sipuni CANCEL,
	// Prostie Zvonki "Cancel").
	OutcomeCancelled
	// OutcomeFailed: the call could not be set up (Sipuni CONGESTION and
	// CHANUNAVAIL, Prostie Zvonki NotAvailable, NotAllowed, NotFound).
	OutcomeFailed
)

var outcomeNames = [...]string{"unknown", "answered", "missed", "busy", "cancelled", "failed"}

// String returns "unknown", "answered", "missed", "busy", "cancelled" or
// "failed".
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// MarshalText implements encoding.TextMarshaler with the String form.
func (o Outcome) MarshalText() ([]byte, error) {
	if int(o) >= len(outcomeNames) {
		return nil, fmt.Errorf("pbx: invalid Outcome %d", uint8(o))
	}
	return []byte(outcomeNames[o]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler. It accepts the String
// forms; an empty text gives OutcomeUnknown.
func (o *Outcome) UnmarshalText(b []byte) error {
	v, ok := lookupName(outcomeNames[:], b)
	if !ok {
		return fmt.Errorf("pbx: unknown outcome %q", b)
	}
	*o = Outcome(v)
	return nil
}

func lookupName(names []string, b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, true
	}
	for i, n := range names {
		if n == string(b) {
			return i, true
		}
	}
	return 0, false
}
