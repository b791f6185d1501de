package zadarmatest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
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

// Extras are the knobs of a play that only Zadarma has. The zero value is
// what Play uses.
type Extras struct {
	// IVRDigits, when set, makes an incoming call go through a voice-menu
	// step after NOTIFY_START: the fake sends NOTIFY_IVR with these digits
	// in wait_dtmf (as if NOTIFY_START's answer had asked for them), and
	// that answer's redirect decides whom to ring.
	IVRDigits string
	// IVRName is the wait_dtmf name sent with IVRDigits; default "menu".
	IVRName string
}

// PlayResult is what PlayWith did: the neutral pbxtest.Played and
// Zadarma's own details.
type PlayResult struct {
	pbxtest.Played
	// ReturnTimeout and Redirect are the routing answer's return_timeout
	// and redirect, as read, when one named an extension.
	ReturnTimeout int64
	Redirect      string
	// Sent holds the form fields of every notification sent, in order.
	Sent []url.Values
	// RecordingID is the call's recording id (call_id_with_rec), "" when
	// not recorded.
	RecordingID string
}

// Play plays call against the webhook at webhookURL with the zero Extras;
// see PlayWith.
func (s *Server) Play(ctx context.Context, webhookURL string, call pbxtest.Call) (pbxtest.Played, error) {
	res, err := s.PlayWith(ctx, webhookURL, call, Extras{})
	return res.Played, err
}

// PlayWith plays call, with Zadarma's knobs x, against the webhook at
// webhookURL as Zadarma sends it: one POST per notification, a form body
// signed in the Signature header with the fake's secret, each after the
// previous was answered. The empty fields of call get pbxtest's defaults,
// its Extensions the fake's staff, its CallID a generated pbx_call_id
// ("in_…" or "out_…" and 40 hex digits). call_start is call.Start in the
// fake's Location, whole seconds.
//
//   - An incoming call starts with NOTIFY_START (not sent with
//     call.SkipRouting, as when the cabinet's "notify_start" is off), whose
//     answer is the routing question: a "redirect" naming a staff
//     extension rings that extension instead of call.Extensions, one
//     naming anything else stops the play with an error (nothing rings).
//     With Extras.IVRDigits a NOTIFY_IVR follows and its answer decides.
//   - pbxtest.AnsweredIncoming: NOTIFY_INTERNAL at the extension,
//     NOTIFY_ANSWER, NOTIFY_END (answered).
//   - pbxtest.MissedIncoming: NOTIFY_INTERNAL at each extension rung,
//     NOTIFY_END ("no answer").
//   - pbxtest.GroupRing: NOTIFY_INTERNAL at every one of call.Extensions
//     (the routing answer is read but ignored), NOTIFY_ANSWER from the
//     first, NOTIFY_END. That a group ring gives one
//     NOTIFY_INTERNAL per phone is inferred.
//   - pbxtest.OutboundCallback (what request/callback starts):
//     NOTIFY_OUT_START from call.Extensions[0] to call.Caller,
//     NOTIFY_OUT_END (answered, caller_id the company line).
//   - pbxtest.Transfer is an error: Zadarma has no transfer notification.
//
// NOTIFY_END's duration is the whole call (ringing and talk), the reading
// package zadarma takes; is_recorded is 1 and call_id_with_rec set for a
// recorded call, whose recording and statistics row exist before
// NOTIFY_END goes out (the recording is fetchable Options.RecordingDelay
// after the call's end). With Options.NotifyRecord, a recorded call's
// NOTIFY_RECORD follows its end notification (only when RecordingDelay is
// zero). The play stops with an error when the webhook answers anything
// but 2xx, or a routing answer that is neither empty nor a JSON object
// with a string or number "redirect".
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

// withDefaults fills c's empty fields.
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
		c.Start = s.opts.Now()
	}
	c = c.WithDefaults()
	c.Start = c.Start.Truncate(time.Second)
	c.Ring = c.Ring.Truncate(time.Second)
	c.Talk = c.Talk.Truncate(time.Second)
	if c.CallID == "" {
		s.mu.Lock()
		c.CallID, _ = s.newIDs(c.Scenario != pbxtest.OutboundCallback)
		s.mu.Unlock()
	}
	return c
}

