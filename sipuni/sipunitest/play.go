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
)

// Scenario is a scripted call.
type Scenario int

// Scenarios.
const (
	// AnsweredIncoming: an external caller calls the company line. The
	// fake asks the routing question; when the answer names an extension it
	// rings that one, which answers (events 1, 3, 2); otherwise it rings
	// every one of Call.Extensions at once (a group ring: one event 1 per
	// employee, the first one repeated a second later as Sipuni does), the
	// first answers (3), the other legs end (one 4 each), and the call ends
	// (2, ANSWER).
	AnsweredIncoming Scenario = iota + 1
	// MissedIncoming: like AnsweredIncoming, but nobody answers: one event
	// 1 per rung employee, then 2 with NOANSWER.
	MissedIncoming
	// OutboundCallback: a click-to-call (callback/call_number): the
	// employee Extensions[0] is rung first, then the external Caller, who
	// answers: events 1 (repeated a second later, as captured from
	// Sipuni), 3, 2 with ANSWER. As captured from Sipuni, the event 2
	// carries no caller and callee (no src_* or dst_* fields): a receiver
	// matches it to the call by call_id. No routing question.
	OutboundCallback
)

// String returns the scenario's name.
func (s Scenario) String() string {
	switch s {
	case AnsweredIncoming:
		return "AnsweredIncoming"
	case MissedIncoming:
		return "MissedIncoming"
	case OutboundCallback:
		return "OutboundCallback"
	}
	return "Scenario(" + strconv.Itoa(int(s)) + ")"
}

// Call describes a call to play.
type Call struct {
	// Scenario is what happens.
	Scenario Scenario
	// Caller is the external number (the caller of an incoming call, the
	// called party of a callback); default DefaultCaller.
	Caller string
	// Line is the company number; default DefaultLine.
	Line string
	// Extensions are the employees rung when the routing answer names
	// none; default all employees (incoming) or the first one (callback).
	Extensions []string
	// CallID is the call_id; generated ("1774372146.533584" style) when
	// empty.
	CallID string
	// OrderID is the callback order id an OutboundCallback was placed
	// with; it goes into the call's history row ("ID заказа звонка"), never
	// into its events. The calls SetWebhook plays get the id the
	// callback/call_number answer carried.
	OrderID string
	// DTMF and Label are sent with the routing question.
	DTMF, Label string
	// SkipRouting plays an incoming call without the routing question, as
	// for a scheme without an "HTTP-запрос" function.
	SkipRouting bool
	// Start is when the call starts; default now. The events carry times
	// computed from it; nothing waits.
	Start time.Time
	// RingTime is how long phones ring before the answer (default 8 s) or,
	// for a missed call, before the caller gives up (default 20 s).
	RingTime time.Duration
	// TalkTime is the conversation's length; default 95 s.
	TalkTime time.Duration
}

// PlayResult says what a played call did.
type PlayResult struct {
	// Scenario and CallID identify the call.
	Scenario Scenario
	CallID   string
	// Asked says whether the routing question was asked; Choice, Number
	// and DisplayName are the webhook's answer to it ("choice", "number",
	// "name").
	Asked       bool
	Choice      int
	Number      string
	DisplayName string
	// Rung are the extensions rung, AnsweredBy the one that answered
	// (empty when nobody did).
	Rung       []string
	AnsweredBy string
	// Sent holds the parameters of every request sent to the webhook, in
	// order (the routing question first), without the token.
	Sent []url.Values
	// Err is why the play stopped early, or nil.
	Err error
}

// Play plays call against the webhook at webhookURL: for incoming calls it
// first asks the routing question (GET ?fromnum=&tonum=&dtmf=&label=&time=,
// time as Unix seconds) and rings the extension the answer names, falling
// back to call.Extensions; then it sends the events as Sipuni does (GET with
// the parameters in the query), one at a time, each after the previous was
// answered. Requests carry Options.WebhookToken as "token" and
// Options.WebhookUser/WebhookPassword as basic auth, when set.
//
// It returns an error, and stops, when the webhook answers anything Sipuni
// would not accept: a non-2xx status, an event answer without
// {"success":true}, a routing answer without "choice" 0 or 1. Answered
// calls get a recording (Options.RecordingSize bytes) and every call a row
// in the history, both in place before the final event is sent. The result
// is also kept for Plays.
func (s *Server) Play(ctx context.Context, webhookURL string, call Call) (PlayResult, error) {
	res := PlayResult{Scenario: call.Scenario}
	err := s.play(ctx, webhookURL, call, &res)
	res.Err = err
	s.mu.Lock()
	s.plays = append(s.plays, res)
	s.mu.Unlock()
	return res, err
}

