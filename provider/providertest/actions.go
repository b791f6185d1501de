package providertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// testMakeCall: whatever the fault (a reset after the request arrived, no
// answer, 500, 502, 503, 429 with a sane or an absurd Retry-After, a
// redirect to a refused port, to another host or to the same host), MakeCall
// reaches the server exactly once, nothing reaches the redirect's target,
// and the failure is reported at once; without a fault it reaches the fake
// once and succeeds (the control that the counting works). A server that
// refuses the connection gets a quick error.
func (s *suite) testMakeCall(t *testing.T) {
	if !s.caller {
		t.Skip("the provider is not a pbx.Caller")
	}
	var g group
	g.add("none", func(t *testing.T) { s.makeCallOnce(t, fault{name: "none"}) })
	for _, f := range allFaults {
		g.add(f.name, func(t *testing.T) { s.makeCallOnce(t, f) })
	}
	g.add("refused", s.makeCallRefused)
	g.run(t)
}

func (s *suite) makeCallOnce(t *testing.T, f fault) {
	var fake *Fake
	if f.serve == nil {
		fake = s.requireFake(t, 64<<10, "the control (a make-call that succeeds)")
	} else {
		fake = s.startFake(t, 64<<10)
	}
	fs := newFaultServer(t, fake, f, -1)
	st := s.settings(t)
	st.BaseURL = fs.base
	st.HTTPClient = loopbackClient(t, headerTimeout)
	p := s.newProvider(t, st).(pbx.Caller)

	start := time.Now()
	_, err := p.MakeCall(opContext(t), s.h.Call)
	took := time.Since(start)
	s.noSecretErr(t, "MakeCall's error", err)
	// A resend would come before MakeCall returns; wait a little anyway
	// for a request still on its way.
	time.Sleep(200 * time.Millisecond)
	hits := fs.hits.Load()
	t.Logf("%d request(s) at the server (%v), %d at the redirect target, %v: %v",
		hits, fs.requests(), fs.otherN.Load(), took.Round(time.Millisecond), errText(s, err))
	if hits != 1 {
		t.Errorf("MakeCall reached the server %d times, want exactly once", hits)
	}
	if n := fs.otherN.Load(); n != 0 {
		t.Errorf("MakeCall reached another host %d times after a redirect, want never", n)
	}
	if f.serve == nil {
		if err != nil {
			t.Fatalf("MakeCall without a fault: %s", s.scrub(err.Error()))
		}
		if n := fs.forwarded.Load(); n != 1 {
			t.Errorf("the fake got %d make-calls, want 1", n)
		}
		return
	}
	if err == nil {
		t.Fatalf("MakeCall met %s and returned no error", f.name)
	}
	if n := fs.forwarded.Load(); n != 0 {
		t.Errorf("%d faulted requests reached the fake", n)
	}
	if took >= quick {
		t.Errorf("MakeCall took %v to report %s: want < %v, no wait for Retry-After or backoff", took, f.name, quick)
	}
	if cerr := f.check(fs, err); cerr != nil {
		t.Errorf("MakeCall's error after %s: %v (error: %s)", f.name, cerr, s.scrub(err.Error()))
	}
}

// makeCallRefused: a make-call to a port that refuses the connection (the
// one case an action may be sent again: no byte reached a server) fails
// with a transport error, within the retries' backoff.
func (s *suite) makeCallRefused(t *testing.T) {
	fs := newFaultServer(t, nil, fault{name: "none"}, 0)
	st := s.settings(t)
	st.BaseURL = fs.refused
	st.HTTPClient = loopbackClient(t, headerTimeout)
	p := s.newProvider(t, st).(pbx.Caller)
	start := time.Now()
	_, err := p.MakeCall(opContext(t), s.h.Call)
	took := time.Since(start)
	s.noSecretErr(t, "MakeCall's error", err)
	t.Logf("%v: %v", took.Round(time.Millisecond), errText(s, err))
	if err == nil {
		t.Fatal("MakeCall to a refused port returned no error")
	}
	var oe *provider.OpError
	if !errors.As(err, &oe) {
		t.Errorf("want a *provider.OpError, got %T: %s", err, s.scrub(err.Error()))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("MakeCall to a refused port ran into a time limit instead of reporting the refusal: %s", s.scrub(err.Error()))
	}
	if bound := maxBackoffTotal + overhead; took >= bound {
		t.Errorf("MakeCall to a refused port took %v, want < %v", took, bound)
	}
}

// errText is err's text for the test log, secrets scrubbed.
func errText(s *suite, err error) string {
	if err == nil {
		return "no error"
	}
	return s.scrub(err.Error())
}
