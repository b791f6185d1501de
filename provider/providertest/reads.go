package providertest

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// readRecordingSize is the recording size in the read checks.
const readRecordingSize = 64 << 10

// readOp is one read capability of the provider.
type readOp struct {
	name string
	// run performs the read and, when fake is not nil, checks what it got
	// against what the fake holds.
	run func(ctx context.Context, p pbx.Provider, fake *Fake) error
}

// readOps lists the read capabilities the provider has.
func (s *suite) readOps() []readOp {
	var ops []readOp
	if s.lister {
		ops = append(ops, readOp{"Subscribers", func(ctx context.Context, p pbx.Provider, fake *Fake) error {
			subs, err := p.(pbx.SubscriberLister).Subscribers(ctx)
			if err == nil && fake != nil && len(subs) != fake.Subscribers {
				return fmt.Errorf("subscribers: %d employees returned, the fake has %d", len(subs), fake.Subscribers)
			}
			return err
		}})
	}
	if s.exporter {
		ops = append(ops, readOp{"History", func(ctx context.Context, p pbx.Provider, fake *Fake) error {
			q := pbx.HistoryQuery{From: time.Now().Add(-24 * time.Hour), To: time.Now()}
			if fake != nil {
				q = fake.History
			}
			got := 0
			for _, err := range p.(pbx.HistoryExporter).History(ctx, q) {
				if err != nil {
					return err
				}
				got++
			}
			if fake != nil && got != fake.HistoryCalls {
				return fmt.Errorf("history: %d calls yielded, the fake has %d in the period", got, fake.HistoryCalls)
			}
			return nil
		}})
	}
	if s.fetcher {
		ops = append(ops, readOp{"FetchRecording", func(ctx context.Context, p pbx.Provider, fake *Fake) error {
			id := "1"
			if fake != nil {
				id = fake.Recording
			}
			rec, err := p.(pbx.RecordingFetcher).FetchRecording(ctx, id)
			if err != nil {
				return err
			}
			n, err := io.Copy(io.Discard, rec.Body)
			if cerr := rec.Body.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if fake != nil && n != readRecordingSize {
				return fmt.Errorf("the recording has %d bytes, want %d", n, readRecordingSize)
			}
			return nil
		}})
	}
	return ops
}

// testReads: a read whose first attempt meets a transient fault is sent
// again, the same request, exactly once, and succeeds (after Retry-After
// when one was asked for) with nothing sent again after the success; a read
// that meets it on every attempt gives up after MaxRetries+1 attempts,
// within the time its backoff, Retry-After and timeouts allow, with an
// error that says why. A fault that retrying cannot cure (a redirect, an
// absurd Retry-After) ends the read at once, after one request, and nothing
// reaches a redirect's target. With Harness.OnRetry, Config.OnRetry is
// called once per retry: 1, MaxRetries and 0 times in these three cases.
func (s *suite) testReads(t *testing.T) {
	ops := s.readOps()
	if len(ops) == 0 {
		t.Skip("the provider has no read capability (pbx.SubscriberLister, pbx.HistoryExporter, pbx.RecordingFetcher)")
	}
	var g group
	for _, op := range ops {
		for _, f := range allFaults {
			if !f.retried {
				g.add(op.name+"/"+f.name, func(t *testing.T) { s.readGivesUpAtOnce(t, op, f) })
				continue
			}
			g.add(op.name+"/"+f.name+"/transient", func(t *testing.T) { s.readRetries(t, op, f) })
			g.add(op.name+"/"+f.name+"/persistent", func(t *testing.T) { s.readGivesUp(t, op, f) })
		}
	}
	g.run(t)
}

// readRig is one read check's provider and what it is measured with.
type readRig struct {
	p    pbx.Provider
	fake *Fake // nil when the check needs none and the harness has none
	fs   *faultServer
	// retries counts the calls of Settings.OnRetry.
	retries *atomic.Int32
	// log records the provider's round trips as it saw them.
	log *tripLog
}

// readSetup starts the fake (when needed) and a fault server in front of
// it, and builds the provider.
func (s *suite) readSetup(t *testing.T, f fault, faults int, needFake bool) *readRig {
	t.Helper()
	var fake *Fake
	if needFake {
		fake = s.requireFake(t, readRecordingSize, "a read that succeeds")
	} else {
		fake = s.startFake(t, readRecordingSize)
	}
	rig := &readRig{fake: fake, fs: newFaultServer(t, fake, f, faults), retries: &atomic.Int32{}}
	hc := loopbackClient(t, headerTimeout)
	rig.log = &tripLog{next: hc.Transport}
	hc.Transport = rig.log
	st := s.settings(t)
	st.BaseURL = rig.fs.base
	st.HTTPClient = hc
	st.OnRetry = func(provider.RetryInfo) { rig.retries.Add(1) }
	rig.p = s.newProvider(t, st)
	return rig
}

