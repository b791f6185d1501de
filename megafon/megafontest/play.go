package megafontest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
)

// Extras are the knobs of a play that only MegaFon has. The zero value
// plays what the family documents: form bodies, capitalised statuses,
// upper-case event types, wait in the history.
type Extras struct {
	// JSON sends the notifications as JSON objects (what the family's
	// documentation shows in its examples) instead of forms (what it
	// specifies).
	JSON bool
	// LowerCase sends statuses and event types in lower case (success,
	// incoming), as some versions of the family do.
	LowerCase bool
	// NoWait leaves wait (the seconds before the answer) out of the
	// history; a receiver then cannot tell the talk time.
	NoWait bool
	// CRMToken overrides the server's crm_token for this call, for example
	// to check that a webhook rejects a wrong one.
	CRMToken string
}

// Sent is one notification the fake sent and the webhook's answer.
type Sent struct {
	// Cmd is "event", "history" or "contact".
	Cmd string
	// Type is the event type (INCOMING, ...) or, for history, the status.
	Type string
	// Extension is the employee the notification is about.
	Extension string
	// Fields are the notification's fields, crm_token included.
	Fields url.Values
	// Body is what was sent.
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
	// Extras are the knobs as played, with the crm_token filled in.
	Extras Extras
	// RecordingURL is the history's link ("" for none).
	RecordingURL string
	// Sent are the notifications, in order.
	Sent []Sent
}

// Play sends the notifications of one call to webhookURL, in the family's
// order, each a POST carrying the crm_token, waiting for each answer before
// the next (and Options.Pace between them). It is PlayWith without Extras.
func (s *Server) Play(ctx context.Context, webhookURL string, call pbxtest.Call) (pbxtest.Played, error) {
	res, err := s.PlayWith(ctx, webhookURL, call, Extras{})
	return res.Played, err
}

// PlayWith plays call with the vendor's knobs x.
//
// An incoming call first asks the contact question, unless
// call.SkipRouting is set. For pbxtest.AnsweredIncoming and
// pbxtest.MissedIncoming the employee the answer names as responsible (by
// extension or login) is rung, one the PBX does not have is an error
// (nobody is rung), and no decision rings call.Extensions[0];
// pbxtest.GroupRing and pbxtest.Transfer ignore the answer. In a
// transfer, Rang is both employees and AnsweredBy the first (who answered
// and transferred); the history names the second.
//
// It returns an error, and stops, when the webhook answers a notification
// with a non-2xx status, answers the contact question with anything but a
// JSON object (whose "responsible" and "contact_name", when present, are
// strings), or cannot be reached, and for a scenario it does not know.
// The call joins the fake's call log once its history was sent. The
// result, also recorded in Server.Plays and Server.PlayResults, says how
// far it got; its Err is the error returned.
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