type player struct {
	s      *Server
	ctx    context.Context
	target string
	call   pbxtest.Call
	x      Extras
	res    *PlayResult
	start  string // call_start
}

func (s *Server) play(ctx context.Context, webhookURL string, call pbxtest.Call, x Extras, res *PlayResult) error {
	u, err := url.Parse(webhookURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("zadarmatest: the webhook URL must be http(s)")
	}
	switch call.Scenario {
	case pbxtest.AnsweredIncoming, pbxtest.MissedIncoming, pbxtest.GroupRing, pbxtest.OutboundCallback:
	case pbxtest.Transfer:
		return errors.New("zadarmatest: Zadarma's notifications cannot express pbxtest.Transfer (there is no transfer notification)")
	default:
		return fmt.Errorf("zadarmatest: unknown scenario %v", call.Scenario)
	}
	if len(call.Extensions) == 0 {
		return errors.New("zadarmatest: no extension to ring")
	}
	p := &player{s: s, ctx: ctx, target: webhookURL, call: call, x: x, res: res,
		start: call.Start.In(s.opts.Location).Format("2006-01-02 15:04:05")}
	if call.Scenario == pbxtest.OutboundCallback {
		return p.outbound()
	}
	return p.incoming()
}

// recordingSize is the call's recording size, 0 for none.
func (p *player) recordingSize() int64 {
	switch {
	case p.call.NoRecord || !p.call.Scenario.Answered():
		return 0
	case p.call.RecordingSize > 0:
		return p.call.RecordingSize
	}
	return p.s.opts.RecordingSize
}

// inbound returns the fields every notification of an incoming call has.
func (p *player) inbound(event string) url.Values {
	return url.Values{"event": {event}, "call_start": {p.start}, "pbx_call_id": {p.call.CallID},
		"caller_id": {p.call.Caller}, "called_did": {p.call.Line}}
}

func (p *player) incoming() error {
	c := p.call
	routed := ""
	if !c.SkipRouting {
		if err := p.ask(p.inbound("NOTIFY_START")); err != nil {
			return err
		}
		if p.x.IVRDigits != "" {
			ivr := p.inbound("NOTIFY_IVR")
			name := p.x.IVRName
			if name == "" {
				name = "menu"
			}
			ivr.Set("wait_dtmf[name]", name)
			ivr.Set("wait_dtmf[digits]", p.x.IVRDigits)
			ivr.Set("wait_dtmf[default_behaviour]", "")
			if err := p.ask(ivr); err != nil {
				return err
			}
		}
		routed = p.res.Route.Extension
		if routed != "" && c.Scenario != pbxtest.GroupRing && !pbxtest.HasExtension(p.s.extensions(), routed) {
			return fmt.Errorf("zadarmatest: the routing answer names extension %q, which the PBX does not have (its staff: %s); nothing rang",
				routed, strings.Join(p.s.extensions(), ", "))
		}
	}
	rung := c.Extensions[:1]
	switch {
	case c.Scenario == pbxtest.GroupRing:
		rung = c.Extensions
	case routed != "":
		rung = []string{routed}
	case c.Scenario == pbxtest.MissedIncoming:
		rung = c.Extensions
	}
	p.res.Rang = append([]string(nil), rung...)
	for _, ext := range rung {
		ev := p.inbound("NOTIFY_INTERNAL")
		ev.Set("internal", ext)
		if err := p.send(ev); err != nil {
			return err
		}
	}
	answered := c.Scenario.Answered()
	end := p.inbound("NOTIFY_END")
	end.Set("status_code", "16")
	if answered {
		ext := rung[0]
		p.res.AnsweredBy = ext
		ans := url.Values{"event": {"NOTIFY_ANSWER"}, "caller_id": {c.Caller}, "destination": {ext},
			"call_start": {p.start}, "pbx_call_id": {c.CallID}, "internal": {ext}}
		if err := p.send(ans); err != nil {
			return err
		}
		end.Set("internal", ext)
		end.Set("duration", strconv.FormatInt(int64((c.Ring+c.Talk)/time.Second), 10))
		end.Set("disposition", "answered")
	} else {
		end.Set("internal", rung[0])
		end.Set("duration", strconv.FormatInt(int64(c.Ring/time.Second), 10))
		end.Set("disposition", "no answer")
		end.Set("status_code", "19")
	}
	entry := HistoryEntry{PBXCallID: c.CallID, SIP: rung[0], CLID: c.Caller, Destination: rung[0],
		Disposition: end.Get("disposition"), Start: c.Start, Duration: c.Ring}
	if answered {
		entry.Duration = c.Ring + c.Talk
	}
	return p.finish(end, entry)
}

