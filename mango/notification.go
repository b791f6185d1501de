package mango

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
	"github.com/pbxkit/pbxkit/provider"
)

// The notifications the PBX posts, by the path Mango appends to the
// integrator's URL.
const (
	NotifyCall         = "events/call"
	NotifySummary      = "events/summary"
	NotifyRecording    = "events/recording"
	NotifyRecordAdded  = "events/record/added"
	NotifyRecordTagged = "events/record/tagged"
	NotifyDTMF         = "events/dtmf"
	NotifySMS          = "events/sms"
	// NotifyResultPrefix starts the path of every command result
	// (result/callback, result/route, ...).
	NotifyResultPrefix = "result/"
	// NotifyPing is where one client library routes the cabinet's
	// connection check.
	NotifyPing = "ping"
)

// Call states of events/call.
const (
	StateAppeared     = "Appeared"
	StateConnected    = "Connected"
	StateOnHold       = "OnHold"
	StateDisconnected = "Disconnected"
)

// Locations of a leg in events/call.
const (
	LocationIVR     = "ivr"
	LocationQueue   = "queue"
	LocationAbonent = "abonent"
)

// webhookTestPrefix starts the leg id of the notification
// WebhookTestRequest builds: a leg the PBX does not have, which the
// provider never routes.
const webhookTestPrefix = "pbxkit-webhook-test-"

// Every scalar of a notification decodes through provider.String: Mango
// sends numbers as JSON strings in places ("seq":"1", "timestamp":
// "1399906976", "disconnect_reason":"1120"), and the newer manual types
// extension and acd_group as integers where v1.10 has strings; both
// decode, and the values are read when used.

// Party is the from or to side of a leg.
type Party struct {
	// Extension is the employee's short number, when the side is an
	// employee the PBX recognised.
	Extension provider.String `json:"extension"`
	// Number is the number (or "sip:..." address) of the side.
	Number provider.String `json:"number"`
	// TakenFromCallID (from only) is the leg the caller was taken from: a
	// transfer, a forward, or a route command.
	TakenFromCallID provider.String `json:"taken_from_call_id"`
	// LineNumber (to only) is the company line the call came in on.
	LineNumber provider.String `json:"line_number"`
	// ACDGroup (to only) is the short number of the group handling the
	// call.
	ACDGroup provider.String `json:"acd_group"`
	// WasTransferred (newer manual, in Disconnected) says the side was
	// transferred.
	WasTransferred provider.String `json:"was_transferred"`
	// HoldInitiator (newer manual, in OnHold) is who put the call on hold.
	HoldInitiator provider.String `json:"hold_initiator"`
}

// DCT is the call-tracking number of a call.
type DCT struct {
	Number provider.String `json:"number"`
	// Type is 0 none, 1 dynamic, 2 static.
	Type provider.String `json:"type"`
}

// CallNotification is events/call: one leg's state change. CallID is the
// leg; EntryID the whole call, the same for every leg created while the
// call is handled (forwards, transfers, route commands).
type CallNotification struct {
	EntryID   provider.String `json:"entry_id"`
	CallID    provider.String `json:"call_id"`
	Timestamp provider.String `json:"timestamp"`
	// Seq orders the notifications of one leg; they may arrive out of
	// order.
	Seq provider.String `json:"seq"`
	// CallState is Appeared, Connected, OnHold or Disconnected.
	CallState provider.String `json:"call_state"`
	// Location is ivr, queue or abonent.
	Location provider.String `json:"location"`
	From     Party           `json:"from"`
	To       Party           `json:"to"`
	DCT      DCT             `json:"dct"`
	// DisconnectReason is the result code of a Disconnected leg.
	DisconnectReason provider.String `json:"disconnect_reason"`
	// CommandID is the command (callback, route, ...) that created the
	// leg, when one did: the CallResult.OrderID of MakeCall.
	CommandID         provider.String `json:"command_id"`
	TaskID            provider.String `json:"task_id"`
	CallbackInitiator provider.String `json:"callback_initiator"`
	// Transfer (newer manual) is consultative, blind or return_blind on a
	// leg a transfer created.
	Transfer  provider.String `json:"transfer"`
	SIPCallID provider.String `json:"sip_call_id"`
}

