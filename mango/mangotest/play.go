package mangotest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/mango"
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
)

// Extras are the knobs of a play only Mango has. The zero value plays the
// call as Play does.
type Extras struct {
	// OutOfOrder posts every notification after the IVR's Appeared in a
	// shuffled order (seeded by Seed), as Mango's parallel posting may
	// deliver them; a hold's OnHold still comes before the Connected that
	// ends it (they are seconds apart).
	OutOfOrder bool
	Seed       uint64
	// Hold puts an answered call on hold for Hold, a third into the talk:
	// OnHold, then Connected again on the same leg.
	Hold time.Duration
}

// Sent is one notification the fake posted and the webhook's answer.
type Sent struct {
	// Path is Mango's path ("events/call"); JSON the json value.
	Path, JSON string
	// Status is the webhook's HTTP status.
	Status int
}

// PlayResult is what happened during a play: the neutral Played, the
// notifications sent, and the recordings the call has.
type PlayResult struct {
	pbxtest.Played
	Sent []Sent
	// Recordings are the recording ids of the call, announced by
	// events/recording and events/record/added as Mango does:
	// FetchRecording takes them, or the call's id (CallID) once the
	// client's webhook received those notifications.
	Recordings []string
}

// Play sends the notifications of one call to webhookURL, the base URL
// Mango is given (it appends events/call, events/summary, ...), each after
// the previous was answered, and returns what it did. It is PlayWith
// without Extras.
func (s *Server) Play(ctx context.Context, webhookURL string, call pbxtest.Call) (pbxtest.Played, error) {
	res, err := s.PlayWith(ctx, webhookURL, call, Extras{})
	return res.Played, err
}

// PlayWith plays call with Mango's own knobs x.
//
// An incoming call (unless Call.SkipRouting) first appears in the IVR and
// waits up to Options.IVRSilence for a commands/route naming its leg (the
// routing question, for pbxtest.Played.Asked and Route); then it rings the
// extension the command named, else Call.Extensions. Every scenario of
// pbxtest plays: GroupRing rings every extension (a route is recorded but
// not followed), Transfer transfers blind from the first extension to the
// second (the new leg has transfer "blind").
//
// It returns an error, and stops, when the webhook answers a notification
// with anything but 2xx, cannot be reached, or ctx ends; a route naming an
// extension the PBX does not have stops the play with Played.Err set and a
// nil error. The play is recorded (Plays, PlayResults) either way.
func (s *Server) PlayWith(ctx context.Context, webhookURL string, call pbxtest.Call, x Extras) (PlayResult, error) {
	return s.playWith(ctx, webhookURL, call, x, "")
}

// Plays returns every call played, in the order they finished.
func (s *Server) Plays() []pbxtest.Played {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]pbxtest.Played, len(s.plays))
	for i, p := range s.plays {
		out[i] = p.Played
	}
	return out
}

// PlayResults returns what Plays returns, with the notifications sent.
func (s *Server) PlayResults() []PlayResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.plays)
}

// RecordingsOf returns the recording ids of a played call (its entry id).
func (s *Server) RecordingsOf(entryID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.plays {
		if p.CallID == entryID {
			return slices.Clone(p.Recordings)
		}
	}
	return nil
}

// note is one notification to post.
type note struct {
	path string
	v    map[string]any
	// hold pairs an OnHold (resume false) with the Connected that ends it.
	hold   int
	resume bool
}

type player struct {
	s     *Server
	ctx   context.Context
	hook  string
	call  pbxtest.Call
	x     Extras
	res   *PlayResult
	entry string
	seqs  map[string]int
	queue []note
	holds int
}

func (s *Server) playWith(ctx context.Context, hook string, call pbxtest.Call, x Extras, commandID string) (res PlayResult, err error) {
	call = call.WithDefaults()
	if call.CallID == "" {
		call.CallID = s.newID("entry")
	}
	res.Call, res.CallID = call, call.CallID
	defer func() {
		s.mu.Lock()
		s.plays = append(s.plays, res)
		s.mu.Unlock()
	}()
	if strings.TrimSpace(hook) == "" {
		return res, errors.New("mangotest: the webhook URL is empty")
	}
	p := &player{s: s, ctx: ctx, hook: hook, call: call, x: x, res: &res, entry: call.CallID, seqs: map[string]int{}}
	switch call.Scenario {
	case pbxtest.AnsweredIncoming, pbxtest.MissedIncoming, pbxtest.GroupRing, pbxtest.Transfer:
		err = p.incoming()
	case pbxtest.OutboundCallback:
		err = p.outbound(commandID)
	default:
		err = fmt.Errorf("mangotest: scenario %v is not one Mango plays", call.Scenario)
	}
	return res, err
}

