package prostiezvonki_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/prostiezvonki"
	"github.com/pbxkit/pbxkit/prostiezvonki/prostiezvonkitest"
	"github.com/pbxkit/pbxkit/provider"
)

var errBoom = errors.New("boom")

// rig is a fake Prostie Zvonki service, a Client pointed at it, and the
// Client's webhook served on loopback.
type rig struct {
	fake   *prostiezvonkitest.Server
	client *prostiezvonki.Client
	events *pbxtest.Recorder
	hook   *httptest.Server
}

func newRig(t *testing.T, route pbx.Route) *rig {
	t.Helper()
	fake := prostiezvonkitest.NewServer(prostiezvonkitest.Options{})
	t.Cleanup(fake.Close)
	rec := &pbxtest.Recorder{Router: pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) { return route, nil })}
	r := &rig{fake: fake, events: rec}
	r.client = clientOf(t, fake.Config())
	r.hook = httptest.NewServer(r.client.WebhookHandler(rec, rec))
	t.Cleanup(r.hook.Close)
	return r
}

// clientOf builds a Client that logs nowhere (rejections would otherwise
// go to slog.Default()).
func clientOf(t *testing.T, cfg prostiezvonki.Config) *prostiezvonki.Client {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	c, err := prostiezvonki.New(cfg)
	require.NoError(t, err)
	return c
}

func types(evs []pbx.CallEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type.String() + "/" + e.Extension
	}
	return out
}