// SummaryNotification is events/summary: the call (EntryID) is over. One
// per call.
type SummaryNotification struct {
	EntryID provider.String `json:"entry_id"`
	// CallDirection is 0 internal, 1 inbound, 2 outbound.
	CallDirection provider.String `json:"call_direction"`
	// From and To: on an inbound call, from is the caller (no extension)
	// and to the employee who answered, or the first who missed it.
	From       Party           `json:"from"`
	To         Party           `json:"to"`
	LineNumber provider.String `json:"line_number"`
	DCT        DCT             `json:"dct"`
	// The times are Unix seconds; TalkTime and ForwardTime are 0 when
	// nobody talked.
	CreateTime  provider.String `json:"create_time"`
	ForwardTime provider.String `json:"forward_time"`
	TalkTime    provider.String `json:"talk_time"`
	EndTime     provider.String `json:"end_time"`
	// EntryResult is 1 when a conversation took place, 0 otherwise (read
	// only when TalkTime is absent: the manual's own example contradicts
	// it).
	EntryResult      provider.String `json:"entry_result"`
	DisconnectReason provider.String `json:"disconnect_reason"`
	SIPCallID        provider.String `json:"sip_call_id"`
}

// RecordingNotification is events/recording: a recording started, moved
// to another leg, or completed.
type RecordingNotification struct {
	RecordingID provider.String `json:"recording_id"`
	// RecordingState is Started, Continued or Completed.
	RecordingState provider.String `json:"recording_state"`
	Seq            provider.String `json:"seq"`
	EntryID        provider.String `json:"entry_id"`
	CallID         provider.String `json:"call_id"`
	Extension      provider.String `json:"extension"`
	Timestamp      provider.String `json:"timestamp"`
	// CompletionCode (Completed only) is 1000, a 22xx code or 4002 (too
	// short, not kept).
	CompletionCode provider.String `json:"completion_code"`
	// Recipient (Completed only) is Cloud, Mail or CloudAndMail.
	Recipient provider.String `json:"recipient"`
	CommandID provider.String `json:"command_id"`
}

// RecordAddedNotification is events/record/added (the recording is in the
// cloud storage and can be downloaded) or events/record/tagged (speech
// analytics are ready), said by Kind.
type RecordAddedNotification struct {
	// Kind is NotifyRecordAdded or NotifyRecordTagged.
	Kind        string          `json:"-"`
	EntryID     provider.String `json:"entry_id"`
	ProductID   provider.String `json:"product_id"`
	UserID      provider.String `json:"user_id"`
	Timestamp   provider.String `json:"timestamp"`
	RecordingID provider.String `json:"recording_id"`
}

// DTMFNotification is events/dtmf: digits the caller entered.
type DTMFNotification struct {
	Seq       provider.String `json:"seq"`
	DTMF      provider.String `json:"dtmf"`
	Timestamp provider.String `json:"timestamp"`
	CallID    provider.String `json:"call_id"`
	EntryID   provider.String `json:"entry_id"`
	// Location is where the call is, "ivr.<menu item>".
	Location   provider.String `json:"location"`
	Initiator  provider.String `json:"initiator"`
	FromNumber provider.String `json:"from_number"`
	ToNumber   provider.String `json:"to_number"`
	LineNumber provider.String `json:"line_number"`
}

// CommandResult is the asynchronous result of a command (result/<command>)
// or of an SMS (events/sms). It is handed to Config.OnResult, not to the
// EventHandler: it names no call.
type CommandResult struct {
	// Command is the command, from the path: "callback", "route",
	// "call/hangup", "stats", ..., or "sms" for events/sms.
	Command   string          `json:"-"`
	CommandID provider.String `json:"command_id"`
	// Result is the result code; events/sms says Reason instead.
	Result    provider.String `json:"result"`
	Reason    provider.String `json:"reason"`
	Timestamp provider.String `json:"timestamp"`
	// Key and RequestID are result/stats's: the export is ready.
	Key       provider.String `json:"key"`
	RequestID provider.String `json:"request_id"`
}

// Code returns the result code (Result, else Reason); 0 when none is
// readable.
func (r *CommandResult) Code() ResultCode {
	if c := parseCode(string(r.Result)); c != 0 {
		return c
	}
	return parseCode(string(r.Reason))
}

