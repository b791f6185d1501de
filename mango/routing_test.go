package mango_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/mango"
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
)

// noRouteLimit lifts the route limit, for tests that route several calls.
func noRouteLimit(cfg *mango.Config) {
	cfg.Limits = map[string]mango.Limit{mango.OpRoute: {}, mango.AllOperations: {}}
}

// routeTo is a router naming ext (and a display name).
func routeTo(ext, name string) pbx.Router {
	return pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
		return pbx.Route{Extension: ext, DisplayName: name}, nil
	})
}

// TestRouteByCommand: a call that appears in the IVR is answered, handed
// over as call_started, and routed: the Router's decision goes to
// commands/route for the leg, signed, with the display name.
func TestRouteByCommand(t *testing.T) {
	api := newAPIServer(t, nil)
	c := newClient(t, api.base(), nil)
	rec := &pbxtest.Recorder{Router: routeTo("102", "Кузнецов Андрей")}
	w := notify(c.WebhookHandler(rec, rec), "events/call", ivrJSON("E1", "L1"))
	assert.Equal(t, http.StatusOK, w.Code)
	got := api.next(t)
	assert.Equal(t, mango.OpRoute, got.Op)
	assert.True(t, got.SignOK)
	assert.Equal(t, "L1", got.JSON["call_id"], "the leg, not the entry")
	assert.Equal(t, "102", got.JSON["to_number"])
	assert.Equal(t, "Кузнецов Андрей", got.JSON["sip_headers"].(map[string]any)["From/display-name"])
	assert.True(t, strings.HasPrefix(got.JSON["command_id"].(string), "pbxkit-"))
	require.True(t, eventually(func() bool { return c.RouteStats().Sent == 1 }))
	assert.Equal(t, mango.RouteStats{Asked: 1, Sent: 1}, c.RouteStats())

	qs := rec.Queries()
	require.Len(t, qs, 1)
	assert.Equal(t, pbx.RouteQuery{Provider: "mango", CallID: "E1", Phone: "79161234567", Line: "74951234567", Raw: qs[0].Raw}, qs[0])
	evs := rec.Events()
	require.Len(t, evs, 1)
	assert.Equal(t, pbx.EventCallStarted, evs[0].Type)
}

// TestRouteNeverTwicePerLeg: a redelivered Appeared is not routed again;
// another leg is.
func TestRouteNeverTwicePerLeg(t *testing.T) {
	api := newAPIServer(t, nil)
	c := newClient(t, api.base(), noRouteLimit)
	h := c.WebhookHandler(nil, routeTo("101", ""))
	for range 3 {
		require.Equal(t, http.StatusOK, notify(h, "events/call", ivrJSON("E1", "L1")).Code)
	}
	require.Equal(t, http.StatusOK, notify(h, "events/call", ivrJSON("E2", "L2")).Code)
	require.True(t, eventually(func() bool { return c.RouteStats().Sent == 2 }))
	require.NoError(t, c.Close())
	legs := map[string]int{}
	for _, r := range api.requests() {
		legs[r.JSON["call_id"].(string)]++
	}
	assert.Equal(t, map[string]int{"L1": 1, "L2": 1}, legs)
	assert.Equal(t, uint64(2), c.RouteStats().Skipped)
}

// TestRouteAcknowledgedFirst: the webhook answers before the router has
// decided; the command follows the decision.
func TestRouteAcknowledgedFirst(t *testing.T) {
	api := newAPIServer(t, nil)
	c := newClient(t, api.base(), nil)
	release := make(chan struct{})
	router := pbx.RouterFunc(func(ctx context.Context, _ pbx.RouteQuery) (pbx.Route, error) {
		select {
		case <-release:
			return pbx.Route{Extension: "103"}, nil
		case <-ctx.Done():
			return pbx.Route{}, ctx.Err()
		}
	})
	w := notify(c.WebhookHandler(nil, router), "events/call", ivrJSON("E1", "L1"))
	assert.Equal(t, http.StatusOK, w.Code, "answered while the router is still deciding")
	assert.Empty(t, api.requests())
	close(release)
	assert.Equal(t, "103", api.next(t).JSON["to_number"])
}

