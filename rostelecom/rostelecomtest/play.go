package rostelecomtest

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

	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/rostelecom"
)

// Scenario is a scripted call flow.
type Scenario int

// Scenarios.
const (
	// AnsweredIncoming: get_number_info, then call_events new, calling for
	// each rung phone, connected (the first rung answers), disconnected,
	// end with is_record.
	AnsweredIncoming Scenario = iota + 1
	// MissedIncoming: get_number_info, then new, calling for each rung
	// phone, end.
	MissedIncoming
	// OutboundCallback: what follows a call_back: new, calling, connected,
	// disconnected, end, of type outbound, from the first of Extensions to
	// Caller.
	OutboundCallback
)

var scenarioNames = [...]string{"", "AnsweredIncoming", "MissedIncoming", "OutboundCallback"}

// String returns the constant's name.
func (sc Scenario) String() string {
	if sc > 0 && int(sc) < len(scenarioNames) {
		return scenarioNames[sc]
	}
	return "Scenario(" + strconv.Itoa(int(sc)) + ")"
}

// Call describes one call to play. Only Scenario is required.
type Call struct {
	Scenario Scenario
	// Caller is the external number (the caller of an incoming call, the
	// callee of a callback), E.164 digits; default DefaultCaller.
	Caller string
	// Line is the company line an incoming call comes to; default
	// DefaultLine.
	Line string
	// Extensions are the PINs rung when get_number_info names nobody (all
	// at once, a group ring; the first answers); on a callback the first is
	// the employee who calls. Default: the first user.
	Extensions []string
	// CallID is the session_id; generated (UUID-shaped) when empty.
	CallID string
	// SkipRouting plays an incoming call without get_number_info, as for a
	// domain with dynamic routing off.
	SkipRouting bool
	// Start is when the call starts; default now. Notifications carry times
	// computed from it in the server's Location; nothing waits for them.
	Start time.Time
	// Ring is how long phones ring before the answer (default 5 s) or, for
	// a missed call, before the caller gives up (default 20 s).
	Ring time.Duration
	// Talk is the conversation's length; default 42 s.
	Talk time.Duration
	// NoRecord leaves an answered call without a recording.
	NoRecord bool
	// RecordingSize overrides Options.RecordingSize for this call.
	RecordingSize int64
}

// Sent is one notification the fake sent and the webhook's answer.
type Sent struct {
	// Name is call_events, get_number_info or history_file_completed.
	Name string
	// State is the call_events state ("new", ...).
	State string
	// Body is the exact bytes sent (and signed).
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
	// Asked says whether get_number_info was sent.
	Asked bool
	// PIN and DisplayName are the webhook's answer to it ("" when it named
	// nobody).
	PIN         string
	DisplayName string
	// Rang are the PINs that rang: the one the webhook named, else
	// Call.Extensions.
	Rang []string
	// AnsweredBy is the PIN that answered; "" for a missed call. On a
	// callback it is the employee who called.
	AnsweredBy string
	// Sent are the notifications, in order.
	Sent []Sent
	// Err is what Play returned.
	Err error
}

// Events returns the call_events notifications sent.
func (p PlayResult) Events() []Sent {
	var out []Sent
	for _, s := range p.Sent {
		if s.Name == rostelecom.NotifyCallEvents {
			out = append(out, s)
		}
	}
	return out
}

// Play sends the notifications of one call to webhookURL, the
// external-system address (each notification's name is appended as the
// last path segment), signed with the fake's credentials, one at a time,
// each after the previous was answered (and Options.Pace between them).
//
// For an incoming call it first asks get_number_info, unless
// call.SkipRouting, and rings the PIN the webhook answered, falling back to
// call.Extensions when it answered none. The call enters the fake's log
// before the first call_events is sent, so call_info, get_record and the
// export know it while it plays.
//
// It returns an error, and stops, when the webhook cannot be reached,
// answers with a non-2xx status, or answers get_number_info with anything
// but a JSON object holding "result" and, when present, string
// "displayName" and "PIN" with exactly those spellings. The PlayResult,
// also kept for Plays, says how far it got and what the routing answer
// was.
func (s *Server) Play(ctx context.Context, webhookURL string, call Call) (PlayResult, error) {
	res := PlayResult{Call: s.withDefaults(call)}
	err := s.play(ctx, webhookURL, &res)
	res.Err = err
	s.mu.Lock()
	s.plays = append(s.plays, res)
	s.mu.Unlock()
	return res, err
}

