package mango_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/mango"
	"github.com/pbxkit/pbxkit/mango/mangotest"
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/journal/journaltest"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider"
)

// stack is a fake PBX, a Client of it, and the Client's webhook serving a
// journal and a router, on loopback.
type stack struct {
	fake    *mangotest.Server
	client  *mango.Client
	journal *journal.Journal
	hook    string
}

func newStack(t *testing.T, router pbx.Router, o mangotest.Options) *stack {
	t.Helper()
	fake := mangotest.NewServer(o)
	t.Cleanup(fake.Close)
	cfg := fake.Config()
	cfg.Limits = map[string]mango.Limit{mango.OpRoute: {}} // the fake's limit is lifted too, below
	c := newClient(t, cfg.BaseURL, func(c *mango.Config) {
		c.RouteTimeout, c.Limits = cfg.RouteTimeout, cfg.Limits
	})
	j := journal.New(journal.NewMemoryStore())
	srv := httptest.NewServer(http.StripPrefix("/pbx/mango", c.WebhookHandler(j, router)))
	t.Cleanup(srv.Close)
	return &stack{fake: fake, client: c, journal: j, hook: srv.URL + "/pbx/mango/"}
}

func (s *stack) call(t *testing.T, id string) journal.Call {
	t.Helper()
	c, err := s.journal.Call(ctx(t), "mango", id)
	require.NoError(t, err)
	return c
}

// TestPlayRoutedIntoJournal: an incoming call appears in the fake's IVR,
// the provider asks the router and sends commands/route, the fake rings
// the extension named, and the journal folds the call.
func TestPlayRoutedIntoJournal(t *testing.T) {
	s := newStack(t, routeTo("102", "Кузнецов"), mangotest.Options{RouteEvery: -1})
	played, err := s.fake.Play(ctx(t), s.hook, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming})
	require.NoError(t, err)
	require.NoError(t, played.Err)
	assert.True(t, played.Asked)
	assert.Equal(t, pbx.Route{Extension: "102", DisplayName: "Кузнецов"}, played.Route)
	assert.Equal(t, []string{"102"}, played.Rang)
	assert.Equal(t, "102", played.AnsweredBy)

	c := s.call(t, played.CallID)
	assert.Equal(t, pbx.OutcomeAnswered, c.Outcome)
	assert.Equal(t, "102", c.AnsweredBy)
	assert.Equal(t, pbx.Inbound, c.Direction)
	assert.Equal(t, pbxtest.DefaultCaller, c.Phone)
	assert.Equal(t, pbxtest.DefaultLine, c.Line)
	assert.Equal(t, pbxtest.DefaultTalk, c.TalkDuration)
	assert.Equal(t, journal.ClosedByEvent, c.ClosedBy)
	assert.True(t, c.HasRecording)
	assert.Equal(t, mango.RouteStats{Asked: 1, Sent: 1}, s.client.RouteStats())
}

// TestPlayScenarios: every neutral scenario plays and folds to the call
// the scenario describes.
func TestPlayScenarios(t *testing.T) {
	s := newStack(t, nil, mangotest.Options{IVRSilence: 10 * time.Millisecond})
	for _, tc := range []struct {
		sc       pbxtest.Scenario
		outcome  pbx.Outcome
		by       string
		dir      pbx.Direction
		legs     int
		recorded bool
	}{
		{pbxtest.AnsweredIncoming, pbx.OutcomeAnswered, "101", pbx.Inbound, 1, true},
		{pbxtest.MissedIncoming, pbx.OutcomeCancelled, "", pbx.Inbound, 1, false},
		{pbxtest.OutboundCallback, pbx.OutcomeAnswered, "101", pbx.Outbound, 1, true},
		{pbxtest.GroupRing, pbx.OutcomeAnswered, "101", pbx.Inbound, 3, true},
		{pbxtest.Transfer, pbx.OutcomeAnswered, "101", pbx.Inbound, 2, true},
	} {
		t.Run(tc.sc.String(), func(t *testing.T) {
			played, err := s.fake.Play(ctx(t), s.hook, pbxtest.Call{Scenario: tc.sc})
			require.NoError(t, err)
			require.NoError(t, played.Err)
			c := s.call(t, played.CallID)
			assert.Equal(t, tc.outcome, c.Outcome)
			assert.Equal(t, tc.by, c.AnsweredBy)
			assert.Equal(t, tc.dir, c.Direction)
			assert.Len(t, c.Legs, tc.legs)
			assert.Equal(t, tc.recorded, c.HasRecording)
			assert.Equal(t, tc.sc == pbxtest.MissedIncoming, c.Missed)
		})
	}
}

