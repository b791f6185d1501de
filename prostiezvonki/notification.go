package prostiezvonki

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
	"github.com/pbxkit/pbxkit/provider"
)

// This file is the ITooLabs family's notification protocol (cmd=event,
// history, contact, rating), decoded and mapped to pbx values. It uses
// nothing else of this package but Name, so that it can move as a whole to
// a place shared with the family's other vendors (MegaFon, Dom.ru).

// Notification is one request Prostie Zvonki sends to the CRM, decoded:
// [pbx.CallEvent.Raw] and [pbx.RouteQuery.Raw] hold a *Notification.
//
// Every value is kept as the text Prostie Zvonki sent (JSON numbers and
// booleans as written, null as ""), so nothing is lost; the CallEvent
// carries the parsed forms. The shared secret crm_token is never kept.
// The JSON field names are the vendor's.
type Notification struct {
	// Cmd is the command: "event", "history", "contact", "rating", or one
	// this package does not know yet.
	Cmd string `json:"cmd"`
	// Type is the event kind for cmd=event (INCOMING, OUTGOING, ACCEPTED,
	// COMPLETED, CANCELLED, TRANSFERRED) and the direction ("in"/"out") for
	// cmd=history.
	Type string `json:"type,omitempty"`
	// Direction is "in" or "out" (cmd=event).
	Direction string `json:"direction,omitempty"`
	// Status is how the call ended (cmd=history): success, missed, Cancel,
	// Busy, NotAvailable, NotAllowed, NotFound, in any case.
	Status string `json:"status,omitempty"`
	// CallID is the call id, sent as "callid" or, in one of the spec's
	// examples, "call_id"; "callid" wins when both are present.
	CallID string `json:"callid,omitempty"`
	// User is the employee: for Prostie Zvonki the extension ("100"); in
	// the wider ITooLabs family a login such as "admin@ats.example.ru".
	User string `json:"user,omitempty"`
	// Ext is the employee's extension.
	Ext string `json:"ext,omitempty"`
	// Phone is the client's number as sent ("89991234567").
	Phone string `json:"phone,omitempty"`
	// Diversion is the company line the call came through; it may be a
	// short number ("3333333") or missing.
	Diversion string `json:"diversion,omitempty"`
	// Telnum is the employee's direct number (ITooLabs family).
	Telnum string `json:"telnum,omitempty"`
	// TelnumName names the direct number (ITooLabs family).
	TelnumName string `json:"telnum_name,omitempty"`
	// GroupRealName is the department a group call went through (ITooLabs
	// family).
	GroupRealName string `json:"groupRealName,omitempty"`
	// Start and End are when the call started and ended (cmd=history), as
	// sent: "20230908T015640", "20230908T015640Z" or RFC 3339.
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
	// Duration is the call's length in seconds (cmd=history), as sent.
	Duration string `json:"duration,omitempty"`
	// Wait is the seconds before the answer, when sent (ITooLabs family).
	Wait string `json:"wait,omitempty"`
	// Link is the recording URL (cmd=history); empty when there is none.
	Link string `json:"link,omitempty"`
	// Rating is the call-quality score (cmd=rating and newer history).
	Rating string `json:"rating,omitempty"`
	// SecondCallID is the other call of a TRANSFERRED event.
	SecondCallID string `json:"second_callid,omitempty"`
	// Extra holds the fields this package does not know, as text (a nested
	// JSON value as compact JSON), or nil when there are none. Vendors add
	// fields without notice (z_flag, z-flag, ...).
	Extra map[string]string `json:"extra,omitempty"`

	callIDAlt string // the "call_id" spelling
}

// errSyntax marks a body that is not a JSON object nor a form.
var errSyntax = errors.New("body is neither a JSON object nor a form")

