package sipuni

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
	"github.com/pbxkit/pbxkit/provider"
)

// Event is a decoded Sipuni PBX event ("События на АТС"), the Raw of the
// pbx.CallEvent made from it. Every field is the parameter as received
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
// function), the Raw of the pbx.RouteQuery made from it.
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
	// At is Time read as Unix seconds (or milliseconds), or as a local
	// "YYYY-MM-DD HH:MM:SS" / "DD.MM.YYYY HH:MM:SS" time in the client's
	// Location; zero when it is neither.
	At time.Time `json:"at,omitzero"`
	// Params holds every parameter received except the webhook token.
	Params url.Values `json:"-"`
}

// Precomputed answers.
var (
	answerSuccess      = []byte(`{"success":true}`)
	answerFailure      = []byte(`{"success":false}`)
	answerUnauthorized = []byte(`{"success":false,"error":"unauthorized"}`)
	answerTooLarge     = []byte(`{"success":false,"error":"request body too large"}`)
	answerMalformed    = []byte(`{"success":false,"error":"malformed JSON body"}`)
	answerNoChoice     = []byte(`{"choice":0}`)
)

// Journal operations.
const (
	opEvent = "event"
	opRoute = "route"
	opPing  = "ping"
	opAuth  = "auth"
	opRead  = "read"
)

// WebhookHandler returns the handler for both of Sipuni's calls to your
// URL: PBX events (a request with "event") and routing-node questions (a
// request with "fromnum"). Give Sipuni the same URL for "События на АТС" and
// for the scheme's "HTTP-запрос" function. It accepts GET and POST (form
// fields; a JSON object is tolerated).
//
// Every request is authenticated first (the "token" query parameter and/or
// HTTP basic auth, as configured; constant-time): a failure gets 401 and
// reaches neither events nor router. Then:
//
//   - An event is mapped to a pbx.CallEvent and passed to
//     events.HandleEvent synchronously; Sipuni gets {"success":true} once it
//     returns, also for unknown event codes and for requests with no call
//     fields (Sipuni sends those when the settings are saved).
//   - When HandleEvent returns an error, Sipuni gets HTTP 500. Beware: per
//     Sipuni's documentation, a receiver that does not answer
//     {"success":true} may have its event sending suspended "for security
//     reasons", and Sipuni is not known to redeliver. Return errors only for
//     failures you would rather lose the event for than risk that; queue
//     slow or fallible work and return nil.
//   - A routing question is asked of router under Config.RouteTimeout; a
//     route naming an extension is answered
//     {"choice":1,"number":"<ext>","name":"<display name>"} (Sipuni rings
//     that extension first, then follows the scheme's right-hand branch),
//     anything else, a router error and a timeout {"choice":0}.
//
// Either argument may be nil: events are then acknowledged and dropped, and
// routing questions get {"choice":0}.
func (c *Client) WebhookHandler(events pbx.EventHandler, router pbx.Router) http.Handler {
	return &webhook{c: c, events: events, router: router}
}

type webhook struct {
	c      *Client
	events pbx.EventHandler
	router pbx.Router
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx := r.Context()
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		provider.WriteRawJSON(w, http.StatusMethodNotAllowed, answerFailure)
		h.c.hookLog.Log(ctx, opAuth, http.StatusMethodNotAllowed, start, errors.New("method "+strconv.Quote(r.Method)+" not allowed"))
		return
	}
	if err := h.c.authenticate(r); err != nil {
		if h.c.cfg.WebhookUser != "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="sipuni", charset="UTF-8"`)
		}
		provider.WriteRawJSON(w, http.StatusUnauthorized, answerUnauthorized)
		h.c.hookLog.Log(ctx, opAuth, http.StatusUnauthorized, start, err)
		return
	}
	body, err := provider.ReadBody(r, 0)
	if err != nil {
		status, answer := http.StatusBadRequest, answerFailure
		if errors.Is(err, provider.ErrBodyTooLarge) {
			status, answer = http.StatusRequestEntityTooLarge, answerTooLarge
		}
		provider.WriteRawJSON(w, status, answer)
		h.c.hookLog.Log(ctx, opRead, status, start, err)
		return
	}
	params, err := requestParams(r, body)
	if err != nil {
		// Not a ping: acknowledging it would lose whatever it was meant to
		// carry without a trace.
		provider.WriteRawJSON(w, http.StatusBadRequest, answerMalformed)
		h.c.hookLog.Log(ctx, opRead, http.StatusBadRequest, start, err)
		return
	}
	switch {
	case len(params["event"]) > 0:
		h.serveEvent(ctx, w, params, start)
	case len(params["fromnum"]) > 0:
		h.serveRoute(ctx, w, params, start)
	default:
		provider.WriteRawJSON(w, http.StatusOK, answerSuccess)
		h.c.hookLog.Log(ctx, opPing, http.StatusOK, start, nil)
	}
}

