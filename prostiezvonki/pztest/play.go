package pztest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Scenario is a scripted call flow. Each follows the example of the same
// name in the Prostie Zvonki spec, notification for notification.
type Scenario int

// Scenarios.
const (
	// AnsweredIncoming ("Входящий ответный звонок"): [contact], INCOMING to
	// each rung phone, ACCEPTED by the first, history "success".
	AnsweredIncoming Scenario = iota + 1
	// MissedIncoming ("Входящий пропущенный звонок"): [contact], INCOMING
	// to each rung phone, history "missed".
	MissedIncoming
	// OutboundCallback ("Исходящий ответный звонок", also what follows a
	// makecall): OUTGOING, ACCEPTED, history "success", all "out".
	OutboundCallback
	// MissedOutgoing ("Исходящий пропущенный звонок"): OUTGOING, history
	// "missed". As in the spec's example, this history spells the call id
	// "call_id" instead of "callid".
	MissedOutgoing
	// SmartTransfer ("Умный перевод"): the contact question alone.
	SmartTransfer
)

var scenarioNames = [...]string{"", "AnsweredIncoming", "MissedIncoming", "OutboundCallback", "MissedOutgoing", "SmartTransfer"}

// String returns the constant's name.
func (sc Scenario) String() string {
	if sc > 0 && int(sc) < len(scenarioNames) {
		return scenarioNames[sc]
	}
	return "Scenario(" + strconv.Itoa(int(sc)) + ")"
}

func (sc Scenario) incoming() bool {
	return sc == AnsweredIncoming || sc == MissedIncoming || sc == SmartTransfer
}

func (sc Scenario) answered() bool { return sc == AnsweredIncoming || sc == OutboundCallback }

// Call describes one call to play. Only Scenario is required.
type Call struct {
	Scenario Scenario
	// Caller is the client's number, as Prostie Zvonki writes it; default
	// DefaultCaller ("89991234567").
	Caller string
	// Line is the company number sent as diversion; default DefaultLine for
	// incoming calls and "" for outgoing ones, as in the spec.
	Line string
	// Extensions are the employees to ring when nobody routes the call (all
	// of them at once, a group ring; the first one answers); for outgoing
	// calls the first is the employee who calls. Default: the first user.
	Extensions []string
	// CallID is the call id; a new 19-digit one when empty.
	CallID string
	// Start is when the call starts; default now. Times are written in the
	// server's Location as "20060102T150405".
	Start time.Time
	// Ring is how long the phones ring before the answer or the give-up;
	// default 5 s for an answered call and 20 s for a missed one, as in the
	// spec's examples.
	Ring time.Duration
	// Talk is the conversation's length; default 45 s.
	Talk time.Duration
	// RecordingURL is the history's link for an answered call; default the
	// fake's own recording (see Server.Recording). Missed calls have none.
	RecordingURL string
	// NoSmartTransfer skips the contact question of an incoming call: the
	// spec's incoming examples, which have none, are then reproduced
	// exactly.
	NoSmartTransfer bool
	// LegEvents adds what the ITooLabs family sends and the spec's examples
	// do not show: CANCELLED to each rung phone that did not answer, and
	// COMPLETED to the answering one when the conversation ends.
	LegEvents bool
	// CRMToken overrides the server's crm_token for this call, for example
	// to check that a webhook rejects a wrong one.
	CRMToken string
	// SendWait adds to the history the ITooLabs family's "wait" field, the
	// seconds before the answer (Ring), which the spec's examples do not
	// carry; with it a receiver can tell the talk time from the whole
	// duration.
	SendWait bool
}

// Sent is one notification the fake sent and the webhook's answer.
type Sent struct {
	// Cmd is "event", "history" or "contact".
	Cmd string
	// Type is the event type (INCOMING, ...) or, for history, the status.
	Type string
	// Extension is the employee the notification is about.
	Extension string
	// Body is the JSON sent.
	Body []byte
	// Status and Answer are the webhook's HTTP status and body (Answer
	// truncated to 4 KiB).
	Status int
	Answer []byte
}