// decodeRequest reads the fields of one notification from the raw body and
// the raw URL query into n and returns the crm_token separately, so it never
// lands in n.
//
// Only syntax is judged here (err = errSyntax). Values of the wrong kind (an
// object where a string or number belongs) are reported as typeErr, which
// the caller acts on only after the token has been checked.
func decodeRequest(body []byte, rawQuery string, n *Notification) (token string, typeErr, err error) {
	// Query parameters first, so the body wins: the ITooLabs family may send
	// fields as query parameters (history by GET); PZ itself uses JSON.
	if rawQuery != "" {
		q, _ := url.ParseQuery(rawQuery) // a malformed pair is dropped, the rest is used
		for k, vs := range q {
			if len(vs) == 0 {
				continue
			}
			if k == "crm_token" {
				token = vs[0]
				continue
			}
			n.set(k, vs[0])
		}
	}
	b := trimBody(body)
	switch {
	case len(b) == 0:
		if rawQuery == "" {
			return "", nil, errSyntax
		}
	case b[0] == '{':
		if !json.Valid(b) {
			return "", nil, errSyntax
		}
		walkObject(string(b), func(k, v string, kind byte) {
			if k == "crm_token" {
				if kind != kindComposite {
					token = v
				}
				return
			}
			if kind != kindComposite {
				n.set(k, v)
				return
			}
			if known := n.set(k, ""); !known {
				n.setExtra(k, compactJSON(json.RawMessage(v)))
			} else if typeErr == nil {
				typeErr = fmt.Errorf("field %q is %s, want a string or a number", k, kindOf(json.RawMessage(v)))
			}
		})
	case b[0] == '[':
		return "", nil, errSyntax
	default:
		// The ITooLabs family posts application/x-www-form-urlencoded.
		q, e := url.ParseQuery(string(b))
		if e != nil {
			return "", nil, errSyntax
		}
		for k, vs := range q {
			if len(vs) == 0 {
				continue
			}
			if k == "crm_token" {
				token = vs[0]
				continue
			}
			n.set(k, vs[0])
		}
	}
	if n.CallID == "" {
		n.CallID = n.callIDAlt
	}
	n.callIDAlt = ""
	return token, typeErr, nil
}

// trimBody drops surrounding white space and a UTF-8 byte order mark, and
// the single quotes around a JSON object that the spec's examples carry
// ('{"cmd": ...}' and '{"cmd": ...} with only the opening one): someone who
// pastes an example into a test tool sends them as written.
func trimBody(b []byte) []byte {
	b = bytes.TrimPrefix(bytes.TrimSpace(b), []byte("\xEF\xBB\xBF"))
	b = bytes.TrimSpace(b)
	if len(b) > 1 && b[0] == '\'' && b[1] == '{' {
		b = b[1:]
		if b[len(b)-1] == '\'' {
			b = bytes.TrimSpace(b[:len(b)-1])
		}
	}
	return b
}

// set stores a known field and reports whether key is one.
func (n *Notification) set(key, val string) bool {
	switch key {
	case "cmd":
		n.Cmd = val
	case "type":
		n.Type = val
	case "direction":
		n.Direction = val
	case "status":
		n.Status = val
	case "callid":
		n.CallID = val
	case "call_id":
		n.callIDAlt = val
	case "user":
		n.User = val
	case "ext":
		n.Ext = val
	case "phone":
		n.Phone = val
	case "diversion":
		n.Diversion = val
	case "telnum":
		n.Telnum = val
	case "telnum_name":
		n.TelnumName = val
	case "groupRealName":
		n.GroupRealName = val
	case "start":
		n.Start = val
	case "end":
		n.End = val
	case "duration":
		n.Duration = val
	case "wait":
		n.Wait = val
	case "link":
		n.Link = val
	case "rating":
		n.Rating = val
	case "second_callid":
		n.SecondCallID = val
	default:
		n.setExtra(key, val)
		return false
	}
	return true
}

func (n *Notification) setExtra(key, val string) {
	if n.Extra == nil {
		n.Extra = make(map[string]string, 2)
	}
	n.Extra[key] = val
}