// newLeg returns a new leg id and remembers it for hangup.
func (p *player) newLeg() string {
	id := p.s.newID("leg")
	p.s.mu.Lock()
	p.s.legs[id] = true
	p.s.mu.Unlock()
	return id
}

// callNote builds an events/call notification of leg, with the next seq.
func (p *player) callNote(leg, state, location string, at time.Time, from, to map[string]any, extra map[string]any) note {
	p.seqs[leg]++
	v := map[string]any{
		"entry_id": p.entry, "call_id": leg, "timestamp": at.Unix(), "seq": p.seqs[leg],
		"call_state": state, "location": location, "from": from, "to": to,
	}
	for k, x := range extra {
		v[k] = x
	}
	return note{path: mango.NotifyCall, v: v}
}

// employeeNumber is the SIP address an employee is rung on.
func (p *player) employeeNumber(ext string) string {
	for _, e := range p.s.cfg.Employees {
		if e.Extension == ext {
			return "sip:" + e.Login + "@vpbx400100100.mangosip.ru"
		}
	}
	return ext
}

func (p *player) send(n note) error {
	if p.res.Notifications > 0 && p.s.cfg.Pace > 0 {
		t := time.NewTimer(p.s.cfg.Pace)
		select {
		case <-t.C:
		case <-p.ctx.Done():
			t.Stop()
			return p.ctx.Err()
		}
	}
	if err := p.ctx.Err(); err != nil {
		return err
	}
	status, js, err := p.s.post(p.ctx, p.hook, n.path, n.v)
	p.res.Sent = append(p.res.Sent, Sent{Path: n.path, JSON: js, Status: status})
	if err != nil {
		return fmt.Errorf("mangotest: posting %s: %w", n.path, err)
	}
	p.res.Notifications++
	if status < 200 || status > 299 {
		return fmt.Errorf("mangotest: the webhook answered HTTP %d to %s", status, n.path)
	}
	return nil
}

// flush posts the queue, shuffled when Extras.OutOfOrder.
func (p *player) flush() error {
	q := p.queue
	p.queue = nil
	if p.x.OutOfOrder {
		r := rand.New(rand.NewPCG(p.x.Seed, 0x6d616e676f))
		r.Shuffle(len(q), func(i, j int) { q[i], q[j] = q[j], q[i] })
		// Keep each hold before its end.
		for i := range q {
			if q[i].hold == 0 || !q[i].resume {
				continue
			}
			for j := i + 1; j < len(q); j++ {
				if q[j].hold == q[i].hold && !q[j].resume {
					q[i], q[j] = q[j], q[i]
					break
				}
			}
		}
	}
	for _, n := range q {
		if err := p.send(n); err != nil {
			return err
		}
	}
	return nil
}

// ivrProgram is how long the IVR's prompt lasts in the notifications'
// times.
const ivrProgram = 3 * time.Second