// TestFakeFlows plays every scenario against the real webhook handler.
func TestFakeFlows(t *testing.T) {
	const spec = prostiezvonkitest.SpecCaller // 89991234567
	tests := []struct {
		name        string
		route       pbx.Route
		call        pbxtest.Call
		x           prostiezvonkitest.Extras
		wantTypes   []string
		wantAsked   bool
		wantResp    string
		wantOutcome pbx.Outcome
		wantDir     pbx.Direction
	}{
		{"answered incoming, routed", pbx.Route{Extension: "101", DisplayName: "ООО Альфа"},
			pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, Caller: spec, Extensions: []string{"100", "102"}}, prostiezvonkitest.Extras{},
			[]string{"ringing/101", "answered/101", "call_ended/101"}, true, "101", pbx.OutcomeAnswered, pbx.Inbound},
		{"answered incoming, group ring with leg events", pbx.Route{},
			pbxtest.Call{Scenario: pbxtest.GroupRing, Caller: spec, Extensions: []string{"100", "101", "102"}}, prostiezvonkitest.Extras{LegEvents: true},
			[]string{"ringing/100", "ringing/101", "ringing/102", "answered/100", "leg_ended/101", "leg_ended/102", "leg_ended/100", "call_ended/100"},
			true, "", pbx.OutcomeAnswered, pbx.Inbound},
		{"answered incoming as in the spec", pbx.Route{Extension: "101"},
			pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, Caller: spec, Extensions: []string{"100"}, SkipRouting: true}, prostiezvonkitest.Extras{},
			[]string{"ringing/100", "answered/100", "call_ended/100"}, false, "", pbx.OutcomeAnswered, pbx.Inbound},
		{"answered incoming with the family's wait", pbx.Route{},
			pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, Caller: spec, Extensions: []string{"100"}, SkipRouting: true, Ring: 7 * time.Second, Talk: 61 * time.Second},
			prostiezvonkitest.Extras{SendWait: true},
			[]string{"ringing/100", "answered/100", "call_ended/100"}, false, "", pbx.OutcomeAnswered, pbx.Inbound},
		{"missed outgoing with the family's wait", pbx.Route{},
			pbxtest.Call{Caller: spec, Extensions: []string{"100"}}, prostiezvonkitest.Extras{Flow: prostiezvonkitest.MissedOutgoing, SendWait: true},
			[]string{"ringing/100", "call_ended/100"}, false, "", pbx.OutcomeMissed, pbx.Outbound},
		{"missed incoming", pbx.Route{},
			pbxtest.Call{Scenario: pbxtest.MissedIncoming, Caller: spec, Extensions: []string{"100"}}, prostiezvonkitest.Extras{},
			[]string{"ringing/100", "call_ended/100"}, true, "", pbx.OutcomeMissed, pbx.Inbound},
		{"missed incoming, leg events", pbx.Route{Extension: "102"},
			pbxtest.Call{Scenario: pbxtest.MissedIncoming, Caller: spec}, prostiezvonkitest.Extras{LegEvents: true},
			[]string{"ringing/102", "leg_ended/102", "call_ended/102"}, true, "102", pbx.OutcomeMissed, pbx.Inbound},
		{"outbound callback", pbx.Route{Extension: "101"},
			pbxtest.Call{Scenario: pbxtest.OutboundCallback, Extensions: []string{"101"}, Caller: "+79161234567"}, prostiezvonkitest.Extras{},
			[]string{"ringing/101", "answered/101", "call_ended/101"}, false, "", pbx.OutcomeAnswered, pbx.Outbound},
		{"missed outgoing (call_id spelling)", pbx.Route{},
			pbxtest.Call{Caller: spec, Extensions: []string{"100"}}, prostiezvonkitest.Extras{Flow: prostiezvonkitest.MissedOutgoing, LegEvents: true},
			[]string{"ringing/100", "leg_ended/100", "call_ended/100"}, false, "", pbx.OutcomeMissed, pbx.Outbound},
		{"smart transfer", pbx.Route{Extension: "100"},
			pbxtest.Call{Caller: spec}, prostiezvonkitest.Extras{Flow: prostiezvonkitest.SmartTransfer},
			[]string{}, true, "100", pbx.OutcomeUnknown, pbx.DirectionUnknown},
		{"transfer", pbx.Route{Extension: "103"},
			pbxtest.Call{Scenario: pbxtest.Transfer, Caller: spec}, prostiezvonkitest.Extras{},
			[]string{"ringing/101", "answered/101", "transferred/101", "ringing/102", "answered/102", "call_ended/102"},
			true, "103", pbx.OutcomeAnswered, pbx.Inbound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.route)
			res, err := r.fake.PlayWith(context.Background(), r.hook.URL, tt.call, tt.x)
			require.NoError(t, err)
			assert.Equal(t, tt.wantAsked, res.Asked)
			assert.Equal(t, tt.wantResp, res.Route.Extension)
			assert.Equal(t, tt.route.DisplayName, res.Route.DisplayName)
			evs := r.events.Events()
			assert.Equal(t, tt.wantTypes, types(evs))
			if tt.wantAsked {
				q := r.events.Queries()
				require.Len(t, q, 1)
				assert.Equal(t, "79991234567", q[0].Phone)
			}
			for _, e := range evs {
				assert.Equal(t, res.Call.CallID, e.CallID, "every notification carries the call id")
				assert.Equal(t, tt.wantDir, e.Direction)
				assert.Equal(t, prostiezvonki.Name, e.Provider)
			}
			if len(evs) == 0 {
				return
			}
			end := evs[len(evs)-1]
			assert.Equal(t, tt.wantOutcome, end.Outcome)
			assert.False(t, end.StartedAt.IsZero())
			assert.True(t, end.StartedAt.Equal(res.Call.Start), "start %v, want %v", end.StartedAt, res.Call.Start)
			if tt.wantOutcome == pbx.OutcomeAnswered {
				// duration is the whole call; the talk time is known only
				// from the family's wait, which the spec's history lacks.
				assert.Equal(t, res.Call.Ring+res.Call.Talk, end.CallDuration)
				if tt.x.SendWait {
					assert.Equal(t, res.Call.Talk, end.TalkDuration)
					assert.True(t, end.AnsweredAt.Equal(res.Call.Start.Add(res.Call.Ring)), "answered %v", end.AnsweredAt)
				} else {
					assert.Zero(t, end.TalkDuration)
					assert.True(t, end.AnsweredAt.IsZero())
				}
				assert.True(t, end.HasRecording)
				require.NotEmpty(t, end.RecordingURL)
				// The link is downloadable with a plain GET.
				resp, err := http.Get(end.RecordingURL)
				require.NoError(t, err)
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want, ok := r.fake.Recording(end.CallID)
				require.True(t, ok)
				assert.Equal(t, want, body)
				assert.Equal(t, "audio/mpeg", resp.Header.Get("Content-Type"))
			} else {
				assert.Equal(t, res.Call.Ring, end.CallDuration, "a missed call's length is its ringing")
				assert.Zero(t, end.TalkDuration, "nobody talked")
				assert.False(t, end.HasRecording)
				assert.Empty(t, end.RecordingURL)
			}
		})
	}
}

// TestFakeRejectedByWebhook: a wrong token or a failing handler makes Play
// fail, and nothing of a wrong-token call reaches the handler.
func TestFakeRejectedByWebhook(t *testing.T) {
	r := newRig(t, pbx.Route{})
	_, err := r.fake.PlayWith(context.Background(), r.hook.URL, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming}, prostiezvonkitest.Extras{CRMToken: "wrong"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "401")
	assert.Empty(t, r.events.Events())
	assert.Empty(t, r.events.Queries())

	r.events.Err = errBoom
	res, err := r.fake.PlayWith(context.Background(), r.hook.URL, pbxtest.Call{Scenario: pbxtest.OutboundCallback}, prostiezvonkitest.Extras{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "500")
	assert.Len(t, res.Sent, 1, "the flow stops at the failure")
}

// TestFakeMakeCall places a call through the fake, which then rings the
// webhook with the outgoing flow.
func TestFakeMakeCall(t *testing.T) {
	r := newRig(t, pbx.Route{})
	r.fake.SetWebhook(r.hook.URL)
	res, err := r.client.MakeCall(context.Background(), pbx.CallRequest{Extension: "101", Phone: "+7 (916) 123-45-67"})
	require.NoError(t, err)
	require.NotEmpty(t, res.CallID)
	require.NoError(t, r.fake.Wait())

	reqs := r.fake.APIRequests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "makecall", reqs[0].Operation)
	assert.True(t, reqs[0].APIKeyOK)
	assert.Equal(t, map[string]string{"user": "101", "phone": "79161234567"}, reqs[0].Params)

	evs := r.events.Events()
	assert.Equal(t, []string{"ringing/101", "answered/101", "call_ended/101"}, types(evs))
	for _, e := range evs {
		assert.Equal(t, res.CallID, e.CallID)
		assert.Equal(t, pbx.Outbound, e.Direction)
		assert.Equal(t, "79161234567", e.Phone)
	}
	assert.Len(t, r.fake.Plays(), 1)
}