// decodeObject decodes the JSON object raw into v. Anything else, a JSON
// value that is not an object included, is an error.
func decodeObject(raw string, v any) error {
	b := bytes.TrimSpace([]byte(raw))
	if len(b) == 0 || b[0] != '{' {
		return errors.New("the json value is not a JSON object")
	}
	return json.Unmarshal(b, v)
}

// DecodeCallNotification decodes the json form value of events/call.
func DecodeCallNotification(raw string) (*CallNotification, error) {
	n := &CallNotification{}
	if err := decodeObject(raw, n); err != nil {
		return nil, err
	}
	return n, nil
}

// ---- readers shared by the mappings ----

// str trims a provider.String.
func str(s provider.String) string { return strings.TrimSpace(string(s)) }

// unix reads Unix seconds in loc; ok is false for "", 0 and unreadable
// values.
//
// The v1.10 manual calls the times UTC, the newer one "UTC+3"; a Unix time
// has no zone, so both are read as the true epoch second (tolerant reading;
// if live traffic turns out shifted by 3 hours, this is the one place to
// correct).
func unix(s provider.String, loc *time.Location) (time.Time, bool) {
	return provider.ParseUnix(str(s), loc)
}

// parseCode reads a result code; 0 when s is not one.
func parseCode(s string) ResultCode {
	n, err := provider.ParseInt(s)
	if err != nil || n <= 0 || n > 1<<31 {
		return 0
	}
	return ResultCode(n)
}

// realtimeDirection is the direction of a leg, which events/call does not
// state: an employee calling (from.extension) with no employee called is
// outbound, employees on both sides internal, anything else inbound.
func realtimeDirection(from, to *Party) pbx.Direction {
	fromExt, toExt := str(from.Extension) != "", str(to.Extension) != ""
	switch {
	case fromExt && toExt:
		return pbx.Internal
	case fromExt:
		return pbx.Outbound
	}
	return pbx.Inbound
}

// sides returns the employee's extension and the external party's number
// of a leg or a call in direction d.
func sides(d pbx.Direction, from, to *Party) (ext, number string) {
	switch d {
	case pbx.Outbound:
		return str(from.Extension), phone.Normalize(str(to.Number))
	case pbx.Internal:
		return str(to.Extension), ""
	}
	return str(to.Extension), phone.Normalize(str(from.Number))
}

// dedupe builds a DedupeKey from parts.
func dedupe(parts ...string) string {
	bs := make([][]byte, len(parts))
	for i, p := range parts {
		bs[i] = []byte(p)
	}
	return provider.DedupeKey(bs...)
}

// ---- mappings ----

// Routable reports whether the leg is a new inbound call in the IVR: the
// moment the provider asks the Router and sends commands/route.
func (n *CallNotification) Routable() bool {
	return strings.EqualFold(str(n.CallState), StateAppeared) &&
		strings.EqualFold(str(n.Location), LocationIVR) &&
		str(n.From.Extension) == "" && str(n.CallID) != "" &&
		!strings.HasPrefix(str(n.CallID), webhookTestPrefix)
}

