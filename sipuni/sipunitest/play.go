package sipunitest

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

// Extras are the knobs of a play that only Sipuni has. The zero value is
// what Play uses.
type Extras struct {
	// OrderID is the callback order id a pbxtest.OutboundCallback was
	// placed with; it goes into the call's history row ("ID заказа
	// звонка"), never into its events. The calls SetWebhook plays get the
	// id the callback/call_number answer carried.
	OrderID string
	// DTMF and Label are sent with the routing question ("dtmf", "label").
	DTMF, Label string
}

// PlayResult is what PlayWith did: the neutral pbxtest.Played and Sipuni's
// own details.
type PlayResult struct {
	pbxtest.Played
	// Choice is the routing answer's "choice" (0 or 1), when Asked.
	// Played.Route holds its "number" and "name".
	Choice int
	// Sent holds the parameters of every request sent to the webhook, in
	// order (the routing question first), without the token.
	Sent []url.Values
}

// Play plays call against the webhook at webhookURL, with the zero Extras;
// see PlayWith.
func (s *Server) Play(ctx context.Context, webhookURL string, call pbxtest.Call) (pbxtest.Played, error) {
	res, err := s.PlayWith(ctx, webhookURL, call, Extras{})
	return res.Played, err
}

// PlayWith plays call, with Sipuni's own knobs x, against the webhook at
// webhookURL, as Sipuni sends it: GET requests with the parameters in the
// query, one at a time, each after the previous was answered, carrying
// Options.WebhookToken as "token" and Options.WebhookUser/WebhookPassword as
// basic auth, when set. The empty fields of call get pbxtest's defaults
// (pbxtest.Call.WithDefaults), its Extensions the fake's own staff, its
// CallID a generated "1774372146.533584"-style id.
//
// An incoming call first asks the routing question (GET
// ?fromnum=&tonum=&dtmf=&label=&time=, time as Unix seconds), unless
// call.SkipRouting. Then:
//
//   - pbxtest.AnsweredIncoming rings the extension the answer names, else
//     the first of call.Extensions, which answers: events 1, 3, 2 (ANSWER);
//   - pbxtest.MissedIncoming rings the extension the answer names, else
//     every one of call.Extensions (by default only the first) at once,
//     and nobody answers: one event 1 per phone, then 2 (NOANSWER) naming
//     the company line with Sipuni's "_id…" suffix as its destination, as
//     captured;
//   - pbxtest.GroupRing rings every one of call.Extensions at once, whatever
//     the answer says: one event 1 per phone (the first repeated a second
//     later, as Sipuni does), 3 from the first, one 4 (NOANSWER) for each
//     other leg, and 2 (ANSWER);
//   - pbxtest.Transfer rings the extension the answer names, else the first
//     of call.Extensions, who answers (1, 3) and, halfway through call.Talk,
//     transfers the call to the second of call.Extensions: event 4 (ANSWER)
//     ends the first leg, the second is rung and answers (1, 3), and event 2
//     (ANSWER) names it in last_called and the first in transfer_from. This
//     order is inferred from Sipuni's field descriptions (event 4 is "a leg
//     ends while the call continues, e.g. a transfer"; event 2 carries
//     transfer_from); no captured transfer shows it.
//   - pbxtest.OutboundCallback (what follows callback/call_number) rings the
//     employee call.Extensions[0] first, then the external call.Caller, who
//     answers: events 1 (repeated a second later), 3, 2 (ANSWER). As
//     captured from Sipuni, its event 2 carries no caller and callee (no
//     src_* or dst_* fields): a receiver matches it to the call by call_id.
//
// A routing answer naming an extension the fake's staff does not have is
// an error: nothing is rung for it. Answered calls get a recording
// (Options.RecordingSize bytes, or call.RecordingSize; none with
// call.NoRecord) and every call a row in the history, both in place before
// the final event is sent.
//
// It returns an error, and stops, when the webhook answers anything Sipuni
// would not accept: a non-2xx status, an event answer without
// {"success":true}, a routing answer without "choice" 0 or 1. The result is
// also kept for Plays and PlayResults; its Err is the error returned.
func (s *Server) PlayWith(ctx context.Context, webhookURL string, call pbxtest.Call, x Extras) (PlayResult, error) {
	call = s.withDefaults(call)
	res := PlayResult{Played: pbxtest.Played{Call: call, CallID: call.CallID}}
	err := s.play(ctx, webhookURL, call, x, &res)
	res.Err = err
	res.Notifications = len(res.Sent)
	s.mu.Lock()
	s.plays = append(s.plays, res)
	s.mu.Unlock()
	return res, err
}

