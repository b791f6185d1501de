package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
)

// report is one vendor's checklist and what the summary shows.
type report struct {
	vendor string
	checks []check

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

// play runs the vendor's script on f and returns its report. It never
// stops early on a failed check, so the report names everything that did
// not happen.
func play(ctx context.Context, out *console, f *fakePBX, s script) *report {
	r := &report{vendor: f.name}
	record := func(what string, err error) {
		r.checks = append(r.checks, check{what: what, err: err})
		if err != nil {
			out.printf("        FAIL  %s\n", err)
		} else {
			out.printf("        ok    %s\n", what)
		}
	}

	answeredID := playAnswered(ctx, out, f, s, record)
	playMissed(ctx, out, f, s, record)
	clickToCall(ctx, out, f, s, r, record)
	fetchRecording(ctx, out, f, answeredID, r, record)
	listSubscribers(ctx, out, f, r, record)
	return r
}

// recordFunc adds one check to a report: err nil means it passed.
type recordFunc func(what string, err error)

// playAnswered plays an incoming call from the script's client and checks
// that it was routed to, rang and was answered by the client's responsible
// manager, and that its events arrived. It returns the call's id.
func playAnswered(ctx context.Context, out *console, f *fakePBX, s script, record recordFunc) string {
	c := s.answered
	want := c.Responsible
	out.printf("\n--- %s: incoming call from %s (%s), responsible manager %s\n", f.name, c.Name, c.Phones[0], want)
	res, err := f.play(ctx, f.hookURL, answeredIncoming, f.dial(normalised(c)))
	if err != nil {
		record("", fmt.Errorf("the answered incoming call did not play: %w", err))
		return ""
	}
	switch {
	case !res.Asked:
		record("", errors.New("the PBX did not ask where to route the answered incoming call"))
	case res.Routed != want || res.RoutedName != c.Name:
		record("", fmt.Errorf("expected the answered incoming call routed to %s %q, the PBX read %q %q", want, c.Name, res.Routed, res.RoutedName))
	default:
		record(fmt.Sprintf("routed to %s (%s), showing %q", want, staffName(want), c.Name), nil)
	}
	if !slices.Equal(res.Rang, []string{want}) || res.AnsweredBy != want {
		record("", fmt.Errorf("expected the answered incoming call to ring and be answered by %s only, it rang %v and was answered by %q", want, res.Rang, res.AnsweredBy))
	} else {
		record(fmt.Sprintf("rang %s, who answered", want), nil)
	}
	events := out.eventsOf(f.name, res.CallID)
	record("answered and call_ended events with outcome answered",
		expectEvents(events, "the answered incoming call", pbx.Inbound, pbx.OutcomeAnswered, pbx.EventAnswered))
	return res.CallID
}

// playMissed plays an incoming call nobody answers and checks that it was
// routed to the reception desk and ended as missed.
func playMissed(ctx context.Context, out *console, f *fakePBX, s script, record recordFunc) {
	out.printf("\n--- %s: incoming call from %s, nobody answers\n", f.name, s.missed)
	res, err := f.play(ctx, f.hookURL, missedIncoming, f.dial(phone.Normalize(s.missed)))
	if err != nil {
		record("", fmt.Errorf("the missed incoming call did not play: %w", err))
		return
	}
	if !slices.Equal(res.Rang, []string{receptionExt}) || res.AnsweredBy != "" {
		record("", fmt.Errorf("expected the missed call to ring %s (the default) unanswered, it rang %v and was answered by %q", receptionExt, res.Rang, res.AnsweredBy))
	} else {
		record(fmt.Sprintf("routed to the default %s (%s), nobody answered", receptionExt, staffName(receptionExt)), nil)
	}
	record("call_ended event with outcome missed",
		expectEvents(out.eventsOf(f.name, res.CallID), "the missed call", pbx.Inbound, pbx.OutcomeMissed))
}

// clickToCall places a call through pbx.Caller and waits for the fake to
// play it at the webhook: it must ring the employee and end answered.
func clickToCall(ctx context.Context, out *console, f *fakePBX, s script, r *report, record recordFunc) {
	out.printf("\n--- %s: click-to-call, %s (%s) calls %s (%s)\n", f.name, s.callExt, staffName(s.callExt), s.callTo.Name, s.callTo.Phones[0])
	caller, ok := f.provider.(pbx.Caller)
	if !ok {
		record("", errors.New("the provider is not a pbx.Caller"))
		return
	}
	f.setWebhook(f.hookURL)
	defer f.setWebhook("")
	before := len(f.plays())
	res, err := caller.MakeCall(ctx, pbx.CallRequest{Extension: s.callExt, Phone: s.callTo.Phones[0]})
	if err != nil {
		record("", fmt.Errorf("MakeCall failed: %w", err))
		return
	}
	r.calls++
	r.callsNote = fmt.Sprintf("%s → %s", s.callExt, normalised(s.callTo))
	if res.CallID == "" && res.OrderID != "" {
		// Sipuni answers with an order id; the call's events carry another.
		record(fmt.Sprintf("MakeCall accepted (order id %q)", res.OrderID), nil)
	} else {
		record(fmt.Sprintf("MakeCall accepted (call id %q)", res.CallID), nil)
	}

	p, err := waitPlay(ctx, f, before)
	if err != nil {
		record("", fmt.Errorf("expected the click-to-call to ring %s, the fake played nothing: %w", s.callExt, err))
		return
	}
	if p.Err != nil {
		record("", fmt.Errorf("the click-to-call's outbound flow failed: %w", p.Err))
	}
	if !slices.Contains(p.Rang, s.callExt) && p.AnsweredBy != s.callExt {
		record("", fmt.Errorf("expected the click-to-call to ring %s, it rang %v", s.callExt, p.Rang))
	} else {
		record(fmt.Sprintf("the fake rang %s, then dialled the client", s.callExt), nil)
	}
	events := out.eventsOf(f.name, p.CallID)
	err = expectEvents(events, "the click-to-call", pbx.Outbound, pbx.OutcomeAnswered, pbx.EventAnswered)
	if err == nil && events[0].Phone != normalised(s.callTo) {
		err = fmt.Errorf("expected the click-to-call's events to name %s, got %s", normalised(s.callTo), events[0].Phone)
	}
	record("outbound answered and call_ended events with outcome answered", err)
}

// waitPlay waits until the fake has played more than n calls and returns
// the first new one.
func waitPlay(ctx context.Context, f *fakePBX, n int) (played, error) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if ps := f.plays(); len(ps) > n {
			return ps[n], nil
		}
		select {
		case <-ctx.Done():
			return played{}, ctx.Err()
		case <-tick.C:
		}
	}
}

