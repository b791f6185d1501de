package itoolabs

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

// Notification is one request a PBX of the family sends to the CRM,
// decoded. Every value is kept as the text the PBX sent (JSON numbers and
// booleans as written, null as ""), so nothing is lost; the pbx.CallEvent
// carries the parsed forms. The shared secret crm_token is never kept. The
// JSON field names are the vendor's.
//
// Vendor packages declare their own type on it (type Notification
// itoolabs.Notification), which their events carry in Raw; a pointer to
// one converts to a pointer to the other.
type Notification struct {
	// Cmd is the command: "event", "history", "contact", "rating", or one
	// this package does not know yet.
	Cmd string `json:"cmd"`
	// Type is the event kind for cmd=event (INCOMING, OUTGOING, ACCEPTED,
	// COMPLETED, CANCELLED, TRANSFERRED) and the direction ("in"/"out") for
	// cmd=history.
	Type string `json:"type,omitempty"`
	// Direction is "in" or "out" (cmd=event; missing from the family's
	// 2017 documentation).
	Direction string `json:"direction,omitempty"`
	// Status is how the call ended (cmd=history): Success, Missed, Cancel,
	// Busy, NotAvailable, NotAllowed, NotFound, in any case.
	Status string `json:"status,omitempty"`
	// CallID is the call id, sent as "callid" or, in one of Prostie Zvonki's
	// examples, "call_id"; a non-empty "callid" wins when both are present.
	CallID string `json:"callid,omitempty"`
	// User is the employee: a login such as "admin" or
	// "callcenter@vats.megapbx.ru" (MegaFon), or the extension ("100",
	// Prostie Zvonki).
	User string `json:"user,omitempty"`
	// Ext is the employee's extension.
	Ext string `json:"ext,omitempty"`
	// Phone is the client's number as sent ("89991234567").
	Phone string `json:"phone,omitempty"`
	// Diversion is the company line the call came through; it may be a
	// short number ("3333333") or missing.
	Diversion string `json:"diversion,omitempty"`
	// Telnum is the employee's direct number.
	Telnum string `json:"telnum,omitempty"`
	// TelnumName names the direct number.
	TelnumName string `json:"telnum_name,omitempty"`
	// GroupRealName is the department a group call went through.
	GroupRealName string `json:"groupRealName,omitempty"`
	// Start and End are when the call started and ended (cmd=history), as
	// sent: "20230908T015640", "20230908T015640Z" or RFC 3339. The family
	// sends no end; Prostie Zvonki does.
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
	// Duration is the call's length in seconds (cmd=history), as sent.
	Duration string `json:"duration,omitempty"`
	// Wait is the seconds before the answer, when sent.
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

	callIDAlt string // the "call_id" spelling, until Decode settles CallID
}

// ErrSyntax is matched (errors.Is) by the error [Decode] returns for a body
// that is neither a JSON object nor a form: nothing was decoded, not even
// the token.
var ErrSyntax = errors.New("body is neither a JSON object nor a form")

// FieldError is the error [Decode] returns for a known field whose value is
// of the wrong kind (an object or array where a string or number belongs).
// The rest was decoded, the token included: a receiver checks the token
// first and answers the error as a bad request only after that.
type FieldError struct {
	// Field is the vendor's field name.
	Field string
	// Kind is "an object" or "an array".
	Kind string
}

// Error returns `field "duration" is an object, want a string or a number`.
func (e *FieldError) Error() string {
	return fmt.Sprintf("field %q is %s, want a string or a number", e.Field, e.Kind)
}

