package sipuni

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
	"github.com/pbxkit/pbxkit/provider"
)

// Event is a decoded Sipuni PBX event ("События на АТС"), the Raw of the
// pbx.CallEvent [Event.CallEvent] makes from it. Every field is the parameter as received
// (trimmed), so nothing is lost to a value this package cannot read.
type Event struct {
	// Event is the event code: "1" call/leg ringing, "2" final hangup, "3"
	// answer, "4" secondary hangup (a leg ended, the call goes on). Other
	// codes are passed on as pbx.EventUnknown.
	Event string `json:"event"`
	// CallID is the call id, such as "1774372146.533584", the same across
	// all events of a call.
	CallID string `json:"call_id,omitempty"`
	// SrcNum and DstNum are the parties: external numbers as digits,
	// employees as account + extension ("070196201"); DstNum may carry an
	// "_id…" suffix.
	SrcNum string `json:"src_num,omitempty"`
	DstNum string `json:"dst_num,omitempty"`
	// SrcType and DstType are "1" for an external number and "2" for an
	// employee.
	SrcType string `json:"src_type,omitempty"`
	DstType string `json:"dst_type,omitempty"`
	// ShortSrcNum and ShortDstNum are the extensions ("201"); for external
	// parties, the external number.
	ShortSrcNum string `json:"short_src_num,omitempty"`
	ShortDstNum string `json:"short_dst_num,omitempty"`
	// PBXDstNum is the number the PBX dialled, maybe with a "+".
	PBXDstNum string `json:"pbxdstnum,omitempty"`
	// Timestamp is when this event happened, Unix seconds.
	Timestamp string `json:"timestamp,omitempty"`
	// Status is the hangup status of events 2 and 4: ANSWER, BUSY,
	// NOANSWER, CANCEL, CONGESTION or CHANUNAVAIL.
	Status string `json:"status,omitempty"`
	// CallStartTimestamp and CallAnswerTimestamp (events 2 and 4) are Unix
	// seconds; an answer time of "0" means never answered.
	CallStartTimestamp  string `json:"call_start_timestamp,omitempty"`
	CallAnswerTimestamp string `json:"call_answer_timestamp,omitempty"`
	// CallRecordLink is the recording link, URL-decoded when Sipuni sent it
	// encoded. It carries its own hash: use it as given.
	CallRecordLink string `json:"call_record_link,omitempty"`
	// LastCalled lists the extensions rung last ("102,103" is split).
	LastCalled []string `json:"last_called,omitempty"`
	// TransferFrom is who transferred the call.
	TransferFrom string `json:"transfer_from,omitempty"`
	// Channel is the Asterisk channel.
	Channel string `json:"channel,omitempty"`
	// UserID is the account number.
	UserID string `json:"user_id,omitempty"`
	// TreeName and TreeNumber are the call scheme ("Входящая",
	// "000-913901").
	TreeName   string `json:"treeName,omitempty"`
	TreeNumber string `json:"treeNumber,omitempty"`
	// IsInnerCall is "1" for an employee-to-employee call.
	IsInnerCall string `json:"is_inner_call,omitempty"`
	// Params holds every parameter received except the webhook token.
	Params url.Values `json:"-"`
}

// RouteQuestion is a decoded routing-node question (the "HTTP-запрос" scheme
// function), the Raw of the pbx.RouteQuery [RouteQuestion.RouteQuery] makes
// from it.
type RouteQuestion struct {
	// FromNum is the caller's number and ToNum the company number called.
	FromNum string `json:"fromnum,omitempty"`
	ToNum   string `json:"tonum,omitempty"`
	// DTMF holds the digits entered in a preceding voice menu.
	DTMF string `json:"dtmf,omitempty"`
	// Label is the scheme function's label, telling several such functions
	// apart.
	Label string `json:"label,omitempty"`
	// Time is when the call reached the PBX, as sent. Its format is not
	// documented.
	Time string `json:"time,omitempty"`
	// At is Time read by provider.ParseLocalTime: as Unix seconds (or
	// milliseconds), a local time such as "2026-03-24 10:15:00" or
	// "24.03.2026 10:15:00" in the client's Location, or RFC 3339; zero when
	// it is none of them.
	At time.Time `json:"at,omitzero"`
	// Params holds every parameter received except the webhook token.
	Params url.Values `json:"-"`
}

