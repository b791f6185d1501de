package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/phone"
)

// report is one vendor's checklist and what the summary shows.
type report struct {
	vendor string
	checks []check
	// expected are the calls the vendor placed or received, as the journal
	// must hold them.
	expected []expectedCall

	canCall   bool
	calls     int
	callsNote string

	canRecord     bool
	recordings    int
	recordingNote string

	canList     bool
	subscribers []pbx.Subscriber
}

// check is one thing that had to happen; err says why it did not.
type check struct {
	what string
	err  error
}

// expectedCall is a call the demo played and how the journal must have
// folded it.
type expectedCall struct {
	// what names the call in messages ("the missed incoming call").
	what   string
	callID string
	dir    pbx.Direction
	// answered says whether the call was answered, by answeredBy; rang
	// is an extension that must have a leg.
	answered   bool
	answeredBy string
	rang       string
	// phone is the external party's normalised number.
	phone string
}

// passed returns the number of checks that passed.
func (r *report) passed() int {
	n := 0
	for _, c := range r.checks {
		if c.err == nil {
			n++
		}
	}
	return n
}

// failures returns the failed checks as errors prefixed with the vendor.
func (r *report) failures() []error {
	var out []error
	for _, c := range r.checks {
		if c.err != nil {
			out = append(out, fmt.Errorf("%s: %w", r.vendor, c.err))
		}
	}
	return out
}

// step is one vendor's script being played: where it writes and what it
// records.
type step struct {
	ctx context.Context
	out *console
	jr  *journal.Journal
	v   *vendor
	r   *report
}

// record adds one check to the report and writes its ok or FAIL line.
func (s *step) record(what string, err error) {
	s.r.checks = append(s.r.checks, check{what: what, err: err})
	if err != nil {
		s.out.printf("        FAIL  %s\n", err)
	} else {
		s.out.printf("        ok    %s\n", what)
	}
}

// play runs the script sc on vendor v and returns its report. It never
// stops early on a failed check, so the report names everything that did
// not happen.
func play(ctx context.Context, out *console, jr *journal.Journal, v *vendor, sc script) *report {
	s := &step{ctx: ctx, out: out, jr: jr, v: v, r: &report{vendor: v.name}}
	answeredID := s.answeredIncoming(sc)
	s.missedIncoming(sc)
	s.clickToCall(sc)
	s.fetchRecording(answeredID)
	s.listSubscribers()
	return s.r
}

// answeredIncoming plays an incoming call from the script's client and
// checks that it was routed to, rang and was answered by the client's
// responsible manager, and that the journal folded it so. It returns the
// call's id.
func (s *step) answeredIncoming(sc script) string {
	c := sc.answered
	want := c.Responsible
	s.out.printf("\n--- %s: incoming call from %s (%s), responsible manager %s\n", s.v.name, c.Name, c.Phones[0], want)
	res, err := s.v.fake.Play(s.ctx, s.v.hookURL, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, Caller: normalised(c)})
	if err != nil {
		s.record("", fmt.Errorf("the answered incoming call did not play: %w", err))
		return ""
	}
	switch {
	case !res.Asked:
		s.record("", errors.New("the PBX did not ask where to route the answered incoming call"))
	case res.Route.Extension != want:
		s.record("", fmt.Errorf("expected the answered incoming call routed to %s, the PBX read %q", want, res.Route.Extension))
	case res.Route.DisplayName == "":
		// A vendor whose routing answer carries no name.
		s.record(fmt.Sprintf("routed to %s (%s); this PBX shows no name", want, staffName(want)), nil)
	case res.Route.DisplayName != c.Name:
		s.record("", fmt.Errorf("expected the answered incoming call to show %q, the PBX read %q", c.Name, res.Route.DisplayName))
	default:
		s.record(fmt.Sprintf("routed to %s (%s), showing %q", want, staffName(want), c.Name), nil)
	}
	if !slices.Equal(res.Rang, []string{want}) || res.AnsweredBy != want {
		s.record("", fmt.Errorf("expected the answered incoming call to ring and be answered by %s only, it rang %v and was answered by %q", want, res.Rang, res.AnsweredBy))
	} else {
		s.record(fmt.Sprintf("rang %s, who answered", want), nil)
	}
	s.inJournal(expectedCall{what: "the answered incoming call", callID: res.CallID, dir: pbx.Inbound,
		answered: true, answeredBy: want, rang: want, phone: normalised(c)})
	return res.CallID
}