// PlayResult is what happened during Play.
type PlayResult struct {
	// Call is the call as played, with the defaults filled in.
	Call Call
	// Asked says whether the contact (smart transfer) question was sent.
	Asked bool
	// Responsible and ContactName are the webhook's answer to it; ""
	// when it had none.
	Responsible string
	ContactName string
	// Rang are the extensions that rang: the responsible one when the
	// webhook named one, else Call.Extensions.
	Rang []string
	// AnsweredBy is the extension that answered; "" for a missed call.
	AnsweredBy string
	// Sent are the notifications, in order.
	Sent []Sent
	// Err is what Play returned.
	Err error
}

// Play sends the notifications of one call to webhookURL, in the vendor's
// order, each a POST with Content-Type application/json and the crm_token,
// waiting for each answer before the next (and Options.Pace between them).
//
// For an incoming call it first asks the contact (smart transfer) question,
// unless call.NoSmartTransfer is set, and rings the extension the webhook
// answered, falling back to call.Extensions when it answered "".
//
// It returns an error, and stops, when the webhook answers a notification
// with a non-2xx status, answers the contact question with anything but a
// JSON object holding a string "responsible", or cannot be reached. The
// PlayResult, also recorded in Server.Plays, says how far it got and what
// the routing answer was.
func (s *Server) Play(ctx context.Context, webhookURL string, call Call) (PlayResult, error) {
	c := s.withDefaults(call)
	res := PlayResult{Call: c}
	err := s.play(ctx, webhookURL, &res)
	res.Err = err
	s.mu.Lock()
	s.calls = append(s.calls, res)
	s.mu.Unlock()
	return res, err
}

func (s *Server) withDefaults(c Call) Call {
	if c.Caller == "" {
		c.Caller = DefaultCaller
	}
	if c.Line == "" && c.Scenario.incoming() {
		c.Line = DefaultLine
	}
	if len(c.Extensions) == 0 {
		c.Extensions = []string{s.cfg.Users[0].Extension}
	} else {
		c.Extensions = append([]string(nil), c.Extensions...)
	}
	if c.CallID == "" {
		c.CallID = s.newCallID()
	}
	if c.Start.IsZero() {
		c.Start = s.cfg.Now()
	}
	c.Start = c.Start.In(s.cfg.Location).Truncate(time.Second)
	if c.Ring <= 0 {
		c.Ring = 20 * time.Second
		if c.Scenario.answered() {
			c.Ring = 5 * time.Second
		}
	}
	if c.Talk <= 0 {
		c.Talk = 45 * time.Second
	}
	if c.RecordingURL == "" && c.Scenario.answered() {
		c.RecordingURL = s.ts.URL + "/recordings/" + c.CallID + ".mp3"
		s.mu.Lock()
		s.recordings[c.CallID] = fakeMP3()
		s.mu.Unlock()
	}
	if c.CRMToken == "" {
		c.CRMToken = s.cfg.CRMToken
	}
	return c
}

func (s *Server) play(ctx context.Context, webhook string, res *PlayResult) error {
	c := res.Call
	if !strings.HasPrefix(webhook, "http://") && !strings.HasPrefix(webhook, "https://") {
		return errors.New("pztest: webhook URL must be http or https")
	}
	p := player{s: s, ctx: ctx, url: webhook, res: res}
	switch c.Scenario {
	case AnsweredIncoming, MissedIncoming, SmartTransfer:
		if c.Scenario == SmartTransfer || !c.NoSmartTransfer {
			if err := p.contact(); err != nil {
				return err
			}
		}
		if c.Scenario == SmartTransfer {
			return nil
		}
		res.Rang = c.Extensions
		if res.Responsible != "" {
			res.Rang = []string{res.Responsible}
		}
		for _, ext := range res.Rang {
			if err := p.event("INCOMING", "in", ext); err != nil {
				return err
			}
		}
		if c.Scenario == MissedIncoming {
			if c.LegEvents {
				for _, ext := range res.Rang {
					if err := p.event("CANCELLED", "in", ext); err != nil {
						return err
					}
				}
			}
			return p.history("in", res.Rang[0], "missed", "callid")
		}
		res.AnsweredBy = res.Rang[0]
		if err := p.event("ACCEPTED", "in", res.AnsweredBy); err != nil {
			return err
		}
		if c.LegEvents {
			for _, ext := range res.Rang[1:] {
				if err := p.event("CANCELLED", "in", ext); err != nil {
					return err
				}
			}
			if err := p.event("COMPLETED", "in", res.AnsweredBy); err != nil {
				return err
			}
		}
		return p.history("in", res.AnsweredBy, "success", "callid")
	case OutboundCallback, MissedOutgoing:
		ext := c.Extensions[0]
		res.Rang = []string{ext}
		if err := p.event("OUTGOING", "out", ext); err != nil {
			return err
		}
		if c.Scenario == MissedOutgoing {
			if c.LegEvents {
				if err := p.event("CANCELLED", "out", ext); err != nil {
					return err
				}
			}
			return p.history("out", ext, "missed", "call_id")
		}
		res.AnsweredBy = ext
		if err := p.event("ACCEPTED", "out", ext); err != nil {
			return err
		}
		if c.LegEvents {
			if err := p.event("COMPLETED", "out", ext); err != nil {
				return err
			}
		}
		return p.history("out", ext, "success", "callid")
	}
	return fmt.Errorf("pztest: unknown scenario %v", c.Scenario)
}