// withDefaults fills c's empty fields: the extensions from the fake's own
// staff (all of them for GroupRing, the first two for Transfer, else the
// first), the rest as pbxtest.Call.WithDefaults does, Start from the fake's
// clock, whole seconds (Sipuni's times are Unix seconds), and the CallID.
func (s *Server) withDefaults(c pbxtest.Call) pbxtest.Call {
	if len(c.Extensions) == 0 {
		exts := s.extensions()
		switch c.Scenario {
		case pbxtest.GroupRing:
		case pbxtest.Transfer:
			exts = exts[:min(2, len(exts))]
		default:
			exts = exts[:min(1, len(exts))]
		}
		c.Extensions = exts
	} else {
		c.Extensions = append([]string(nil), c.Extensions...)
	}
	if c.Start.IsZero() {
		c.Start = s.opts.Clock()
	}
	c = c.WithDefaults()
	c.Start = c.Start.Truncate(time.Second)
	if c.CallID == "" {
		c.CallID = s.nextCallID(c.Start)
	}
	return c
}

func (s *Server) play(ctx context.Context, webhookURL string, call pbxtest.Call, x Extras, res *PlayResult) error {
	target, err := url.Parse(webhookURL)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") {
		return errors.New("sipunitest: webhook URL must be http(s)")
	}
	switch call.Scenario {
	case pbxtest.AnsweredIncoming, pbxtest.MissedIncoming, pbxtest.GroupRing, pbxtest.OutboundCallback:
	case pbxtest.Transfer:
		if len(call.Extensions) < 2 {
			return errors.New("sipunitest: Transfer needs two Extensions: who answers first and who the call is transferred to")
		}
	default:
		return fmt.Errorf("sipunitest: unknown scenario %v", call.Scenario)
	}
	if len(call.Extensions) == 0 {
		return errors.New("sipunitest: no extension to ring")
	}
	p := &player{s: s, ctx: ctx, target: target, call: call, x: x, res: res}
	if call.Scenario == pbxtest.OutboundCallback {
		return p.callback()
	}
	return p.incoming()
}