// withDefaults fills the call's defaults: pbxtest's, with the fake's staff
// and clock.
func (s *Server) withDefaults(c pbxtest.Call, x Extras) PlayResult {
	exts := s.extensions()
	if len(c.Extensions) == 0 {
		switch c.Scenario {
		case pbxtest.GroupRing:
			c.Extensions = exts
		case pbxtest.Transfer:
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
	c = c.WithDefaults()
	c.Start = c.Start.UTC().Truncate(time.Second)
	if x.CRMToken == "" {
		x.CRMToken = s.cfg.CRMToken
	}
	return PlayResult{Played: pbxtest.Played{Call: c, CallID: c.CallID}, Extras: x}
}

func (s *Server) play(ctx context.Context, webhook string, res *PlayResult) error {
	if !strings.HasPrefix(webhook, "http://") && !strings.HasPrefix(webhook, "https://") {
		return errors.New("megafontest: webhook URL must be http or https")
	}
	p := player{s: s, ctx: ctx, url: webhook, res: res}
	switch res.Call.Scenario {
	case pbxtest.AnsweredIncoming, pbxtest.MissedIncoming, pbxtest.GroupRing, pbxtest.Transfer:
		return p.incoming()
	case pbxtest.OutboundCallback:
		return p.outgoing()
	}
	return fmt.Errorf("megafontest: unknown scenario %v", res.Call.Scenario)
}

type player struct {
	s   *Server
	ctx context.Context
	url string
	res *PlayResult
}

// incoming plays the incoming scenarios.
func (p *player) incoming() error {
	c := p.res.Call
	if c.Scenario == pbxtest.Transfer && len(c.Extensions) < 2 {
		return errors.New("megafontest: Transfer needs two extensions")
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
		if who := p.res.Route.Extension; who != "" {
			emp, ok := p.s.employee(who)
			if !ok {
				return fmt.Errorf("megafontest: the contact answer names %q as responsible, whom the PBX does not have", who)
			}
			rang = []string{emp.Extension}
		}
	}
	p.res.Rang = append([]string(nil), rang...)
	for _, ext := range rang {
		if err := p.event("INCOMING", "in", ext, ""); err != nil {
			return err
		}
	}
	if c.Scenario == pbxtest.MissedIncoming {
		for _, ext := range rang {
			if err := p.event("CANCELLED", "in", ext, ""); err != nil {
				return err
			}
		}
		return p.history("in", rang[0], false)
	}
	first := rang[0]
	p.res.AnsweredBy = first
	if err := p.event("ACCEPTED", "in", first, ""); err != nil {
		return err
	}
	for _, ext := range rang[1:] {
		if err := p.event("CANCELLED", "in", ext, ""); err != nil {
			return err
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
		if err := p.event("COMPLETED", "in", first, ""); err != nil {
			return err
		}
		if err := p.event("INCOMING", "in", last, ""); err != nil {
			return err
		}
		if err := p.event("ACCEPTED", "in", last, ""); err != nil {
			return err
		}
	}
	if err := p.event("COMPLETED", "in", last, ""); err != nil {
		return err
	}
	return p.history("in", last, true)
}

// outgoing plays a call the employee Call.Extensions[0] makes, answered.
func (p *player) outgoing() error {
	ext := p.res.Call.Extensions[0]
	p.res.Rang = []string{ext}
	if err := p.event("OUTGOING", "out", ext, ""); err != nil {
		return err
	}
	p.res.AnsweredBy = ext
	if err := p.event("ACCEPTED", "out", ext, ""); err != nil {
		return err
	}
	if err := p.event("COMPLETED", "out", ext, ""); err != nil {
		return err
	}
	return p.history("out", ext, true)
}

// login is the notifications' user of an extension: login@domain, as live
// MegaFon samples show it; the extension itself for one the staff lacks.
func (p *player) login(ext string) (user, plain string) {
	if e, ok := p.s.employee(ext); ok {
		return e.Login + "@" + p.s.cfg.Domain, e.Login
	}
	return ext, ext
}

func (p *player) word(s string) string {
	if p.res.Extras.LowerCase {
		return strings.ToLower(s)
	}
	return s
}

func (p *player) event(typ, dir, ext, secondCallID string) error {
	c := p.res.Call
	user, _ := p.login(ext)
	f := url.Values{
		"cmd": {"event"}, "type": {p.word(typ)}, "direction": {dir}, "user": {user}, "ext": {ext},
		"phone": {c.Caller}, "diversion": {c.Line}, "callid": {c.CallID}, "crm_token": {p.res.Extras.CRMToken},
	}
	if c.Scenario == pbxtest.GroupRing {
		f.Set("groupRealName", "Отдел продаж")
	}
	if secondCallID != "" {
		f.Set("second_callid", secondCallID)
	}
	_, err := p.send("event", typ, ext, f)
	return err
}

// history sends the call's history and adds the call to the fake's log.
func (p *player) history(typ, ext string, answered bool) error {
	c := p.res.Call
	user, plain := p.login(ext)
	status, logStatus, dur := "Missed", "missed", c.Ring
	entry := HistoryEntry{UID: c.CallID, Type: typ, Client: c.Caller, Diversion: c.Line, User: plain, Start: c.Start, Wait: c.Ring}
	if answered {
		status, logStatus, dur = "Success", "success", c.Ring+c.Talk
		entry.Talk = c.Talk
		if !c.NoRecord {
			entry.RecordingSize = c.RecordingSize
			if entry.RecordingSize <= 0 {
				entry.RecordingSize = p.s.cfg.RecordingSize
			}
		}
	}
	entry.Status = logStatus
	p.res.RecordingURL = p.s.RecordLink(entry)
	f := url.Values{
		"cmd": {"history"}, "type": {typ}, "status": {p.word(status)}, "user": {user}, "ext": {ext},
		"phone": {c.Caller}, "diversion": {c.Line}, "start": {c.Start.UTC().Format("20060102T150405Z")},
		"duration": {strconv.FormatInt(int64(dur/time.Second), 10)}, "callid": {c.CallID},
		"link": {p.res.RecordingURL}, "crm_token": {p.res.Extras.CRMToken},
	}
	if !p.res.Extras.NoWait {
		f.Set("wait", strconv.FormatInt(int64(c.Ring/time.Second), 10))
	}
	if _, err := p.send("history", status, ext, f); err != nil {
		return err
	}
	p.s.mu.Lock()
	p.s.history = append(p.s.history, entry)
	p.s.mu.Unlock()
	return nil
}

func (p *player) contact() error {
	c := p.res.Call
	p.res.Asked = true
	answer, err := p.send("contact", "", "", url.Values{
		"cmd": {"contact"}, "phone": {c.Caller}, "diversion": {c.Line}, "callid": {c.CallID}, "crm_token": {p.res.Extras.CRMToken},
	})
	if err != nil {
		return err
	}
	route, err := ParseContactAnswer(answer)
	if err != nil {
		return fmt.Errorf("megafontest: contact: %w", err)
	}
	p.res.Route = route
	return nil
}

// ParseContactAnswer reads a CRM's answer to the contact question as the
// PBX does: a JSON object whose "responsible" (an extension, a login or a
// direct number) and "contact_name", when present and not null, are
// strings; {} is no decision. Anything else is an error.
func ParseContactAnswer(b []byte) (pbx.Route, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return pbx.Route{}, fmt.Errorf("answer is not a JSON object: %.60q", b)
	}
	str := func(k string) (string, error) {
		raw, ok := m[k]
		if !ok || string(raw) == "null" {
			return "", nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("%q is not a string: %.60q", k, b)
		}
		return strings.TrimSpace(s), nil
	}
	responsible, err := str("responsible")
	if err != nil {
		return pbx.Route{}, err
	}
	name, err := str("contact_name")
	if err != nil {
		return pbx.Route{}, err
	}
	return pbx.Route{Extension: responsible, DisplayName: name}, nil
}

// Body encodes the fields of one notification as the fake sends them: a
// form, or a JSON object of strings when asJSON.
func Body(fields url.Values, asJSON bool) []byte {
	if !asJSON {
		return []byte(fields.Encode())
	}
	m := make(map[string]string, len(fields))
	for k, vs := range fields {
		if len(vs) > 0 {
			m[k] = vs[0]
		}
	}
	b, _ := json.Marshal(m)
	return b
}

// send posts one notification, pausing Options.Pace first (except before
// the first one), and returns the answer body of a 2xx.
func (p *player) send(cmd, typ, ext string, fields url.Values) ([]byte, error) {
	if len(p.res.Sent) > 0 && p.s.cfg.Pace > 0 {
		t := time.NewTimer(p.s.cfg.Pace)
		select {
		case <-p.ctx.Done():
			t.Stop()
			return nil, p.ctx.Err()
		case <-t.C:
		}
	}
	body := Body(fields, p.res.Extras.JSON)
	sent := Sent{Cmd: cmd, Type: typ, Extension: ext, Fields: fields, Body: body}
	req, err := http.NewRequestWithContext(p.ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("megafontest: %s: %w", cmd, err)
	}
	if p.res.Extras.JSON {
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := p.s.hc.Do(req)
	if err != nil {
		p.res.Sent = append(p.res.Sent, sent)
		return nil, fmt.Errorf("megafontest: %s %s: %w", cmd, typ, err)
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	sent.Status, sent.Answer = resp.StatusCode, answer
	p.res.Sent = append(p.res.Sent, sent)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("megafontest: %s %s: webhook answered HTTP %d: %.100q", cmd, typ, resp.StatusCode, answer)
	}
	return answer, nil
}