// CallEvent maps the notification to a pbx.CallEvent:
//
//	call_state    location             type
//	Appeared      ivr                  EventCallStarted (StartedAt = timestamp)
//	Appeared      abonent, or queue    EventRinging; EventTransferred when
//	              or none with an      transfer is set (newer manual)
//	              extension
//	Connected     abonent, or none     EventAnswered (AnsweredAt = timestamp)
//	              with an extension
//	Connected     ivr, queue           EventUnknown (the IVR or queue picked up,
//	                                   not a person)
//	OnHold        any                  EventHeld
//	Disconnected  any                  EventLegEnded (EndedAt = timestamp)
//	other                              EventUnknown
//
// The webhook turns a Connected that follows an OnHold of the same leg into
// EventResumed; this function, which sees one notification, cannot.
//
// CallID is EntryID (the whole call); the leg's call_id and seq stay in Raw
// (n itself). Direction: from.extension alone is outbound, extensions on
// both sides internal, else inbound. Extension is to.extension (inbound,
// internal) or from.extension (outbound); Phone the external number,
// normalised; Line to.line_number. At is the timestamp (received when it
// has none). DedupeKey is derived from call_id, seq and call_state.
func (n *CallNotification) CallEvent(loc *time.Location, received time.Time) pbx.CallEvent {
	if loc == nil {
		loc = provider.DefaultLocation()
	}
	dir := realtimeDirection(&n.From, &n.To)
	ext, num := sides(dir, &n.From, &n.To)
	state, where := str(n.CallState), strings.ToLower(str(n.Location))
	e := pbx.CallEvent{
		Provider:  Name,
		CallID:    str(n.EntryID),
		Direction: dir,
		Extension: ext,
		Phone:     num,
		Line:      phone.Normalize(str(n.To.LineNumber)),
		DedupeKey: dedupe("call", str(n.CallID), str(n.Seq), state),
		Raw:       n,
	}
	at, ok := unix(n.Timestamp, loc)
	if !ok {
		at = received.In(loc)
	}
	e.At = at
	switch {
	case strings.EqualFold(state, StateAppeared):
		switch {
		case where == LocationIVR:
			e.Type, e.StartedAt = pbx.EventCallStarted, at
		case where == LocationAbonent || ext != "":
			// from.taken_from_call_id alone is no transfer: a forward and
			// a route command set it too (reading of the v1.10 manual).
			e.Type = pbx.EventRinging
			if str(n.Transfer) != "" {
				e.Type = pbx.EventTransferred
			}
		}
	case strings.EqualFold(state, StateConnected):
		// The IVR answering a call to play its prompt is no answer by a
		// person; only a leg at an employee (or naming one) is (reading).
		if where == LocationAbonent || (where == "" && ext != "") {
			e.Type, e.AnsweredAt = pbx.EventAnswered, at
		}
	case strings.EqualFold(state, StateOnHold):
		e.Type = pbx.EventHeld
	case strings.EqualFold(state, StateDisconnected):
		e.Type, e.EndedAt = pbx.EventLegEnded, at
	}
	return e
}

// RouteQuery is the routing question a Routable leg stands for: Phone is
// the caller, Line the company line, CallID the entry, Raw n.
func (n *CallNotification) RouteQuery() pbx.RouteQuery {
	line := str(n.To.LineNumber)
	if line == "" {
		line = str(n.To.Number)
	}
	return pbx.RouteQuery{
		Provider: Name,
		CallID:   str(n.EntryID),
		Phone:    phone.Normalize(str(n.From.Number)),
		Line:     phone.Normalize(line),
		Raw:      n,
	}
}

// Direction returns the call's direction: call_direction 0 internal, 1
// inbound, 2 outbound; without it, the extensions decide as in events/call.
func (n *SummaryNotification) Direction() pbx.Direction {
	switch str(n.CallDirection) {
	case "0":
		return pbx.Internal
	case "1":
		return pbx.Inbound
	case "2":
		return pbx.Outbound
	}
	return realtimeDirection(&n.From, &n.To)
}

// Outcome returns how the call ended. A conversation took place when
// talk_time is non-zero; when talk_time is absent, entry_result 1 says so.
// (The manual's own unanswered example has entry_result 1 with talk_time
// 0, and one receiver documents the field the other way round: talk_time
// wins, entry_result is the fallback.) Otherwise disconnect_reason decides
// (see OutcomeOf).
func (n *SummaryNotification) Outcome() pbx.Outcome {
	if t := str(n.TalkTime); t != "" {
		if v, err := provider.ParseInt(t); err == nil && v > 0 {
			return pbx.OutcomeAnswered
		}
	} else if str(n.EntryResult) == "1" {
		return pbx.OutcomeAnswered
	}
	return OutcomeOf(str(n.DisconnectReason))
}