// Decode reads the fields of one notification from the raw body and the
// raw URL query into n, and returns the crm_token separately, so that it
// never lands in n. Nothing is interpreted: this is syntax only.
//
// The body is a JSON object (what Prostie Zvonki sends, and the family's
// documentation shows in its examples) or a form
// (application/x-www-form-urlencoded, what the family's documentation
// specifies and MegaFon posts); the Content-Type is not trusted, the first
// byte decides. White space, a UTF-8 byte order mark and the single quotes
// around Prostie Zvonki's examples are tolerated. URL query parameters are
// read first and the body wins over them (the family may send history by
// GET). Of a form key given twice the first value counts.
//
// The error is nil, one matching [ErrSyntax], or a *[FieldError] (see
// there: the token is then valid).
func Decode(body []byte, rawQuery string, n *Notification) (token string, err error) {
	token, typeErr, err := decode(body, rawQuery, n)
	if err != nil {
		return "", err
	}
	if typeErr != nil {
		return token, typeErr
	}
	return token, nil
}

// decode is Decode with the field error apart.
func decode(body []byte, rawQuery string, n *Notification) (token string, typeErr *FieldError, err error) {
	setForm := func(k, v string) {
		if k == "crm_token" {
			token = v
			return
		}
		n.set(k, v)
	}
	if rawQuery != "" {
		walkForm(rawQuery, false, setForm) // a malformed pair is dropped, the rest is used
	}
	b := trimBody(body)
	switch {
	case len(b) == 0:
		if rawQuery == "" {
			return "", nil, ErrSyntax
		}
	case b[0] == '{':
		if !json.Valid(b) {
			return "", nil, ErrSyntax
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
				typeErr = &FieldError{Field: k, Kind: kindOf(json.RawMessage(v))}
			}
		})
	case b[0] == '[':
		return "", nil, ErrSyntax
	default:
		if !walkForm(string(b), true, setForm) {
			return "", nil, ErrSyntax
		}
	}
	if n.CallID == "" {
		n.CallID = n.callIDAlt
	}
	n.callIDAlt = ""
	return token, typeErr, nil
}

// trimBody drops surrounding white space and a UTF-8 byte order mark, and
// the single quotes around a JSON object that Prostie Zvonki's examples
// carry ('{"cmd": ...}' and '{"cmd": ...} with only the opening one):
// someone who pastes an example into a test tool sends them as written.
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

