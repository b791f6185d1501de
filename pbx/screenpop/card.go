package screenpop

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
)

// Card kinds: the Kind of a Card and the SSE event name it is sent under.
const (
	// KindRinging: the employee's phone rings (an incoming call), or the
	// employee's call starts (an outgoing one).
	KindRinging = "ringing"
	// KindAnswered: the employee's phone answered.
	KindAnswered = "answered"
	// KindEnded: the call the employee took part in is over.
	KindEnded = "ended"
	// KindMissed: an incoming call nobody answered, for the client's
	// responsible manager or Config.MissedTo.
	KindMissed = "missed"
)

// Card is what the employee's screen shows about one call at one moment.
// It is sent as the JSON data of a Server-Sent Event whose event name is
// Kind and whose id is Seq.
type Card struct {
	// Seq is the journal Seq of the entry that caused the card (for a
	// card of the snapshot a fresh connection gets: the call's latest
	// Seq). Several cards may share a Seq.
	Seq int64
	// Kind is KindRinging, KindAnswered, KindEnded or KindMissed.
	Kind string
	// CallID and Provider identify the call in the journal.
	CallID, Provider string
	// Direction, Phone (the client's number) and Line (the company
	// number) are the call's.
	Direction pbx.Direction
	Phone     string
	Line      string
	// Extension is the employee the card is for: the extension of the
	// stream it is sent on.
	Extension string
	// Contact is the client's name and Responsible the client's
	// responsible manager, as Config.Lookup said; empty when it did not
	// answer in time, failed, or knows no such number.
	Contact     string
	Responsible string
	// At is when it happened: the time of the event.
	At time.Time
	// Outcome and TalkDuration are the call's on ended and missed cards;
	// zero on the others.
	Outcome      pbx.Outcome
	TalkDuration time.Duration
	// RecentCalls are the latest calls with the same number before this
	// one, newest first (at most Config.RecentCalls).
	RecentCalls []journal.Call
}

// cardJSON is Card's JSON shape.
type cardJSON struct {
	Seq         int64          `json:"seq"`
	Kind        string         `json:"kind"`
	CallID      string         `json:"call_id"`
	Provider    string         `json:"provider"`
	Direction   pbx.Direction  `json:"direction,omitzero"`
	Phone       string         `json:"phone,omitempty"`
	Line        string         `json:"line,omitempty"`
	Extension   string         `json:"extension,omitempty"`
	Contact     string         `json:"contact,omitempty"`
	Responsible string         `json:"responsible,omitempty"`
	At          time.Time      `json:"at,omitzero"`
	Outcome     pbx.Outcome    `json:"outcome,omitzero"`
	TalkSeconds pbx.Seconds    `json:"talk_seconds,omitzero"`
	RecentCalls []journal.Call `json:"recent_calls,omitempty"`
}

// MarshalJSON writes c with snake_case names like pbx.CallEvent's (seq,
// kind, call_id, provider, direction, phone, line, extension, contact,
// responsible, at, outcome, talk_seconds, recent_calls), the talk time as a
// number of seconds (pbx.Seconds), and empty values omitted except seq,
// kind, call_id and provider.
func (c Card) MarshalJSON() ([]byte, error) {
	return json.Marshal(cardJSON{
		Seq: c.Seq, Kind: c.Kind, CallID: c.CallID, Provider: c.Provider,
		Direction: c.Direction, Phone: c.Phone, Line: c.Line, Extension: c.Extension,
		Contact: c.Contact, Responsible: c.Responsible, At: c.At, Outcome: c.Outcome,
		TalkSeconds: pbx.Seconds(c.TalkDuration), RecentCalls: c.RecentCalls,
	})
}

// UnmarshalJSON reads what MarshalJSON writes, for Go clients of a stream.
func (c *Card) UnmarshalJSON(b []byte) error {
	var w cardJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = Card{
		Seq: w.Seq, Kind: w.Kind, CallID: w.CallID, Provider: w.Provider,
		Direction: w.Direction, Phone: w.Phone, Line: w.Line, Extension: w.Extension,
		Contact: w.Contact, Responsible: w.Responsible, At: w.At, Outcome: w.Outcome,
		TalkDuration: time.Duration(w.TalkSeconds), RecentCalls: w.RecentCalls,
	}
	return nil
}

// Moment is when a call's card pops up, as in Prostie Zvonki's setting
// «Показывать окно входящего вызова»: never, when the call arrives (or,
// for an outgoing call, starts), when the phone is picked up, or when the
// conversation ends. The zero value is OnRing.
type Moment uint8

// Moments.
const (
	// OnRing: the ringing card («При поступлении звонка» / «При начале
	// звонка»). The zero value.
	OnRing Moment = iota
	// OnAnswer: the answered card («По поднятию трубки»).
	OnAnswer
	// OnEnd: the ended card («По завершению разговора»).
	OnEnd
	// Never: no card for such calls («Никогда»). Missed cards are sent
	// whatever the moment: they are a notice, not a call window.
	Never
)

var momentNames = [...]string{OnRing: "ring", OnAnswer: "answer", OnEnd: "end", Never: "never"}

// String returns "ring", "answer", "end" or "never": the values of the
// incoming and outgoing query parameters of a stream.
func (m Moment) String() string {
	if int(m) < len(momentNames) {
		return momentNames[m]
	}
	return fmt.Sprintf("Moment(%d)", uint8(m))
}

// ParseMoment reads the String form of a Moment.
func ParseMoment(s string) (Moment, error) {
	for i, n := range momentNames {
		if n == s {
			return Moment(i), nil
		}
	}
	return 0, fmt.Errorf("screenpop: unknown moment %.20q (want ring, answer, end or never)", s)
}

// MarshalText implements encoding.TextMarshaler with the String form.
func (m Moment) MarshalText() ([]byte, error) {
	if int(m) >= len(momentNames) {
		return nil, fmt.Errorf("screenpop: invalid Moment %d", uint8(m))
	}
	return []byte(momentNames[m]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler; an empty text gives
// OnRing.
func (m *Moment) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*m = OnRing
		return nil
	}
	v, err := ParseMoment(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// kind is the card kind a moment shows ("" for Never).
func (m Moment) kind() string {
	switch m {
	case OnRing:
		return KindRinging
	case OnAnswer:
		return KindAnswered
	case OnEnd:
		return KindEnded
	}
	return ""
}

// moments is what one stream shows.
type moments struct{ in, out Moment }

// shows reports whether a stream with these moments gets c.
func (m moments) shows(c *Card) bool {
	if c.Kind == KindMissed {
		return true
	}
	mo := m.in
	if c.Direction == pbx.Outbound {
		mo = m.out
	}
	return mo.kind() == c.Kind
}
