package mangotest_test

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/mango"
	"github.com/pbxkit/pbxkit/mango/mangotest"
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider"
)

// hook is a webhook that records what the fake posts and checks its
// signature.
type hook struct {
	*httptest.Server
	mu    sync.Mutex
	got   []posted
	fail  int // answer this status when not 0
	route func(leg string)
}

type posted struct {
	path   string
	json   map[string]any
	signOK bool
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		js := form.Get("json")
		p := posted{path: strings.TrimPrefix(r.URL.Path, "/"), signOK: form.Get("vpbx_api_key") == mangotest.DefaultAPIKey &&
			form.Get("sign") == mango.Sign(mangotest.DefaultAPIKey, js, mangotest.DefaultAPISalt)}
		_ = json.Unmarshal([]byte(js), &p.json)
		h.mu.Lock()
		h.got = append(h.got, p)
		fail, route := h.fail, h.route
		h.mu.Unlock()
		if route != nil && p.json["location"] == "ivr" && p.json["call_state"] == "Appeared" {
			route(p.json["call_id"].(string))
		}
		if fail != 0 {
			w.WriteHeader(fail)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) posts() []posted {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// TestRegistered: the fake is in pbxtest's registry, and its DSN opens a
// provider that reaches it.
func TestRegistered(t *testing.T) {
	f, err := pbxtest.Start(mango.Name, pbxtest.Options{Employees: []pbxtest.Employee{{Extension: "201", Login: "a", Name: "А"}}})
	require.NoError(t, err)
	defer f.Close()
	assert.Equal(t, "mango", f.Name())
	p, err := provider.Open(f.DSN())
	require.NoError(t, err)
	defer p.(*mango.Client).Close()
	subs, err := p.(pbx.SubscriberLister).Subscribers(ctx(t))
	require.NoError(t, err)
	require.Len(t, subs, 1)
	assert.Equal(t, "201", subs[0].Extension)
	reqs := f.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, mango.OpUsers, reqs[0].Operation)
}

// TestAPIChecksSignature: a request signed with another salt is refused
// with the manual's 420 {"code":3102}.
func TestAPIChecksSignature(t *testing.T) {
	s := mangotest.NewServer(mangotest.Options{})
	defer s.Close()
	js := `{"command_id":"c","from":{"extension":"101"},"to_number":"79991234567"}`
	for _, tc := range []struct {
		form url.Values
		code int
	}{
		{mango.SignedForm(mangotest.DefaultAPIKey, "wrong-salt", js), 3102},
		{mango.SignedForm("wrong-key", mangotest.DefaultAPISalt, js), 3105},
		{url.Values{"json": {js}}, 3103},
		{mango.SignedForm(mangotest.DefaultAPIKey, mangotest.DefaultAPISalt, js), 1000},
	} {
		resp, err := http.PostForm(s.URL()+"/"+mango.OpCallback, tc.form)
		require.NoError(t, err)
		var body map[string]int
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		resp.Body.Close()
		if tc.code == 1000 {
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, 1000, body["result"])
		} else {
			assert.Equal(t, 420, resp.StatusCode)
			assert.Equal(t, tc.code, body["code"])
		}
	}
	reqs := s.APIRequests()
	require.Len(t, reqs, 4)
	assert.False(t, reqs[0].SignOK)
	assert.True(t, reqs[3].SignOK)
}