// parseQueryInto adds the pairs of a query or form body to dst. Unlike
// url.ParseQuery it keeps ";" inside values (Asterisk channels such as
// "Local/…@vatsout-…;1" may arrive unescaped) and never fails: a pair that
// cannot be unescaped is kept as written.
func parseQueryInto(dst url.Values, s string) {
	if s == "" {
		return
	}
	// One backing array for all the values instead of one per key; the
	// three-index slices make a repeated key's append copy, not overwrite.
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

// errMalformedJSON is the error for a body that announces JSON (by its
// Content-Type or its first byte) but is not a JSON object.
var errMalformedJSON = errors.New("body is not a JSON object")

// requestParams collects the body's fields (form, or a JSON object) then
// the query's, without the webhook token. A body that is meant as JSON (its
// Content-Type says so, or it starts with "{") but is not a JSON object is
// an error: it is not a ping without call fields.
func requestParams(r *http.Request, body []byte) (url.Values, error) {
	params := make(url.Values, 24)
	if t := bytes.TrimSpace(body); len(t) > 0 {
		if t[0] == '{' || isJSONType(r.Header.Get("Content-Type")) {
			if err := jsonParamsInto(params, t); err != nil {
				return nil, err
			}
		} else {
			parseQueryInto(params, string(t))
		}
	}
	parseQueryInto(params, r.URL.RawQuery)
	delete(params, "token")
	return params, nil
}

// isJSONType reports whether a Content-Type is JSON (application/json,
// application/...+json), whatever its case and parameters.
func isJSONType(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// jsonParamsInto adds the members of a JSON object as strings: strings as
// they are, numbers and booleans as written, null as "", arrays joined with
// ",", objects as their JSON text. Anything but a JSON object is
// errMalformedJSON.
func jsonParamsInto(dst url.Values, b []byte) error {
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil || m == nil {
		return errMalformedJSON
	}
	for k, raw := range m {
		if k == "" {
			continue
		}
		dst[k] = append(dst[k], jsonText(raw))
	}
	return nil
}

func jsonText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	case 'n':
		return ""
	case '[':
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) == nil {
			parts := make([]string, 0, len(items))
			for _, it := range items {
				parts = append(parts, jsonText(it))
			}
			return strings.Join(parts, ",")
		}
	}
	return string(raw)
}

func first(params url.Values, key string) string {
	if vs := params[key]; len(vs) > 0 {
		return strings.TrimSpace(vs[0])
	}
	return ""
}

// decodeEvent reads the event parameters; it accepts anything.
func decodeEvent(params url.Values) *Event {
	ev := &Event{
		Event:               first(params, "event"),
		CallID:              first(params, "call_id"),
		SrcNum:              first(params, "src_num"),
		DstNum:              first(params, "dst_num"),
		SrcType:             first(params, "src_type"),
		DstType:             first(params, "dst_type"),
		ShortSrcNum:         first(params, "short_src_num"),
		ShortDstNum:         first(params, "short_dst_num"),
		PBXDstNum:           first(params, "pbxdstnum"),
		Timestamp:           first(params, "timestamp"),
		Status:              first(params, "status"),
		CallStartTimestamp:  first(params, "call_start_timestamp"),
		CallAnswerTimestamp: first(params, "call_answer_timestamp"),
		CallRecordLink:      decodeLink(first(params, "call_record_link")),
		TransferFrom:        first(params, "transfer_from"),
		Channel:             first(params, "channel"),
		UserID:              first(params, "user_id"),
		TreeName:            first(params, "treeName"),
		TreeNumber:          first(params, "treeNumber"),
		IsInnerCall:         first(params, "is_inner_call"),
		Params:              params,
	}
	// last_called can be a comma-separated list, and (tolerated) a repeated
	// or PHP-style array parameter.
	for _, key := range [...]string{"last_called", "last_called[]"} {
		for _, v := range params[key] {
			for part := range strings.SplitSeq(v, ",") {
				if part = strings.TrimSpace(part); part != "" {
					ev.LastCalled = append(ev.LastCalled, part)
				}
			}
		}
	}
	return ev
}

// decodeLink URL-decodes a call_record_link that arrived encoded
// ("https%3A%2F%2F…"), at most twice; a plain link is kept as it is, so the
// %-escapes inside its own query survive.
func decodeLink(s string) string {
	for range 2 {
		l := strings.ToLower(s)
		if !strings.HasPrefix(l, "http%3a") && !strings.HasPrefix(l, "https%3a") {
			break
		}
		u, err := url.PathUnescape(s)
		if err != nil {
			break
		}
		s = u
	}
	return s
}

// stripID drops an "_id…" suffix ("998783337125_id265648").
func stripID(s string) string {
	if i := strings.Index(s, "_id"); i >= 0 {
		return s[:i]
	}
	return s
}

// eventType maps the event codes.
func eventType(code string) pbx.EventType {
	switch code {
	case "1":
		return pbx.EventRinging
	case "2":
		return pbx.EventCallEnded
	case "3":
		return pbx.EventAnswered
	case "4":
		return pbx.EventLegEnded
	}
	return pbx.EventUnknown
}