// fetchRecording downloads the answered call's recording where the vendor
// has a recording API, retrying a few times while it is not ready.
func fetchRecording(ctx context.Context, out *console, f *fakePBX, callID string, r *report, record recordFunc) {
	fetcher, ok := f.provider.(pbx.RecordingFetcher)
	if !ok {
		return
	}
	r.canRecord = true
	out.printf("\n--- %s: recording of the answered call\n", f.name)
	if callID == "" {
		record("", errors.New("no recording fetched: the answered call did not happen"))
		return
	}
	var rec *pbx.Recording
	var err error
	for try := 0; try < 5; try++ {
		rec, err = fetcher.FetchRecording(ctx, callID)
		if !errors.Is(err, pbx.ErrNotReady) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err != nil {
		record("", fmt.Errorf("expected the recording of call %s, got: %w", callID, err))
		return
	}
	defer rec.Body.Close()
	n, err := io.Copy(io.Discard, rec.Body)
	switch {
	case err != nil:
		record("", fmt.Errorf("the recording of call %s broke off after %d bytes: %w", callID, n, err))
	case n == 0:
		record("", fmt.Errorf("the recording of call %s is empty", callID))
	default:
		r.recordings++
		r.recordingNote = fmt.Sprintf("%d bytes of %s", n, dash(rec.ContentType))
		record(fmt.Sprintf("downloaded %d bytes (%s) of call %s", n, dash(rec.ContentType), callID), nil)
	}
}

// listSubscribers lists the employees where the vendor has an API for it
// and checks that the company's staff are there.
func listSubscribers(ctx context.Context, out *console, f *fakePBX, r *report, record recordFunc) {
	lister, ok := f.provider.(pbx.SubscriberLister)
	if !ok {
		return
	}
	r.canList = true
	out.printf("\n--- %s: employees\n", f.name)
	subs, err := lister.Subscribers(ctx)
	if err != nil {
		record("", fmt.Errorf("expected the list of employees, got: %w", err))
		return
	}
	r.subscribers = subs
	for _, e := range staff {
		if !slices.ContainsFunc(subs, func(s pbx.Subscriber) bool { return s.Extension == e.ext }) {
			record("", fmt.Errorf("expected employee %s in the list of subscribers, got %d without it", e.ext, len(subs)))
			return
		}
	}
	record(fmt.Sprintf("%d subscribers, among them %s %s", len(subs), subs[0].Extension, subs[0].Name), nil)
}

// expectEvents checks the events of one call: each of the wanted types, and
// a final call_ended with the wanted outcome, in the wanted direction.
func expectEvents(events []pbx.CallEvent, call string, dir pbx.Direction, outcome pbx.Outcome, types ...pbx.EventType) error {
	if len(events) == 0 {
		return fmt.Errorf("expected events for %s, got none", call)
	}
	for _, t := range types {
		if !slices.ContainsFunc(events, func(e pbx.CallEvent) bool { return e.Type == t }) {
			return fmt.Errorf("expected a%s %s event for %s, got none", article(t), t, call)
		}
	}
	last := events[len(events)-1]
	switch {
	case last.Type != pbx.EventCallEnded:
		return fmt.Errorf("expected a call_ended event for %s, got none", call)
	case last.Outcome != outcome:
		return fmt.Errorf("expected outcome %s on the call_ended event of %s, got %s", outcome, call, last.Outcome)
	}
	for _, e := range events {
		if e.Direction != dir {
			return fmt.Errorf("expected %s events for %s, got %s with direction %s", dir, call, e.Type, e.Direction)
		}
	}
	return nil
}

// article returns "n" before an event type that starts with a vowel.
func article(t pbx.EventType) string {
	switch t.String()[0] {
	case 'a', 'e', 'i', 'o', 'u':
		return "n"
	}
	return ""
}