func (p *player) outbound() error {
	c := p.call
	ext := c.Extensions[0]
	p.res.Rang = []string{ext}
	p.res.AnsweredBy = ext
	start := url.Values{"event": {"NOTIFY_OUT_START"}, "call_start": {p.start}, "pbx_call_id": {c.CallID},
		"internal": {ext}, "destination": {c.Caller}}
	if err := p.send(start); err != nil {
		return err
	}
	end := url.Values{"event": {"NOTIFY_OUT_END"}, "call_start": {p.start}, "pbx_call_id": {c.CallID},
		"caller_id": {c.Line}, "destination": {c.Caller}, "internal": {ext},
		"duration": {strconv.FormatInt(int64((c.Ring+c.Talk)/time.Second), 10)}, "disposition": {"answered"}, "status_code": {"16"}}
	entry := HistoryEntry{PBXCallID: c.CallID, SIP: ext, CLID: c.Line, Destination: c.Caller, Disposition: "answered",
		Start: c.Start, Duration: c.Ring + c.Talk}
	return p.finish(end, entry)
}

// finish makes the call's recording and statistics row, sends its end
// notification, then NOTIFY_RECORD when asked for and the recording is
// ready at once.
func (p *player) finish(end url.Values, entry HistoryEntry) error {
	size := p.recordingSize()
	s := p.s
	s.mu.Lock()
	_, recID := s.newIDs(true)
	entry.CallID = recID
	entry.Recorded = size > 0
	s.history = append(s.history, entry)
	if size > 0 {
		var readyAt time.Time
		if s.opts.RecordingDelay > 0 {
			readyAt = s.opts.Now().Add(s.opts.RecordingDelay)
		}
		s.recordings[recID] = &recording{pbxCallID: p.call.CallID, size: size, readyAt: readyAt, token: s.tokenLocked()}
	}
	s.mu.Unlock()
	if size > 0 {
		p.res.RecordingID = recID
		end.Set("is_recorded", "1")
		end.Set("call_id_with_rec", recID)
	} else {
		end.Set("is_recorded", "0")
		end.Set("call_id_with_rec", "")
	}
	if err := p.send(end); err != nil {
		return err
	}
	if size > 0 && s.opts.NotifyRecord && s.opts.RecordingDelay <= 0 {
		return p.send(url.Values{"event": {"NOTIFY_RECORD"}, "pbx_call_id": {p.call.CallID}, "call_id_with_rec": {recID}})
	}
	return nil
}

// ask sends a routing question and reads its answer into the result.
func (p *player) ask(q url.Values) error {
	p.res.Asked = true
	body, err := p.post(q)
	if err != nil {
		return err
	}
	route, ret, err := ParseRouteAnswer(body)
	if err != nil {
		return fmt.Errorf("zadarmatest: %s: %w", q.Get("event"), err)
	}
	p.res.Route = route
	if route.Extension != "" {
		p.res.Redirect, p.res.ReturnTimeout = route.Extension, ret
	}
	return nil
}