// TestPlaySignedInMangosOrder: a routed call posts, signed, the IVR leg,
// the route's result, the employee leg's states, the recording, and the
// summary last, with seq counting per leg.
func TestPlaySignedInMangosOrder(t *testing.T) {
	s := mangotest.NewServer(mangotest.Options{RouteEvery: -1})
	defer s.Close()
	h := newHook(t)
	c, err := mango.New(s.Config())
	require.NoError(t, err)
	defer c.Close()
	h.route = func(leg string) {
		go func() { _, _ = c.Route(context.Background(), mango.RouteCommand{CallID: leg, ToNumber: "103"}) }()
	}
	res, err := s.PlayWith(ctx(t), h.URL, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming}, mangotest.Extras{})
	require.NoError(t, err)
	assert.Equal(t, "103", res.AnsweredBy)
	var paths []string
	seqs := map[string][]float64{}
	for _, p := range h.posts() {
		assert.True(t, p.signOK, p.path)
		label := p.path
		if st, ok := p.json["call_state"].(string); ok {
			label += ":" + st
			leg := p.json["call_id"].(string)
			seqs[leg] = append(seqs[leg], p.json["seq"].(float64))
		}
		paths = append(paths, label)
	}
	assert.Equal(t, []string{"events/call:Appeared", "result/route", "events/call:Disconnected",
		"events/call:Appeared", "events/call:Connected", "events/call:Disconnected",
		"events/recording", "events/recording", "events/record/added", "events/summary"}, paths)
	for leg, ss := range seqs {
		for i, v := range ss {
			assert.Equal(t, float64(i+1), v, "seq of leg %s", leg)
		}
	}
	assert.Equal(t, len(paths), res.Notifications)
}

// TestPlayOutOfOrder: out of order, the same notifications arrive in
// another order, each hold before its end.
func TestPlayOutOfOrder(t *testing.T) {
	s := mangotest.NewServer(mangotest.Options{IVRSilence: time.Millisecond})
	defer s.Close()
	// Ids are new in every play: compare without them.
	key := func(p posted) string {
		v := maps.Clone(p.json)
		delete(v, "call_id")
		delete(v, "recording_id")
		if from, ok := v["from"].(map[string]any); ok {
			from = maps.Clone(from)
			delete(from, "taken_from_call_id")
			v["from"] = from
		}
		b, _ := json.Marshal(v)
		return p.path + string(b)
	}
	call := pbxtest.Call{Scenario: pbxtest.Transfer, Start: time.Unix(1700000000, 0), CallID: "E"}
	ordered := newHook(t)
	_, err := s.PlayWith(ctx(t), ordered.URL, call, mangotest.Extras{Hold: 3 * time.Second})
	require.NoError(t, err)
	shuffled := newHook(t)
	_, err = s.PlayWith(ctx(t), shuffled.URL, call, mangotest.Extras{Hold: 3 * time.Second, OutOfOrder: true, Seed: 7})
	require.NoError(t, err)
	var a, b []string
	for _, p := range ordered.posts() {
		a = append(a, key(p))
	}
	for _, p := range shuffled.posts() {
		b = append(b, key(p))
	}
	require.Equal(t, a[0], b[0], "the IVR's Appeared comes first")
	assert.NotEqual(t, a, b, "the order changed")
	slices.Sort(a)
	slices.Sort(b)
	assert.Equal(t, a, b, "the same notifications")
	held := -1
	for i, p := range shuffled.posts() {
		switch {
		case p.json["call_state"] == "OnHold":
			held = i
		case p.json["call_state"] == "Connected" && p.json["seq"].(float64) == 4:
			assert.Greater(t, i, held, "the hold's end after the hold")
			assert.GreaterOrEqual(t, held, 0)
		}
	}
}

// TestRouteLimit: a second route command within RouteEvery is 429 (the
// client's own limit lifted, so that the fake's answers).
func TestRouteLimit(t *testing.T) {
	s := mangotest.NewServer(mangotest.Options{RouteEvery: time.Hour})
	defer s.Close()
	cfg := s.Config()
	assert.Equal(t, time.Hour, cfg.RouteInterval, "the client is handed the fake's limit")
	cfg.RouteInterval = -1
	c, err := mango.New(cfg)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Route(ctx(t), mango.RouteCommand{CallID: "unknown", ToNumber: "101"})
	var re *mango.ResultError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, mango.ResultCallEnded, re.Code, "no such leg in the IVR")
	_, err = c.Route(ctx(t), mango.RouteCommand{CallID: "unknown", ToNumber: "101"})
	assert.ErrorIs(t, err, provider.ErrRateLimited)
	reqs := s.APIRequests()
	require.Len(t, reqs, 2, "the second command reached the fake")
	assert.Equal(t, http.StatusTooManyRequests, reqs[1].Status)
}