// SetField stores val under the vendor's field name key, as [Decode] does,
// and reports whether key is one of the named fields; any other key goes
// to Extra. "call_id" fills CallID only while it is empty (Decode gives
// "callid" precedence); "crm_token" is stored in Extra like any unknown
// key, so never pass it.
func (n *Notification) SetField(key, val string) bool {
	if key == "call_id" {
		if n.CallID == "" {
			n.CallID = val
		}
		return true
	}
	return n.set(key, val)
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

// The commands of the family. CmdRating is newer than the family's
// 2017–2021 documentation and is passed on as pbx.EventUnknown.
const (
	CmdEvent   = "event"
	CmdHistory = "history"
	CmdContact = "contact"
	CmdRating  = "rating"
)

// ParseEventType maps a cmd=event type, compared case-insensitively:
// INCOMING and OUTGOING are pbx.EventRinging, ACCEPTED pbx.EventAnswered,
// COMPLETED and CANCELLED pbx.EventLegEnded, TRANSFERRED
// pbx.EventTransferred, anything else pbx.EventUnknown. CANCELLED is a leg
// end, not a missed call: in a group ring it is what the phones that did
// not answer get when a colleague answered.
func ParseEventType(t string) pbx.EventType {
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

// ParseDirection reads "in"/"out" in any case; the long forms ("incoming",
// "outbound", ...) and "internal" are accepted too.
func ParseDirection(s string) pbx.Direction {
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

// ParseOutcome maps a history status, compared case-insensitively
// (Prostie Zvonki sends "success"/"missed", MegaFon "Success", "Missed",
// "Cancel", "Busy", ..., its history/json export lower case): Success is
// answered, Missed missed, Busy busy, Cancel cancelled, NotAvailable,
// NotAllowed, NotFound and callAerror (the employee leg of a makecall
// failed, seen in one deployment) failed, anything else unknown.
func ParseOutcome(s string) pbx.Outcome {
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

// ParseSeconds reads a non-negative number of seconds ("50", 50, "50.0",
// "" for 0); field names it in the error.
func ParseSeconds(field, s string) (int64, error) {
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

// CallEvent maps a decoded notification to the neutral event, in the
// dialect d of the vendor that sent it: cmd=event to pbx.EventRinging
// (INCOMING, OUTGOING), pbx.EventAnswered (ACCEPTED), pbx.EventLegEnded
// (COMPLETED, CANCELLED) or pbx.EventTransferred (TRANSFERRED); cmd=history
// to pbx.EventCallEnded with the outcome, times, durations and recording
// link; cmd=rating and commands this package does not know to
// pbx.EventUnknown. (cmd=contact is a routing question: see
// [Notification.RouteQuery].)
//
// loc is the zone of the returned times (nil means
// provider.DefaultLocation()), and of the times the vendor writes without
// a zone unless d.UTC says they are UTC. received is when the notification
// arrived: cmd=event carries no time, so it is the event's At. Provider is
// d.Provider, Raw is d.Raw(n) (n itself without d.Raw), and DedupeKey is
// set.
//
// The fields: Phone is phone normalised by phone.Normalize, Line the
// diversion normalised the same way (either is empty when Normalize
// refuses the text, which stays in n), Extension ext or else user.
// cmd=history carries duration, the whole call with the ringing included
// (the family's documentation: «общая длительность звонка»; Prostie
// Zvonki's example: end − start), which is CallDuration; without it,
// CallDuration is end − start when both times are known. TalkDuration is
// filled only for an answered call whose history carries wait (the
// seconds before the answer): duration − wait, and AnsweredAt is start +
// wait; without wait the talk time is not known and stays zero, never
// guessed. A link, wherever it comes, makes HasRecording true.
//
// An error means a value could not be read (a duration or wait that is not
// a number of seconds); a receiver answers it 400. A time that cannot be
// read is not an error: it stays zero and its text stays in n.
func (n *Notification) CallEvent(d *Dialect, loc *time.Location, received time.Time) (pbx.CallEvent, error) {
	if d == nil {
		d = &Dialect{}
	}
	if loc == nil {
		loc = provider.DefaultLocation()
	}
	e := pbx.CallEvent{
		Provider:  d.Provider,
		CallID:    n.CallID,
		Extension: n.extension(),
		Phone:     phone.Normalize(n.Phone),
		Line:      phone.Normalize(n.Diversion),
		At:        received.In(loc),
		Raw:       d.raw(n),
	}
	// The link comes with cmd=history; wherever it comes, it says the call
	// is recorded.
	if link := strings.TrimSpace(n.Link); link != "" {
		e.RecordingURL, e.HasRecording = link, true
	}
	switch strings.ToLower(n.Cmd) {
	case CmdEvent:
		e.Type = ParseEventType(n.Type)
		e.Direction = ParseDirection(n.Direction)
		if e.Direction == pbx.DirectionUnknown {
			// "direction" is missing from older versions of the family.
			switch {
			case strings.EqualFold(n.Type, "INCOMING"):
				e.Direction = pbx.Inbound
			case strings.EqualFold(n.Type, "OUTGOING"):
				e.Direction = pbx.Outbound
			}
		}
	case CmdHistory:
		if err := n.history(d, &e, loc); err != nil {
			return pbx.CallEvent{}, err
		}
	default: // rating and unknown commands: passed on raw
		e.Type = pbx.EventUnknown
		e.Direction = ParseDirection(n.Direction)
	}
	var buf [256]byte
	e.DedupeKey = n.dedupeKey(buf[:0])
	return e, nil
}

// history fills the fields of a cmd=history event.
func (n *Notification) history(d *Dialect, e *pbx.CallEvent, loc *time.Location) error {
	e.Type = pbx.EventCallEnded
	e.Direction = ParseDirection(n.Type)
	if e.Direction == pbx.DirectionUnknown {
		e.Direction = ParseDirection(n.Direction)
	}
	e.Outcome = ParseOutcome(n.Status)
	dur, err := ParseSeconds("duration", n.Duration)
	if err != nil {
		return err
	}
	wait, err := ParseSeconds("wait", n.Wait)
	if err != nil {
		return err
	}
	// Times are read tolerantly (their zone is uncertain for zone-less
	// forms: see the package doc): one that cannot be read stays zero and
	// its text stays in Raw.
	e.StartedAt, _ = d.ParseTime(n.Start, loc)
	e.EndedAt, _ = d.ParseTime(n.End, loc)
	if e.EndedAt.IsZero() && !e.StartedAt.IsZero() && n.Duration != "" {
		e.EndedAt = e.StartedAt.Add(time.Duration(dur) * time.Second) // the family sends no "end"
	}
	if !e.EndedAt.IsZero() {
		e.At = e.EndedAt
	}
	// duration is the call's whole length, ringing included: CallDuration.
	// Without it, both times give it.
	switch {
	case n.Duration != "":
		e.CallDuration = time.Duration(dur) * time.Second
	case !e.StartedAt.IsZero() && !e.EndedAt.IsZero() && !e.EndedAt.Before(e.StartedAt):
		e.CallDuration = e.EndedAt.Sub(e.StartedAt)
	}
	// Talk time is known only from wait (the seconds before the answer):
	// CallDuration - wait. Without wait it stays zero: ringing time is not
	// guessed.
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

// RouteQuery maps a cmd=contact notification (the question «who is the
// caller and who is responsible for them», asked before the call is
// routed) to the neutral routing question of d's vendor: the caller's
// Phone and the company Line normalised by phone.Normalize (empty when it
// refuses the text, which stays in n), the CallID when the vendor sends
// one, Provider d.Provider and Raw d.Raw(n).
func (n *Notification) RouteQuery(d *Dialect) pbx.RouteQuery {
	if d == nil {
		d = &Dialect{}
	}
	return pbx.RouteQuery{
		Provider: d.Provider,
		CallID:   n.CallID,
		Phone:    phone.Normalize(n.Phone),
		Line:     phone.Normalize(n.Diversion),
		Raw:      d.raw(n),
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

// The JSON scanner Decode uses: one pass over a validated body.

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

// The form reader Decode uses.

// maxFormParams is the most pairs a form or query may have, as
// url.ParseQuery allows by default; a longer one is not read at all.
const maxFormParams = 10000

// walkForm calls fn with the first value of each key of the form s
// (application/x-www-form-urlencoded), unescaped, as url.ParseQuery reads
// it: pairs separated by "&", "+" for a space, %XX escapes, empty pairs
// skipped. A pair with a ";" or a malformed escape makes a strict walk
// fail before fn is called (url.ParseQuery's error) and is skipped by a
// lenient one; more than maxFormParams pairs fail both. Pairs are visited
// from the last to the first, so that the first value of a key is the one
// fn is called with last. Values without escapes are substrings of s.
func walkForm(s string, strict bool, fn func(key, val string)) bool {
	if strings.Count(s, "&")+1 > maxFormParams {
		return false
	}
	if strict {
		for rest := s; rest != ""; {
			var pair string
			pair, rest, _ = strings.Cut(rest, "&")
			if !validPair(pair) {
				return false
			}
		}
	}
	for end := len(s); end >= 0; {
		start := strings.LastIndexByte(s[:end], '&') + 1
		pair := s[start:end]
		end = start - 1
		if pair == "" || !validPair(pair) {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		fn(unescape(k), unescape(v))
	}
	return true
}

// validPair reports whether url.ParseQuery accepts the pair: no ";" and
// every "%" followed by two hex digits.
func validPair(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case ';':
			return false
		case '%':
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return false
			}
			i += 2
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// unescape decodes a validated form component; without "%" or "+" it is
// the component itself.
func unescape(s string) string {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s
	}
	u, err := url.QueryUnescape(s)
	if err != nil { // cannot happen for a validated component
		return ""
	}
	return u
}