// TestPlayOutOfOrder: the same call delivered in Mango's order and
// shuffled (several seeds) folds to the same journal call.
func TestPlayOutOfOrder(t *testing.T) {
	s := newStack(t, nil, mangotest.Options{IVRSilence: 10 * time.Millisecond})
	start := time.Date(2026, 2, 3, 10, 0, 0, 0, time.UTC)
	var want journal.Call
	for seed := range uint64(6) {
		call := pbxtest.Call{Scenario: pbxtest.Transfer, Start: start, CallID: "ooo-" + string(rune('a'+seed))}
		res, err := s.fake.PlayWith(ctx(t), s.hook, call, mangotest.Extras{OutOfOrder: seed > 0, Seed: seed, Hold: 5 * time.Second})
		require.NoError(t, err)
		got := journaltest.Comparable(s.call(t, res.CallID))
		got.CallID = ""
		if seed == 0 {
			want = got
			assert.Equal(t, 5*time.Second, want.HoldDuration)
			continue
		}
		var paths []string
		for _, sent := range res.Sent {
			paths = append(paths, sent.Path)
		}
		assert.Equal(t, want, got, "seed %d, delivered %v", seed, paths)
	}
}

// TestPlayHold: a hold reaches the handler as held then resumed, and the
// journal keeps the hold time.
func TestPlayHold(t *testing.T) {
	var rec pbxtest.Recorder
	fake := mangotest.NewServer(mangotest.Options{IVRSilence: 10 * time.Millisecond})
	t.Cleanup(fake.Close)
	c := newClient(t, fake.URL(), nil)
	j := journal.New(journal.NewMemoryStore())
	both := pbx.EventHandlerFunc(func(ctx context.Context, e pbx.CallEvent) error {
		_ = rec.HandleEvent(ctx, e)
		return j.HandleEvent(ctx, e)
	})
	srv := httptest.NewServer(c.WebhookHandler(both, nil))
	t.Cleanup(srv.Close)
	res, err := fake.PlayWith(ctx(t), srv.URL, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, SkipRouting: true},
		mangotest.Extras{Hold: 12 * time.Second})
	require.NoError(t, err)
	var types []pbx.EventType
	for _, e := range rec.EventsOf(res.CallID) {
		if e.Type != pbx.EventUnknown {
			types = append(types, e.Type)
		}
	}
	assert.Equal(t, []pbx.EventType{pbx.EventRinging, pbx.EventAnswered, pbx.EventHeld, pbx.EventResumed, pbx.EventLegEnded, pbx.EventCallEnded}, types)
	call, err := j.Call(ctx(t), "mango", res.CallID)
	require.NoError(t, err)
	assert.Equal(t, 12*time.Second, call.HoldDuration)
}

// TestPlayRouteToUnknownExtension: a route naming an extension the PBX
// does not have stops the play with an error in Played.Err.
func TestPlayRouteToUnknownExtension(t *testing.T) {
	s := newStack(t, routeTo("999", ""), mangotest.Options{RouteEvery: -1})
	played, err := s.fake.Play(ctx(t), s.hook, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming})
	require.NoError(t, err)
	require.Error(t, played.Err)
	assert.Contains(t, played.Err.Error(), "999")
	assert.Empty(t, played.Rang)
}

// TestPlayNoDecisionRingsScheme: without a decision the IVR's silence
// ends and the scheme rings the call's extension.
func TestPlayNoDecisionRingsScheme(t *testing.T) {
	s := newStack(t, routeTo("", ""), mangotest.Options{IVRSilence: 50 * time.Millisecond})
	played, err := s.fake.Play(ctx(t), s.hook, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, Extensions: []string{"103"}})
	require.NoError(t, err)
	assert.True(t, played.Asked)
	assert.True(t, played.Route.IsZero())
	assert.Equal(t, "103", played.AnsweredBy)
	assert.Equal(t, uint64(1), s.client.RouteStats().NoDecision)
}