// scalarText returns the text of a JSON string, number, boolean or null
// (""), and false for an object or array.
func scalarText(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	switch raw[0] {
	case '"':
		if len(raw) >= 2 && bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
			// No escapes: the text between the quotes is the string, as
			// encoding/json would give it (which replaces invalid UTF-8).
			return string(raw[1 : len(raw)-1]), true
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false
		}
		return s, true
	case '{', '[':
		return "", false
	case 'n':
		return "", true
	default: // number, true, false: already validated by encoding/json
		return string(raw), true
	}
}

func kindOf(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' {
		return "an array"
	}
	return "an object"
}

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// Commands.
const (
	cmdEvent   = "event"
	cmdHistory = "history"
	cmdContact = "contact"
	cmdRating  = "rating"
)

// eventType maps an event type, compared case-insensitively. CANCELLED is
// a leg end, not a missed call: in a group ring it is what the phones that
// did not answer get when a colleague answered.
func eventType(t string) pbx.EventType {
	switch {
	case strings.EqualFold(t, "INCOMING"), strings.EqualFold(t, "OUTGOING"):
		return pbx.EventRinging
	case strings.EqualFold(t, "ACCEPTED"):
		return pbx.EventAnswered
	case strings.EqualFold(t, "COMPLETED"), strings.EqualFold(t, "CANCELLED"), strings.EqualFold(t, "CANCELED"):
		return pbx.EventLegEnded
	case strings.EqualFold(t, "TRANSFERRED"):
		return pbx.EventTransferred
	}
	return pbx.EventUnknown
}

// direction reads "in"/"out"; the long forms are accepted too.
func direction(s string) pbx.Direction {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "in", "incoming", "inbound":
		return pbx.Inbound
	case "out", "outgoing", "outbound":
		return pbx.Outbound
	case "internal":
		return pbx.Internal
	}
	return pbx.DirectionUnknown
}

// outcome maps a history status, compared case-insensitively (PZ sends
// "success"/"missed", the ITooLabs family "Success", "Missed", "Cancel",
// "Busy", ...). callAerror (the employee leg of a makecall failed, seen in
// one ITooLabs deployment) counts as failed.
func outcome(s string) pbx.Outcome {
	s = strings.TrimSpace(s)
	switch {
	case strings.EqualFold(s, "success"):
		return pbx.OutcomeAnswered
	case strings.EqualFold(s, "missed"):
		return pbx.OutcomeMissed
	case strings.EqualFold(s, "busy"):
		return pbx.OutcomeBusy
	case strings.EqualFold(s, "cancel"), strings.EqualFold(s, "cancelled"), strings.EqualFold(s, "canceled"):
		return pbx.OutcomeCancelled
	case strings.EqualFold(s, "notavailable"), strings.EqualFold(s, "notallowed"), strings.EqualFold(s, "notfound"),
		strings.EqualFold(s, "callaerror"):
		return pbx.OutcomeFailed
	}
	return pbx.OutcomeUnknown
}

// parseSeconds reads a non-negative number of seconds ("50", 50, "50.0",
// "" for 0).
func parseSeconds(field, s string) (int64, error) {
	v, err := provider.ParseInt(s)
	if err != nil || v < 0 || v > 1<<31 {
		return 0, fmt.Errorf("field %q: want a number of seconds, got %.20q", field, s)
	}
	return v, nil
}

// extension is the employee's extension: ext first, then user.
func (n *Notification) extension() string {
	if n.Ext != "" {
		return n.Ext
	}
	return n.User
}