func (h *webhook) serveEvent(ctx context.Context, w http.ResponseWriter, params url.Values, start time.Time) {
	ev := decodeEvent(params)
	ce := h.c.callEvent(ev, start)
	if h.events != nil {
		if err := h.events.HandleEvent(ctx, ce); err != nil {
			provider.WriteRawJSON(w, http.StatusInternalServerError, answerFailure)
			h.c.hookLog.Log(ctx, opEvent, http.StatusInternalServerError, start, err)
			h.c.logger.LogAttrs(ctx, slog.LevelError, "sipuni: event handler failed; Sipuni got HTTP 500",
				slog.String("provider", Name), slog.String("event", ev.Event), slog.String("call_id", ev.CallID),
				slog.String("error", err.Error()))
			return
		}
	}
	provider.WriteRawJSON(w, http.StatusOK, answerSuccess)
	h.c.hookLog.Log(ctx, opEvent, http.StatusOK, start, nil)
}

type routeAnswer struct {
	Choice int    `json:"choice"`
	Number string `json:"number,omitempty"`
	Name   string `json:"name,omitempty"`
}

func (h *webhook) serveRoute(ctx context.Context, w http.ResponseWriter, params url.Values, start time.Time) {
	rq := h.c.decodeRoute(params)
	q := pbx.RouteQuery{
		Provider: Name,
		Phone:    phone.Normalize(rq.FromNum),
		Line:     phone.Normalize(rq.ToNum),
		Digits:   rq.DTMF,
		Raw:      rq,
	}
	route, err := provider.AskRouter(ctx, h.router, q, h.c.cfg.RouteTimeout)
	if route.Extension == "" {
		provider.WriteRawJSON(w, http.StatusOK, answerNoChoice)
	} else {
		provider.WriteJSON(w, http.StatusOK, routeAnswer{Choice: 1, Number: route.Extension, Name: route.DisplayName})
	}
	h.c.hookLog.Log(ctx, opRoute, http.StatusOK, start, err)
}

// authenticate checks the webhook token and basic auth, as configured, in
// constant time. It never decodes more of the request than the token.
func (c *Client) authenticate(r *http.Request) error {
	var reason provider.Reason
	header := ""
	if want := c.cfg.WebhookToken; want != "" {
		got, ok := queryValue(r.URL.RawQuery, "token")
		switch {
		case !ok:
			reason = provider.ReasonMissingToken
		case !provider.SecretEqual(got, want):
			reason = provider.ReasonBadToken
		}
	}
	if c.cfg.WebhookUser != "" {
		user, pass, ok := r.BasicAuth()
		userOK := provider.SecretEqual(user, c.cfg.WebhookUser)
		passOK := provider.SecretEqual(pass, c.cfg.WebhookPassword)
		if reason == "" {
			switch {
			case !ok:
				reason, header = provider.ReasonMissingHeader, "Authorization"
			case !userOK || !passOK:
				reason = provider.ReasonBadCredentials
			}
		}
	}
	if reason != "" {
		return &provider.VerificationError{Provider: Name, Reason: reason, Header: header}
	}
	return nil
}

// queryValue finds key in a raw query without building a map; it reports
// whether the key was present. An undecodable value is returned raw.
func queryValue(raw, key string) (string, bool) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(pair, "=")
		if k != key {
			if uk, err := url.QueryUnescape(k); err != nil || uk != key {
				continue
			}
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		return v, true
	}
	return "", false
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

