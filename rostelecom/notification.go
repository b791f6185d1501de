package rostelecom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
	"github.com/pbxkit/pbxkit/provider"
)

// Notification names: the PBX appends them to the external-system address
// («Адрес внешней системы») as the last path segment.
const (
	NotifyCallEvents           = "call_events"
	NotifyGetNumberInfo        = "get_number_info"
	NotifyHistoryFileCompleted = "history_file_completed"
)

// TimestampLayout is the layout of call_events timestamps
// ("2018-04-23 15:01:27.214"), local time without a zone.
const TimestampLayout = "2006-01-02 15:04:05.000"

// CallEventNotification is a call_events notification as the PBX sends it.
// It is the Raw payload of the pbx.CallEvent the webhook makes of it. Its
// fields take JSON numbers, booleans and null too (kept as written, null as
// "").
type CallEventNotification struct {
	// State is new, calling, connected, disconnected or end (analytics and
	// others may appear; they become pbx.EventUnknown).
	State string `json:"state"`
	// Type is incoming, outbound or internal.
	Type      string `json:"type"`
	SessionID string `json:"session_id"`
	// Timestamp is a local time, "2018-04-23 15:01:27.214".
	Timestamp string `json:"timestamp"`
	// FromNumber is the caller: E.164 digits or a SIP URI.
	FromNumber string `json:"from_number"`
	// FromPIN is the caller's extension, on outbound and internal calls.
	FromPIN string `json:"from_pin,omitempty"`
	// RequestNumber is the callee; on incoming calls, the line at first and
	// the answering user after an answer.
	RequestNumber string `json:"request_number"`
	// RequestPIN is the callee's extension, on incoming and internal calls.
	RequestPIN string `json:"request_pin,omitempty"`
	// DisconnectReason comes with disconnected: "" no connection, "0"
	// transfer, "3" busy, "4" the caller hung up, "5" a successful call
	// (texts in the manual's example).
	DisconnectReason string `json:"disconnect_reason,omitempty"`
	// IsRecord comes with end: the string "true" when a recording exists.
	IsRecord string `json:"is_record,omitempty"`
	// Domain is sent by some platform versions.
	Domain string `json:"domain,omitempty"`
	// Body is the notification exactly as received, for fields not listed
	// here.
	Body json.RawMessage `json:"-"`
}

// Recorded reports whether IsRecord says a recording exists.
func (n *CallEventNotification) Recorded() bool {
	v, _ := provider.ParseBool(n.IsRecord)
	return v
}

// NumberInfoRequest is the PBX's get_number_info question: who is calling
// and where should the call go. It is the Raw payload of the pbx.RouteQuery.
type NumberInfoRequest struct {
	// Domain is the domain that received the call.
	Domain string `json:"domain"`
	// FromNumber is the caller, E.164 digits without "+".
	FromNumber string `json:"from_number"`
	// RequestNumber is the line called, E.164 digits.
	RequestNumber string `json:"request_number"`
	// SessionID is not in the manual; read when a platform sends it.
	SessionID string `json:"session_id,omitempty"`
	// Body is the question exactly as received.
	Body json.RawMessage `json:"-"`
}

// RouteQuery maps the question to a pbx.RouteQuery: Phone is from_number
// and Line request_number, both normalised; CallID is session_id when a
// platform sends one; Raw is q.
func (q *NumberInfoRequest) RouteQuery() pbx.RouteQuery {
	return pbx.RouteQuery{
		Provider: Name,
		CallID:   strings.TrimSpace(q.SessionID),
		Phone:    number(q.FromNumber),
		Line:     number(q.RequestNumber),
		Raw:      q,
	}
}

// NumberInfoAnswer is the answer to get_number_info. The key spellings
// displayName and PIN matter.
type NumberInfoAnswer struct {
	Result        string `json:"result"`
	ResultMessage string `json:"resultMessage"`
	// DisplayName is shown on the employee's phone.
	DisplayName string `json:"displayName"`
	// PIN is the extension (user or group) to route the call to; empty
	// leaves routing to the domain's rules.
	PIN string `json:"PIN"`
}

// HistoryFileCompleted is the history_file_completed notification: the
// export ordered with domain_call_history is ready. Only order_id and result
// are known; Body keeps the rest.
type HistoryFileCompleted struct {
	OrderID       string          `json:"order_id"`
	Result        string          `json:"result"`
	ResultMessage string          `json:"resultMessage,omitempty"`
	Body          json.RawMessage `json:"-"`
}

// CallEvent maps the notification to a pbx.CallEvent of type
// pbx.EventUnknown (it is about an export, not a call), at the current time
// in loc (nil: Europe/Moscow), with n as Raw.
func (n *HistoryFileCompleted) CallEvent(loc *time.Location) pbx.CallEvent {
	if loc == nil {
		loc = provider.DefaultLocation()
	}
	return pbx.CallEvent{
		Provider:  Name,
		Type:      pbx.EventUnknown,
		At:        time.Now().In(loc),
		DedupeKey: provider.DedupeKey(n.Body),
		Raw:       n,
	}
}