type player struct {
	s      *Server
	ctx    context.Context
	target *url.URL
	call   pbxtest.Call
	x      Extras
	res    *PlayResult
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// channel makes an Asterisk channel name like Sipuni's.
func (p *player) channel(n int) string {
	return fmt.Sprintf("SIP/%s1%05d-%08x", p.s.opts.Account, n, len(p.res.Sent)+0x471a0)
}

// inboundLeg returns the common fields of an event between the caller and
// one employee of an incoming call.
func (p *player) inboundLeg(event, ext string, i int, t time.Time) url.Values {
	acc := p.s.opts.Account
	return url.Values{
		"event":         {event},
		"call_id":       {p.call.CallID},
		"src_num":       {p.call.Caller},
		"src_type":      {"1"},
		"short_src_num": {p.call.Caller},
		"dst_num":       {acc + ext},
		"dst_type":      {"2"},
		"short_dst_num": {ext},
		"pbxdstnum":     {acc + ext},
		"timestamp":     {unix(t)},
		"channel":       {p.channel(i)},
		"user_id":       {acc},
		"treeName":      {"Входящая"},
		"treeNumber":    {"000-123456"},
	}
}

// recordingSize is the size of the call's recording, 0 for none.
func (p *player) recordingSize() int64 {
	switch {
	case p.call.NoRecord || !p.call.Scenario.Answered():
		return 0
	case p.call.RecordingSize > 0:
		return p.call.RecordingSize
	}
	return p.s.opts.RecordingSize
}

// rung decides who rings, after the routing answer (the zero Route when
// none was asked or it named nobody).
func (p *player) rung(routed string) []string {
	c := p.call
	switch c.Scenario {
	case pbxtest.GroupRing:
		return c.Extensions
	case pbxtest.Transfer:
		first, second := c.Extensions[0], c.Extensions[1]
		if routed != "" {
			first = routed
			if second == routed {
				second = c.Extensions[0]
			}
		}
		return []string{first, second}
	case pbxtest.MissedIncoming:
		if routed != "" {
			return []string{routed}
		}
		return c.Extensions
	}
	if routed != "" {
		return []string{routed}
	}
	return c.Extensions[:1]
}

func (p *player) incoming() error {
	c := p.call
	t0 := c.Start
	routed := ""
	if !c.SkipRouting {
		if err := p.ask(t0); err != nil {
			return err
		}
		routed = p.res.Route.Extension
		if routed != "" && c.Scenario != pbxtest.GroupRing && !pbxtest.HasExtension(p.s.extensions(), routed) {
			return fmt.Errorf("sipunitest: the routing answer names extension %q, which the PBX does not have (its staff: %s); nothing rang",
				routed, strings.Join(p.s.extensions(), ", "))
		}
		if c.Scenario == pbxtest.GroupRing {
			routed = ""
		}
	}
	rung := p.rung(routed)
	p.res.Rang = append([]string(nil), rung...)
	if c.Scenario == pbxtest.Transfer {
		return p.transfer(rung[0], rung[1])
	}
	answered := c.Scenario.Answered()
	group := len(rung) > 1
	tAns := t0.Add(c.Ring)
	tEnd := tAns.Add(c.Talk)
	if !answered {
		tEnd = tAns
	}

	// One event 1 per rung phone; Sipuni repeats event 1, a second later.
	for i, ext := range rung {
		ev := p.inboundLeg("1", ext, i, t0)
		ev.Set("is_inner_call", "0")
		if err := p.send(ev); err != nil {
			return err
		}
		if i == 0 && group && answered {
			ev.Set("timestamp", unix(t0.Add(time.Second)))
			if err := p.send(ev); err != nil {
				return err
			}
		}
	}
	size := p.recordingSize()
	var final url.Values
	if answered {
		ext := rung[0]
		p.res.AnsweredBy = ext
		if err := p.send(p.inboundLeg("3", ext, 0, tAns)); err != nil {
			return err
		}
		// The other phones stop ringing: their legs end, the call goes on.
		for i, other := range rung[1:] {
			ev := p.inboundLeg("4", other, i+1, tAns)
			ev.Set("status", "NOANSWER")
			ev.Set("call_start_timestamp", unix(t0))
			ev.Set("call_answer_timestamp", "0")
			ev.Set("last_called", other)
			if err := p.send(ev); err != nil {
				return err
			}
		}
		final = p.inboundLeg("2", ext, 0, tEnd)
		final.Set("status", "ANSWER")
		final.Set("call_answer_timestamp", unix(tAns))
		final.Set("last_called", ext)
		if size > 0 {
			final.Set("call_record_link", p.s.RecordLink(c.CallID))
		}
	} else {
		// As captured from Sipuni: the final event of a missed call names
		// the company line (with an "_id" suffix) as its destination.
		final = p.inboundLeg("2", "", 0, tEnd)
		dst := c.Line + "_id265648"
		final.Set("dst_num", dst)
		final.Set("dst_type", "1")
		final.Set("short_dst_num", dst)
		final.Set("pbxdstnum", c.Line)
		final.Set("status", "NOANSWER")
		final.Set("call_answer_timestamp", "0")
		final.Set("last_called", strings.Join(rung, ","))
		final.Set("call_record_link", p.s.RecordLink(c.CallID))
	}
	final.Set("call_start_timestamp", unix(t0))

	// The call is logged, and its recording ready, before the final event
	// goes out, so a webhook may fetch it at once.
	entry := HistoryEntry{RecordID: c.CallID, Type: "Входящий", Status: "не отвечен", Time: t0, Tree: "Входящая", TreeID: "000-123456",
		From: c.Caller, To: c.Line, Ringed: rung, CallDuration: tEnd.Sub(t0)}
	if answered {
		entry.Status, entry.AnsweredBy = "отвечен", rung[0]
		entry.TalkDuration, entry.AnswerDelay = tEnd.Sub(tAns), tAns.Sub(t0)
	}
	p.s.finish(entry, size)
	return p.send(final)
}

// transfer plays the rest of a pbxtest.Transfer after the routing question:
// first answers, and halfway through the talk transfers the call to second.
func (p *player) transfer(first, second string) error {
	c := p.call
	t0 := c.Start
	tAns := t0.Add(c.Ring)
	half := (c.Talk / 2).Truncate(time.Second)
	tXfer := tAns.Add(half)
	tAns2 := tXfer.Add(c.Ring)
	tEnd := tAns2.Add(c.Talk - half)
	p.res.AnsweredBy = first

	ev := p.inboundLeg("1", first, 0, t0)
	ev.Set("is_inner_call", "0")
	if err := p.send(ev); err != nil {
		return err
	}
	if err := p.send(p.inboundLeg("3", first, 0, tAns)); err != nil {
		return err
	}
	// The first leg ends; the call goes on.
	ev = p.inboundLeg("4", first, 0, tXfer)
	ev.Set("status", "ANSWER")
	ev.Set("call_start_timestamp", unix(t0))
	ev.Set("call_answer_timestamp", unix(tAns))
	ev.Set("last_called", first)
	if err := p.send(ev); err != nil {
		return err
	}
	ev = p.inboundLeg("1", second, 1, tXfer)
	ev.Set("is_inner_call", "0")
	if err := p.send(ev); err != nil {
		return err
	}
	if err := p.send(p.inboundLeg("3", second, 1, tAns2)); err != nil {
		return err
	}
	size := p.recordingSize()
	final := p.inboundLeg("2", second, 1, tEnd)
	final.Set("status", "ANSWER")
	final.Set("call_start_timestamp", unix(t0))
	final.Set("call_answer_timestamp", unix(tAns))
	final.Set("last_called", second)
	final.Set("transfer_from", first)
	if size > 0 {
		final.Set("call_record_link", p.s.RecordLink(c.CallID))
	}
	p.s.finish(HistoryEntry{RecordID: c.CallID, Type: "Входящий", Status: "отвечен", Time: t0, Tree: "Входящая", TreeID: "000-123456",
		From: c.Caller, To: c.Line, Ringed: []string{first, second}, AnsweredBy: first, CallDuration: tEnd.Sub(t0),
		TalkDuration: tEnd.Sub(tAns), AnswerDelay: tAns.Sub(t0)}, size)
	return p.send(final)
}

func (p *player) callback() error {
	c := p.call
	ext := c.Extensions[0]
	acc := p.s.opts.Account
	p.res.Rang = []string{ext}
	p.res.AnsweredBy = ext
	t0 := c.Start
	tAns := t0.Add(c.Ring)
	tEnd := tAns.Add(c.Talk)
	leg := func(event string, t time.Time, ch int) url.Values {
		return url.Values{
			"event":         {event},
			"call_id":       {c.CallID},
			"src_num":       {acc + ext},
			"src_type":      {"2"},
			"short_src_num": {ext},
			"dst_num":       {c.Caller},
			"dst_type":      {"1"},
			"short_dst_num": {c.Caller},
			"pbxdstnum":     {"+" + c.Caller},
			"timestamp":     {unix(t)},
			"channel":       {p.channel(ch)},
			"user_id":       {acc},
			"treeName":      {"Исходящая"},
			"treeNumber":    {"000-123457"},
		}
	}
	ev := leg("1", t0, 0)
	ev.Set("is_inner_call", "0")
	if err := p.send(ev); err != nil {
		return err
	}
	ev.Set("timestamp", unix(t0.Add(time.Second))) // Sipuni's repeat
	if err := p.send(ev); err != nil {
		return err
	}
	if err := p.send(leg("3", tAns, 1)); err != nil {
		return err
	}
	final := leg("2", tEnd, 1)
	for _, k := range []string{"src_num", "src_type", "short_src_num", "dst_num", "dst_type", "short_dst_num", "pbxdstnum"} {
		final.Del(k) // no caller and callee, as captured
	}
	final.Set("status", "ANSWER")
	final.Set("call_start_timestamp", unix(t0))
	final.Set("call_answer_timestamp", unix(tAns))
	final.Set("last_called", ext)
	size := p.recordingSize()
	if size > 0 {
		final.Set("call_record_link", p.s.RecordLink(c.CallID))
	}
	p.s.finish(HistoryEntry{RecordID: c.CallID, Type: "Исходящий", Status: "отвечен", Time: t0, Tree: "Исходящая", TreeID: "000-123457",
		OutgoingLine: c.Line, From: ext, To: c.Caller, AnsweredBy: c.Caller, CallDuration: tEnd.Sub(t0),
		TalkDuration: tEnd.Sub(tAns), AnswerDelay: tAns.Sub(t0), OrderID: p.x.OrderID}, size)
	return p.send(final)
}

// finish logs the call and makes its recording of size bytes (none for 0).
func (s *Server) finish(e HistoryEntry, size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.HasRecord = size > 0
	s.history = append(s.history, e)
	if e.HasRecord {
		s.recordings[e.RecordID] = recording{size: size}
	}
}

// ask sends the routing question and reads the answer into the result.
func (p *player) ask(t time.Time) error {
	q := url.Values{
		"fromnum": {p.call.Caller},
		"tonum":   {p.call.Line},
		"dtmf":    {p.x.DTMF},
		"label":   {p.x.Label},
		"time":    {unix(t)},
	}
	p.res.Asked = true
	body, err := p.get(q)
	if err != nil {
		return fmt.Errorf("sipunitest: routing question: %w", err)
	}
	choice, route, err := parseRouteAnswer(body)
	if err != nil {
		return err
	}
	p.res.Choice, p.res.Route = choice, route
	return nil
}

// parseRouteAnswer reads a webhook's answer to the routing question the
// way the fake does: a JSON object with "choice" 0 or 1 (a number) and,
// when present, "number" and "name" as strings. The route is the answer's
// number and name when choice is 1, else the zero Route.
func parseRouteAnswer(body []byte) (choice int, route pbx.Route, err error) {
	var a map[string]json.RawMessage
	if err := json.Unmarshal(body, &a); err != nil || a == nil {
		return 0, pbx.Route{}, fmt.Errorf("sipunitest: routing answer is not a JSON object: %.80q", body)
	}
	switch string(bytes.TrimSpace(a["choice"])) {
	case "0":
		choice = 0
	case "1":
		choice = 1
	default:
		return 0, pbx.Route{}, fmt.Errorf("sipunitest: routing answer needs \"choice\" 0 or 1: %.80q", body)
	}
	var number, name string
	for key, dst := range map[string]*string{"number": &number, "name": &name} {
		raw, ok := a[key]
		if !ok {
			continue
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return 0, pbx.Route{}, fmt.Errorf("sipunitest: routing answer %q must be a string: %.80q", key, body)
		}
	}
	if choice == 1 {
		route = pbx.Route{Extension: number, DisplayName: name}
	}
	return choice, route, nil
}

// send sends one event and checks for {"success":true}.
func (p *player) send(ev url.Values) error {
	body, err := p.get(ev)
	if err != nil {
		return fmt.Errorf("sipunitest: event %s: %w", ev.Get("event"), err)
	}
	var a struct {
		Success *bool `json:"success"`
	}
	if err := json.Unmarshal(body, &a); err != nil || a.Success == nil || !*a.Success {
		return fmt.Errorf("sipunitest: event %s: answer is not {\"success\":true}: %.80q", ev.Get("event"), body)
	}
	return nil
}

// get sends params as a GET query to the webhook, with its authentication,
// and returns the body of a 2xx answer.
func (p *player) get(params url.Values) ([]byte, error) {
	p.res.Sent = append(p.res.Sent, cloneValues(params))
	u := *p.target
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	if tok := p.s.opts.WebhookToken; tok != "" {
		q.Set("token", tok)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(p.ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, errors.New("cannot build the request")
	}
	if p.s.opts.WebhookUser != "" {
		req.SetBasicAuth(p.s.opts.WebhookUser, p.s.opts.WebhookPassword)
	}
	resp, err := p.s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL carries the token
		}
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("webhook answered HTTP %d: %.80q", resp.StatusCode, body)
	}
	return body, nil
}
