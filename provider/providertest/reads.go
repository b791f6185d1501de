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
// again, the same request, and succeeds (after Retry-After when one was
// asked for); a read that meets it on every attempt gives up after
// MaxRetries+1 attempts, within the time its backoff, Retry-After and
// timeouts allow, with an error that says why. A fault that retrying cannot
// cure (a redirect, an absurd Retry-After) ends the read at once, after one
// request, and nothing reaches a redirect's target.
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

// readSetup starts the fake (when needed) and a fault server in front of
// it, and builds the provider; retries counts the OnRetry calls.
func (s *suite) readSetup(t *testing.T, f fault, faults int, needFake bool) (pbx.Provider, *Fake, *faultServer, *atomic.Int32) {
	t.Helper()
	var fake *Fake
	if needFake {
		fake = s.requireFake(t, readRecordingSize, "a read that succeeds")
	} else {
		fake = s.startFake(t, readRecordingSize)
	}
	fs := newFaultServer(t, fake, f, faults)
	var retries atomic.Int32
	st := s.settings(t)
	st.BaseURL = fs.base
	st.HTTPClient = loopbackClient(t, headerTimeout)
	st.OnRetry = func(provider.RetryInfo) { retries.Add(1) }
	return s.newProvider(t, st), fake, fs, &retries
}

func (s *suite) readRetries(t *testing.T, op readOp, f fault) {
	p, fake, fs, retries := s.readSetup(t, f, 1, true)
	start := time.Now()
	err := op.run(opContext(t), p, fake)
	took := time.Since(start)
	s.noSecretErr(t, op.name+"'s error", err)
	if err != nil {
		t.Fatalf("the read failed after a transient %s: %s", f.name, s.scrub(err.Error()))
	}
	reqs := fs.requests()
	if len(reqs) < 2 {
		t.Fatalf("%d request(s) at the server: the faulted attempt was not sent again", len(reqs))
	}
	if !reqs[1].same(reqs[0]) {
		t.Errorf("the request after the fault (%v) is not the faulted one sent again (%v)", reqs[1], reqs[0])
	}
	gap := reqs[1].at.Sub(reqs[0].at)
	t.Logf("%d requests, retried after %v, %v in all", len(reqs), gap.Round(time.Millisecond), took.Round(time.Millisecond))
	if f.wait > 0 && gap < f.wait {
		t.Errorf("retried after %v: Retry-After asked for %v", gap, f.wait)
	}
	if n := retries.Load(); n > 1 {
		t.Errorf("OnRetry was called %d times for one retry", n)
	} else if n == 0 {
		t.Logf("OnRetry was not called: the vendor's Config does not take it")
	}
}

func (s *suite) readGivesUp(t *testing.T, op readOp, f fault) {
	p, _, fs, retries := s.readSetup(t, f, -1, false)
	start := time.Now()
	err := op.run(opContext(t), p, nil)
	took := time.Since(start)
	s.noSecretErr(t, op.name+"'s error", err)
	if err == nil {
		t.Fatalf("a persistent %s did not fail the read", f.name)
	}
	lo, hi := minBackoffTotal, maxBackoffTotal
	if f.wait > 0 {
		lo, hi = (maxAttempts-1)*f.wait, (maxAttempts-1)*f.wait
	}
	if f.name == faultStall.name {
		lo, hi = lo+maxAttempts*headerTimeout, hi+maxAttempts*headerTimeout
	}
	hits := fs.hits.Load()
	t.Logf("gave up after %d attempts in %v (allowed %v–%v): %s", hits, took.Round(time.Millisecond), lo, hi+overhead, s.scrub(err.Error()))
	if hits != maxAttempts {
		t.Errorf("%d attempts, want MaxRetries+1 = %d", hits, maxAttempts)
	}
	if reqs := fs.requests(); len(reqs) > 1 {
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
	if cerr := f.check(fs, err); cerr != nil {
		t.Errorf("the read's error: %v (error: %s)", cerr, s.scrub(err.Error()))
	}
	if n := retries.Load(); n != 0 && n != maxAttempts-1 {
		t.Errorf("OnRetry saw %d retries, want %d", n, maxAttempts-1)
	}
}

func (s *suite) readGivesUpAtOnce(t *testing.T, op readOp, f fault) {
	p, _, fs, _ := s.readSetup(t, f, -1, false)
	start := time.Now()
	err := op.run(opContext(t), p, nil)
	took := time.Since(start)
	s.noSecretErr(t, op.name+"'s error", err)
	if err == nil {
		t.Fatalf("the read met %s and returned no error", f.name)
	}
	time.Sleep(100 * time.Millisecond) // a request still on its way
	hits := fs.hits.Load()
	t.Logf("%d request(s) at the server, %d at the redirect target, %v: %s", hits, fs.otherN.Load(), took.Round(time.Millisecond), s.scrub(err.Error()))
	if hits != 1 {
		t.Errorf("%d requests at the server, want 1: retrying cannot cure %s", hits, f.name)
	}
	if n := fs.otherN.Load(); n != 0 {
		t.Errorf("%d requests reached another host after a redirect, want none", n)
	}
	if took >= quick {
		t.Errorf("the read took %v to give up, want < %v", took, quick)
	}
	if cerr := f.check(fs, err); cerr != nil {
		t.Errorf("the read's error: %v (error: %s)", cerr, s.scrub(err.Error()))
	}
}
