package guarantees

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/prostiezvonki"
	"github.com/pbxkit/pbxkit/prostiezvonki/pztest"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/rostelecom"
	"github.com/pbxkit/pbxkit/rostelecom/rostelecomtest"
	"github.com/pbxkit/pbxkit/sipuni"
	"github.com/pbxkit/pbxkit/sipuni/sipunitest"
)

const (
	// routeTimeout is the providers' RouteTimeout in the deadline test.
	routeTimeout = 200 * time.Millisecond
	// routeSlack is what the issue allows on top of it.
	routeSlack = 100 * time.Millisecond
	// routerSleep is how long the slow routers take: far past the deadline.
	routerSleep = 2 * time.Second
	// questions is how many routing questions arrive at once.
	questions = 200
	// goroutineSlack is how many goroutines more than before the test may
	// remain once everything has settled.
	goroutineSlack = 3
)

// routingVendor is one provider's routing question, asked through its real
// webhook handler.
type routingVendor struct {
	name string
	// handler returns the provider's webhook handler with RouteTimeout set
	// to timeout and router as the router.
	handler func(t *testing.T, timeout time.Duration, router pbx.Router) http.Handler
	// request builds one authenticated routing question for the handler
	// served at base.
	request func(base string) (*http.Request, error)
	// noDecision checks that an answer is the vendor's "no decision".
	noDecision func(status int, body []byte) error
}

const sipuniToken = "guarantees-token"

func routingVendors() []routingVendor {
	return []routingVendor{
		{
			name: "rostelecom get_number_info",
			handler: func(t *testing.T, timeout time.Duration, router pbx.Router) http.Handler {
				c, err := rostelecom.New(rostelecom.Config{
					ClientID:     rostelecomtest.DefaultClientID,
					SignKey:      rostelecomtest.DefaultSignKey,
					Domain:       rostelecomtest.DefaultDomain,
					RouteTimeout: timeout,
				})
				require.NoError(t, err)
				return c.WebhookHandler(nil, router)
			},
			request: func(base string) (*http.Request, error) {
				// As rostelecomtest plays it: the JSON question, signed over
				// the exact bytes sent.
				body, err := json.Marshal(rostelecom.NumberInfoRequest{
					Domain:        rostelecomtest.DefaultDomain,
					FromNumber:    rostelecomtest.DefaultCaller,
					RequestNumber: rostelecomtest.DefaultLine,
				})
				if err != nil {
					return nil, err
				}
				req, err := http.NewRequest(http.MethodPost, base+"/pbx/rostelecom/"+rostelecom.NotifyGetNumberInfo, bytes.NewReader(body))
				if err != nil {
					return nil, err
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Client-ID", rostelecomtest.DefaultClientID)
				req.Header.Set("X-Client-Sign", rostelecom.Sign(rostelecomtest.DefaultClientID, body, rostelecomtest.DefaultSignKey))
				return req, nil
			},
			noDecision: func(status int, body []byte) error {
				if status != http.StatusOK {
					return fmt.Errorf("HTTP %d: %s", status, body)
				}
				pin, name, err := rostelecomtest.ParseNumberInfoAnswer(body)
				if err != nil {
					return err
				}
				var env struct {
					Result provider.String `json:"result"`
				}
				if err := json.Unmarshal(body, &env); err != nil {
					return err
				}
				if env.Result != "0" || pin != "" || name != "" {
					return fmt.Errorf("want result \"0\" with empty PIN and displayName, got %s", body)
				}
				return nil
			},
		},
		{
			name: "sipuni routing node",
			handler: func(t *testing.T, timeout time.Duration, router pbx.Router) http.Handler {
				c, err := sipuni.New(sipuni.Config{
					Account:      sipunitest.DefaultAccount,
					Secret:       sipunitest.DefaultSecret,
					WebhookToken: sipuniToken,
					RouteTimeout: timeout,
				})
				require.NoError(t, err)
				return c.WebhookHandler(nil, router)
			},
			request: func(base string) (*http.Request, error) {
				// As sipunitest plays it: a GET with the question in the
				// query and the webhook token.
				q := url.Values{
					"fromnum": {sipunitest.DefaultCaller},
					"tonum":   {sipunitest.DefaultLine},
					"dtmf":    {""},
					"label":   {""},
					"time":    {strconv.FormatInt(time.Now().Unix(), 10)},
					"token":   {sipuniToken},
				}
				return http.NewRequest(http.MethodGet, base+"/pbx/sipuni?"+q.Encode(), nil)
			},
			noDecision: func(status int, body []byte) error {
				if status != http.StatusOK {
					return fmt.Errorf("HTTP %d: %s", status, body)
				}
				var a map[string]json.RawMessage
				if err := json.Unmarshal(body, &a); err != nil {
					return err
				}
				if string(a["choice"]) != "0" || len(a) != 1 {
					return fmt.Errorf(`want {"choice":0}, got %s`, body)
				}
				return nil
			},
		},
		{
			name: "prostiezvonki cmd=contact",
			handler: func(t *testing.T, timeout time.Duration, router pbx.Router) http.Handler {
				c, err := prostiezvonki.New(prostiezvonki.Config{
					CRMToken:     pztest.DefaultCRMToken,
					RouteTimeout: timeout,
				})
				require.NoError(t, err)
				return c.WebhookHandler(nil, router)
			},
			request: func(base string) (*http.Request, error) {
				req, err := http.NewRequest(http.MethodPost, base+"/pbx/prostiezvonki",
					bytes.NewReader(pztest.ContactBody(pztest.DefaultCaller, pztest.DefaultCRMToken)))
				if err != nil {
					return nil, err
				}
				req.Header.Set("Content-Type", "application/json")
				return req, nil
			},
			noDecision: func(status int, body []byte) error {
				if status != http.StatusOK {
					return fmt.Errorf("HTTP %d: %s", status, body)
				}
				responsible, name, err := pztest.ParseContactAnswer(body)
				if err != nil {
					return err
				}
				if responsible != "" || name != "" {
					return fmt.Errorf(`want {"responsible":""}, got %s`, body)
				}
				return nil
			},
		},
	}
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
		time.Sleep(routerSleep)
		return pbx.Route{Extension: "999", DisplayName: "too late"}, nil
	}
	t := time.NewTimer(routerSleep)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return pbx.Route{}, ctx.Err()
	case <-t.C:
		return pbx.Route{Extension: "999", DisplayName: "too late"}, nil
	}
}

