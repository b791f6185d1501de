package zadarma

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
	"github.com/pbxkit/pbxkit/provider"
)

// The event types of Zadarma's PBX call notifications ("Уведомления о
// звонках в АТС"), the "event" field of each. These are the eight the
// official clients know and sign; any other is refused by the webhook (its
// signed fields are unknown, so it cannot be authenticated).
const (
	// EventStart: an incoming call reached the PBX. The webhook's answer
	// may redirect it (the routing question).
	EventStart = "NOTIFY_START"
	// EventInternal: the incoming call is put through to an extension.
	EventInternal = "NOTIFY_INTERNAL"
	// EventAnswer: the call was answered.
	EventAnswer = "NOTIFY_ANSWER"
	// EventEnd: an incoming call ended.
	EventEnd = "NOTIFY_END"
	// EventOutStart: an extension started an outgoing call.
	EventOutStart = "NOTIFY_OUT_START"
	// EventOutEnd: an outgoing call ended.
	EventOutEnd = "NOTIFY_OUT_END"
	// EventRecord: a call's recording is stored.
	EventRecord = "NOTIFY_RECORD"
	// EventIVR: a voice-menu step the webhook asked for (a played file,
	// collected digits) finished. The answer may redirect the call.
	EventIVR = "NOTIFY_IVR"
)

// Notification is one decoded Zadarma call notification, the Raw of the
// pbx.CallEvent ([Notification.CallEvent]) or pbx.RouteQuery
// ([Notification.RouteQuery]) made from it. Every field is the form field
// as received, unchanged (the signature covers some of them byte for
// byte); Params holds every field received.
type Notification struct {
	// Event is the event type, one of the Event constants.
	Event string `json:"event"`
	// CallStart is when the call started, "2006-01-02 15:04:05" in the
	// account's time zone.
	CallStart string `json:"call_start,omitempty"`
	// PBXCallID is the call's permanent id ("in_" or "out_" and 40 hex
	// digits), the same in every notification of the call and in the
	// statistics.
	PBXCallID string `json:"pbx_call_id,omitempty"`
	// CallerID is the caller's number.
	CallerID string `json:"caller_id,omitempty"`
	// CalledDID is the number that was called (the company line of an
	// incoming call).
	CalledDID string `json:"called_did,omitempty"`
	// Internal is the extension involved.
	Internal string `json:"internal,omitempty"`
	// Destination is the number called: the external number of an
	// outgoing call; on NOTIFY_ANSWER "the number that was called".
	Destination string `json:"destination,omitempty"`
	// Duration is "length in seconds" (NOTIFY_END, NOTIFY_OUT_END). What
	// it measures (the talk or the whole call) is not documented: see
	// [Notification.CallEvent].
	Duration string `json:"duration,omitempty"`
	// Disposition is how the call ended: answered, busy, cancel, no
	// answer, failed (or "call failed"), no money, unallocated number, no
	// limit, no day limit, line limit, "no money, no limit".
	Disposition string `json:"disposition,omitempty"`
	// StatusCode is the Q.931 cause code of the end.
	StatusCode string `json:"status_code,omitempty"`
	// IsRecorded is "1" when the call was recorded, "0" when not.
	IsRecorded string `json:"is_recorded,omitempty"`
	// CallIDWithRec is the id of the call's recording (the call_id of
	// pbx/record/request). Zadarma advises fetching it about 40 s after
	// the end notification.
	CallIDWithRec string `json:"call_id_with_rec,omitempty"`
	// WaitDTMF is what NOTIFY_IVR reports of the digits the caller was
	// asked for (wait_dtmf), when present.
	WaitDTMF *WaitDTMF `json:"wait_dtmf,omitempty"`
	// Params holds every field received.
	Params url.Values `json:"-"`
}

// WaitDTMF is the wait_dtmf part of a NOTIFY_IVR: the answer to a digit
// prompt the webhook asked for.
type WaitDTMF struct {
	// Name is the prompt's name, as the webhook gave it.
	Name string `json:"name,omitempty"`
	// Digits are the digits entered.
	Digits string `json:"digits,omitempty"`
	// DefaultBehaviour is set when the caller entered nothing and the
	// prompt's default applied.
	DefaultBehaviour string `json:"default_behaviour,omitempty"`
}

// SignedString returns the text Zadarma signs for n's event type, and
// false for an event type this package does not know. Each type signs some
// of its fields, concatenated as received (per the official clients'
// getSignatureString):
//
//   - NOTIFY_START, NOTIFY_INTERNAL, NOTIFY_END, NOTIFY_IVR: caller_id +
//     called_did + call_start;
//   - NOTIFY_ANSWER: caller_id + destination + call_start;
//   - NOTIFY_OUT_START, NOTIFY_OUT_END: internal + destination + call_start;
//   - NOTIFY_RECORD: pbx_call_id + call_id_with_rec.
//
// The event type itself and the other fields are not signed.
func (n *Notification) SignedString() (string, bool) {
	parts, ok := n.signedParts()
	return parts[0] + parts[1] + parts[2], ok
}

