package prostiezvonkitest

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

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
)

// Flow is a call flow of Prostie Zvonki's own that no neutral
// pbxtest.Scenario describes. Set in Extras.Flow, it replaces Call.Scenario.
type Flow int

// The vendor's own flows.
const (
	// MissedOutgoing ("Исходящий пропущенный звонок" of the spec): OUTGOING
	// from Call.Extensions[0], nobody answers, history "missed". As in the
	// spec's example, this history spells the call id "call_id" instead of
	// "callid".
	MissedOutgoing Flow = iota + 1
	// SmartTransfer ("Умный перевод"): the contact question alone; nobody
	// is rung.
	SmartTransfer
)

var flowNames = [...]string{"", "MissedOutgoing", "SmartTransfer"}

// String returns the constant's name.
func (f Flow) String() string {
	if f > 0 && int(f) < len(flowNames) {
		return flowNames[f]
	}
	return "Flow(" + strconv.Itoa(int(f)) + ")"
}

// Extras are the knobs of a play that only Prostie Zvonki has. The zero
// value plays the spec's own notifications.
type Extras struct {
	// Flow, when set, is played instead of Call.Scenario.
	Flow Flow
	// LegEvents adds what the ITooLabs family sends and the spec's examples
	// do not show: CANCELLED to each rung phone of a missed call, and
	// COMPLETED to each answering phone when its conversation ends.
	// (pbxtest.GroupRing sends CANCELLED to the phones that did not answer
	// with or without it: the neutral scenario says those legs end.)
	LegEvents bool
	// SendWait adds to the history the family's "wait" field, the seconds
	// before the answer (Call.Ring), which the spec's examples do not carry;
	// with it a receiver can tell the talk time from the whole duration.
	SendWait bool
	// CRMToken overrides the server's crm_token for this call, for example
	// to check that a webhook rejects a wrong one.
	CRMToken string
	// RecordingURL is the history's link for an answered call; default the
	// fake's own generated recording (see Server.Recording), or none with
	// Call.NoRecord.
	RecordingURL string
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
	// truncated to 4 KiB); zero when the webhook could not be reached.
	Status int
	Answer []byte
}

// PlayResult is what happened during PlayWith: the neutral Played, and the
// vendor's details.
type PlayResult struct {
	pbxtest.Played
	// Extras are the knobs as played, with the crm_token and the recording
	// link filled in (RecordingURL is "" when the call has no recording).
	Extras Extras
	// Sent are the notifications, in order.
	Sent []Sent
}

// Play sends the notifications of one call to webhookURL, in the vendor's
// order, each a POST with Content-Type application/json and the crm_token,
// waiting for each answer before the next (and Options.Pace between them).
// It is PlayWith without Extras; see PlayWith.
func (s *Server) Play(ctx context.Context, webhookURL string, call pbxtest.Call) (pbxtest.Played, error) {
	res, err := s.PlayWith(ctx, webhookURL, call, Extras{})
	return res.Played, err
}

// PlayWith plays call with the vendor's own knobs x.
//
// An incoming call first asks the contact (smart transfer) question, unless
// call.SkipRouting is set. For pbxtest.AnsweredIncoming and
// pbxtest.MissedIncoming the extension the webhook answered is rung (one
// the fake's staff lacks is an error: nobody is rung), else
// call.Extensions[0]; pbxtest.GroupRing and pbxtest.Transfer ignore the
// answer. In a transfer, Rang is both employees and AnsweredBy the first
// (who answered and transferred); the history names the second.
//
// It returns an error, and stops, when the webhook answers a notification
// with a non-2xx status, answers the contact question with anything but a
// JSON object holding a string "responsible", or cannot be reached, and
// for a scenario it does not know. The result, also recorded in
// Server.Plays and Server.PlayResults, says how far it got and what the
// routing answer was; its Err is the error returned.
func (s *Server) PlayWith(ctx context.Context, webhookURL string, call pbxtest.Call, x Extras) (PlayResult, error) {
	res := s.withDefaults(call, x)
	err := s.play(ctx, webhookURL, &res)
	res.Err = err
	res.Notifications = len(res.Sent)
	s.mu.Lock()
	s.plays = append(s.plays, res)
	s.mu.Unlock()
	return res, err
}