// TestRouteNothingSentOnFailure: a router error, a timeout (a router that
// honours its context and one that ignores it), no decision, or a route
// without an extension send nothing.
func TestRouteNothingSentOnFailure(t *testing.T) {
	var returned atomic.Int32
	for _, tc := range []struct {
		name   string
		router pbx.Router
		check  func(t *testing.T, s mango.RouteStats)
	}{
		{"error", pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
			return pbx.Route{Extension: "101"}, errors.New("directory down")
		}), func(t *testing.T, s mango.RouteStats) { assert.Equal(t, uint64(1), s.RouterFailed) }},
		{"timeout, context honoured", pbx.RouterFunc(func(ctx context.Context, _ pbx.RouteQuery) (pbx.Route, error) {
			<-ctx.Done()
			return pbx.Route{Extension: "101"}, nil
		}), func(t *testing.T, s mango.RouteStats) { assert.Equal(t, uint64(1), s.RouterFailed) }},
		{"timeout, context ignored", pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
			defer returned.Add(1)
			time.Sleep(300 * time.Millisecond)
			return pbx.Route{Extension: "101"}, nil
		}), func(t *testing.T, s mango.RouteStats) {
			assert.Equal(t, uint64(1), s.RouterFailed)
			require.True(t, eventually(func() bool { return returned.Load() == 1 }), "the late router returns")
		}},
		{"panic", pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) { panic("boom") }),
			func(t *testing.T, s mango.RouteStats) { assert.Equal(t, uint64(1), s.RouterFailed) }},
		{"no decision", routeTo("", ""), func(t *testing.T, s mango.RouteStats) { assert.Equal(t, uint64(1), s.NoDecision) }},
		{"a display name alone", routeTo(" ", "Иванова"), func(t *testing.T, s mango.RouteStats) { assert.Equal(t, uint64(1), s.NoDecision) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newAPIServer(t, nil)
			c := newClient(t, api.base(), func(cfg *mango.Config) { cfg.RouteTimeout = 100 * time.Millisecond })
			require.Equal(t, http.StatusOK, notify(c.WebhookHandler(nil, tc.router), "events/call", ivrJSON("E1", "L1")).Code)
			require.True(t, eventually(func() bool {
				s := c.RouteStats()
				return s.RouterFailed+s.NoDecision == 1
			}))
			tc.check(t, c.RouteStats())
			require.NoError(t, c.Close())
			assert.Empty(t, api.requests(), "nothing was sent: the scheme routes the call")
			assert.Zero(t, c.RouteStats().Sent)
		})
	}
}

// TestRouteLimitDropsPastDeadline: Mango takes one route every 2 s; a
// decision whose slot would come after the deadline is dropped, counted
// and logged, not queued.
func TestRouteLimitDropsPastDeadline(t *testing.T) {
	api := newAPIServer(t, nil)
	var buf syncBuffer
	c := newClient(t, api.base(), func(cfg *mango.Config) {
		cfg.RouteTimeout = 200 * time.Millisecond
		cfg.Limits = map[string]mango.Limit{mango.OpRoute: {Every: time.Hour, Burst: 1}}
		cfg.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	})
	h := c.WebhookHandler(nil, routeTo("101", ""))
	require.Equal(t, http.StatusOK, notify(h, "events/call", ivrJSON("E1", "L1")).Code)
	require.True(t, eventually(func() bool { return c.RouteStats().Sent == 1 }))
	require.Equal(t, http.StatusOK, notify(h, "events/call", ivrJSON("E2", "L2")).Code)
	require.True(t, eventually(func() bool { return c.RouteStats().RateLimited == 1 }))
	require.NoError(t, c.Close())
	assert.Len(t, api.requests(), 1, "the second decision was not sent")
	assert.Contains(t, buf.String(), "route decision dropped")
	assert.Contains(t, buf.String(), "level=WARN")
}