// missedIncoming plays an incoming call nobody answers and checks that it
// was routed to the reception desk and that the journal holds it as missed.
func (s *step) missedIncoming(sc script) {
	s.out.printf("\n--- %s: incoming call from %s, nobody answers\n", s.v.name, sc.missed)
	caller := phone.Normalize(sc.missed)
	res, err := s.v.fake.Play(s.ctx, s.v.hookURL, pbxtest.Call{Scenario: pbxtest.MissedIncoming, Caller: caller})
	if err != nil {
		s.record("", fmt.Errorf("the missed incoming call did not play: %w", err))
		return
	}
	switch {
	case !res.Asked:
		s.record("", errors.New("the PBX did not ask where to route the missed incoming call"))
	case res.Route.Extension != receptionExt:
		s.record("", fmt.Errorf("expected the missed incoming call routed to the default %s, the PBX read %q", receptionExt, res.Route.Extension))
	}
	if !slices.Equal(res.Rang, []string{receptionExt}) || res.AnsweredBy != "" {
		s.record("", fmt.Errorf("expected the missed call to ring %s (the default) unanswered, it rang %v and was answered by %q", receptionExt, res.Rang, res.AnsweredBy))
	} else {
		s.record(fmt.Sprintf("routed to the default %s (%s), nobody answered", receptionExt, staffName(receptionExt)), nil)
	}
	s.inJournal(expectedCall{what: "the missed incoming call", callID: res.CallID, dir: pbx.Inbound,
		rang: receptionExt, phone: caller})
}

// clickToCall places a call through pbx.Caller, when the provider is one,
// and waits for the fake to play it at the webhook: it must ring the
// employee, and the journal must hold an answered outbound call.
func (s *step) clickToCall(sc script) {
	caller, ok := s.v.provider.(pbx.Caller)
	if !ok {
		return
	}
	s.r.canCall = true
	s.out.printf("\n--- %s: click-to-call, %s (%s) calls %s (%s)\n", s.v.name, sc.callExt, staffName(sc.callExt), sc.callTo.Name, sc.callTo.Phones[0])
	s.v.fake.SetWebhook(s.v.hookURL)
	defer s.v.fake.SetWebhook("")
	before := len(s.v.fake.Plays())
	res, err := caller.MakeCall(s.ctx, pbx.CallRequest{Extension: sc.callExt, Phone: sc.callTo.Phones[0]})
	if err != nil {
		s.record("", fmt.Errorf("MakeCall failed: %w", err))
		return
	}
	s.r.calls++
	s.r.callsNote = fmt.Sprintf("%s → %s", sc.callExt, normalised(sc.callTo))
	if res.CallID == "" && res.OrderID != "" {
		// Sipuni answers with an order id; the call's events carry another.
		s.record(fmt.Sprintf("MakeCall accepted (order id %q)", res.OrderID), nil)
	} else {
		s.record(fmt.Sprintf("MakeCall accepted (call id %q)", res.CallID), nil)
	}

	p, err := waitPlay(s.ctx, s.v.fake, before)
	if err != nil {
		s.record("", fmt.Errorf("expected the click-to-call to ring %s, the fake played nothing: %w", sc.callExt, err))
		return
	}
	if p.Err != nil {
		s.record("", fmt.Errorf("the click-to-call's outbound flow failed: %w", p.Err))
	}
	if !slices.Contains(p.Rang, sc.callExt) && p.AnsweredBy != sc.callExt {
		s.record("", fmt.Errorf("expected the click-to-call to ring %s, it rang %v", sc.callExt, p.Rang))
	} else {
		s.record(fmt.Sprintf("the fake rang %s, then dialled the client", sc.callExt), nil)
	}
	s.inJournal(expectedCall{what: "the click-to-call", callID: p.CallID, dir: pbx.Outbound,
		answered: true, answeredBy: sc.callExt, rang: sc.callExt, phone: normalised(sc.callTo)})
}

// waitPlay waits until the fake has played more than n calls and returns
// the first new one.
func waitPlay(ctx context.Context, f pbxtest.Fake, n int) (pbxtest.Played, error) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if ps := f.Plays(); len(ps) > n {
			return ps[n], nil
		}
		select {
		case <-ctx.Done():
			return pbxtest.Played{}, ctx.Err()
		case <-tick.C:
		}
	}
}

// inJournal adds want to the calls the journal must hold and checks, at
// once, the call the journal folded from the events received so far.
func (s *step) inJournal(want expectedCall) {
	s.r.expected = append(s.r.expected, want)
	c, err := s.jr.Call(s.ctx, s.v.name, want.callID)
	if err != nil {
		s.record("", fmt.Errorf("expected %s (call %s) in the journal: %w", want.what, want.callID, err))
		return
	}
	if err := want.matches(c); err != nil {
		s.record("", err)
		return
	}
	s.record("journal: "+describe(c, s.out.endOutcome(s.v.name, c.CallID)), nil)
}

