package providertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
)

const (
	// opTimeout is the providers' Timeout in the time limit checks.
	opTimeout = 500 * time.Millisecond
	// tricklePiece and tricklePause shape the slow but steady answer: a
	// 64 KiB recording takes 1.5 s, three times opTimeout, with a byte
	// never more than 100 ms away.
	tricklePiece = 4 << 10
	tricklePause = 100 * time.Millisecond
)

// testTimeout: with Config.Timeout set and a context without a deadline
// sooner, every API operation fails with an error matching
// context.DeadlineExceeded, within Timeout plus some slack, when the
// server holds the answer's headers or stops in the middle of its body;
// MakeCall is still sent once. A recording that keeps arriving, slowly, is
// not cut by Timeout (an idle limit).
func (s *suite) testTimeout(t *testing.T) {
	type op struct {
		name string
		run  func(ctx context.Context, p pbx.Provider, fake *Fake) error
	}
	var ops []op
	if s.caller {
		ops = append(ops, op{"MakeCall", func(ctx context.Context, p pbx.Provider, _ *Fake) error {
			_, err := p.(pbx.Caller).MakeCall(ctx, s.h.Call)
			return err
		}})
	}
	for _, r := range s.readOps() {
		ops = append(ops, op(r))
	}
	if len(ops) == 0 {
		t.Skip("the provider has no API operation (pbx.Caller, pbx.SubscriberLister, pbx.HistoryExporter, pbx.RecordingFetcher)")
	}
	var g group
	for _, o := range ops {
		for _, f := range []fault{faultStall, faultStallBody} {
			g.add(o.name+"/"+f.name, func(t *testing.T) {
				fake := s.startFake(t, readRecordingSize)
				fs := newFaultServer(t, fake, f, -1)
				st := s.settings(t)
				st.BaseURL = fs.base
				st.HTTPClient = loopbackClient(t, 0)
				st.Timeout = opTimeout
				p := s.newProvider(t, st)
				start := time.Now()
				err := o.run(context.Background(), p, nil)
				took := time.Since(start)
				s.noSecretErr(t, o.name+"'s error", err)
				t.Logf("%d request(s), %v: %s", fs.hits.Load(), took.Round(time.Millisecond), errText(s, err))
				if err == nil {
					t.Fatalf("%s returned no error from a server that stalls", o.name)
				}
				if bound := opTimeout + overhead; took >= bound {
					t.Errorf("%s took %v to give up on a stalled server with Timeout %v: want < %v", o.name, took, opTimeout, bound)
				}
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("the error does not match context.DeadlineExceeded: %s", s.scrub(err.Error()))
				}
				if o.name == "MakeCall" {
					time.Sleep(100 * time.Millisecond)
					if n := fs.hits.Load(); n != 1 {
						t.Errorf("MakeCall reached the server %d times, want once", n)
					}
				}
			})
		}
	}
	if s.fetcher {
		g.add("FetchRecording/trickle", func(t *testing.T) {
			fake := s.requireFake(t, readRecordingSize, "a recording that arrives slowly")
			fs := newFaultServer(t, fake, trickleFault(tricklePiece, tricklePause), -1)
			st := s.settings(t)
			st.BaseURL = fs.base
			st.HTTPClient = loopbackClient(t, 0)
			st.Timeout = opTimeout
			p := s.newProvider(t, st)
			start := time.Now()
			var run func(context.Context, pbx.Provider, *Fake) error
			for _, r := range s.readOps() {
				if r.name == "FetchRecording" {
					run = r.run
				}
			}
			err := run(context.Background(), p, fake)
			took := time.Since(start)
			s.noSecretErr(t, "FetchRecording's error", err)
			if err != nil {
				t.Fatalf("a recording arriving steadily for %v was cut with Timeout %v: %s", took.Round(time.Millisecond), opTimeout, s.scrub(err.Error()))
			}
			if took < 2*opTimeout {
				t.Logf("the recording took %v: it does not come through the API base URL, so the trickle did not slow it down", took.Round(time.Millisecond))
			} else {
				t.Logf("the recording arrived in %v, with Timeout %v", took.Round(time.Millisecond), opTimeout)
			}
		})
	}
	g.run(t)
}