type player struct {
	s   *Server
	ctx context.Context
	url string
	res *PlayResult
}

// EventBody returns the JSON of one cmd=event notification, written as the
// spec's examples are (Python's json.dumps style: ", " and ": " separators,
// non-ASCII escaped).
func EventBody(typ, direction, ext, caller, line, callID, token string) []byte {
	var o pyObject
	o.str("cmd", "event")
	o.str("type", typ)
	o.str("direction", direction)
	o.str("user", ext)
	o.str("ext", ext)
	o.str("phone", caller)
	o.str("diversion", line)
	o.str("callid", callID)
	o.str("crm_token", token)
	return o.close()
}

// ContactBody returns the JSON of a cmd=contact question, as in the spec.
func ContactBody(caller, token string) []byte {
	var o pyObject
	o.str("cmd", "contact")
	o.str("phone", caller)
	o.str("crm_token", token)
	return o.close()
}

// HistoryFields are the fields of a cmd=history notification.
type HistoryFields struct {
	// Type is "in" or "out"; Status "success" or "missed".
	Type, Status string
	// Ext is the employee (sent as both user and ext).
	Ext string
	// Caller is the client's number (phone).
	Caller string
	// Line is the company number (diversion).
	Line string
	// Start and End bound the call; duration is End - Start.
	Start, End time.Time
	// CallID is the call id.
	CallID string
	// CallIDKey is "callid", or "call_id" as in the spec's missed outgoing
	// example.
	CallIDKey string
	// Link is the recording URL, "" for none.
	Link string
	// Token is the crm_token.
	Token string
	// Wait, when SendWait is set, is sent as "wait" (whole seconds): the
	// ITooLabs family's time before the answer. The spec's examples carry
	// no wait.
	Wait     time.Duration
	SendWait bool
}

// HistoryBody returns the JSON of one cmd=history notification, as in the
// spec: start and end as "20060102T150405" in their own zone, duration as
// a number of seconds (end - start, ringing included), and wait after it
// only when h.SendWait is set.
func HistoryBody(h HistoryFields) []byte {
	key := h.CallIDKey
	if key == "" {
		key = "callid"
	}
	var o pyObject
	o.str("cmd", "history")
	o.str("type", h.Type)
	o.str("user", h.Ext)
	o.str("ext", h.Ext)
	o.str("phone", h.Caller)
	o.str("diversion", h.Line)
	o.str("start", h.Start.Format("20060102T150405"))
	o.str("end", h.End.Format("20060102T150405"))
	o.num("duration", int64(h.End.Sub(h.Start)/time.Second))
	if h.SendWait {
		o.num("wait", int64(h.Wait/time.Second))
	}
	o.str(key, h.CallID)
	o.str("link", h.Link)
	o.str("status", h.Status)
	o.str("crm_token", h.Token)
	return o.close()
}

func (p *player) event(typ, dir, ext string) error {
	c := p.res.Call
	_, err := p.send("event", typ, ext, EventBody(typ, dir, ext, c.Caller, c.Line, c.CallID, c.CRMToken))
	return err
}

func (p *player) history(typ, ext, status, idKey string) error {
	c := p.res.Call
	end := c.Start.Add(c.Ring)
	link := ""
	if status == "success" {
		end = end.Add(c.Talk)
		link = c.RecordingURL
	}
	_, err := p.send("history", status, ext, HistoryBody(HistoryFields{
		Type: typ, Status: status, Ext: ext, Caller: c.Caller, Line: c.Line,
		Start: c.Start, End: end, CallID: c.CallID, CallIDKey: idKey, Link: link, Token: c.CRMToken,
		Wait: c.Ring, SendWait: c.SendWait,
	}))
	return err
}

