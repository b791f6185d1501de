package journal

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
)

// String returns "event", "history", "timeout" or "callback".
func (s Source) String() string {
	if int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return fmt.Sprintf("Source(%d)", uint8(s))
}

// MarshalText implements encoding.TextMarshaler with the String form.
func (s Source) MarshalText() ([]byte, error) {
	if int(s) >= len(sourceNames) {
		return nil, fmt.Errorf("journal: invalid Source %d", uint8(s))
	}
	return []byte(sourceNames[s]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler; an empty text gives
// SourceEvent.
func (s *Source) UnmarshalText(b []byte) error {
	v, ok := lookupName(sourceNames[:], b)
	if !ok {
		return fmt.Errorf("journal: unknown source %q", b)
	}
	*s = Source(v)
	return nil
}

// String returns "open", "event", "timeout" or "history".
func (r CloseReason) String() string {
	if r == CallOpen {
		return "open"
	}
	if int(r) < len(closeReasonNames) {
		return closeReasonNames[r]
	}
	return fmt.Sprintf("CloseReason(%d)", uint8(r))
}

// MarshalText implements encoding.TextMarshaler: "" for CallOpen, else the
// String form.
func (r CloseReason) MarshalText() ([]byte, error) {
	if int(r) >= len(closeReasonNames) {
		return nil, fmt.Errorf("journal: invalid CloseReason %d", uint8(r))
	}
	return []byte(closeReasonNames[r]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler; it accepts the
// MarshalText forms and "open".
func (r *CloseReason) UnmarshalText(b []byte) error {
	if string(b) == "open" {
		*r = CallOpen
		return nil
	}
	v, ok := lookupName(closeReasonNames[:], b)
	if !ok {
		return fmt.Errorf("journal: unknown close reason %q", b)
	}
	*r = CloseReason(v)
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

// callJSON is Call without its methods.
type callJSON Call

// MarshalJSON writes c with snake_case names, durations as numbers of
// seconds (talk_seconds, call_seconds, hold_seconds, see [pbx.Seconds]) and
// zero values omitted. Stores may keep a call as this JSON: UnmarshalJSON
// reads it back unchanged (times keep their offset, not their
// *time.Location).
func (c Call) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		callJSON
		TalkSeconds pbx.Seconds `json:"talk_seconds,omitzero"`
		CallSeconds pbx.Seconds `json:"call_seconds,omitzero"`
		HoldSeconds pbx.Seconds `json:"hold_seconds,omitzero"`
	}{callJSON(c), pbx.Seconds(c.TalkDuration), pbx.Seconds(c.CallDuration), pbx.Seconds(c.HoldDuration)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (c *Call) UnmarshalJSON(b []byte) error {
	var w struct {
		callJSON
		TalkSeconds pbx.Seconds `json:"talk_seconds"`
		CallSeconds pbx.Seconds `json:"call_seconds"`
		HoldSeconds pbx.Seconds `json:"hold_seconds"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = Call(w.callJSON)
	c.TalkDuration = time.Duration(w.TalkSeconds)
	c.CallDuration = time.Duration(w.CallSeconds)
	c.HoldDuration = time.Duration(w.HoldSeconds)
	return nil
}

// PhoneKey is the key a Store keeps with each call for phone queries
// ([Filter.PhoneKey]): the digits of phone.Normalize(number), reversed, so
// that "same last n digits" is a prefix match whatever n is; "" for a login
// or a number without digits. PhoneKey("+7 999 123-45-67") is "76543219997".
func PhoneKey(number string) string {
	n := phone.Normalize(number)
	if n == "" || len(n) > phone.MaxDigits {
		return ""
	}
	var buf [phone.MaxDigits]byte
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c < '0' || c > '9' {
			return ""
		}
		buf[len(n)-1-i] = c
	}
	return string(buf[:len(n)])
}

// Key returns the call's position in the newest-first order of
// [Store.Calls].
func (c Call) Key() CallPos {
	return CallPos{StartedAt: c.StartedAt, Provider: c.Provider, CallID: c.CallID}
}

// Less reports whether p comes before d in the newest-first order of
// [Store.Calls]: a later StartedAt first, then a greater Provider, then a
// greater CallID.
func (p CallPos) Less(d CallPos) bool {
	if !p.StartedAt.Equal(d.StartedAt) {
		return p.StartedAt.After(d.StartedAt)
	}
	if p.Provider != d.Provider {
		return p.Provider > d.Provider
	}
	return p.CallID > d.CallID
}