// matches checks the call the journal folded against what was played.
func (want expectedCall) matches(c journal.Call) error {
	var wrong []string
	if c.Direction != want.dir {
		wrong = append(wrong, fmt.Sprintf("direction %s, want %s", c.Direction, want.dir))
	}
	switch {
	case want.answered && c.Outcome != pbx.OutcomeAnswered:
		wrong = append(wrong, fmt.Sprintf("outcome %s, want answered", c.Outcome))
	case !want.answered && (c.Outcome == pbx.OutcomeAnswered || c.Outcome == pbx.OutcomeUnknown):
		// Vendors name an unanswered call differently (missed, cancelled
		// by the caller, busy): any of them makes an inbound call Missed.
		wrong = append(wrong, fmt.Sprintf("outcome %s, want one of an unanswered call", c.Outcome))
	}
	if c.AnsweredBy != want.answeredBy {
		wrong = append(wrong, fmt.Sprintf("answered by %q, want %q", c.AnsweredBy, want.answeredBy))
	}
	if missed := want.dir == pbx.Inbound && !want.answered; c.Missed != missed {
		wrong = append(wrong, fmt.Sprintf("missed %t, want %t", c.Missed, missed))
	}
	if c.ClosedBy != journal.ClosedByEvent {
		wrong = append(wrong, fmt.Sprintf("closed by %s, want closed by its end event", c.ClosedBy))
	}
	if want.phone != "" && c.Phone != want.phone {
		wrong = append(wrong, fmt.Sprintf("phone %q, want %q", c.Phone, want.phone))
	}
	if want.rang != "" && !slices.ContainsFunc(c.Legs, func(l journal.Leg) bool { return l.Extension == want.rang }) {
		wrong = append(wrong, fmt.Sprintf("no leg of %s among %d", want.rang, len(c.Legs)))
	}
	if len(wrong) > 0 {
		return fmt.Errorf("the journal holds %s (call %s) with %s", want.what, want.callID, strings.Join(wrong, ", "))
	}
	return nil
}

// describe writes a journal call in a few words: its direction and
// outcome, who answered, its talk time, and whether the outcome was
// derived because the vendor's end event carried none.
func describe(c journal.Call, endOutcome pbx.Outcome) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s call %s", c.Direction, c.Outcome)
	if c.AnsweredBy != "" {
		fmt.Fprintf(&b, " by %s", c.AnsweredBy)
	}
	if c.Missed && c.Outcome != pbx.OutcomeMissed {
		b.WriteString(", counted as missed")
	}
	if c.TalkDuration > 0 {
		fmt.Fprintf(&b, ", talk %s", c.TalkDuration.Round(time.Second))
	}
	if endOutcome == pbx.OutcomeUnknown && c.Outcome != pbx.OutcomeUnknown {
		b.WriteString(" (outcome from the legs: the end event carries none)")
	}
	return b.String()
}

// fetchRecording downloads the answered call's recording when the provider
// has a recording API, retrying a few times while it is not ready.
func (s *step) fetchRecording(callID string) {
	fetcher, ok := s.v.provider.(pbx.RecordingFetcher)
	if !ok {
		return
	}
	s.r.canRecord = true
	s.out.printf("\n--- %s: recording of the answered call\n", s.v.name)
	if callID == "" {
		s.record("", errors.New("no recording fetched: the answered call did not happen"))
		return
	}
	var rec *pbx.Recording
	var err error
	for try := 0; try < 5; try++ {
		rec, err = fetcher.FetchRecording(s.ctx, callID)
		if !errors.Is(err, pbx.ErrNotReady) {
			break
		}
		select {
		case <-s.ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err != nil {
		s.record("", fmt.Errorf("expected the recording of call %s, got: %w", callID, err))
		return
	}
	defer rec.Body.Close()
	n, err := io.Copy(io.Discard, rec.Body)
	switch {
	case err != nil:
		s.record("", fmt.Errorf("the recording of call %s broke off after %d bytes: %w", callID, n, err))
	case n == 0:
		s.record("", fmt.Errorf("the recording of call %s is empty", callID))
	default:
		s.r.recordings++
		s.r.recordingNote = fmt.Sprintf("%d bytes of %s", n, dash(rec.ContentType))
		s.record(fmt.Sprintf("downloaded %d bytes (%s) of call %s", n, dash(rec.ContentType), callID), nil)
	}
}

// listSubscribers lists the employees when the provider has an API for it
// and checks that the seeded staff are there.
func (s *step) listSubscribers() {
	lister, ok := s.v.provider.(pbx.SubscriberLister)
	if !ok {
		return
	}
	s.r.canList = true
	s.out.printf("\n--- %s: employees\n", s.v.name)
	subs, err := lister.Subscribers(s.ctx)
	if err != nil {
		s.record("", fmt.Errorf("expected the list of employees, got: %w", err))
		return
	}
	s.r.subscribers = subs
	for _, e := range pbxtest.Employees() {
		if !slices.ContainsFunc(subs, func(sub pbx.Subscriber) bool { return sub.Extension == e.Extension }) {
			s.record("", fmt.Errorf("expected employee %s in the list of subscribers, got %d without it", e.Extension, len(subs)))
			return
		}
	}
	s.record(fmt.Sprintf("%d subscribers, among them %s %s", len(subs), subs[0].Extension, subs[0].Name), nil)
}