// withDefaults fills the call's and the extras' defaults: pbxtest's, with
// the fake's staff and clock, and the spec's empty diversion for an
// outgoing call that names no line.
func (s *Server) withDefaults(c pbxtest.Call, x Extras) PlayResult {
	outgoing := x.Flow == MissedOutgoing || (x.Flow == 0 && c.Scenario == pbxtest.OutboundCallback)
	missed := x.Flow == MissedOutgoing || (x.Flow == 0 && c.Scenario == pbxtest.MissedIncoming)
	line := c.Line
	exts := s.extensions()
	if len(c.Extensions) == 0 {
		switch {
		case x.Flow != 0:
			c.Extensions = exts[:1]
		case c.Scenario == pbxtest.GroupRing:
			c.Extensions = exts
		case c.Scenario == pbxtest.Transfer:
			c.Extensions = exts[:min(2, len(exts))]
		default:
			c.Extensions = exts[:1]
		}
	}
	c.Extensions = append([]string(nil), c.Extensions...)
	if c.CallID == "" {
		c.CallID = s.newCallID()
	}
	if c.Start.IsZero() {
		c.Start = s.cfg.Now()
	}
	if c.Ring <= 0 && missed {
		c.Ring = pbxtest.DefaultMissedRing
	}
	c = c.WithDefaults()
	c.Start = c.Start.In(s.cfg.Location).Truncate(time.Second)
	if outgoing && line == "" {
		c.Line = "" // the spec's outgoing examples carry "diversion": ""
	}
	if x.CRMToken == "" {
		x.CRMToken = s.cfg.CRMToken
	}
	answered := !missed && x.Flow != SmartTransfer && c.Scenario.Answered()
	switch {
	case !answered || c.NoRecord:
		x.RecordingURL = ""
	case x.RecordingURL == "":
		x.RecordingURL = s.ts.URL + "/recordings/" + c.CallID + ".mp3"
		size := c.RecordingSize
		if size <= 0 {
			size = s.cfg.RecordingSize
		}
		s.mu.Lock()
		s.recordings[c.CallID] = size
		s.mu.Unlock()
	}
	return PlayResult{Played: pbxtest.Played{Call: c, CallID: c.CallID}, Extras: x}
}

func (s *Server) play(ctx context.Context, webhook string, res *PlayResult) error {
	c := res.Call
	if !strings.HasPrefix(webhook, "http://") && !strings.HasPrefix(webhook, "https://") {
		return errors.New("prostiezvonkitest: webhook URL must be http or https")
	}
	p := player{s: s, ctx: ctx, url: webhook, res: res}
	switch res.Extras.Flow {
	case 0:
	case SmartTransfer:
		return p.contact()
	case MissedOutgoing:
		return p.outgoing(false)
	default:
		return fmt.Errorf("prostiezvonkitest: unknown scenario %v", res.Extras.Flow)
	}
	switch c.Scenario {
	case pbxtest.AnsweredIncoming, pbxtest.MissedIncoming, pbxtest.GroupRing, pbxtest.Transfer:
		return p.incoming()
	case pbxtest.OutboundCallback:
		return p.outgoing(true)
	}
	return fmt.Errorf("prostiezvonkitest: unknown scenario %v", c.Scenario)
}

type player struct {
	s   *Server
	ctx context.Context
	url string
	res *PlayResult
}

// incoming plays the incoming scenarios.
func (p *player) incoming() error {
	c, x := p.res.Call, p.res.Extras
	if c.Scenario == pbxtest.Transfer && len(c.Extensions) < 2 {
		return errors.New("prostiezvonkitest: Transfer needs two extensions")
	}
	if !c.SkipRouting {
		if err := p.contact(); err != nil {
			return err
		}
	}
	rang := c.Extensions[:1]
	switch c.Scenario {
	case pbxtest.GroupRing:
		rang = c.Extensions
	case pbxtest.AnsweredIncoming, pbxtest.MissedIncoming:
		if ext := p.res.Route.Extension; ext != "" {
			if !pbxtest.HasExtension(p.s.extensions(), ext) {
				return fmt.Errorf("prostiezvonkitest: the routing answer names extension %q, which the PBX does not have", ext)
			}
			rang = []string{ext}
		}
	}
	p.res.Rang = append([]string(nil), rang...)
	for _, ext := range rang {
		if err := p.event("INCOMING", "in", ext, ""); err != nil {
			return err
		}
	}
	if c.Scenario == pbxtest.MissedIncoming {
		if x.LegEvents {
			for _, ext := range rang {
				if err := p.event("CANCELLED", "in", ext, ""); err != nil {
					return err
				}
			}
		}
		return p.history("in", rang[0], "missed", "callid")
	}
	first := rang[0]
	p.res.AnsweredBy = first
	if err := p.event("ACCEPTED", "in", first, ""); err != nil {
		return err
	}
	if c.Scenario == pbxtest.GroupRing || x.LegEvents {
		for _, ext := range rang[1:] {
			if err := p.event("CANCELLED", "in", ext, ""); err != nil {
				return err
			}
		}
	}
	last := first
	if c.Scenario == pbxtest.Transfer {
		// Uncertain: which employee the family's TRANSFERRED names, and
		// whether the second leg keeps the callid, are not documented. The
		// fake names the transferring employee, gives the other call's id
		// as second_callid, and keeps the callid for the rest of the call.
		last = c.Extensions[1]
		p.res.Rang = append(p.res.Rang, last)
		if err := p.event("TRANSFERRED", "in", first, p.s.newCallID()); err != nil {
			return err
		}
		if x.LegEvents {
			if err := p.event("COMPLETED", "in", first, ""); err != nil {
				return err
			}
		}
		if err := p.event("INCOMING", "in", last, ""); err != nil {
			return err
		}
		if err := p.event("ACCEPTED", "in", last, ""); err != nil {
			return err
		}
	}
	if x.LegEvents {
		if err := p.event("COMPLETED", "in", last, ""); err != nil {
			return err
		}
	}
	return p.history("in", last, "success", "callid")
}