func (s *Server) play(ctx context.Context, webhookURL string, call Call, res *PlayResult) error {
	target, err := url.Parse(webhookURL)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") {
		return errors.New("sipunitest: webhook URL must be http(s)")
	}
	if call.Caller == "" {
		call.Caller = DefaultCaller
	}
	if call.Line == "" {
		call.Line = DefaultLine
	}
	if call.Start.IsZero() {
		call.Start = s.opts.Clock()
	}
	call.Start = call.Start.Truncate(time.Second)
	if call.CallID == "" {
		call.CallID = s.nextCallID(call.Start)
	}
	res.CallID = call.CallID
	if len(call.Extensions) == 0 {
		for _, e := range s.Employees() {
			call.Extensions = append(call.Extensions, e.Extension)
		}
	}
	if len(call.Extensions) == 0 {
		return errors.New("sipunitest: no extension to ring")
	}
	p := &player{s: s, ctx: ctx, target: target, call: call, res: res}
	switch call.Scenario {
	case AnsweredIncoming, MissedIncoming:
		return p.incoming()
	case OutboundCallback:
		return p.callback()
	}
	return fmt.Errorf("sipunitest: unknown scenario %d", int(call.Scenario))
}

type player struct {
	s      *Server
	ctx    context.Context
	target *url.URL
	call   Call
	res    *PlayResult
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// channel makes an Asterisk channel name like Sipuni's.
func (p *player) channel(n int) string {
	return fmt.Sprintf("SIP/%s1%05d-%08x", p.s.opts.Account, n, len(p.res.Sent)+0x471a0)
}

// leg returns the common fields of an event between the caller and one
// employee of an incoming call.
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

func (p *player) incoming() error {
	c := p.call
	rung := c.Extensions
	t0 := c.Start
	if !c.SkipRouting {
		if err := p.ask(t0); err != nil {
			return err
		}
		if p.res.Choice == 1 && p.res.Number != "" {
			rung = []string{p.res.Number}
		}
	}
	p.res.Rung = rung
	group := len(rung) > 1
	answered := c.Scenario == AnsweredIncoming
	ringTime := orDefault(c.RingTime, 8*time.Second)
	if !answered {
		ringTime = orDefault(c.RingTime, 20*time.Second)
	}
	tAns := t0.Add(ringTime)
	tEnd := tAns.Add(orDefault(c.TalkTime, 95*time.Second))
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
	link := p.s.RecordLink(c.CallID)
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
	}
	final.Set("call_start_timestamp", unix(t0))
	final.Set("call_record_link", link)

	// The call is logged, and its recording ready, before the final event
	// goes out, so a webhook may fetch it at once.
	entry := HistoryEntry{RecordID: c.CallID, Type: "Входящий", Status: "не отвечен", Time: t0, Tree: "Входящая", TreeID: "000-123456",
		From: c.Caller, To: c.Line, Ringed: rung, CallDuration: tEnd.Sub(t0)}
	if answered {
		entry.Status, entry.AnsweredBy, entry.HasRecord = "отвечен", rung[0], true
		entry.TalkDuration, entry.AnswerDelay = tEnd.Sub(tAns), tAns.Sub(t0)
	}
	p.s.finish(entry)
	return p.send(final)
}

func (p *player) callback() error {
	c := p.call
	ext := c.Extensions[0]
	acc := p.s.opts.Account
	p.res.Rung = []string{ext}
	p.res.AnsweredBy = ext
	t0 := c.Start
	tAns := t0.Add(orDefault(c.RingTime, 8*time.Second))
	tEnd := tAns.Add(orDefault(c.TalkTime, 95*time.Second))
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
	final.Set("call_record_link", p.s.RecordLink(c.CallID))
	p.s.finish(HistoryEntry{RecordID: c.CallID, Type: "Исходящий", Status: "отвечен", Time: t0, Tree: "Исходящая", TreeID: "000-123457",
		OutgoingLine: c.Line, From: ext, To: c.Caller, AnsweredBy: c.Caller, CallDuration: tEnd.Sub(t0),
		TalkDuration: tEnd.Sub(tAns), AnswerDelay: tAns.Sub(t0), OrderID: c.OrderID, HasRecord: true})
	return p.send(final)
}

// finish logs the call and makes its recording.
func (s *Server) finish(e HistoryEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.history = append(s.history, e)
	if e.HasRecord {
		s.recordings[e.RecordID] = recording{size: s.opts.RecordingSize}
	}
}

// ask sends the routing question and checks the answer's shape.
func (p *player) ask(t time.Time) error {
	q := url.Values{
		"fromnum": {p.call.Caller},
		"tonum":   {p.call.Line},
		"dtmf":    {p.call.DTMF},
		"label":   {p.call.Label},
		"time":    {unix(t)},
	}
	p.res.Asked = true
	body, err := p.get(q)
	if err != nil {
		return fmt.Errorf("sipunitest: routing question: %w", err)
	}
	var a map[string]json.RawMessage
	if err := json.Unmarshal(body, &a); err != nil {
		return fmt.Errorf("sipunitest: routing answer is not a JSON object: %.80q", body)
	}
	switch string(bytes.TrimSpace(a["choice"])) {
	case "0":
		p.res.Choice = 0
	case "1":
		p.res.Choice = 1
	default:
		return fmt.Errorf("sipunitest: routing answer needs \"choice\" 0 or 1: %.80q", body)
	}
	for key, dst := range map[string]*string{"number": &p.res.Number, "name": &p.res.DisplayName} {
		raw, ok := a[key]
		if !ok {
			continue
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return fmt.Errorf("sipunitest: routing answer %q must be a string: %.80q", key, body)
		}
	}
	return nil
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