// CallEvent maps a decoded notification to the neutral event: cmd=event to
// EventRinging (INCOMING, OUTGOING), EventAnswered (ACCEPTED),
// EventLegEnded (COMPLETED, CANCELLED) or EventTransferred (TRANSFERRED);
// cmd=history to EventCallEnded with the outcome, times, durations and
// recording link; cmd=rating and commands this package does not know to
// EventUnknown. (cmd=contact is a routing question: see [Notification.RouteQuery].)
//
// loc is the zone of the vendor's zone-less times (Config.Location; nil
// means provider.DefaultLocation()); every time of the event is in it.
// received is when the notification arrived: cmd=event carries no time, so
// it is the event's At. Raw is n, and DedupeKey is set.
//
// An error means a value could not be read (a duration or wait that is not
// a number of seconds); the handler answers it 400. A time that cannot be
// read is not an error: it stays zero and its text stays in n.
func (n *Notification) CallEvent(loc *time.Location, received time.Time) (pbx.CallEvent, error) {
	if loc == nil {
		loc = provider.DefaultLocation()
	}
	e := pbx.CallEvent{
		Provider:  Name,
		CallID:    n.CallID,
		Extension: n.extension(),
		Phone:     phone.Normalize(n.Phone),
		Line:      phone.Normalize(n.Diversion),
		At:        received.In(loc),
		Raw:       n,
	}
	// The link comes with cmd=history; wherever it comes, it says the call
	// is recorded.
	if link := strings.TrimSpace(n.Link); link != "" {
		e.RecordingURL, e.HasRecording = link, true
	}
	switch strings.ToLower(n.Cmd) {
	case cmdEvent:
		e.Type = eventType(n.Type)
		e.Direction = direction(n.Direction)
		if e.Direction == pbx.DirectionUnknown {
			// "direction" is missing from older ITooLabs versions.
			switch {
			case strings.EqualFold(n.Type, "INCOMING"):
				e.Direction = pbx.Inbound
			case strings.EqualFold(n.Type, "OUTGOING"):
				e.Direction = pbx.Outbound
			}
		}
	case cmdHistory:
		if err := n.history(&e, loc); err != nil {
			return pbx.CallEvent{}, err
		}
	default: // rating and unknown commands: passed on raw
		e.Type = pbx.EventUnknown
		e.Direction = direction(n.Direction)
	}
	var buf [256]byte
	e.DedupeKey = n.dedupeKey(buf[:0])
	return e, nil
}

// history fills the fields of a cmd=history event.
func (n *Notification) history(e *pbx.CallEvent, loc *time.Location) error {
	e.Type = pbx.EventCallEnded
	e.Direction = direction(n.Type)
	if e.Direction == pbx.DirectionUnknown {
		e.Direction = direction(n.Direction)
	}
	e.Outcome = outcome(n.Status)
	dur, err := parseSeconds("duration", n.Duration)
	if err != nil {
		return err
	}
	wait, err := parseSeconds("wait", n.Wait)
	if err != nil {
		return err
	}
	// Times are read tolerantly (their zone is uncertain: see the package
	// doc): one that cannot be read stays zero and its text stays in Raw.
	// "20230908T015640" is read in loc, "20230908T015640Z" in UTC.
	e.StartedAt, _ = provider.ParseLocalTime(n.Start, loc)
	e.EndedAt, _ = provider.ParseLocalTime(n.End, loc)
	if e.EndedAt.IsZero() && !e.StartedAt.IsZero() && n.Duration != "" {
		e.EndedAt = e.StartedAt.Add(time.Duration(dur) * time.Second) // the family sends no "end"
	}
	if !e.EndedAt.IsZero() {
		e.At = e.EndedAt
	}
	// duration is the call's whole length, ringing included (in the spec's
	// example it is end - start): CallDuration. Without it, both times give
	// it.
	switch {
	case n.Duration != "":
		e.CallDuration = time.Duration(dur) * time.Second
	case !e.StartedAt.IsZero() && !e.EndedAt.IsZero() && !e.EndedAt.Before(e.StartedAt):
		e.CallDuration = e.EndedAt.Sub(e.StartedAt)
	}
	// Talk time is known only from the family's "wait" (the seconds before
	// the answer): CallDuration - wait. Without wait it stays zero: ringing
	// time is not guessed.
	if e.Outcome == pbx.OutcomeAnswered && n.Wait != "" && e.CallDuration > 0 {
		if w := time.Duration(wait) * time.Second; w <= e.CallDuration {
			e.TalkDuration = e.CallDuration - w
			if !e.StartedAt.IsZero() {
				e.AnsweredAt = e.StartedAt.Add(w)
			}
		}
	}
	return nil
}