// callEvent maps an event to the neutral form, with ev as its Raw; received
// is used when the event has no usable timestamp.
func (c *Client) callEvent(ev *Event, received time.Time) pbx.CallEvent {
	dir := ev.Direction()
	ce := pbx.CallEvent{
		Provider:     Name,
		Type:         eventType(ev.Event),
		CallID:       ev.CallID,
		Direction:    dir,
		RecordingURL: ev.CallRecordLink,
		HasRecording: ev.CallRecordLink != "",
		DedupeKey:    dedupeKey(ev),
		Raw:          ev,
	}
	t, endOK := provider.ParseUnix(ev.Timestamp, c.loc)
	if endOK {
		ce.At = t
	} else {
		ce.At = received.In(c.loc)
	}

	// The external party, the company line and the employee.
	srcExt, dstExt := ev.SrcType == "1", ev.DstType == "1"
	switch {
	case dir == pbx.Inbound || (dir == pbx.DirectionUnknown && srcExt):
		ce.Phone = phone.Normalize(stripID(orElse(ev.SrcNum, ev.ShortSrcNum)))
		if dstExt {
			ce.Line = phone.Normalize(orElse(ev.PBXDstNum, stripID(ev.DstNum)))
		}
	case dir == pbx.Outbound || (dir == pbx.DirectionUnknown && dstExt):
		ce.Phone = phone.Normalize(orElse(stripID(ev.DstNum), ev.PBXDstNum))
	}
	switch {
	case dir == pbx.Outbound:
		ce.Extension = stripID(ev.ShortSrcNum)
	case ev.DstType == "2":
		ce.Extension = stripID(ev.ShortDstNum)
	case ev.SrcType == "2":
		ce.Extension = stripID(ev.ShortSrcNum)
	}
	if ce.Extension == "" && len(ev.LastCalled) == 1 {
		ce.Extension = ev.LastCalled[0]
	}

	switch ce.Type {
	case pbx.EventAnswered:
		ce.AnsweredAt = ce.At
	case pbx.EventCallEnded, pbx.EventLegEnded:
		ce.Outcome = StatusOutcome(ev.Status)
		ce.EndedAt = ce.At
		c.callTimes(&ce, ev, endOK)
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
func (c *Client) callTimes(ce *pbx.CallEvent, ev *Event, endOK bool) {
	start, startOK := provider.ParseUnix(ev.CallStartTimestamp, c.loc)
	if startOK {
		ce.StartedAt = start
	}
	if startOK && endOK && ce.Type == pbx.EventCallEnded && !ce.EndedAt.Before(start) {
		ce.CallDuration = ce.EndedAt.Sub(start)
	}
	answer, ok := provider.ParseUnix(ev.CallAnswerTimestamp, c.loc)
	if !ok || (ev.Status != "" && ce.Outcome != pbx.OutcomeAnswered) {
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

func orElse(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// dedupeKey is equal for two deliveries of one notification. Sipuni repeats
// event 1 about a second later with only the timestamp changed, so for event
// 1 the key leaves the timestamp out (one employee's phone ringing twice in
// one call then looks like a repeat). For the other events it covers every
// parameter but the token, in sorted order, so parameter order does not
// matter.
func dedupeKey(ev *Event) string {
	if ev.Event == "1" {
		return provider.DedupeKey([]byte("1"), []byte(ev.CallID), []byte(ev.SrcNum), []byte(ev.ShortSrcNum),
			[]byte(ev.DstNum), []byte(ev.ShortDstNum))
	}
	keys := make([]string, 0, len(ev.Params))
	n := 0
	for k, vs := range ev.Params {
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
		for _, v := range ev.Params[k] {
			buf = append(buf, v...)
			buf = append(buf, 0)
		}
		buf = append(buf, '&')
	}
	return provider.DedupeKey(buf)
}

var routeTimeLayouts = [...]string{"2006-01-02 15:04:05", "02.01.2006 15:04:05", time.RFC3339}

func (c *Client) decodeRoute(params url.Values) *RouteQuestion {
	rq := &RouteQuestion{
		FromNum: first(params, "fromnum"),
		ToNum:   first(params, "tonum"),
		DTMF:    first(params, "dtmf"),
		Label:   first(params, "label"),
		Time:    first(params, "time"),
		Params:  params,
	}
	// The time format is not documented; Unix seconds is the likely one.
	if t, ok := provider.ParseUnix(rq.Time, c.loc); ok {
		rq.At = t
	} else {
		for _, l := range routeTimeLayouts {
			if t, err := time.ParseInLocation(l, rq.Time, c.loc); err == nil {
				rq.At = t
				break
			}
		}
	}
	return rq
}