// StatusOutcome maps a hangup status: ANSWER answered, NOANSWER missed, BUSY
// busy, CANCEL cancelled, CONGESTION and CHANUNAVAIL failed.
func StatusOutcome(status string) pbx.Outcome {
	switch strings.ToUpper(status) {
	case "ANSWER", "ANSWERED":
		return pbx.OutcomeAnswered
	case "NOANSWER", "NO ANSWER":
		return pbx.OutcomeMissed
	case "BUSY":
		return pbx.OutcomeBusy
	case "CANCEL":
		return pbx.OutcomeCancelled
	case "CONGESTION", "CHANUNAVAIL":
		return pbx.OutcomeFailed
	}
	return pbx.OutcomeUnknown
}

// Direction reads src_type/dst_type (1 external, 2 employee): 1→2 inbound,
// 2→1 outbound, 2→2 internal. is_inner_call=1 is internal. Otherwise (1→1
// on forwarded and external-to-external calls, or missing types) the scheme
// name decides: "Входящая…" inbound, "Исходящая…" outbound; then a lone
// src_type of 1 means inbound.
func (e Event) Direction() pbx.Direction {
	if e.IsInnerCall == "1" {
		return pbx.Internal
	}
	switch {
	case e.SrcType == "1" && e.DstType == "2":
		return pbx.Inbound
	case e.SrcType == "2" && e.DstType == "1":
		return pbx.Outbound
	case e.SrcType == "2" && e.DstType == "2":
		return pbx.Internal
	}
	tree := strings.ToLower(e.TreeName)
	switch {
	case strings.HasPrefix(tree, "входящ"):
		return pbx.Inbound
	case strings.HasPrefix(tree, "исходящ"):
		return pbx.Outbound
	case e.SrcType == "1" && e.DstType == "":
		return pbx.Inbound
	}
	return pbx.DirectionUnknown
}

// CallEvent maps the event to the neutral form, with e itself as its Raw.
// Times are read in loc (nil means Europe/Moscow); received stands for the
// event's time when it carries no usable timestamp (the webhook passes the
// time the request arrived). See the package documentation for the mapping.
func (e *Event) CallEvent(loc *time.Location, received time.Time) pbx.CallEvent {
	if loc == nil {
		loc = provider.DefaultLocation()
	}
	dir := e.Direction()
	ce := pbx.CallEvent{
		Provider:     Name,
		Type:         eventType(e.Event),
		CallID:       e.CallID,
		Direction:    dir,
		RecordingURL: e.CallRecordLink,
		HasRecording: e.CallRecordLink != "",
		DedupeKey:    dedupeKey(e),
		Raw:          e,
	}
	t, endOK := provider.ParseUnix(e.Timestamp, loc)
	if endOK {
		ce.At = t
	} else {
		ce.At = received.In(loc)
	}

	// The external party, the company line and the employee.
	srcExt, dstExt := e.SrcType == "1", e.DstType == "1"
	switch {
	case dir == pbx.Inbound || (dir == pbx.DirectionUnknown && srcExt):
		ce.Phone = phone.Normalize(stripID(orElse(e.SrcNum, e.ShortSrcNum)))
		if dstExt {
			ce.Line = phone.Normalize(orElse(e.PBXDstNum, stripID(e.DstNum)))
		}
	case dir == pbx.Outbound || (dir == pbx.DirectionUnknown && dstExt):
		ce.Phone = phone.Normalize(orElse(stripID(e.DstNum), e.PBXDstNum))
	}
	switch {
	case dir == pbx.Outbound:
		ce.Extension = stripID(e.ShortSrcNum)
	case e.DstType == "2":
		ce.Extension = stripID(e.ShortDstNum)
	case e.SrcType == "2":
		ce.Extension = stripID(e.ShortSrcNum)
	}
	if ce.Extension == "" && len(e.LastCalled) == 1 {
		ce.Extension = e.LastCalled[0]
	}

	switch ce.Type {
	case pbx.EventAnswered:
		ce.AnsweredAt = ce.At
	case pbx.EventCallEnded, pbx.EventLegEnded:
		ce.Outcome = StatusOutcome(e.Status)
		ce.EndedAt = ce.At
		e.callTimes(&ce, loc, endOK)
	}
	return ce
}