func TestFakeMakeCallErrors(t *testing.T) {
	t.Run("service error", func(t *testing.T) {
		r := newRig(t, pbx.Route{})
		r.fake.SetMakeCallError(500, "АТС недоступна")
		_, err := r.client.MakeCall(context.Background(), pbx.CallRequest{Extension: "100", Phone: "89991234567"})
		var ae *provider.APIError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, 500, ae.StatusCode)
		assert.Equal(t, "При выполнении запроса к Простым звонкам произошла ошибка: АТС недоступна. Пожалуйста, обратитесь в поддержку Простых звонков.", prostiezvonki.UserMessage(err))
		assert.Len(t, r.fake.Requests(), 1, "not retried")
	})
	t.Run("200 with error", func(t *testing.T) {
		r := newRig(t, pbx.Route{})
		r.fake.SetMakeCallError(200, "Линия занята")
		_, err := r.client.MakeCall(context.Background(), pbx.CallRequest{Extension: "100", Phone: "89991234567"})
		var ae *provider.APIError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, "Линия занята", ae.Message)
	})
	t.Run("unknown employee", func(t *testing.T) {
		r := newRig(t, pbx.Route{})
		_, err := r.client.MakeCall(context.Background(), pbx.CallRequest{Extension: "555", Phone: "89991234567"})
		var ae *provider.APIError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, 400, ae.StatusCode)
		assert.Contains(t, prostiezvonki.UserMessage(err), "Пользователь с внутренним номером 555 не найден")
	})
	t.Run("wrong key", func(t *testing.T) {
		fake := prostiezvonkitest.NewServer(prostiezvonkitest.Options{})
		defer fake.Close()
		c := clientOf(t, prostiezvonki.Config{APIKey: "wrong-k3y", BaseURL: fake.URL(), CRMToken: "x"})
		_, err := c.MakeCall(context.Background(), pbx.CallRequest{Extension: "101", Phone: "89991234567"})
		assert.True(t, errors.Is(err, provider.ErrUnauthorized), "%v", err)
		assert.NotContains(t, err.Error(), "wrong-k3y")
		assert.False(t, fake.APIRequests()[0].APIKeyOK)
	})
}

// TestFakeDSN opens the provider by the fake's DSN and places a call.
func TestFakeDSN(t *testing.T) {
	fake := prostiezvonkitest.NewServer(prostiezvonkitest.Options{APIKey: "k/+@y", CRMToken: "t&k"})
	defer fake.Close()
	p, err := provider.Open(fake.DSN())
	require.NoError(t, err)
	c := p.(pbx.Caller)
	_, err = c.MakeCall(context.Background(), pbx.CallRequest{Extension: "101", Phone: "89991234567"})
	require.NoError(t, err)

	var got pbxtest.Recorder
	hook := httptest.NewServer(p.WebhookHandler(&got, nil))
	defer hook.Close()
	_, err = fake.Play(context.Background(), hook.URL, pbxtest.Call{Scenario: pbxtest.MissedIncoming})
	require.NoError(t, err)
	assert.Len(t, got.Events(), 2)
}

// TestFakeEveryNeutralScenario: the fake plays every neutral scenario
// through the real handler, each reaching the EventHandler with the call's
// id and ending with the call.
func TestFakeEveryNeutralScenario(t *testing.T) {
	for _, sc := range []pbxtest.Scenario{pbxtest.AnsweredIncoming, pbxtest.MissedIncoming, pbxtest.OutboundCallback, pbxtest.GroupRing, pbxtest.Transfer} {
		t.Run(sc.String(), func(t *testing.T) {
			r := newRig(t, pbx.Route{})
			played, err := r.fake.Play(context.Background(), r.hook.URL, pbxtest.Call{Scenario: sc})
			require.NoError(t, err)
			evs := r.events.EventsOf(played.CallID)
			require.NotEmpty(t, evs)
			assert.Len(t, r.events.Events(), len(evs), "one call")
			assert.Equal(t, pbx.EventCallEnded, evs[len(evs)-1].Type)
			assert.Equal(t, sc.Answered(), evs[len(evs)-1].Outcome == pbx.OutcomeAnswered)
			assert.Equal(t, played.Notifications, len(evs)+btoi(played.Asked))
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