func (p *player) contact() error {
	c := p.res.Call
	p.res.Asked = true
	answer, err := p.send("contact", "", "", ContactBody(c.Caller, c.CRMToken))
	if err != nil {
		return err
	}
	resp, name, err := ParseContactAnswer(answer)
	if err != nil {
		return fmt.Errorf("pztest: contact: %w", err)
	}
	p.res.Responsible, p.res.ContactName = resp, name
	return nil
}

// ParseContactAnswer reads a CRM's answer to the contact question: a JSON
// object with a string "responsible" (an extension, or "" for no decision)
// and an optional string "contact_name". Anything else is an error.
func ParseContactAnswer(b []byte) (responsible, contactName string, err error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return "", "", fmt.Errorf("answer is not a JSON object: %.60q", b)
	}
	raw, ok := m["responsible"]
	if !ok {
		return "", "", fmt.Errorf(`answer has no "responsible": %.60q`, b)
	}
	if err := json.Unmarshal(raw, &responsible); err != nil {
		return "", "", fmt.Errorf(`"responsible" is not a string: %.60q`, b)
	}
	if raw, ok := m["contact_name"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &contactName); err != nil {
			return "", "", fmt.Errorf(`"contact_name" is not a string: %.60q`, b)
		}
	}
	return strings.TrimSpace(responsible), contactName, nil
}

// send posts one notification, pausing Options.Pace first (except before
// the first one), and returns the answer body of a 2xx.
func (p *player) send(cmd, typ, ext string, body []byte) ([]byte, error) {
	if len(p.res.Sent) > 0 && p.s.cfg.Pace > 0 {
		t := time.NewTimer(p.s.cfg.Pace)
		select {
		case <-p.ctx.Done():
			t.Stop()
			return nil, p.ctx.Err()
		case <-t.C:
		}
	}
	sent := Sent{Cmd: cmd, Type: typ, Extension: ext, Body: body}
	req, err := http.NewRequestWithContext(p.ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("pztest: %s: %w", cmd, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.s.hc.Do(req)
	if err != nil {
		p.res.Sent = append(p.res.Sent, sent)
		return nil, fmt.Errorf("pztest: %s %s: %w", cmd, typ, err)
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	sent.Status, sent.Answer = resp.StatusCode, answer
	p.res.Sent = append(p.res.Sent, sent)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("pztest: %s %s: webhook answered HTTP %d: %.100q", cmd, typ, resp.StatusCode, answer)
	}
	return answer, nil
}

// pyObject writes a JSON object the way Python's json.dumps does by default,
// which is how the spec's examples are written.
type pyObject struct{ b []byte }

func (o *pyObject) key(k string) {
	if len(o.b) == 0 {
		o.b = append(o.b, '{')
	} else {
		o.b = append(o.b, ", "...)
	}
	o.b = appendPyString(o.b, k)
	o.b = append(o.b, ": "...)
}

func (o *pyObject) str(k, v string) {
	o.key(k)
	o.b = appendPyString(o.b, v)
}

func (o *pyObject) num(k string, v int64) {
	o.key(k)
	o.b = strconv.AppendInt(o.b, v, 10)
}

func (o *pyObject) close() []byte {
	if len(o.b) == 0 {
		return []byte("{}")
	}
	return append(o.b, '}')
}

// appendPyString quotes s as json.dumps(ensure_ascii=True) does.
func appendPyString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"':
			b = append(b, '\\', '"')
		case r == '\\':
			b = append(b, '\\', '\\')
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r == '\b':
			b = append(b, '\\', 'b')
		case r == '\f':
			b = append(b, '\\', 'f')
		case r >= 0x20 && r < 0x7f:
			b = append(b, byte(r))
		default:
			if r == utf8.RuneError {
				r = 0xFFFD
			}
			units := []rune{r}
			if r > 0xFFFF {
				r -= 0x10000
				units = []rune{0xD800 + (r>>10)&0x3FF, 0xDC00 + r&0x3FF}
			}
			for _, u := range units {
				b = append(b, '\\', 'u', hex[u>>12&0xF], hex[u>>8&0xF], hex[u>>4&0xF], hex[u&0xF])
			}
		}
	}
	return append(b, '"')
}