// trips returns the provider's round trips, failing t when none went
// through Settings.HTTPClient although the server got requests: the
// checks read what the provider saw from there.
func (rig *readRig) trips(t *testing.T) []trip {
	t.Helper()
	trips := rig.log.trips()
	if len(trips) == 0 && rig.fs.hits.Load() > 0 {
		t.Fatal("the requests did not go through Settings.HTTPClient: New must give it to the vendor's Config")
	}
	return trips
}

// late counts the trips of trips that got no answer although the server
// answered: the client gave up waiting (its header timeout, on a loaded
// machine) and the provider rightly tried again. answered says whether the
// server answers every request (false when the fault answers nothing).
func late(trips []trip, answered bool) int {
	n := 0
	for _, tr := range trips {
		if tr.failed && answered {
			n++
		}
	}
	return n
}

func (s *suite) readRetries(t *testing.T, op readOp, f fault) {
	rig := s.readSetup(t, f, 1, true)
	start := time.Now()
	err := op.run(opContext(t), rig.p, rig.fake)
	took := time.Since(start)
	s.noSecretErr(t, op.name+"'s error", err)
	if err != nil {
		t.Fatalf("the read failed after a transient %s: %s", f.name, s.scrub(err.Error()))
	}
	// A request sent again after the success would come before the read
	// returns; wait a little anyway for one still on its way.
	time.Sleep(100 * time.Millisecond)
	reqs := rig.fs.requests()
	if len(reqs) < 2 {
		t.Fatalf("%d request(s) at the server (%v): the faulted attempt was not sent again", len(reqs), reqs)
	}
	if !reqs[1].same(reqs[0]) {
		t.Errorf("the request after the fault (%v) is not the faulted one sent again (%v)", reqs[1], reqs[0])
	}
	// The read's own path (the first request's) sees the faulted request
	// and one resend, answered by the fake; other paths (a recording's
	// download, a result polled for) are the read's next steps. Every
	// request after the first reaches the fake; one whose answer reached
	// the client too late (a loaded machine) is rightly sent again, with
	// one more OnRetry: those are counted in, and logged.
	trips := rig.trips(t)
	path := reqs[0].path
	lateAll, lateAtPath := 0, 0
	for i, tr := range trips {
		if i > 0 && tr.failed {
			lateAll++
			if tr.path == path {
				lateAtPath++
			}
		}
	}
	atPath, forwarded := 0, 0
	for _, r := range reqs {
		if r.path == path {
			atPath++
			if r.forwarded {
				forwarded++
			}
		}
	}
	gap := reqs[1].at.Sub(reqs[0].at)
	t.Logf("%d requests (%v), retried after %v, %v in all", len(reqs), reqs, gap.Round(time.Millisecond), took.Round(time.Millisecond))
	if lateAll > 0 {
		t.Logf("%d answer(s) of the fake reached the client after its header timeout (%d to %s): each was rightly sent again", lateAll, lateAtPath, path)
	}
	if want := 2 + lateAtPath; atPath != want {
		why := "the faulted one and one resend"
		if lateAtPath > 0 {
			why += fmt.Sprintf(", and %d whose answer came too late", lateAtPath)
		}
		t.Errorf("%d requests to %s at the server, want exactly %d: %s", atPath, path, want, why)
	}
	if answered := forwarded - lateAtPath; answered != 1 {
		t.Errorf("%d requests to %s reached the fake and were answered, want exactly 1: nothing is sent again once the read succeeded", answered, path)
	}
	// A fault's answer that came too late was retried after the backoff,
	// not after its Retry-After.
	if f.wait > 0 && gap < f.wait && (len(trips) == 0 || !trips[0].failed) {
		t.Errorf("retried after %v: Retry-After asked for %v", gap, f.wait)
	}
	s.checkOnRetry(t, rig.retries.Load(), 1+lateAll)
}

// checkOnRetry checks got, the calls of Settings.OnRetry during a read,
// against want, the retries the read made: exactly, when the harness says
// the vendor's Config takes OnRetry; none at all when it says it does not.
func (s *suite) checkOnRetry(t *testing.T, got int32, want int) {
	t.Helper()
	switch {
	case s.h.OnRetry && int(got) != want:
		t.Errorf("Config.OnRetry was called %d times, want %d: once before each retry (Harness.OnRetry says the Config takes it)", got, want)
	case !s.h.OnRetry && got != 0:
		t.Errorf("Settings.OnRetry was called %d times, but Harness.OnRetry is false: set it, so that the suite checks the count", got)
	}
}