// TestRouteLimitWaitsWithinDeadline: a slot that comes before the
// deadline is waited for; the commands are spaced by the limit.
func TestRouteLimitWaitsWithinDeadline(t *testing.T) {
	api := newAPIServer(t, nil)
	const every = 300 * time.Millisecond
	c := newClient(t, api.base(), func(cfg *mango.Config) {
		cfg.RouteTimeout = 5 * time.Second
		cfg.Limits = map[string]mango.Limit{mango.OpRoute: {Every: every, Burst: 1}}
	})
	h := c.WebhookHandler(nil, routeTo("101", ""))
	require.Equal(t, http.StatusOK, notify(h, "events/call", ivrJSON("E1", "L1")).Code)
	require.Equal(t, http.StatusOK, notify(h, "events/call", ivrJSON("E2", "L2")).Code)
	first, second := api.next(t), api.next(t)
	assert.GreaterOrEqual(t, second.At.Sub(first.At), every/2, "the limit spaced the commands (without it they arrive together)")
	require.True(t, eventually(func() bool { return c.RouteStats().Sent == 2 }))
	assert.Equal(t, mango.RouteStats{Asked: 2, Sent: 2}, c.RouteStats())
}

// TestRouteSentOnce: a route command that fails (a refusal, a 5xx) is not
// sent again.
func TestRouteSentOnce(t *testing.T) {
	for _, answer := range []struct {
		status int
		body   string
	}{{200, `{"result":4101}`}, {500, `{}`}, {503, `{}`}, {420, `{"code":3102}`}} {
		t.Run(fmt.Sprint(answer.status), func(t *testing.T) {
			api := newAPIServer(t, func(string, map[string]any) (int, string) { return answer.status, answer.body })
			c := newClient(t, api.base(), nil)
			require.Equal(t, http.StatusOK, notify(c.WebhookHandler(nil, routeTo("101", "")), "events/call", ivrJSON("E1", "L1")).Code)
			require.True(t, eventually(func() bool { return c.RouteStats().SendFailed == 1 }))
			require.NoError(t, c.Close())
			assert.Len(t, api.requests(), 1)
		})
	}
}

// TestRouteCloseCancels: Close cancels a routing in progress (the router's
// context ends, nothing is sent), waits for it, and no routing starts
// after it.
func TestRouteCloseCancels(t *testing.T) {
	api := newAPIServer(t, nil)
	c := newClient(t, api.base(), func(cfg *mango.Config) { cfg.RouteTimeout = time.Minute })
	cancelled := make(chan struct{})
	var asked atomic.Int32
	router := pbx.RouterFunc(func(ctx context.Context, _ pbx.RouteQuery) (pbx.Route, error) {
		asked.Add(1)
		<-ctx.Done()
		close(cancelled)
		return pbx.Route{Extension: "101"}, nil
	})
	h := c.WebhookHandler(nil, router)
	require.Equal(t, http.StatusOK, notify(h, "events/call", ivrJSON("E1", "L1")).Code)
	require.True(t, eventually(func() bool { return asked.Load() == 1 }))
	done := make(chan struct{})
	go func() { _ = c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the router's context was not cancelled")
	}
	require.Equal(t, http.StatusOK, notify(h, "events/call", ivrJSON("E2", "L2")).Code, "events still flow after Close")
	assert.Equal(t, int32(1), asked.Load(), "no routing after Close")
	assert.Empty(t, api.requests())
	assert.Equal(t, uint64(2), c.RouteStats().Skipped)
}

// TestRouteBounded: at most MaxPendingRoutes routings run at once; calls
// beyond are left to the scheme.
func TestRouteBounded(t *testing.T) {
	api := newAPIServer(t, nil)
	c := newClient(t, api.base(), func(cfg *mango.Config) { cfg.RouteTimeout = time.Minute })
	release := make(chan struct{})
	var asked atomic.Int32
	router := pbx.RouterFunc(func(ctx context.Context, _ pbx.RouteQuery) (pbx.Route, error) {
		asked.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return pbx.Route{}, nil
	})
	h := c.WebhookHandler(nil, router)
	for i := range mango.MaxPendingRoutes + 3 {
		require.Equal(t, http.StatusOK, notify(h, "events/call", ivrJSON(fmt.Sprint("E", i), fmt.Sprint("L", i))).Code)
	}
	require.True(t, eventually(func() bool { return asked.Load() == mango.MaxPendingRoutes }))
	assert.Equal(t, uint64(3), c.RouteStats().Skipped)
	close(release)
	assert.True(t, eventually(func() bool { return c.RouteStats().NoDecision == mango.MaxPendingRoutes }))
	require.NoError(t, c.Close())
}