func (s *Server) withDefaults(c Call) Call {
	if c.Caller == "" {
		c.Caller = DefaultCaller
	}
	if c.Line == "" {
		c.Line = DefaultLine
	}
	if len(c.Extensions) == 0 {
		c.Extensions = []string{s.opts.Users[0].PIN}
	} else {
		c.Extensions = append([]string(nil), c.Extensions...)
	}
	if c.CallID == "" {
		c.CallID = newID()
	}
	if c.Start.IsZero() {
		c.Start = time.Now()
	}
	c.Start = c.Start.In(s.loc)
	if c.Ring <= 0 {
		c.Ring = 5 * time.Second
		if c.Scenario == MissedIncoming {
			c.Ring = 20 * time.Second
		}
	}
	if c.Talk <= 0 {
		c.Talk = 42 * time.Second
	}
	return c
}

// entry is the log entry of a played call, ext being the employee.
func (c Call) entry(ext string) HistoryEntry {
	e := HistoryEntry{CallID: c.CallID, Direction: 1, Caller: c.Caller, Line: c.Line, Extension: ext,
		Answered: c.Scenario != MissedIncoming, Start: c.Start, Ring: c.Ring, Talk: c.Talk, Record: !c.NoRecord, RecordingSize: c.RecordingSize}
	if c.Scenario == OutboundCallback {
		e.Direction, e.Callback, e.Line = 2, true, ""
	}
	return e
}

func (s *Server) play(ctx context.Context, webhookURL string, res *PlayResult) error {
	c := res.Call
	switch c.Scenario {
	case AnsweredIncoming, MissedIncoming, OutboundCallback:
	default:
		return fmt.Errorf("rostelecomtest: unknown scenario %v", c.Scenario)
	}
	if !strings.HasPrefix(webhookURL, "http://") && !strings.HasPrefix(webhookURL, "https://") {
		return errors.New("rostelecomtest: webhook URL must be http or https")
	}
	send := func(name, state string, body []byte) (Sent, error) {
		sent, err := s.Notify(ctx, webhookURL, name, body)
		sent.State = state
		res.Sent = append(res.Sent, sent)
		if err == nil && (sent.Status < 200 || sent.Status > 299) {
			err = fmt.Errorf("rostelecomtest: %s %s: webhook answered %d: %s", name, state, sent.Status, provider.Excerpt(sent.Answer))
		}
		return sent, err
	}

	res.Rang = c.Extensions
	incoming := c.Scenario != OutboundCallback
	if incoming && !c.SkipRouting {
		res.Asked = true
		q, _ := json.Marshal(rostelecom.NumberInfoRequest{Domain: s.opts.Domain, FromNumber: c.Caller, RequestNumber: c.Line})
		sent, err := send(rostelecom.NotifyGetNumberInfo, "", q)
		if err != nil {
			return err
		}
		if res.PIN, res.DisplayName, err = ParseNumberInfoAnswer(sent.Answer); err != nil {
			return err
		}
		if res.PIN != "" {
			res.Rang = []string{res.PIN}
		}
	}
	if c.Scenario != MissedIncoming {
		res.AnsweredBy = res.Rang[0]
	}
	s.AddHistory(c.entry(res.Rang[0]))

	for _, n := range s.script(c, res.Rang) {
		if err := s.pause(ctx); err != nil {
			return err
		}
		body, _ := json.Marshal(n)
		if _, err := send(rostelecom.NotifyCallEvents, n.State, body); err != nil {
			return err
		}
	}
	return nil
}

// ParseNumberInfoAnswer reads a webhook's answer to get_number_info as the
// PBX would: a JSON object with "result", and "displayName" and "PIN"
// strings (or null) when present. A key the PBX would not read because of
// its spelling ("pin", "display_name", "PIN " with a space) is an error.
func ParseNumberInfoAnswer(b []byte) (pin, displayName string, err error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil || obj == nil {
		return "", "", fmt.Errorf("rostelecomtest: get_number_info answer is not a JSON object: %s", provider.Excerpt(b))
	}
	if _, ok := obj["result"]; !ok {
		return "", "", errors.New(`rostelecomtest: get_number_info answer has no "result"`)
	}
	for k, v := range obj {
		norm := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(k)), "_", "")
		var dst *string
		switch {
		case k == "PIN":
			dst = &pin
		case k == "displayName":
			dst = &displayName
		case norm == "pin" || norm == "displayname":
			return "", "", fmt.Errorf("rostelecomtest: get_number_info answer spells %q; the PBX reads only \"PIN\" and \"displayName\"", k)
		default:
			continue
		}
		if string(bytes.TrimSpace(v)) == "null" {
			continue
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return "", "", fmt.Errorf("rostelecomtest: get_number_info answer: %q must be a string, got %s", k, provider.Excerpt(v))
		}
	}
	return strings.TrimSpace(pin), displayName, nil
}