func (s *suite) readGivesUp(t *testing.T, op readOp, f fault) {
	rig := s.readSetup(t, f, -1, false)
	start := time.Now()
	err := op.run(opContext(t), rig.p, nil)
	took := time.Since(start)
	s.noSecretErr(t, op.name+"'s error", err)
	if err == nil {
		t.Fatalf("a persistent %s did not fail the read", f.name)
	}
	// The time it may take, attempt by attempt: the client's header
	// timeout when it waited for no answer (a stall, or an answer that
	// came too late on a loaded machine), then the Retry-After asked for,
	// or the backoff.
	trips := rig.trips(t)
	var lo, hi time.Duration
	for k, tr := range trips {
		if tr.timedOut {
			lo, hi = lo+headerTimeout, hi+headerTimeout
		}
		if k == len(trips)-1 {
			break
		}
		if f.wait > 0 && !tr.failed {
			lo, hi = lo+f.wait, hi+f.wait
		} else {
			blo, bhi := backoff(k)
			lo, hi = lo+blo, hi+bhi
		}
	}
	hits := rig.fs.hits.Load()
	t.Logf("gave up after %d attempts in %v (allowed %v–%v): %s", hits, took.Round(time.Millisecond), lo, hi+overhead, s.scrub(err.Error()))
	if n := late(trips, !f.noAnswer); n > 0 {
		t.Logf("%d answer(s) reached the client after its header timeout (a loaded machine): the bounds allow for it", n)
	}
	if hits != maxAttempts {
		t.Errorf("%d attempts, want MaxRetries+1 = %d", hits, maxAttempts)
	}
	if reqs := rig.fs.requests(); len(reqs) > 1 {
		for i, r := range reqs[1:] {
			if !r.same(reqs[0]) {
				t.Errorf("attempt %d (%v) is not the first request sent again (%v)", i+2, r, reqs[0])
				break
			}
		}
	}
	if took < lo {
		t.Errorf("gave up after %v: the attempts were not spaced by the backoff (want at least %v)", took, lo)
	}
	if took >= hi+overhead {
		t.Errorf("gave up after %v: want < %v", took, hi+overhead)
	}
	check := f.check
	if len(trips) > 0 && trips[len(trips)-1].failed && !f.noAnswer {
		check = wantOpError // the last answer came too late: a timeout
	}
	if cerr := check(rig.fs, err); cerr != nil {
		t.Errorf("the read's error: %v (error: %s)", cerr, s.scrub(err.Error()))
	}
	s.checkOnRetry(t, rig.retries.Load(), maxAttempts-1)
}

func (s *suite) readGivesUpAtOnce(t *testing.T, op readOp, f fault) {
	rig := s.readSetup(t, f, -1, false)
	start := time.Now()
	err := op.run(opContext(t), rig.p, nil)
	took := time.Since(start)
	s.noSecretErr(t, op.name+"'s error", err)
	if err == nil {
		t.Fatalf("the read met %s and returned no error", f.name)
	}
	time.Sleep(100 * time.Millisecond) // a request still on its way
	// Retrying cannot cure the fault: one request, unless its answer came
	// too late (a loaded machine), which the provider rightly retries.
	trips := rig.trips(t)
	lateN := late(trips, true)
	want, bound := lateN+1, quick
	if len(trips) > 0 && trips[len(trips)-1].failed {
		want = lateN // every answer came too late
	}
	for k := range lateN {
		_, bhi := backoff(k)
		bound += headerTimeout + bhi
	}
	hits := rig.fs.hits.Load()
	t.Logf("%d request(s) at the server (%v), %d at the redirect target, %v: %s", hits, rig.fs.requests(), rig.fs.otherN.Load(), took.Round(time.Millisecond), s.scrub(err.Error()))
	if lateN > 0 {
		t.Logf("%d answer(s) reached the client after its header timeout (a loaded machine): each was rightly sent again", lateN)
	}
	if int(hits) != want {
		t.Errorf("%d requests at the server, want %d: retrying cannot cure %s", hits, want, f.name)
	}
	if n := rig.fs.otherN.Load(); n != 0 {
		t.Errorf("%d requests reached another host after a redirect, want none", n)
	}
	if took >= bound {
		t.Errorf("the read took %v to give up, want < %v", took, bound)
	}
	check := f.check
	if len(trips) > 0 && trips[len(trips)-1].failed {
		check = wantOpError // the last answer came too late: a timeout
	}
	if cerr := check(rig.fs, err); cerr != nil {
		t.Errorf("the read's error: %v (error: %s)", cerr, s.scrub(err.Error()))
	}
	s.checkOnRetry(t, rig.retries.Load(), lateN)
}
