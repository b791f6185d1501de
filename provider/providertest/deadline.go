package providertest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
)

const (
	// routeTimeout is the providers' RouteTimeout in the routing deadline
	// check.
	routeTimeout = 200 * time.Millisecond
	// routeSlack is what the check allows on top of RouteTimeout (plus
	// some slack under the race detector).
	routeSlack = 100 * time.Millisecond
	// questions is how many routing questions arrive at once.
	questions = 200
	// strictRouterSleep is how long the slow routers take when the exact
	// bound is checked: far past the deadline.
	strictRouterSleep = 2 * time.Second
	// looseRouterSleep is how long they take otherwise: long enough that
	// an answer before it, on a loaded machine, still proves nothing
	// waited for the router.
	looseRouterSleep = 5 * time.Second
	// goroutineSlack is how many goroutines more than before the check may
	// remain once everything has settled.
	goroutineSlack = 3
)

// routerSleep is how long the slow routers take in this run.
func routerSleep() time.Duration {
	if strictTiming() {
		return strictRouterSleep
	}
	return looseRouterSleep
}

// strictTiming reports whether the exact routing bound is checked: when
// PBXKIT_STRICT_TIMING is set to a non-empty value other than "0".
func strictTiming() bool {
	v := os.Getenv("PBXKIT_STRICT_TIMING")
	return v != "" && v != "0"
}

// slowRouter counts the routers started and returned; its Route takes
// routerSleep and then names extension 999, so a handler that waited for it
// would answer late and with a decision.
type slowRouter struct {
	honourCtx         bool
	started, finished atomic.Int32
}

func (r *slowRouter) Route(ctx context.Context, _ pbx.RouteQuery) (pbx.Route, error) {
	r.started.Add(1)
	defer r.finished.Add(1)
	if !r.honourCtx {
		time.Sleep(routerSleep())
		return pbx.Route{Extension: "999", DisplayName: "too late"}, nil
	}
	t := time.NewTimer(routerSleep())
	defer t.Stop()
	select {
	case <-ctx.Done():
		return pbx.Route{}, ctx.Err()
	case <-t.C:
		return pbx.Route{Extension: "999", DisplayName: "too late"}, nil
	}
}

// testRoutingDeadline: with a router slower than RouteTimeout, the
// provider answers 200 simultaneous routing questions "no decision" within
// RouteTimeout + 100 ms, and leaves no goroutine behind; once with a router
// that ignores its context, once with one that honours it.
func (s *suite) testRoutingDeadline(t *testing.T) {
	if s.h.RouteQuestion == nil {
		t.Skip("Harness.RouteQuestion is nil: the vendor asks no routing question")
	}
	for _, honour := range []bool{false, true} {
		name := "RouterIgnoresContext"
		if honour {
			name = "RouterHonoursContext"
		}
		t.Run(name, func(t *testing.T) { s.routingDeadline(t, honour) })
	}
}