// RouteQuery maps a cmd=contact notification (the smart-transfer question)
// to the neutral routing question: the caller's Phone and the company Line
// normalised by phone.Normalize (empty when it refuses the text, which
// stays in Raw), the CallID when the family sends one, and Raw n.
func (n *Notification) RouteQuery() pbx.RouteQuery {
	return pbx.RouteQuery{
		Provider: Name,
		CallID:   n.CallID,
		Phone:    phone.Normalize(n.Phone),
		Line:     phone.Normalize(n.Diversion),
		Raw:      n,
	}
}

// dedupeKey digests the fields that identify a notification. The raw body
// is not used because it holds crm_token: a digest of a body whose other
// fields are all known would let anyone holding the key try tokens offline.
// The recording link is left out too (links may be re-signed between
// deliveries). Two deliveries of one notification give the same key.
func (n *Notification) dedupeKey(buf []byte) string {
	for _, s := range [...]string{n.Cmd, n.Type, n.Direction, n.Status, n.CallID, n.User, n.Ext, n.Phone,
		n.Diversion, n.Start, n.End, n.Duration, n.Wait, n.Rating, n.SecondCallID} {
		buf = append(buf, s...)
		buf = append(buf, 0)
	}
	if len(n.Extra) > 0 {
		keys := make([]string, 0, len(n.Extra))
		for k := range n.Extra {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			buf = append(buf, k...)
			buf = append(buf, '=')
			buf = append(buf, n.Extra[k]...)
			buf = append(buf, 0)
		}
	}
	return provider.DedupeKey(buf)
}

// The JSON scanner decodeRequest uses: one pass over a validated body.

// Value kinds reported by walkObject.
const (
	kindString    = 's' // a JSON string, unescaped
	kindScalar    = 'n' // a number, true or false, as written
	kindNull      = 'z' // null, reported as ""
	kindComposite = 'c' // an object or array, as raw JSON text
)

// walkObject calls fn for each member of the JSON object s, in order. s must
// be valid JSON (checked with json.Valid) whose first byte is '{'. Values
// without escapes are substrings of s, so a notification costs one string
// conversion of its body instead of one allocation per field.
func walkObject(s string, fn func(key, val string, kind byte)) {
	i := skipSpace(s, 1) // past '{'
	for i < len(s) && s[i] != '}' {
		var key string
		key, i = readString(s, i)
		i = skipSpace(s, i)
		i = skipSpace(s, i+1) // past ':'
		var (
			val  string
			kind byte
		)
		switch c := s[i]; {
		case c == '"':
			val, i = readString(s, i)
			kind = kindString
		case c == '{' || c == '[':
			j := skipComposite(s, i)
			val, i, kind = s[i:j], j, kindComposite
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(",}] \t\r\n", rune(s[j])) {
				j++
			}
			val, i, kind = s[i:j], j, kindScalar
			if val == "null" {
				val, kind = "", kindNull
			}
		}
		fn(key, val, kind)
		i = skipSpace(s, i)
		if i < len(s) && s[i] == ',' {
			i = skipSpace(s, i+1)
		}
	}
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// readString reads the JSON string starting at s[i] == '"' and returns it
// unescaped and the index after its closing quote. Escapes and invalid
// UTF-8 go through encoding/json, so the result is what it would give.
func readString(s string, i int) (string, int) {
	j := i + 1
	escaped := false
	for j < len(s) && s[j] != '"' {
		if s[j] == '\\' {
			escaped = true
			j++
		}
		j++
	}
	end := j + 1
	if end > len(s) { // cannot happen for valid JSON
		return "", len(s)
	}
	raw := s[i:end]
	if !escaped && utf8.ValidString(raw) {
		return raw[1 : len(raw)-1], end
	}
	var out string
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		return "", end
	}
	return out, end
}

// skipComposite returns the index after the object or array starting at
// s[i].
func skipComposite(s string, i int) int {
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return j + 1
			}
		case '"':
			_, next := readString(s, j)
			j = next - 1
		}
	}
	return len(s)
}