// TestMakeCallPlaysCallback: with a webhook set, the fake's callback plays
// the outbound call, its legs carry the command_id, and result/callback
// reaches OnResult.
func TestMakeCallPlaysCallback(t *testing.T) {
	fake := mangotest.NewServer(mangotest.Options{})
	t.Cleanup(fake.Close)
	var mu sync.Mutex
	var results []*mango.CommandResult
	c := newClient(t, fake.URL(), func(cfg *mango.Config) {
		cfg.OnResult = func(_ context.Context, r *mango.CommandResult) {
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		}
	})
	var rec pbxtest.Recorder
	srv := httptest.NewServer(c.WebhookHandler(&rec, nil))
	t.Cleanup(srv.Close)
	fake.SetWebhook(srv.URL)
	res, err := c.MakeCall(ctx(t), pbx.CallRequest{Extension: "102", Phone: "+7 (999) 765-43-21"})
	require.NoError(t, err)
	require.NoError(t, fake.Wait())
	plays := fake.Plays()
	require.Len(t, plays, 1)
	assert.Equal(t, "79997654321", plays[0].Call.Caller)
	evs := rec.EventsOf(plays[0].CallID)
	require.NotEmpty(t, evs)
	first := evs[0].Raw.(*mango.CallNotification)
	assert.Equal(t, res.OrderID, string(first.CommandID))
	assert.Equal(t, pbx.Outbound, evs[0].Direction)
	assert.Equal(t, "102", evs[0].Extension)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, results, 1)
	assert.Equal(t, res.OrderID, string(results[0].CommandID))

	_, err = c.MakeCall(ctx(t), pbx.CallRequest{Extension: "999", Phone: "89991234567"})
	var re *mango.ResultError
	require.ErrorAs(t, err, &re, "the fake refuses an unknown employee")
}

// TestFetchRecordingOfPlayedCall: the recording of a played call streams
// whole, through the one-time link, which then is used up; an unknown one
// is not ready.
func TestFetchRecordingOfPlayedCall(t *testing.T) {
	fake := mangotest.NewServer(mangotest.Options{RecordingSize: 300 << 10})
	t.Cleanup(fake.Close)
	c := newClient(t, fake.URL(), nil)
	var rec pbxtest.Recorder
	srv := httptest.NewServer(c.WebhookHandler(&rec, nil))
	t.Cleanup(srv.Close)
	res, err := fake.PlayWith(ctx(t), srv.URL, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, SkipRouting: true}, mangotest.Extras{})
	require.NoError(t, err)
	require.Len(t, res.Recordings, 1)
	id := res.Recordings[0]
	assert.Equal(t, []string{id}, fake.RecordingsOf(res.CallID))
	var added *mango.RecordAddedNotification
	for _, e := range rec.EventsOf(res.CallID) {
		if a, ok := e.Raw.(*mango.RecordAddedNotification); ok {
			added = a
			assert.True(t, e.HasRecording)
		}
	}
	require.NotNil(t, added, "record/added reached the handler")
	assert.Equal(t, id, string(added.RecordingID))

	r, err := c.FetchRecording(ctx(t), id)
	require.NoError(t, err)
	got, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	require.NoError(t, r.Body.Close())
	want, _ := fake.Recording(id)
	assert.True(t, bytes.Equal(want, got))
	assert.Equal(t, int64(300<<10), r.Size)
	assert.Equal(t, "audio/mp3", r.ContentType)

	var links []string
	for _, q := range fake.Requests() {
		if q.Operation == "recording download" {
			links = append(links, q.Path+"?"+q.Query)
		}
	}
	require.Len(t, links, 1)
	again, err := http.Get(fake.URL()[:len(fake.URL())-len(mangotest.APIPath)] + links[0])
	require.NoError(t, err)
	again.Body.Close()
	assert.Equal(t, http.StatusNotFound, again.StatusCode, "the link works once")

	_, err = c.FetchRecording(ctx(t), "no-such-recording")
	assert.ErrorIs(t, err, pbx.ErrNotReady)
}

// TestPlayBackToBackRouted: as in the quick start, calls played back to
// back against a fake with its defaults, by a provider opened from the
// fake's DSN, are all routed: the DSN hands the client the fake's short
// route interval (with Mango's 2 s, the second decision was dropped and
// the scheme routed that call).
func TestPlayBackToBackRouted(t *testing.T) {
	fake := mangotest.NewServer(mangotest.Options{})
	t.Cleanup(fake.Close)
	p, err := provider.Open(fake.DSN())
	require.NoError(t, err)
	c := p.(*mango.Client)
	t.Cleanup(func() { _ = c.Close() })
	srv := httptest.NewServer(c.WebhookHandler(nil, routeTo("102", "Кузнецов")))
	t.Cleanup(srv.Close)
	for i, sc := range []pbxtest.Scenario{pbxtest.AnsweredIncoming, pbxtest.MissedIncoming, pbxtest.AnsweredIncoming} {
		played, err := fake.Play(ctx(t), srv.URL, pbxtest.Call{Scenario: sc})
		require.NoError(t, err)
		require.NoError(t, played.Err)
		assert.Equal(t, "102", played.Route.Extension, "call %d routed", i)
		assert.Equal(t, []string{"102"}, played.Rang, "call %d", i)
	}
	assert.Equal(t, mango.RouteStats{Asked: 3, Sent: 3}, c.RouteStats())
}
