package rostelecomtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/rostelecom"
)

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

// PlayResult is what PlayDetailed did: the neutral pbxtest.Played every
// fake reports, and the Rostelecom notifications exactly as sent.
type PlayResult struct {
	// Played is what Play returns. Route is the answer to get_number_info
	// (PIN as Extension, displayName as DisplayName).
	pbxtest.Played
	// Sent are the notifications, in order, with the webhook's answers.
	Sent []Sent
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

// Play implements pbxtest.Fake: it plays call as PlayDetailed does and
// returns the neutral part of the result.
func (s *Server) Play(ctx context.Context, webhookURL string, call pbxtest.Call) (pbxtest.Played, error) {
	res, err := s.PlayDetailed(ctx, webhookURL, call)
	return res.Played, err
}

// PlayDetailed sends the notifications of one call to webhookURL, the
// external-system address (each notification's name is appended as the
// last path segment), signed with the fake's credentials, one at a time,
// each after the previous was answered (and Options.Pace between them), and
// returns what it did with every notification sent and answered.
//
// Every neutral scenario plays (see the pbxtest constants), with the
// notifications the PBX sends in its order:
//
//   - an incoming call first asks get_number_info, unless
//     call.SkipRouting, and rings the PIN the webhook answered, falling
//     back to call.Extensions when it answered none; then call_events new,
//     calling for each rung phone, and connected, disconnected and end
//     (is_record "true" unless call.NoRecord) when answered, end
//     (is_record "false") when missed;
//   - OutboundCallback (what follows a call_back) is new, calling,
//     connected, disconnected and end of type outbound, from the first of
//     call.Extensions to call.Caller;
//   - GroupRing rings every one of call.Extensions (the routing answer is
//     asked but not followed); the first answers and each other leg gets
//     a disconnected without a disconnect_reason (no connection; a reading
//     of the manual's code table);
//   - Transfer rings the routed PIN, else the first of call.Extensions,
//     who answers and is disconnected with disconnect_reason "0"
//     (transfer) halfway through call.Talk; the second of call.Extensions
//     is then rung, answers and talks until the end. Played.AnsweredBy is
//     the first who answered, as call_info's answering_pin says.
//
// The call enters the fake's log before the first call_events is sent, so
// call_info, get_record and the export know it while it plays.
//
// It returns an error, and stops, when the scenario is unknown, the webhook
// cannot be reached, answers with a non-2xx status, or answers
// get_number_info with anything but a JSON object holding "result" and,
// when present, string "displayName" and "PIN" with exactly those
// spellings, or with a PIN the domain does not have (then nothing rings and
// the call stays out of the log). The result, also kept for Plays, says how
// far it got and what the routing answer was.
func (s *Server) PlayDetailed(ctx context.Context, webhookURL string, call pbxtest.Call) (PlayResult, error) {
	c := s.withDefaults(call)
	res := PlayResult{Played: pbxtest.Played{Call: c, CallID: c.CallID}}
	err := s.play(ctx, webhookURL, &res)
	res.Err = err
	res.Notifications = len(res.Sent)
	s.mu.Lock()
	s.plays = append(s.plays, res.Played)
	s.mu.Unlock()
	return res, err
}

// withDefaults fills c's empty fields: the extensions from the fake's own
// users (all of them for GroupRing, the first two for Transfer, else the
// first), the rest as pbxtest.Call.WithDefaults does, a UUID-shaped
// CallID, and Start in the fake's Location.
func (s *Server) withDefaults(c pbxtest.Call) pbxtest.Call {
	if len(c.Extensions) == 0 {
		exts := s.extensions()
		switch c.Scenario {
		case pbxtest.GroupRing:
			c.Extensions = exts
		case pbxtest.Transfer:
			c.Extensions = exts[:min(2, len(exts))]
		default:
			c.Extensions = exts[:1]
		}
	} else {
		c.Extensions = append([]string(nil), c.Extensions...)
	}
	c = c.WithDefaults()
	if c.CallID == "" {
		c.CallID = newID()
	}
	c.Start = c.Start.In(s.loc)
	return c
}

// entry is the log entry of a played call, ext being the employee (who
// answered first, or who was rung first when nobody answered).
func entry(c pbxtest.Call, ext string) HistoryEntry {
	e := HistoryEntry{CallID: c.CallID, Direction: 1, Caller: c.Caller, Line: c.Line, Extension: ext,
		Answered: c.Scenario.Answered(), Start: c.Start, Ring: c.Ring, Talk: c.Talk, Record: !c.NoRecord, RecordingSize: c.RecordingSize}
	if c.Scenario == pbxtest.OutboundCallback {
		e.Direction, e.Callback, e.Line = 2, true, ""
	}
	return e
}

func (s *Server) play(ctx context.Context, webhookURL string, res *PlayResult) error {
	c := res.Call
	switch c.Scenario {
	case pbxtest.AnsweredIncoming, pbxtest.MissedIncoming, pbxtest.OutboundCallback, pbxtest.GroupRing:
	case pbxtest.Transfer:
		if len(c.Extensions) < 2 {
			return errors.New("rostelecomtest: Transfer needs two Extensions: who answers first and who the call is transferred to")
		}
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

	rang := c.Extensions
	if c.Scenario.Incoming() && !c.SkipRouting {
		res.Asked = true
		q, _ := json.Marshal(rostelecom.NumberInfoRequest{Domain: s.opts.Domain, FromNumber: c.Caller, RequestNumber: c.Line})
		sent, err := send(rostelecom.NotifyGetNumberInfo, "", q)
		if err != nil {
			return err
		}
		pin, name, err := ParseNumberInfoAnswer(sent.Answer)
		if err != nil {
			return err
		}
		res.Route = pbx.Route{Extension: pin, DisplayName: name}
		// GroupRing rings its group whatever the answer says.
		if pin != "" && c.Scenario != pbxtest.GroupRing {
			if !pbxtest.HasExtension(s.extensions(), pin) {
				return fmt.Errorf("rostelecomtest: get_number_info answer names PIN %q, which the domain does not have (its users: %s); nothing rang",
					pin, strings.Join(s.extensions(), ", "))
			}
			if c.Scenario == pbxtest.Transfer {
				rang = []string{pin, c.Extensions[1]}
			} else {
				rang = []string{pin}
			}
		}
	}
	res.Rang = append([]string(nil), rang...)
	if c.Scenario.Answered() {
		res.AnsweredBy = rang[0]
	}
	s.AddHistory(entry(c, rang[0]))

	for _, n := range s.script(c, rang) {
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
func (s *Server) script(c pbxtest.Call, rang []string) []rostelecom.CallEventNotification {
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
	to := func(pin string) func(*rostelecom.CallEventNotification) {
		return func(n *rostelecom.CallEventNotification) { n.RequestNumber, n.RequestPIN = user(pin), pin }
	}
	ended := func(pin, reason string) func(*rostelecom.CallEventNotification) {
		return func(n *rostelecom.CallEventNotification) { to(pin)(n); n.DisconnectReason = reason }
	}
	switch c.Scenario {
	case pbxtest.AnsweredIncoming, pbxtest.MissedIncoming, pbxtest.GroupRing, pbxtest.Transfer:
		base.Type = "incoming"
		base.FromNumber = "sip:" + c.Caller + "@" + s.opts.Domain
		add("new", 0, func(n *rostelecom.CallEventNotification) { n.RequestNumber = "sip:" + c.Line + "@" + s.opts.Domain })
		first := rang
		if c.Scenario == pbxtest.Transfer {
			first = rang[:1] // the second is rung at the transfer
		}
		for _, pin := range first {
			add("calling", time.Second, to(pin))
		}
		if c.Scenario == pbxtest.MissedIncoming {
			add("end", ring, func(n *rostelecom.CallEventNotification) { to(rang[0])(n); n.IsRecord = "false" })
			break
		}
		add("connected", ring, to(rang[0]))
		last := rang[0]
		switch c.Scenario {
		case pbxtest.GroupRing:
			// The other phones stop ringing: disconnect_reason "" is "no
			// connection" in the manual's table (a reading: whether the
			// PBX reports a leg that only rang is not documented).
			for _, pin := range rang[1:] {
				add("disconnected", ring, ended(pin, ""))
			}
		case pbxtest.Transfer:
			// "0" is a transfer in the manual's table.
			xfer := ring + c.Talk/2
			answer := xfer + min(2*time.Second, c.Talk/4)
			last = rang[1]
			add("disconnected", xfer, ended(rang[0], "0"))
			add("calling", xfer, to(last))
			add("connected", answer, to(last))
		}
		add("disconnected", hangup, ended(last, "5"))
		add("end", hangup+200*time.Millisecond, func(n *rostelecom.CallEventNotification) { to(last)(n); n.IsRecord = record })
	case pbxtest.OutboundCallback:
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