// CallEvent maps events/summary to EventCallEnded: StartedAt create_time,
// AnsweredAt talk_time, EndedAt end_time; TalkDuration end − talk and
// CallDuration end − create when both times are there; Outcome from
// Outcome. Extension is the employee (to.extension inbound: who answered,
// or the first who missed; from.extension outbound); Phone the external
// number; Line line_number. At is end_time (received when absent).
// DedupeKey is derived from entry_id and "summary".
func (n *SummaryNotification) CallEvent(loc *time.Location, received time.Time) pbx.CallEvent {
	if loc == nil {
		loc = provider.DefaultLocation()
	}
	dir := n.Direction()
	ext, num := sides(dir, &n.From, &n.To)
	e := pbx.CallEvent{
		Provider:  Name,
		Type:      pbx.EventCallEnded,
		CallID:    str(n.EntryID),
		Direction: dir,
		Extension: ext,
		Phone:     num,
		Line:      phone.Normalize(str(n.LineNumber)),
		Outcome:   n.Outcome(),
		DedupeKey: dedupe("summary", str(n.EntryID)),
		Raw:       n,
	}
	created, hasCreated := unix(n.CreateTime, loc)
	talk, hasTalk := unix(n.TalkTime, loc)
	end, hasEnd := unix(n.EndTime, loc)
	if hasCreated {
		e.StartedAt = created
	}
	if hasTalk {
		e.AnsweredAt = talk
	}
	e.At = received.In(loc)
	if hasEnd {
		e.EndedAt, e.At = end, end
		if hasTalk && !end.Before(talk) {
			e.TalkDuration = end.Sub(talk)
		}
		if hasCreated && !end.Before(created) {
			e.CallDuration = end.Sub(created)
		}
	}
	return e
}

// HasRecording reports whether the recording is kept in the cloud storage,
// where FetchRecording finds it: Completed with completion code 1000 (or
// none) and a recipient other than Mail alone.
func (n *RecordingNotification) HasRecording() bool {
	if !strings.EqualFold(str(n.RecordingState), "Completed") {
		return false
	}
	if c := parseCode(str(n.CompletionCode)); c != 0 && c != ResultOK {
		return false
	}
	return !strings.EqualFold(str(n.Recipient), "Mail")
}

// CallEvent maps events/recording to EventUnknown (pbxkit has no recording
// event type) with HasRecording when the recording completed into the
// cloud storage; the recording id is in Raw (n). The webhook remembers it
// for the call, so FetchRecording takes the event's CallID (or the
// recording id). DedupeKey is derived from recording_id, seq and
// recording_state.
func (n *RecordingNotification) CallEvent(loc *time.Location, received time.Time) pbx.CallEvent {
	if loc == nil {
		loc = provider.DefaultLocation()
	}
	e := pbx.CallEvent{
		Provider:     Name,
		CallID:       str(n.EntryID),
		Extension:    str(n.Extension),
		HasRecording: n.HasRecording(),
		DedupeKey:    dedupe("recording", str(n.RecordingID), str(n.Seq), str(n.RecordingState)),
		Raw:          n,
	}
	e.At = at(n.Timestamp, loc, received)
	return e
}

// CallEvent maps events/record/added and events/record/tagged to
// EventUnknown with HasRecording: the recording is downloadable
// (FetchRecording with the event's CallID, whose recording the webhook
// remembers, or with Raw's RecordingID). DedupeKey is derived from Kind
// and recording_id.
func (n *RecordAddedNotification) CallEvent(loc *time.Location, received time.Time) pbx.CallEvent {
	if loc == nil {
		loc = provider.DefaultLocation()
	}
	e := pbx.CallEvent{
		Provider:     Name,
		CallID:       str(n.EntryID),
		HasRecording: true,
		DedupeKey:    dedupe(n.Kind, str(n.RecordingID)),
		Raw:          n,
	}
	e.At = at(n.Timestamp, loc, received)
	return e
}

// CallEvent maps events/dtmf to EventUnknown, with the digits in Raw (n);
// Phone is the number that typed them, Line line_number. DedupeKey is
// derived from call_id, seq and the digits.
func (n *DTMFNotification) CallEvent(loc *time.Location, received time.Time) pbx.CallEvent {
	if loc == nil {
		loc = provider.DefaultLocation()
	}
	who := str(n.Initiator)
	if who == "" {
		who = str(n.FromNumber)
	}
	e := pbx.CallEvent{
		Provider:  Name,
		CallID:    str(n.EntryID),
		Phone:     phone.Normalize(who),
		Line:      phone.Normalize(str(n.LineNumber)),
		DedupeKey: dedupe("dtmf", str(n.CallID), str(n.Seq), str(n.DTMF)),
		Raw:       n,
	}
	e.At = at(n.Timestamp, loc, received)
	return e
}