func (s *suite) routingDeadline(t *testing.T, honour bool) {
	// Start from a collected heap, so that no earlier test's garbage is
	// collected while the questions are measured.
	runtime.GC()
	settleGoroutines()
	baseline := runtime.NumGoroutine()

	// The debug journal is off, as in production: what is measured is the
	// handler, not 200 log lines.
	st := s.settingsAt(t, slog.LevelInfo)
	st.RouteTimeout = routeTimeout
	p := s.newProvider(t, st)
	router := &slowRouter{honourCtx: honour}
	var rec pbxtest.Recorder
	timed := &timedHandler{next: p.WebhookHandler(&rec, router)}
	hook := httptest.NewServer(timed)
	tr := &http.Transport{
		Proxy:               nil, // loopback only
		MaxIdleConnsPerHost: questions,
		DisableCompression:  true,
	}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	closed := false
	closeAll := func() {
		if !closed {
			closed = true
			tr.CloseIdleConnections()
			hook.Close()
		}
	}
	defer closeAll()

	// Open the connections first, with requests the handler rejects at
	// once (no credentials), so that what is measured below is the
	// handler's answer, not 200 TCP handshakes at the same instant.
	probe, err := s.h.RouteQuestion(hook.URL, pbxtest.DefaultCaller)
	if err != nil {
		t.Fatalf("RouteQuestion: %v", err)
	}
	if err := warmUp(client, bareURL(probe), questions); err != nil {
		t.Fatal(err)
	}

	reqs := make([]*http.Request, questions)
	for i := range reqs {
		req, err := s.h.RouteQuestion(hook.URL, pbxtest.DefaultCaller)
		if err != nil {
			t.Fatalf("RouteQuestion: %v", err)
		}
		reqs[i] = req
	}
	latencies := make([]time.Duration, questions)
	errs := make([]error, questions)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range questions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			t0 := time.Now()
			status, body, err := send(client, reqs[i])
			latencies[i] = time.Since(t0)
			if err == nil {
				var route pbx.Route
				route, err = s.h.ParseRoute(status, body)
				if err == nil && !route.IsZero() {
					err = fmt.Errorf("want no decision, got %+v (HTTP %d %.200s)", route, status, body)
				}
			}
			errs[i] = err
		}()
	}
	close(start)
	wg.Wait()
	answered := time.Now()

	for i, err := range errs {
		if err != nil {
			t.Errorf("question %d: %v", i, err)
			break
		}
	}
	sorted := slices.Clone(latencies)
	slices.Sort(sorted)
	minL, p50, maxL := sorted[0], sorted[len(sorted)/2], sorted[len(sorted)-1]
	inHandler := timed.max()
	bound := routeTimeout + routeSlack + raceSlack
	if !strictTiming() {
		// On a loaded machine (go test ./... runs packages side by side
		// on few cores) the exact bound measures the scheduler, not the
		// provider. The loose bound still proves that nothing waited for
		// the router (asleep for routerSleep); CI checks the exact one
		// alone on the machine with PBXKIT_STRICT_TIMING=1.
		bound = routeTimeout + routerSleep()/2
	}
	t.Logf("%d questions: latency at the client min %v, p50 %v, max %v; longest in the handler %v (bound %v)",
		questions, minL, p50, maxL, inHandler, bound)
	if inHandler >= bound {
		t.Errorf("the handler took %v to answer a question: want < RouteTimeout %v + %v", inHandler, routeTimeout, bound-routeTimeout)
	}
	if maxL >= bound {
		t.Errorf("a question was answered at the client after %v: want < RouteTimeout %v + %v", maxL, routeTimeout, bound-routeTimeout)
	}
	if minL < routeTimeout {
		t.Errorf("a question was answered after %v, before RouteTimeout %v: the router was not waited for", minL, routeTimeout)
	}
	if n := router.started.Load(); n != questions {
		t.Errorf("the router was asked %d questions, want %d", n, questions)
	}
	if n := len(rec.Events()); n != 0 {
		t.Errorf("%d events reached the EventHandler from routing questions", n)
	}

	peak := runtime.NumGoroutine()
	if !honour {
		// The routers ignore their context: they are all still sleeping,
		// and their goroutines are there to be counted.
		if since := time.Since(answered); since >= routerSleep()/2 {
			t.Fatalf("the checks took %v: the routers may have woken up", since)
		}
		if n := router.finished.Load(); n != 0 {
			t.Errorf("%d routers returned before their sleep ended", n)
		}
		if peak-baseline < questions {
			t.Errorf("%d goroutines above the baseline with %d routers asleep: want one per router", peak-baseline, questions)
		}
	}

	closeAll()
	if !eventually(routerSleep()+10*time.Second, func() bool { return router.finished.Load() == questions }) {
		t.Fatalf("only %d of %d routers returned", router.finished.Load(), questions)
	}
	var last int
	ok := eventually(10*time.Second, func() bool {
		last = runtime.NumGoroutine()
		return last <= baseline+goroutineSlack
	})
	t.Logf("goroutines: %d before, %d with the routers asleep, %d after (slack %d)", baseline, peak, last, goroutineSlack)
	if !ok {
		buf := make([]byte, 1<<20)
		t.Errorf("the goroutine count did not settle back to the baseline: %d before, %d after; goroutines left:\n%s",
			baseline, last, buf[:runtime.Stack(buf, true)])
	}
}

// eventually polls cond every 10 ms until it holds or within passes.
func eventually(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// timedHandler measures how long next takes to answer each request: from
// ServeHTTP's entry, once the server has read the request line and headers,
// to its return, once the answer is written.
type timedHandler struct {
	next http.Handler
	mu   sync.Mutex
	took []time.Duration
}

func (h *timedHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t0 := time.Now()
	h.next.ServeHTTP(w, r)
	d := time.Since(t0)
	h.mu.Lock()
	h.took = append(h.took, d)
	h.mu.Unlock()
}

// max returns the longest of the last `questions` answers.
func (h *timedHandler) max() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.took) == 0 {
		return 0
	}
	return slices.Max(h.took[max(0, len(h.took)-questions):])
}

// bareURL returns the URL of req without its query and user info: where
// a request without credentials goes.
func bareURL(req *http.Request) string {
	u := *req.URL
	u.RawQuery, u.User, u.Fragment = "", nil, ""
	return u.String()
}

// warmUp opens n connections to url with concurrent requests carrying no
// credentials, which every handler rejects at once, and leaves them idle
// in the client's pool.
func warmUp(client *http.Client, url string, n int) error {
	var wg sync.WaitGroup
	var failed atomic.Int32
	var firstStatus atomic.Int32
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Post(url, "application/json", bytes.NewReader([]byte(`{}`)))
			if err != nil {
				failed.Add(1)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				firstStatus.CompareAndSwap(0, int32(resp.StatusCode))
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d warm-up requests without credentials were not rejected with a 4xx (one got HTTP %d)", n, firstStatus.Load())
	}
	return nil
}

// settleGoroutines waits, for up to a second, for goroutines of earlier
// checks that are already ending (closed connections) to go, so the
// baseline is steady.
func settleGoroutines() {
	prev := runtime.NumGoroutine()
	for range 20 {
		time.Sleep(50 * time.Millisecond)
		n := runtime.NumGoroutine()
		if n == prev {
			return
		}
		prev = n
	}
}