func (s *Server) pause(ctx context.Context) error {
	if s.opts.Pace <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(s.opts.Pace)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// script builds the call_events of a call, rang being the PINs rung (the
// first answers), in the manual's shapes: numbers as SIP URIs, the user as
// "login@domain" once an incoming call reaches one, is_record a string.
func (s *Server) script(c Call, rang []string) []rostelecom.CallEventNotification {
	at := func(d time.Duration) string { return c.Start.Add(d).In(s.loc).Format(rostelecom.TimestampLayout) }
	user := func(pin string) string { return s.login(pin) + "@" + s.opts.Domain }
	record := "true"
	if c.NoRecord {
		record = "false"
	}
	base := rostelecom.CallEventNotification{SessionID: c.CallID}
	var out []rostelecom.CallEventNotification
	add := func(state string, d time.Duration, f func(*rostelecom.CallEventNotification)) {
		n := base
		n.State, n.Timestamp = state, at(d)
		if f != nil {
			f(&n)
		}
		out = append(out, n)
	}
	ring, hangup := c.Ring, c.Ring+c.Talk
	switch c.Scenario {
	case AnsweredIncoming, MissedIncoming:
		base.Type = "incoming"
		base.FromNumber = "sip:" + c.Caller + "@" + s.opts.Domain
		add("new", 0, func(n *rostelecom.CallEventNotification) { n.RequestNumber = "sip:" + c.Line + "@" + s.opts.Domain })
		to := func(pin string) func(*rostelecom.CallEventNotification) {
			return func(n *rostelecom.CallEventNotification) { n.RequestNumber, n.RequestPIN = user(pin), pin }
		}
		for _, pin := range rang {
			add("calling", time.Second, to(pin))
		}
		if c.Scenario == MissedIncoming {
			add("end", ring, func(n *rostelecom.CallEventNotification) { to(rang[0])(n); n.IsRecord = "false" })
			break
		}
		add("connected", ring, to(rang[0]))
		add("disconnected", hangup, func(n *rostelecom.CallEventNotification) { to(rang[0])(n); n.DisconnectReason = "5" })
		add("end", hangup+200*time.Millisecond, func(n *rostelecom.CallEventNotification) { to(rang[0])(n); n.IsRecord = record })
	case OutboundCallback:
		// The PBX rings the employee first, then the client.
		base.Type = "outbound"
		base.FromNumber = "sip:" + user(rang[0])
		base.FromPIN = rang[0]
		base.RequestNumber = c.Caller
		add("new", 0, nil)
		add("calling", time.Second, nil)
		add("connected", ring, nil)
		add("disconnected", hangup, func(n *rostelecom.CallEventNotification) { n.DisconnectReason = "5" })
		add("end", hangup+200*time.Millisecond, func(n *rostelecom.CallEventNotification) { n.IsRecord = record })
	}
	return out
}

// Notify sends one notification, body exactly as given, to webhookURL with
// name appended as the last path segment, signed with the fake's
// credentials as the PBX signs it (X-Client-ID, X-Client-Sign). The Sent
// holds the webhook's answer; an error means no answer arrived.
func (s *Server) Notify(ctx context.Context, webhookURL, name string, body []byte) (Sent, error) {
	sent := Sent{Name: name, Body: body}
	target := strings.TrimRight(webhookURL, "/") + "/" + name
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return sent, fmt.Errorf("rostelecomtest: %s: %w", name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Client-ID", s.opts.ClientID)
	req.Header.Set("X-Client-Sign", rostelecom.Sign(s.opts.ClientID, body, s.opts.SignKey))
	resp, err := s.sender.Do(req)
	if err != nil {
		return sent, fmt.Errorf("rostelecomtest: %s: %w", name, err)
	}
	defer resp.Body.Close()
	sent.Status = resp.StatusCode
	sent.Answer, err = io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if err != nil {
		return sent, fmt.Errorf("rostelecomtest: %s: reading the answer: %w", name, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return sent, nil
}