// at is the Unix time s in loc, or received.
func at(s provider.String, loc *time.Location, received time.Time) time.Time {
	if t, ok := unix(s, loc); ok {
		return t
	}
	return received.In(loc)
}

// OutcomeOf reads a disconnect reason (events/summary, the call log) as
// the outcome of a call nobody talked on:
//
//	1121 busy, 1122 rejected, 1123 do-not-disturb        OutcomeBusy
//	1110 the caller hung up                              OutcomeCancelled
//	113x, 1140, 115x, 1171, 2xxx to 9xxx                 OutcomeFailed
//	any other 1xxx (1111 no answer, 116x, ...), none     OutcomeMissed
//
// The call log may write words instead of codes (the manual's sample rows
// have "Busy" and "RemoteHangup"): a word with "busy" or "reject" is busy,
// with "cancel" cancelled, any other missed.
func OutcomeOf(reason string) pbx.Outcome {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return pbx.OutcomeMissed
	}
	code := parseCode(reason)
	if code == 0 {
		w := strings.ToLower(reason)
		switch {
		case strings.Contains(w, "busy"), strings.Contains(w, "reject"):
			return pbx.OutcomeBusy
		case strings.Contains(w, "cancel"):
			return pbx.OutcomeCancelled
		}
		return pbx.OutcomeMissed
	}
	switch {
	case code == 1121 || code == 1122 || code == 1123:
		return pbx.OutcomeBusy
	case code == 1110:
		return pbx.OutcomeCancelled
	case code/10 == 113, code == 1140, code/10 == 115, code == 1171, code >= 2000:
		return pbx.OutcomeFailed
	}
	return pbx.OutcomeMissed
}

// ---- hold tracking ----

// holdTracker remembers the seq of the latest OnHold of each leg, so that
// the Connected after it becomes EventResumed. It is per process and
// bounded; a Connected that arrives before its OnHold (Mango posts in
// parallel) stays EventAnswered, which a hold of seconds makes unlikely.
type holdTracker struct {
	mu   sync.Mutex
	legs map[string]holdMark
}

type holdMark struct {
	seq  int64
	seen time.Time
}

const (
	// maxHeldLegs bounds the legs remembered; beyond it the oldest half
	// goes.
	maxHeldLegs = 10000
	// holdMemory is how long a hold is remembered.
	holdMemory = 6 * time.Hour
)

func newHoldTracker() *holdTracker { return &holdTracker{legs: map[string]holdMark{}} }

// observe records an OnHold and says whether a Connected resumes a hold.
func (h *holdTracker) observe(n *CallNotification, now time.Time) (resumed bool) {
	leg := str(n.CallID)
	seq, err := provider.ParseInt(str(n.Seq))
	if leg == "" || err != nil {
		return false
	}
	state := str(n.CallState)
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case strings.EqualFold(state, StateOnHold):
		if m, ok := h.legs[leg]; !ok || seq > m.seq {
			if len(h.legs) >= maxHeldLegs {
				h.prune(now)
			}
			h.legs[leg] = holdMark{seq: seq, seen: now}
		}
	case strings.EqualFold(state, StateConnected):
		m, ok := h.legs[leg]
		return ok && seq > m.seq
	}
	return false
}

// prune forgets holds older than holdMemory, and, if that is not enough,
// every hold older than the newest half.
func (h *holdTracker) prune(now time.Time) {
	for k, m := range h.legs {
		if now.Sub(m.seen) > holdMemory {
			delete(h.legs, k)
		}
	}
	if len(h.legs) < maxHeldLegs {
		return
	}
	var newest, oldest time.Time
	for _, m := range h.legs {
		newest = maxT(newest, m.seen)
		if oldest.IsZero() || m.seen.Before(oldest) {
			oldest = m.seen
		}
	}
	mid := oldest.Add(newest.Sub(oldest) / 2)
	for k, m := range h.legs {
		if !m.seen.After(mid) {
			delete(h.legs, k)
		}
	}
}

func maxT(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