// TestRouteDisplayNameCut: the display name is cut to 64 bytes at a
// character.
func TestRouteDisplayNameCut(t *testing.T) {
	api := newAPIServer(t, nil)
	c := newClient(t, api.base(), nil)
	name := strings.Repeat("Ж", 40) // 80 bytes
	require.Equal(t, http.StatusOK, notify(c.WebhookHandler(nil, routeTo("101", name)), "events/call", ivrJSON("E1", "L1")).Code)
	got := api.next(t).JSON["sip_headers"].(map[string]any)["From/display-name"].(string)
	assert.Equal(t, strings.Repeat("Ж", 32), got)
	assert.True(t, utf8.ValidString(got))
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRouteInterval: Config.RouteInterval is the client's route limit.
// By default (Mango's 2 s) the second of two calls appearing back to back
// is left to the scheme; a short interval, as mangotest hands out, routes
// both; a negative one lifts the limit; a set interval replaces
// Limits[OpRoute].
func TestRouteInterval(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
		limits   map[string]mango.Limit
		sent     uint64
	}{
		{"default 2 s", 0, nil, 1},
		{"10 ms", 10 * time.Millisecond, nil, 2},
		{"negative: no limit", -1, nil, 2},
		{"replaces Limits[OpRoute]", 10 * time.Millisecond, map[string]mango.Limit{mango.OpRoute: {Every: time.Hour, Burst: 1}}, 2},
		{"Limits[OpRoute] when zero", 0, map[string]mango.Limit{mango.OpRoute: {}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newAPIServer(t, nil)
			c := newClient(t, api.base(), func(cfg *mango.Config) {
				cfg.RouteTimeout = 500 * time.Millisecond
				cfg.RouteInterval = tc.interval
				cfg.Limits = tc.limits
			})
			h := c.WebhookHandler(nil, routeTo("101", ""))
			require.Equal(t, http.StatusOK, notify(h, "events/call", ivrJSON("E1", "L1")).Code)
			require.Equal(t, http.StatusOK, notify(h, "events/call", ivrJSON("E2", "L2")).Code)
			require.True(t, eventually(func() bool {
				s := c.RouteStats()
				return s.Sent+s.RateLimited == 2
			}))
			require.NoError(t, c.Close())
			s := c.RouteStats()
			assert.Equal(t, tc.sent, s.Sent)
			assert.Equal(t, 2-tc.sent, s.RateLimited)
			assert.Len(t, api.requests(), int(tc.sent))
		})
	}
}

// TestRouteOneAtATime: the next route command starts RouteInterval after
// the previous one's answer, not after its start, so that Mango, counting
// what it receives, never sees two closer when a request is slow on its
// way (spaced by their starts, the second arrived 50 ms after the first,
// while the first was still being answered).
func TestRouteOneAtATime(t *testing.T) {
	const (
		slow  = 300 * time.Millisecond
		every = 50 * time.Millisecond
	)
	var first atomic.Bool
	api := newAPIServer(t, func(op string, _ map[string]any) (int, string) {
		if op == mango.OpRoute && first.CompareAndSwap(false, true) {
			time.Sleep(slow)
		}
		return http.StatusOK, `{"result":1000}`
	})
	c := newClient(t, api.base(), func(cfg *mango.Config) {
		cfg.RouteTimeout = 5 * time.Second
		cfg.RouteInterval = every
	})
	h := c.WebhookHandler(nil, routeTo("101", ""))
	require.Equal(t, http.StatusOK, notify(h, "events/call", ivrJSON("E1", "L1")).Code)
	require.Equal(t, http.StatusOK, notify(h, "events/call", ivrJSON("E2", "L2")).Code)
	a, b := api.next(t), api.next(t)
	assert.GreaterOrEqual(t, b.At.Sub(a.At), slow+every, "the second waited for the first's answer, then the interval")
	require.True(t, eventually(func() bool { return c.RouteStats().Sent == 2 }))
}