// callTimes fills the start, the answer and the durations of a hangup event
// (2, or 4 for one leg). Sipuni sends no duration field: both durations are
// computed from its Unix times, and only from times it sent (endOK says
// whether the event's own timestamp, its end, was one).
//
// CallDuration is timestamp − call_start_timestamp, on event 2 only (on
// event 4 the call goes on). call_answer_timestamp is unreliable on
// call_external calls: it can be set on an unanswered call, and a captured
// live event carries one a second before call_start_timestamp (the real talk
// was 7 s of a 19 s call; answer-to-end would have said 20 s). So it is
// trusted only when the status says answered (or there is no status) and it
// lies within [call_start_timestamp, timestamp]; otherwise the answer time is
// unknown: AnsweredAt and TalkDuration stay zero (the event 3 of the same
// call_id carries the answer time). TalkDuration is timestamp −
// call_answer_timestamp; on event 4 it is the leg's.
func (e *Event) callTimes(ce *pbx.CallEvent, loc *time.Location, endOK bool) {
	start, startOK := provider.ParseUnix(e.CallStartTimestamp, loc)
	if startOK {
		ce.StartedAt = start
	}
	if startOK && endOK && ce.Type == pbx.EventCallEnded && !ce.EndedAt.Before(start) {
		ce.CallDuration = ce.EndedAt.Sub(start)
	}
	answer, ok := provider.ParseUnix(e.CallAnswerTimestamp, loc)
	if !ok || (e.Status != "" && ce.Outcome != pbx.OutcomeAnswered) {
		return
	}
	if (startOK && answer.Before(start)) || answer.After(ce.EndedAt) {
		return // outside [start, end]: unknown, derive nothing
	}
	ce.AnsweredAt = answer
	if endOK {
		ce.TalkDuration = ce.EndedAt.Sub(answer)
	}
}

// dedupeKey is equal for two deliveries of one notification. Sipuni repeats
// event 1 about a second later with only the timestamp changed, so for event
// 1 the key leaves the timestamp out (one employee's phone ringing twice in
// one call then looks like a repeat). For the other events it covers every
// parameter but the token, in sorted order, so parameter order does not
// matter. An Event built by hand, without Params, is keyed by its fields.
func dedupeKey(ev *Event) string {
	if ev.Event == "1" {
		return provider.DedupeKey([]byte("1"), []byte(ev.CallID), []byte(ev.SrcNum), []byte(ev.ShortSrcNum),
			[]byte(ev.DstNum), []byte(ev.ShortDstNum))
	}
	params := ev.Params
	if params == nil {
		params = ev.values()
	}
	keys := make([]string, 0, len(params))
	n := 0
	for k, vs := range params {
		keys = append(keys, k)
		n += len(k) + 2
		for _, v := range vs {
			n += len(v) + 1
		}
	}
	slices.Sort(keys)
	buf := make([]byte, 0, n)
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

// values returns the parameters the event's fields stand for, for an Event
// built without Params.
func (e *Event) values() url.Values {
	v := url.Values{}
	for k, val := range map[string]string{
		"event": e.Event, "call_id": e.CallID, "src_num": e.SrcNum, "dst_num": e.DstNum,
		"src_type": e.SrcType, "dst_type": e.DstType, "short_src_num": e.ShortSrcNum,
		"short_dst_num": e.ShortDstNum, "pbxdstnum": e.PBXDstNum, "timestamp": e.Timestamp,
		"status": e.Status, "call_start_timestamp": e.CallStartTimestamp,
		"call_answer_timestamp": e.CallAnswerTimestamp, "call_record_link": e.CallRecordLink,
		"transfer_from": e.TransferFrom, "channel": e.Channel, "user_id": e.UserID,
		"treeName": e.TreeName, "treeNumber": e.TreeNumber, "is_inner_call": e.IsInnerCall,
	} {
		if val != "" {
			v.Set(k, val)
		}
	}
	if len(e.LastCalled) > 0 {
		v.Set("last_called", strings.Join(e.LastCalled, ","))
	}
	return v
}

// decodeRoute reads a routing question's parameters; it accepts anything.
// The format of "time" is not documented: it is read as Unix seconds (the
// likely form) or a local time in loc, and left zero otherwise.
func decodeRoute(params url.Values, loc *time.Location) *RouteQuestion {
	rq := &RouteQuestion{
		FromNum: first(params, "fromnum"),
		ToNum:   first(params, "tonum"),
		DTMF:    first(params, "dtmf"),
		Label:   first(params, "label"),
		Time:    first(params, "time"),
		Params:  params,
	}
	if t, err := provider.ParseLocalTime(rq.Time, loc); err == nil {
		rq.At = t
	}
	return rq
}

// RouteQuery maps the question to the neutral form, with q itself as its
// Raw: Phone is the caller (fromnum) and Line the number called (tonum),
// both normalised by phone.Normalize, and Digits the menu digits (dtmf).
func (q *RouteQuestion) RouteQuery() pbx.RouteQuery {
	return pbx.RouteQuery{
		Provider: Name,
		Phone:    phone.Normalize(q.FromNum),
		Line:     phone.Normalize(q.ToNum),
		Digits:   q.DTMF,
		Raw:      q,
	}
}