// ParseRouteAnswer reads a webhook's answer to NOTIFY_START or NOTIFY_IVR
// as the fake does: an empty body is no decision; otherwise a JSON object
// whose "redirect" (a string or a number) is the extension, with
// "caller_name" (a string) as the display name and "return_timeout" (a
// whole number) returned. Other keys (ivr_play, hangup, ...) are allowed.
// An object without "redirect" is no decision.
func ParseRouteAnswer(body []byte) (route pbx.Route, returnTimeout int64, err error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return pbx.Route{}, 0, nil
	}
	var a map[string]json.RawMessage
	if json.Unmarshal(body, &a) != nil || a == nil {
		return pbx.Route{}, 0, fmt.Errorf("the answer is neither empty nor a JSON object: %.80q", body)
	}
	raw, ok := a["redirect"]
	if !ok {
		return pbx.Route{}, 0, nil
	}
	var redirect string
	if json.Unmarshal(raw, &redirect) != nil {
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return pbx.Route{}, 0, fmt.Errorf("redirect is neither a string nor a number: %.80q", body)
		}
		redirect = n.String()
	}
	if strings.TrimSpace(redirect) == "" {
		return pbx.Route{}, 0, fmt.Errorf("redirect is empty: %.80q", body)
	}
	route.Extension = redirect
	if raw, ok := a["caller_name"]; ok {
		if json.Unmarshal(raw, &route.DisplayName) != nil {
			return pbx.Route{}, 0, fmt.Errorf("caller_name is not a string: %.80q", body)
		}
	}
	if raw, ok := a["return_timeout"]; ok {
		if json.Unmarshal(raw, &returnTimeout) != nil || returnTimeout < 0 {
			return pbx.Route{}, 0, fmt.Errorf("return_timeout is not a whole number of seconds: %.80q", body)
		}
	}
	return route, returnTimeout, nil
}

// send sends a notification and expects a 2xx.
func (p *player) send(form url.Values) error {
	_, err := p.post(form)
	return err
}

// Sign returns the Signature the fake sends with a notification of form
// fields (by its event type's signed fields), keyed with secret: the
// Base64 of the hex HMAC-SHA1, or of the raw HMAC with raw. An unknown
// event type signs "".
func Sign(form url.Values, secret string, raw bool) string {
	g := form.Get
	var signed string
	switch g("event") {
	case "NOTIFY_START", "NOTIFY_INTERNAL", "NOTIFY_END", "NOTIFY_IVR":
		signed = g("caller_id") + g("called_did") + g("call_start")
	case "NOTIFY_ANSWER":
		signed = g("caller_id") + g("destination") + g("call_start")
	case "NOTIFY_OUT_START", "NOTIFY_OUT_END":
		signed = g("internal") + g("destination") + g("call_start")
	case "NOTIFY_RECORD":
		signed = g("pbx_call_id") + g("call_id_with_rec")
	}
	mac := hmac.New(sha1.New, []byte(secret))
	io.WriteString(mac, signed)
	sum := mac.Sum(nil)
	if raw {
		return base64.StdEncoding.EncodeToString(sum)
	}
	return base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString(sum)))
}

// NewNotification builds the POST a fake with secret would send to
// webhookURL with the fields form: the form body and its Signature.
func NewNotification(ctx context.Context, webhookURL string, form url.Values, secret string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhookURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Signature", Sign(form, secret, false))
	return req, nil
}

// post sends form to the webhook and returns the body of a 2xx answer.
func (p *player) post(form url.Values) ([]byte, error) {
	p.res.Sent = append(p.res.Sent, form)
	req, err := http.NewRequestWithContext(p.ctx, http.MethodPost, p.target, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, errors.New("zadarmatest: cannot build the request")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Signature", Sign(form, p.s.opts.Secret, p.s.opts.RawSignature))
	resp, err := p.s.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("zadarmatest: %s: %w", form.Get("event"), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("zadarmatest: %s: %w", form.Get("event"), err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("zadarmatest: %s: the webhook answered HTTP %d: %.80q", form.Get("event"), resp.StatusCode, body)
	}
	return body, nil
}