func (p *player) incoming() error {
	c := p.call
	t0 := c.Start
	caller := map[string]any{"number": c.Caller}
	targets := slices.Clone(c.Extensions)
	switch c.Scenario {
	case pbxtest.GroupRing:
	case pbxtest.Transfer:
		if len(targets) < 2 {
			return errors.New("mangotest: Transfer needs two extensions")
		}
	default:
		targets = targets[:1]
	}
	tr := t0
	var ivrLeg, routeCommand string
	if !c.SkipRouting {
		ivrLeg = p.newLeg()
		ch := make(chan routeCmd, 1)
		p.s.mu.Lock()
		p.s.ivr[ivrLeg] = ch
		p.s.mu.Unlock()
		defer func() {
			p.s.mu.Lock()
			delete(p.s.ivr, ivrLeg)
			p.s.mu.Unlock()
		}()
		p.res.Asked = true
		if err := p.send(p.callNote(ivrLeg, mango.StateAppeared, mango.LocationIVR, t0, caller,
			map[string]any{"number": c.Line, "line_number": c.Line}, nil)); err != nil {
			return err
		}
		// The prompt plays, then the silence: wait for a route command.
		t := time.NewTimer(p.s.cfg.IVRSilence)
		var got routeCmd
		select {
		case got = <-ch:
		case <-t.C:
		case <-p.ctx.Done():
			t.Stop()
			return p.ctx.Err()
		}
		t.Stop()
		tr = t0.Add(ivrProgram)
		if got.to != "" {
			p.res.Route = pbx.Route{Extension: got.to, DisplayName: got.name}
			routeCommand = got.commandID
			if c.Scenario != pbxtest.GroupRing {
				if !pbxtest.HasExtension(p.s.extensions(), got.to) {
					p.res.Err = fmt.Errorf("mangotest: the route command names %q, which is no extension of the PBX", got.to)
					return nil
				}
				if c.Scenario == pbxtest.Transfer && got.to == targets[1] {
					targets[0], targets[1] = targets[1], targets[0]
				} else {
					targets[0] = got.to
				}
			}
			p.queue = append(p.queue, note{path: mango.NotifyResultPrefix + "route", v: map[string]any{"command_id": got.commandID, "result": 1000}})
		}
		p.queue = append(p.queue, p.callNote(ivrLeg, mango.StateDisconnected, mango.LocationIVR, tr, caller,
			map[string]any{"number": c.Line, "line_number": c.Line}, map[string]any{"disconnect_reason": "1100"}))
	}

	from := map[string]any{"number": c.Caller}
	if ivrLeg != "" {
		from["taken_from_call_id"] = ivrLeg
	}
	var extra map[string]any
	if routeCommand != "" {
		extra = map[string]any{"command_id": routeCommand}
	}
	to := func(ext string) map[string]any {
		return map[string]any{"extension": ext, "number": p.employeeNumber(ext), "line_number": c.Line}
	}
	ringing := targets
	if c.Scenario == pbxtest.Transfer {
		ringing = targets[:1]
	}
	legs := make([]string, len(ringing))
	for i, ext := range ringing {
		legs[i] = p.newLeg()
		p.queue = append(p.queue, p.callNote(legs[i], mango.StateAppeared, mango.LocationAbonent, tr, from, to(ext), extra))
	}
	p.res.Rang = slices.Clone(ringing)
	answered := c.Scenario != pbxtest.MissedIncoming
	ta := tr.Add(c.Ring)
	te := ta.Add(c.Talk)
	var rows []HistoryEntry
	var recordings []string
	if !answered {
		te = tr.Add(c.Ring)
		for i, ext := range ringing {
			p.queue = append(p.queue, p.callNote(legs[i], mango.StateDisconnected, mango.LocationAbonent, te, from, to(ext),
				map[string]any{"disconnect_reason": "1110"}))
		}
		rows = append(rows, HistoryEntry{EntryID: p.entry, Direction: pbx.Inbound, Caller: c.Caller, Line: c.Line,
			Extension: ringing[0], Start: t0, Ring: te.Sub(t0), Reason: 1110})
	} else {
		a, ext := legs[0], ringing[0]
		p.res.AnsweredBy = ext
		p.queue = append(p.queue, p.callNote(a, mango.StateConnected, mango.LocationAbonent, ta, from, to(ext), extra))
		for i := 1; i < len(legs); i++ {
			p.queue = append(p.queue, p.callNote(legs[i], mango.StateDisconnected, mango.LocationAbonent, ta, from, to(ringing[i]),
				map[string]any{"disconnect_reason": "1100"}))
		}
		if p.x.Hold > 0 {
			th := ta.Add(c.Talk / 3)
			p.holds++
			on := p.callNote(a, mango.StateOnHold, mango.LocationAbonent, th, from, to(ext), map[string]any{"to": map[string]any{
				"extension": ext, "number": p.employeeNumber(ext), "line_number": c.Line, "hold_initiator": ext}})
			on.hold = p.holds
			back := p.callNote(a, mango.StateConnected, mango.LocationAbonent, th.Add(p.x.Hold), from, to(ext), nil)
			back.hold, back.resume = p.holds, true
			p.queue = append(p.queue, on, back)
		}
		talkedBy := a
		firstTalk := c.Talk
		if c.Scenario == pbxtest.Transfer {
			tt := ta.Add(c.Talk / 2)
			firstTalk = tt.Sub(ta)
			b, ext2 := p.newLeg(), targets[1]
			fromB := map[string]any{"number": c.Caller, "taken_from_call_id": a}
			p.queue = append(p.queue,
				p.callNote(b, mango.StateAppeared, mango.LocationAbonent, tt, fromB, to(ext2), map[string]any{"transfer": "blind"}),
				p.callNote(a, mango.StateDisconnected, mango.LocationAbonent, tt, from, to(ext),
					map[string]any{"disconnect_reason": "1100", "to": map[string]any{"extension": ext, "number": p.employeeNumber(ext), "was_transferred": true}}),
				p.callNote(b, mango.StateConnected, mango.LocationAbonent, tt.Add(2*time.Second), fromB, to(ext2), nil),
				p.callNote(b, mango.StateDisconnected, mango.LocationAbonent, te, fromB, to(ext2), map[string]any{"disconnect_reason": "1100"}),
			)
			p.res.Rang = append(p.res.Rang, ext2)
			talkedBy = b
			rows = append(rows, HistoryEntry{EntryID: p.entry, Direction: pbx.Inbound, Caller: c.Caller, Line: c.Line,
				Extension: ext2, Start: tt, Ring: 2 * time.Second, Talk: te.Sub(tt.Add(2 * time.Second))})
		} else {
			p.queue = append(p.queue, p.callNote(a, mango.StateDisconnected, mango.LocationAbonent, te, from, to(ext),
				map[string]any{"disconnect_reason": "1100"}))
		}
		if !c.NoRecord {
			recordings = append(recordings, p.recording(talkedBy, ext, ta, te))
		}
		first := HistoryEntry{EntryID: p.entry, Direction: pbx.Inbound, Caller: c.Caller, Line: c.Line,
			Extension: ext, Start: t0, Ring: ta.Sub(t0), Talk: firstTalk, Records: recordings}
		rows = append([]HistoryEntry{first}, rows...)
	}
	summaryTo := map[string]any{"extension": ringing[0], "number": p.employeeNumber(ringing[0])}
	reason, talk, result, forward := "1110", int64(0), 0, int64(0)
	if answered {
		reason, talk, result, forward = "1100", ta.Unix(), 1, tr.Unix()
	}
	p.queue = append(p.queue, note{path: mango.NotifySummary, v: map[string]any{
		"entry_id": p.entry, "call_direction": 1, "from": map[string]any{"number": c.Caller}, "to": summaryTo,
		"line_number": c.Line, "create_time": t0.Unix(), "forward_time": forward, "talk_time": talk,
		"end_time": te.Unix(), "entry_result": result, "disconnect_reason": reason,
	}})
	p.finish(rows, recordings)
	return p.flush()
}