// signedParts returns the fields SignedString concatenates, in order.
func (n *Notification) signedParts() ([3]string, bool) {
	switch n.Event {
	case EventStart, EventInternal, EventEnd, EventIVR:
		return [3]string{n.CallerID, n.CalledDID, n.CallStart}, true
	case EventAnswer:
		return [3]string{n.CallerID, n.Destination, n.CallStart}, true
	case EventOutStart, EventOutEnd:
		return [3]string{n.Internal, n.Destination, n.CallStart}, true
	case EventRecord:
		return [3]string{n.PBXCallID, n.CallIDWithRec}, true
	}
	return [3]string{}, false
}

// errNotObject is the error for a body that announces JSON but is not a
// JSON object.
var errNotObject = errors.New("body is not a form or a JSON object")

// ParseNotification decodes a notification body: a form
// (application/x-www-form-urlencoded, what Zadarma posts; PHP-style
// wait_dtmf[name] keys are read), or, tolerated, a JSON object (when
// contentType says JSON or the body starts with "{"). Values are kept
// exactly as received. A body that announces JSON but is not a JSON object
// is an error; any form is accepted.
func ParseNotification(body []byte, contentType string) (*Notification, error) {
	params := make(url.Values, 16)
	t := bytes.TrimSpace(body)
	if len(t) > 0 && (t[0] == '{' || isJSONType(contentType)) {
		if err := jsonParamsInto(params, t); err != nil {
			return nil, err
		}
	} else {
		parseFormInto(params, string(body))
	}
	n := &Notification{
		Event:         first(params, "event"),
		CallStart:     first(params, "call_start"),
		PBXCallID:     first(params, "pbx_call_id"),
		CallerID:      first(params, "caller_id"),
		CalledDID:     first(params, "called_did"),
		Internal:      first(params, "internal"),
		Destination:   first(params, "destination"),
		Duration:      first(params, "duration"),
		Disposition:   first(params, "disposition"),
		StatusCode:    first(params, "status_code"),
		IsRecorded:    first(params, "is_recorded"),
		CallIDWithRec: first(params, "call_id_with_rec"),
		Params:        params,
	}
	w := WaitDTMF{
		Name:             first(params, "wait_dtmf[name]"),
		Digits:           first(params, "wait_dtmf[digits]"),
		DefaultBehaviour: first(params, "wait_dtmf[default_behaviour]"),
	}
	if raw := first(params, "wait_dtmf"); raw != "" && w == (WaitDTMF{}) {
		// A JSON body's object, or a form field holding JSON.
		var j struct {
			Name             provider.String `json:"name"`
			Digits           provider.String `json:"digits"`
			DefaultBehaviour provider.String `json:"default_behaviour"`
		}
		if json.Unmarshal([]byte(raw), &j) == nil {
			w = WaitDTMF{Name: string(j.Name), Digits: string(j.Digits), DefaultBehaviour: string(j.DefaultBehaviour)}
		}
	}
	if w != (WaitDTMF{}) {
		n.WaitDTMF = &w
	}
	return n, nil
}