// TestRoutingDeadline: with a router slower than RouteTimeout, each
// provider answers 200 simultaneous routing questions "no decision" within
// RouteTimeout + 100 ms, and leaves no goroutine behind.
func TestRoutingDeadline(t *testing.T) {
	for _, v := range routingVendors() {
		for _, honour := range []bool{false, true} {
			name := v.name + "/router ignores ctx"
			if honour {
				name = v.name + "/router honours ctx"
			}
			t.Run(name, func(t *testing.T) {
				testRoutingDeadline(t, v, honour)
			})
		}
	}
}

func testRoutingDeadline(t *testing.T, v routingVendor, honour bool) {
	settleGoroutines()
	baseline := runtime.NumGoroutine()

	router := &slowRouter{honourCtx: honour}
	timed := &timedHandler{next: v.handler(t, routeTimeout, router)}
	hook := httptest.NewServer(timed)
	tr := &http.Transport{
		Proxy:               nil, // loopback only
		MaxIdleConnsPerHost: questions,
		DisableCompression:  true,
	}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	// Open the 200 connections first, with requests the handler rejects at
	// once (no authentication), so that what is measured below is the
	// handler's answer, not 200 TCP handshakes at the same instant.
	warmUp(t, client, hook.URL+"/pbx/get_number_info", questions)

	reqs := make([]*http.Request, questions)
	for i := range reqs {
		req, err := v.request(hook.URL)
		require.NoError(t, err)
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
			resp, err := client.Do(reqs[i])
			if err != nil {
				errs[i] = err
				latencies[i] = time.Since(t0)
				return
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			latencies[i] = time.Since(t0)
			if err == nil {
				err = v.noDecision(resp.StatusCode, body)
			}
			errs[i] = err
		}()
	}
	close(start)
	wg.Wait()
	answered := time.Now()

	for i, err := range errs {
		if !assert.NoError(t, err, "question %d", i) {
			break
		}
	}
	sorted := slices.Clone(latencies)
	slices.Sort(sorted)
	minL, p50, maxL := sorted[0], sorted[len(sorted)/2], sorted[len(sorted)-1]
	inHandler := timed.max(questions)
	t.Logf("%d questions: latency at the client min %v, p50 %v, max %v; longest in the handler %v (bound %v)",
		questions, minL, p50, maxL, inHandler, routeTimeout+routeSlack)
	assert.Less(t, inHandler, routeTimeout+routeSlack+raceSlack, "the handler answered every question within RouteTimeout + 100 ms")
	assert.Less(t, maxL, routeTimeout+routeSlack+raceSlack, "every question answered at the client within RouteTimeout + 100 ms")
	assert.GreaterOrEqual(t, minL, routeTimeout, "every question waited for the router until RouteTimeout")
	assert.EqualValues(t, questions, router.started.Load(), "the router was asked every question")

	peak := runtime.NumGoroutine()
	if !honour {
		// The routers ignore their context: they are all still sleeping,
		// and their goroutines are there to be counted.
		require.Less(t, time.Since(answered), routerSleep/2, "the check below needs the routers still asleep")
		assert.Zero(t, router.finished.Load(), "no router returned before its sleep ended")
		assert.GreaterOrEqual(t, peak-baseline, questions, "one goroutine per sleeping router")
	}

	tr.CloseIdleConnections()
	hook.Close()
	require.Eventually(t, func() bool { return router.finished.Load() == questions },
		routerSleep+10*time.Second, 10*time.Millisecond, "the routers return")
	var last int
	ok := assert.Eventually(t, func() bool {
		last = runtime.NumGoroutine()
		return last <= baseline+goroutineSlack
	}, 10*time.Second, 20*time.Millisecond, "the goroutine count settles back to the baseline")
	t.Logf("goroutines: %d before, %d with the routers asleep, %d after (slack %d)", baseline, peak, last, goroutineSlack)
	if !ok {
		buf := make([]byte, 1<<20)
		t.Logf("goroutines left:\n%s", buf[:runtime.Stack(buf, true)])
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

// max returns the longest of the last n answers.
func (h *timedHandler) max(n int) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Max(h.took[len(h.took)-n:])
}

// warmUp opens n connections to url with concurrent unauthenticated
// requests, which every handler rejects at once, and leaves them idle in
// the client's pool.
func warmUp(t *testing.T, client *http.Client, url string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	var failed atomic.Int32
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
			if resp.StatusCode < 400 {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	require.Zero(t, failed.Load(), "warm-up requests must be rejected, not routed")
}

// settleGoroutines waits, for up to a second, for goroutines of earlier
// tests that are already ending (closed connections) to go, so the baseline
// is steady.
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