// outgoing plays a call the employee Call.Extensions[0] makes.
func (p *player) outgoing(answered bool) error {
	c, x := p.res.Call, p.res.Extras
	ext := c.Extensions[0]
	p.res.Rang = []string{ext}
	if err := p.event("OUTGOING", "out", ext, ""); err != nil {
		return err
	}
	if !answered {
		if x.LegEvents {
			if err := p.event("CANCELLED", "out", ext, ""); err != nil {
				return err
			}
		}
		return p.history("out", ext, "missed", "call_id")
	}
	p.res.AnsweredBy = ext
	if err := p.event("ACCEPTED", "out", ext, ""); err != nil {
		return err
	}
	if x.LegEvents {
		if err := p.event("COMPLETED", "out", ext, ""); err != nil {
			return err
		}
	}
	return p.history("out", ext, "success", "callid")
}

func (p *player) event(typ, dir, ext, secondCallID string) error {
	c := p.res.Call
	_, err := p.send("event", typ, ext, eventBody(typ, dir, ext, c.Caller, c.Line, c.CallID, secondCallID, p.res.Extras.CRMToken))
	return err
}

func (p *player) history(typ, ext, status, idKey string) error {
	c := p.res.Call
	end := c.Start.Add(c.Ring)
	link := ""
	if status == "success" {
		end = end.Add(c.Talk)
		link = p.res.Extras.RecordingURL
	}
	_, err := p.send("history", status, ext, HistoryBody(HistoryFields{
		Type: typ, Status: status, Ext: ext, Caller: c.Caller, Line: c.Line,
		Start: c.Start, End: end, CallID: c.CallID, CallIDKey: idKey, Link: link, Token: p.res.Extras.CRMToken,
		Wait: c.Ring, SendWait: p.res.Extras.SendWait,
	}))
	return err
}

func (p *player) contact() error {
	c := p.res.Call
	p.res.Asked = true
	answer, err := p.send("contact", "", "", ContactBody(c.Caller, p.res.Extras.CRMToken))
	if err != nil {
		return err
	}
	resp, name, err := ParseContactAnswer(answer)
	if err != nil {
		return fmt.Errorf("prostiezvonkitest: contact: %w", err)
	}
	p.res.Route = pbx.Route{Extension: resp, DisplayName: name}
	return nil
}

// EventBody returns the JSON of one cmd=event notification, written as the
// spec's examples are (Python's json.dumps style: ", " and ": " separators,
// non-ASCII escaped).
func EventBody(typ, direction, ext, caller, line, callID, token string) []byte {
	return eventBody(typ, direction, ext, caller, line, callID, "", token)
}

// eventBody is EventBody with the second_callid of a TRANSFERRED event
// (left out when "").
func eventBody(typ, direction, ext, caller, line, callID, secondCallID, token string) []byte {
	var o pyObject
	o.str("cmd", "event")
	o.str("type", typ)
	o.str("direction", direction)
	o.str("user", ext)
	o.str("ext", ext)
	o.str("phone", caller)
	o.str("diversion", line)
	o.str("callid", callID)
	if secondCallID != "" {
		o.str("second_callid", secondCallID)
	}
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
		return nil, fmt.Errorf("prostiezvonkitest: %s: %w", cmd, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.s.hc.Do(req)
	if err != nil {
		p.res.Sent = append(p.res.Sent, sent)
		return nil, fmt.Errorf("prostiezvonkitest: %s %s: %w", cmd, typ, err)
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	sent.Status, sent.Answer = resp.StatusCode, answer
	p.res.Sent = append(p.res.Sent, sent)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("prostiezvonkitest: %s %s: webhook answered HTTP %d: %.100q", cmd, typ, resp.StatusCode, answer)
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