// ParseCallEvent decodes a call_events body and maps it to a pbx.CallEvent,
// with loc the zone of the PBX's local times (nil: Europe/Moscow). It does
// not check the signature: the webhook does that before decoding.
//
// States map as new: EventCallStarted, calling: EventRinging, connected:
// EventAnswered, disconnected: EventLegEnded, end: EventCallEnded; other
// states give EventUnknown. Stray spaces and letter case in state and type
// are ignored. Type incoming, outbound, internal gives the direction.
// Phone is the external party (from_number of an incoming call,
// request_number of an outbound one), normalised; Line is request_number of
// an incoming "new" event (later events carry the answering user there);
// Extension is request_pin on incoming calls, from_pin on outbound ones, and
// request_pin, else from_pin, on internal ones. At is the timestamp in loc
// (the receive time when it is missing or unreadable); StartedAt,
// AnsweredAt and EndedAt are set to At on new, connected and end.
// HasRecording is is_record (sent with end). The notifications carry no
// duration, so TalkDuration and CallDuration stay zero, and the end event
// does not say whether the call was answered: Outcome stays OutcomeUnknown
// (see Config.ResolveEnded and Client.CallInfo). Raw is the
// *CallEventNotification.
func ParseCallEvent(body []byte, loc *time.Location) (pbx.CallEvent, error) {
	n, err := decodeCallEvent(body)
	if err != nil {
		return pbx.CallEvent{}, err
	}
	return n.CallEvent(loc), nil
}

func decodeCallEvent(body []byte) (*CallEventNotification, error) {
	n := &CallEventNotification{}
	if err := decodeObject(body, n); err != nil {
		return nil, err
	}
	n.Body = body
	return n, nil
}

// decodeObject decodes a JSON object body into v, a pointer to a struct of
// string fields, with a short, clear error. Values of other JSON types that
// have a text form (numbers, booleans, null) are accepted for the string
// fields, as provider.String accepts them.
func decodeObject(body []byte, v any) error {
	i := 0
	for i < len(body) && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n') {
		i++
	}
	if i == len(body) {
		return errors.New("empty body")
	}
	if body[i] != '{' {
		return errors.New("body is not a JSON object")
	}
	err := json.Unmarshal(body, v)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		// Rare: a number where a string is expected. Decode again,
		// leniently; plain strings keep the common path fast.
		err = decodeLenient(body, v)
	}
	if err != nil {
		return fmt.Errorf("invalid JSON: %v", err)
	}
	return nil
}

// decodeLenient decodes the JSON object body into the string fields of the
// struct *v through provider.String, matching keys as encoding/json does
// (exact name first, then case-insensitively).
func decodeLenient(body []byte, v any) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return err
	}
	rv := reflect.ValueOf(v).Elem()
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || f.Type.Kind() != reflect.String {
			continue
		}
		raw, ok := obj[name]
		if !ok {
			for k, r := range obj {
				if strings.EqualFold(k, name) {
					raw, ok = r, true
					break
				}
			}
		}
		if !ok {
			continue
		}
		var str provider.String
		if err := str.UnmarshalJSON(raw); err != nil {
			return fmt.Errorf("field %s: want a string or number, got %s", name, provider.Excerpt(raw))
		}
		rv.Field(i).SetString(string(str))
	}
	return nil
}

// CallEvent maps the notification to a pbx.CallEvent as [ParseCallEvent]
// describes, with loc the zone of the PBX's local times (nil:
// Europe/Moscow). A missing or unreadable timestamp gives the current time.
func (n *CallEventNotification) CallEvent(loc *time.Location) pbx.CallEvent {
	if loc == nil {
		loc = provider.DefaultLocation()
	}
	return n.callEvent(loc, time.Now())
}