// parseFormInto adds the pairs of a form body to dst. Unlike
// url.ParseQuery it keeps ";" inside values and never fails: a pair that
// cannot be unescaped is kept as written.
func parseFormInto(dst url.Values, s string) {
	// One backing array for all the values instead of one per name; the
	// three-index slices make a repeated name's append copy, not overwrite.
	backing := make([]string, 0, strings.Count(s, "&")+1)
	for s != "" {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		if k == "" {
			continue
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		if old, ok := dst[k]; ok {
			dst[k] = append(old, v)
			continue
		}
		i := len(backing)
		backing = append(backing, v)
		dst[k] = backing[i : i+1 : i+1]
	}
}

// isJSONType reports whether a Content-Type is JSON, whatever its case and
// parameters.
func isJSONType(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// jsonParamsInto adds the members of a JSON object as strings: strings as
// they are, numbers and booleans as written, null as "", objects and
// arrays as their JSON text.
func jsonParamsInto(dst url.Values, b []byte) error {
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil || m == nil {
		return errNotObject
	}
	for k, raw := range m {
		if k == "" {
			continue
		}
		raw = bytes.TrimSpace(raw)
		v := string(raw)
		switch {
		case len(raw) > 0 && raw[0] == '"':
			var s string
			if json.Unmarshal(raw, &s) == nil {
				v = s
			}
		case string(raw) == "null":
			v = ""
		}
		dst[k] = append(dst[k], v)
	}
	return nil
}

func first(params url.Values, key string) string {
	if vs := params[key]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// callTimeLayout is the layout of call_start and of the statistics' times.
const callTimeLayout = "2006-01-02 15:04:05"

// Direction says who started the call: the pbx_call_id's prefix ("in_"
// inbound, "out_" outbound; inferred from the ids in Zadarma's examples),
// else the event type (NOTIFY_START, NOTIFY_INTERNAL, NOTIFY_END and
// NOTIFY_IVR are documented for incoming calls, NOTIFY_OUT_START and
// NOTIFY_OUT_END for outgoing ones); unknown for NOTIFY_ANSWER and
// NOTIFY_RECORD without a prefix.
func (n *Notification) Direction() pbx.Direction {
	if d := idDirection(n.PBXCallID); d != pbx.DirectionUnknown {
		return d
	}
	switch n.Event {
	case EventStart, EventInternal, EventEnd, EventIVR:
		return pbx.Inbound
	case EventOutStart, EventOutEnd:
		return pbx.Outbound
	}
	return pbx.DirectionUnknown
}

// idDirection reads the direction from a pbx_call_id's prefix.
func idDirection(id string) pbx.Direction {
	id = strings.TrimSpace(id)
	switch {
	case strings.HasPrefix(id, "in_"):
		return pbx.Inbound
	case strings.HasPrefix(id, "out_"):
		return pbx.Outbound
	}
	return pbx.DirectionUnknown
}

// eventType maps the event types to the neutral ones.
func eventType(event string) pbx.EventType {
	switch event {
	case EventStart, EventOutStart:
		return pbx.EventCallStarted
	case EventInternal:
		return pbx.EventRinging
	case EventAnswer:
		return pbx.EventAnswered
	case EventEnd, EventOutEnd:
		return pbx.EventCallEnded
	}
	return pbx.EventUnknown
}

// DispositionOutcome maps a disposition (of a notification or of a
// statistics row), case-insensitively: answered is answered; "no answer"
// missed; busy busy; cancel cancelled; failed, "call failed" and the
// account's limits (no money, unallocated number, no limit, no day limit,
// line limit, "no money, no limit") failed; anything else unknown.
func DispositionOutcome(s string) pbx.Outcome {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "answered", "answer":
		return pbx.OutcomeAnswered
	case "no answer", "noanswer":
		return pbx.OutcomeMissed
	case "busy":
		return pbx.OutcomeBusy
	case "cancel", "cancelled", "canceled":
		return pbx.OutcomeCancelled
	case "failed", "call failed", "no money", "unallocated number", "no limit", "no day limit", "line limit", "no money, no limit":
		return pbx.OutcomeFailed
	}
	return pbx.OutcomeUnknown
}

// isShortNumber reports whether s looks like an extension (up to 5
// digits) rather than a telephone number.
func isShortNumber(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// CallEvent maps the notification to the neutral form, with n itself as
// its Raw. Times are read in loc (nil means Europe/Moscow), the account's
// time zone; received is the time the notification arrived.
//
//   - NOTIFY_START → EventCallStarted (Phone caller_id, Line called_did);
//     NOTIFY_OUT_START → EventCallStarted of an outgoing call (Extension
//     internal, Phone destination). Their At is call_start.
//   - NOTIFY_INTERNAL → EventRinging at the extension internal.
//   - NOTIFY_ANSWER → EventAnswered by internal.
//   - NOTIFY_END, NOTIFY_OUT_END → EventCallEnded with the Outcome from
//     disposition, HasRecording from is_recorded and CallDuration from
//     duration (see below).
//   - NOTIFY_RECORD, NOTIFY_IVR and unknown types → EventUnknown; a
//     NOTIFY_RECORD has HasRecording set.
//
// CallID is pbx_call_id; StartedAt is call_start. At is call_start for the
// two start notifications, else received: the others carry no time of
// their own, so AnsweredAt and EndedAt stay zero (the receive time stands
// for them in At).
//
// duration is documented only as "length in seconds". It is read as the
// whole call (CallDuration), the reading that claims no talk on a call
// nobody answered; TalkDuration stays zero. Whether Zadarma's figure
// includes the ringing is not settled by the sources (an uncertain point of
// the package).
func (n *Notification) CallEvent(loc *time.Location, received time.Time) pbx.CallEvent {
	if loc == nil {
		loc = provider.DefaultLocation()
	}
	dir := n.Direction()
	ce := pbx.CallEvent{
		Provider:  Name,
		Type:      eventType(n.Event),
		CallID:    strings.TrimSpace(n.PBXCallID),
		Direction: dir,
		At:        received.In(loc),
		DedupeKey: n.dedupeKey(),
		Raw:       n,
	}
	start, err := time.ParseInLocation(callTimeLayout, strings.TrimSpace(n.CallStart), loc)
	if err != nil {
		if t, perr := provider.ParseLocalTime(n.CallStart, loc); perr == nil {
			start = t
		}
	}
	ce.StartedAt = start
	if ce.Type == pbx.EventCallStarted && !start.IsZero() {
		ce.At = start
	}
	internal := strings.TrimSpace(n.Internal)
	switch n.Event {
	case EventOutStart, EventOutEnd:
		ce.Extension = internal
		ce.Phone = phone.Normalize(strings.TrimSpace(n.Destination))
		// caller_id of an outgoing call is the number shown to the called
		// party when it is a telephone number (inferred), not an extension.
		if c := strings.TrimSpace(n.CallerID); c != "" && !isShortNumber(c) && c != internal {
			ce.Line = phone.Normalize(c)
		}
	case EventRecord:
		ce.HasRecording = true
	default:
		ce.Extension = internal
		if dir == pbx.Outbound {
			ce.Phone = phone.Normalize(strings.TrimSpace(n.Destination))
		} else {
			ce.Phone = phone.Normalize(strings.TrimSpace(n.CallerID))
			ce.Line = phone.Normalize(strings.TrimSpace(n.CalledDID))
		}
	}
	if ce.Type == pbx.EventCallEnded {
		ce.Outcome = DispositionOutcome(n.Disposition)
		ce.HasRecording = strings.TrimSpace(n.IsRecorded) == "1"
		if d, err := provider.ParseSeconds(n.Duration); err == nil && d > 0 {
			ce.CallDuration = d
		}
	}
	return ce
}

// RouteQuery maps a routing question (NOTIFY_START, NOTIFY_IVR) to the
// neutral form, with n itself as its Raw: CallID is pbx_call_id, Phone the
// caller (caller_id) and Line the number called (called_did), both
// normalised by phone.Normalize, and Digits the digits a NOTIFY_IVR's
// wait_dtmf reports.
func (n *Notification) RouteQuery() pbx.RouteQuery {
	q := pbx.RouteQuery{
		Provider: Name,
		CallID:   strings.TrimSpace(n.PBXCallID),
		Phone:    phone.Normalize(strings.TrimSpace(n.CallerID)),
		Line:     phone.Normalize(strings.TrimSpace(n.CalledDID)),
		Raw:      n,
	}
	if n.WaitDTMF != nil {
		q.Digits = strings.TrimSpace(n.WaitDTMF.Digits)
	}
	return q
}

// dedupeKey is equal for two deliveries of the same notification: it
// covers every field, in sorted order, so field order does not matter. A
// Notification built by hand, without Params, is keyed by its fields.
func (n *Notification) dedupeKey() string {
	params := n.Params
	if params == nil {
		params = n.values()
	}
	var keysBuf [24]string
	keys := keysBuf[:0]
	size := 0
	for k, vs := range params {
		keys = append(keys, k)
		size += len(k) + 2
		for _, v := range vs {
			size += len(v) + 1
		}
	}
	slices.Sort(keys)
	var stack [512]byte
	buf := stack[:0]
	if size > len(stack) {
		buf = make([]byte, 0, size)
	}
	for _, k := range keys {
		buf = append(buf, k...)
		buf = append(buf, '=')
		for _, v := range params[k] {
			buf = append(buf, v...)
			buf = append(buf, 0)
		}
		buf = append(buf, '&')
	}
	return provider.DedupeKey(buf)
}

// values returns the fields n's fields stand for, for a Notification built
// without Params.
func (n *Notification) values() url.Values {
	v := url.Values{}
	for k, val := range map[string]string{
		"event": n.Event, "call_start": n.CallStart, "pbx_call_id": n.PBXCallID, "caller_id": n.CallerID,
		"called_did": n.CalledDID, "internal": n.Internal, "destination": n.Destination, "duration": n.Duration,
		"disposition": n.Disposition, "status_code": n.StatusCode, "is_recorded": n.IsRecorded,
		"call_id_with_rec": n.CallIDWithRec,
	} {
		if val != "" {
			v.Set(k, val)
		}
	}
	if w := n.WaitDTMF; w != nil {
		v.Set("wait_dtmf[name]", w.Name)
		v.Set("wait_dtmf[digits]", w.Digits)
		v.Set("wait_dtmf[default_behaviour]", w.DefaultBehaviour)
	}
	return v
}