// recording adds a recording of leg and queues its notifications; it
// returns its id.
func (p *player) recording(leg, ext string, from, to time.Time) string {
	id := p.s.newID("rec")
	size := p.call.RecordingSize
	if size <= 0 {
		size = p.s.cfg.RecordingSize
	}
	p.s.AddRecording(id, size)
	p.queue = append(p.queue,
		note{path: mango.NotifyRecording, v: map[string]any{"recording_id": id, "recording_state": "Started", "seq": 1,
			"entry_id": p.entry, "call_id": leg, "extension": ext, "timestamp": from.Unix()}},
		note{path: mango.NotifyRecording, v: map[string]any{"recording_id": id, "recording_state": "Completed", "seq": 2,
			"entry_id": p.entry, "call_id": leg, "extension": ext, "timestamp": to.Unix(),
			"completion_code": 1000, "recipient": "Cloud"}},
		note{path: mango.NotifyRecordAdded, v: map[string]any{"entry_id": p.entry, "product_id": 400100100,
			"user_id": ext, "timestamp": to.Add(5 * time.Second).Unix(), "recording_id": id}},
	)
	return id
}

// finish adds the call's rows to the call log and its recordings to the
// result.
func (p *player) finish(rows []HistoryEntry, recordings []string) {
	p.res.Recordings = recordings
	for _, r := range rows {
		p.s.AddHistory(r)
	}
}

func (p *player) outbound(commandID string) error {
	c := p.call
	ext := c.Extensions[0]
	if !pbxtest.HasExtension(p.s.extensions(), ext) {
		return fmt.Errorf("mangotest: %q is no extension of the PBX", ext)
	}
	t0 := c.Start
	ta, te := t0.Add(c.Ring), t0.Add(c.Ring+c.Talk)
	from := map[string]any{"extension": ext, "number": p.employeeNumber(ext)}
	to := map[string]any{"number": c.Caller}
	extra := map[string]any{"callback_initiator": "API"}
	if commandID != "" {
		extra["command_id"] = commandID
		p.queue = append(p.queue, note{path: mango.NotifyResultPrefix + "callback", v: map[string]any{"command_id": commandID, "result": 1000}})
	}
	a := p.newLeg()
	p.queue = append(p.queue,
		p.callNote(a, mango.StateAppeared, mango.LocationAbonent, t0, from, to, extra),
		p.callNote(a, mango.StateConnected, mango.LocationAbonent, ta, from, to, extra),
		p.callNote(a, mango.StateDisconnected, mango.LocationAbonent, te, from, to, map[string]any{"disconnect_reason": "1100"}),
	)
	p.res.Rang, p.res.AnsweredBy = []string{ext}, ext
	var recordings []string
	if !c.NoRecord {
		recordings = append(recordings, p.recording(a, ext, ta, te))
	}
	p.queue = append(p.queue, note{path: mango.NotifySummary, v: map[string]any{
		"entry_id": p.entry, "call_direction": 2, "from": from, "to": to, "line_number": c.Line,
		"create_time": t0.Unix(), "forward_time": t0.Unix(), "talk_time": ta.Unix(), "end_time": te.Unix(),
		"entry_result": 1, "disconnect_reason": strconv.Itoa(1100),
	}})
	p.finish([]HistoryEntry{{EntryID: p.entry, Direction: pbx.Outbound, Caller: c.Caller, Line: c.Line,
		Extension: ext, Start: t0, Ring: c.Ring, Talk: c.Talk, Records: recordings}}, recordings)
	return p.flush()
}