// callEvent maps the notification; now is the receive time.
func (n *CallEventNotification) callEvent(loc *time.Location, now time.Time) pbx.CallEvent {
	e := pbx.CallEvent{
		Provider:  Name,
		Type:      eventType(n.State),
		CallID:    strings.TrimSpace(n.SessionID),
		Direction: direction(n.Type),
		DedupeKey: provider.DedupeKey(n.Body),
		// is_record comes with end; a "true" there says the call is
		// recorded (the link is asked for with get_record).
		HasRecording: n.Recorded(),
		Raw:          n,
	}
	// The timestamp's zone is not stated; it is read in the configured
	// Location (Moscow by default, as integrations assume).
	if t, ok := localTime(n.Timestamp, loc); ok {
		e.At = t
	} else {
		e.At = now.In(loc)
	}
	requestPIN := strings.TrimSpace(n.RequestPIN)
	fromPIN := strings.TrimSpace(n.FromPIN)
	switch e.Direction {
	case pbx.Inbound:
		e.Phone = number(n.FromNumber)
		e.Extension = requestPIN
		// request_number is the line only before routing: later events
		// carry the user who rings or answered there.
		if e.Type == pbx.EventCallStarted {
			e.Line = number(n.RequestNumber)
		}
	case pbx.Outbound:
		e.Phone = number(n.RequestNumber)
		e.Extension = fromPIN
	default:
		e.Extension = requestPIN
		if e.Extension == "" {
			e.Extension = fromPIN
		}
	}
	switch e.Type {
	case pbx.EventCallStarted:
		e.StartedAt = e.At
	case pbx.EventAnswered:
		e.AnsweredAt = e.At
	case pbx.EventCallEnded:
		e.EndedAt = e.At
	}
	return e
}

// eventType maps a state. Stray spaces are trimmed (the manual's own example
// has " disconnected ") and case is ignored; states added in later versions
// ("analytics") are EventUnknown, never an error.
func eventType(state string) pbx.EventType {
	switch s := strings.TrimSpace(state); {
	case strings.EqualFold(s, "new"):
		return pbx.EventCallStarted
	case strings.EqualFold(s, "calling"):
		return pbx.EventRinging
	case strings.EqualFold(s, "connected"):
		return pbx.EventAnswered
	case strings.EqualFold(s, "disconnected"):
		return pbx.EventLegEnded
	case strings.EqualFold(s, "end"):
		return pbx.EventCallEnded
	}
	return pbx.EventUnknown
}

// direction maps a type; "outgoing" is accepted beside the documented
// "outbound", as some integrations spell it.
func direction(typ string) pbx.Direction {
	switch t := strings.TrimSpace(typ); {
	case strings.EqualFold(t, "incoming"):
		return pbx.Inbound
	case strings.EqualFold(t, "outbound"), strings.EqualFold(t, "outgoing"):
		return pbx.Outbound
	case strings.EqualFold(t, "internal"):
		return pbx.Internal
	}
	return pbx.DirectionUnknown
}

// number returns the telephone number in s (E.164 digits, a SIP URI with or
// without "sip:", "+7...", "8..."), normalised by phone.Normalize, or ""
// when s holds a login rather than a number.
func number(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if i := strings.IndexByte(s, '@'); i >= 0 && !strings.ContainsRune(s[:i], ':') {
		s = s[:i] // "79771234567@domain" without a scheme
	}
	n := phone.Normalize(s)
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return ""
		}
	}
	return n
}

// localTime reads a PBX time with provider.ParseLocalTime:
// "YYYY-MM-DD HH:MM:SS[.mmm]" (or with "T") in loc, or Unix seconds
// (milliseconds above 1e12). ok is false for an empty or unreadable value.
func localTime(s string, loc *time.Location) (t time.Time, ok bool) {
	t, err := provider.ParseLocalTime(s, loc)
	return t, err == nil && !t.IsZero()
}

// resolve fills the outcome, times and durations of an end event from
// call_info, under ResolveTimeout; on failure e stays as it is
// (OutcomeUnknown).
//
// call_info's duration is read as the whole call, ringing included (see
// CallInfo.Duration), so it fills CallDuration; 0 means "no connection"
// and leaves it unknown. The talk time and the answer time are filled only
// when session_log shows when the call was connected (its first "cc"
// entry): TalkDuration is duration minus that offset, AnsweredAt the start
// plus it. The session_log grammar is inferred from one sample; a log that
// does not read so leaves both zero.
func (c *Client) resolve(ctx context.Context, e *pbx.CallEvent) {
	ctx, cancel := context.WithTimeout(ctx, ResolveTimeout)
	defer cancel()
	res, err := c.CallInfo(ctx, e.CallID)
	if err != nil || res.Info == nil {
		if err == nil {
			err = errors.New("answer has no info")
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "rostelecom: call_info for an end event failed",
			slog.String("call_id", e.CallID), slog.String("error", err.Error()))
		return
	}
	info := res.Info
	switch info.State {
	case 1:
		e.Outcome = pbx.OutcomeAnswered
	case 2:
		e.Outcome = pbx.OutcomeMissed
	}
	if info.IsRecord {
		e.HasRecording = true
	}
	start, hasStart := info.StartedAt(c.cfg.Location)
	if hasStart {
		e.StartedAt = start
	}
	call := info.CallDuration()
	if call <= 0 {
		return
	}
	e.CallDuration = call
	if off, ok := info.AnswerOffset(); ok && e.Outcome == pbx.OutcomeAnswered && off <= call {
		e.TalkDuration = call - off
		if hasStart {
			e.AnsweredAt = start.Add(off)
		}
	}
}