// TestDefaultsDemoFast: by default the IVR waits 500 ms and takes a route
// every 10 ms, and the client the fake describes keeps the same interval;
// Mango's own figures are there for a fake that behaves like it.
func TestDefaultsDemoFast(t *testing.T) {
	s := mangotest.NewServer(mangotest.Options{})
	defer s.Close()
	cfg := s.Config()
	assert.Equal(t, 10*time.Millisecond, cfg.RouteInterval)
	assert.Equal(t, 250*time.Millisecond, cfg.RouteTimeout)
	assert.Equal(t, 2*time.Second, mangotest.MangoRouteEvery)

	like := mangotest.NewServer(mangotest.Options{IVRSilence: mangotest.MangoIVRSilence, RouteEvery: mangotest.MangoRouteEvery})
	defer like.Close()
	cfg = like.Config()
	assert.Equal(t, mango.DefaultRouteInterval, cfg.RouteInterval)
	assert.Equal(t, mango.DefaultRouteTimeout, cfg.RouteTimeout)
	dsn, err := mango.ParseDSN(like.DSN())
	require.NoError(t, err)
	assert.Equal(t, cfg.RouteInterval, dsn.RouteInterval)
	assert.Equal(t, cfg.RouteTimeout, dsn.RouteTimeout)

	none := mangotest.NewServer(mangotest.Options{RouteEvery: -1})
	defer none.Close()
	assert.Negative(t, none.Config().RouteInterval, "no limit on either side")
}

// TestPlayFailures: a webhook answering 5xx stops the play with an
// error; scenarios Mango cannot play and an empty URL are errors; every
// play is recorded.
func TestPlayFailures(t *testing.T) {
	s := mangotest.NewServer(mangotest.Options{IVRSilence: time.Millisecond})
	defer s.Close()
	h := newHook(t)
	h.fail = http.StatusServiceUnavailable
	_, err := s.Play(ctx(t), h.URL, pbxtest.Call{Scenario: pbxtest.MissedIncoming})
	assert.ErrorContains(t, err, "HTTP 503")
	assert.Len(t, h.posts(), 1, "stopped at the first refusal")
	_, err = s.Play(ctx(t), h.URL, pbxtest.Call{Scenario: pbxtest.Scenario(99)})
	assert.Error(t, err)
	_, err = s.Play(ctx(t), "", pbxtest.Call{Scenario: pbxtest.AnsweredIncoming})
	assert.Error(t, err)
	assert.Len(t, s.Plays(), 3)
}

// TestStatsCRLF: the CSV's lines end as asked.
func TestStatsCRLF(t *testing.T) {
	for _, crlf := range []bool{false, true} {
		s := mangotest.NewServer(mangotest.Options{StatsCRLF: crlf, StatsNotReady: -1})
		s.AddHistory(mangotest.HistoryEntry{Caller: "79161234567", Extension: "101", Start: time.Now().Add(-time.Minute), Talk: time.Second})
		sign := func(js string) url.Values {
			return mango.SignedForm(mangotest.DefaultAPIKey, mangotest.DefaultAPISalt, js)
		}
		from, to := time.Now().Add(-time.Hour).Unix(), time.Now().Unix()
		resp, err := http.PostForm(s.URL()+"/stats/request", sign(`{"date_from":"`+itoa(from)+`","date_to":"`+itoa(to)+`","fields":"start,to_extension"}`))
		require.NoError(t, err)
		var k struct{ Key string }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&k))
		resp.Body.Close()
		resp, err = http.PostForm(s.URL()+"/stats/result", sign(`{"key":"`+k.Key+`"}`))
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if crlf {
			assert.True(t, strings.HasSuffix(string(b), ";101\r\n"), "%q", b)
		} else {
			assert.True(t, strings.HasSuffix(string(b), ";101\n"), "%q", b)
			assert.NotContains(t, string(b), "\r")
		}
		s.Close()
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
