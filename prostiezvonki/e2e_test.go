package prostiezvonki

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/prostiezvonki/pztest"
	"github.com/pbxkit/pbxkit/provider"
)

// rig is a fake Prostie Zvonki service, a Client pointed at it, and the
// Client's webhook served on loopback.
type rig struct {
	fake   *pztest.Server
	client *Client
	events *collector
	router *routeTo
	hook   *httptest.Server
}

func newRig(t *testing.T, route pbx.Route) *rig {
	t.Helper()
	fake := pztest.NewServer(pztest.Options{})
	t.Cleanup(fake.Close)
	r := &rig{fake: fake, events: &collector{}, router: &routeTo{r: route}}
	r.client = newClient(t, Config{APIKey: fake.APIKey(), CRMToken: fake.CRMToken(), BaseURL: fake.URL})
	r.hook = httptest.NewServer(r.client.WebhookHandler(r.events, r.router))
	t.Cleanup(r.hook.Close)
	return r
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
	tests := []struct {
		name        string
		route       pbx.Route
		call        pztest.Call
		wantTypes   []string
		wantAsked   bool
		wantResp    string
		wantOutcome pbx.Outcome
		wantDir     pbx.Direction
	}{
		{"answered incoming, routed", pbx.Route{Extension: "101", DisplayName: "ООО Альфа"},
			pztest.Call{Scenario: pztest.AnsweredIncoming, Extensions: []string{"100", "102"}},
			[]string{"ringing/101", "answered/101", "call_ended/101"}, true, "101", pbx.OutcomeAnswered, pbx.Inbound},
		{"answered incoming, group ring with leg events", pbx.Route{},
			pztest.Call{Scenario: pztest.AnsweredIncoming, Extensions: []string{"100", "101", "102"}, LegEvents: true},
			[]string{"ringing/100", "ringing/101", "ringing/102", "answered/100", "leg_ended/101", "leg_ended/102", "leg_ended/100", "call_ended/100"},
			true, "", pbx.OutcomeAnswered, pbx.Inbound},
		{"answered incoming as in the spec", pbx.Route{Extension: "101"},
			pztest.Call{Scenario: pztest.AnsweredIncoming, NoSmartTransfer: true},
			[]string{"ringing/100", "answered/100", "call_ended/100"}, false, "", pbx.OutcomeAnswered, pbx.Inbound},
		{"answered incoming with the family's wait", pbx.Route{},
			pztest.Call{Scenario: pztest.AnsweredIncoming, NoSmartTransfer: true, SendWait: true, Ring: 7 * time.Second, Talk: 61 * time.Second},
			[]string{"ringing/100", "answered/100", "call_ended/100"}, false, "", pbx.OutcomeAnswered, pbx.Inbound},
		{"missed outgoing with the family's wait", pbx.Route{},
			pztest.Call{Scenario: pztest.MissedOutgoing, SendWait: true},
			[]string{"ringing/100", "call_ended/100"}, false, "", pbx.OutcomeMissed, pbx.Outbound},
		{"missed incoming", pbx.Route{},
			pztest.Call{Scenario: pztest.MissedIncoming},
			[]string{"ringing/100", "call_ended/100"}, true, "", pbx.OutcomeMissed, pbx.Inbound},
		{"missed incoming, leg events", pbx.Route{Extension: "102"},
			pztest.Call{Scenario: pztest.MissedIncoming, LegEvents: true},
			[]string{"ringing/102", "leg_ended/102", "call_ended/102"}, true, "102", pbx.OutcomeMissed, pbx.Inbound},
		{"outbound callback", pbx.Route{Extension: "101"},
			pztest.Call{Scenario: pztest.OutboundCallback, Extensions: []string{"101"}, Caller: "+79161234567"},
			[]string{"ringing/101", "answered/101", "call_ended/101"}, false, "", pbx.OutcomeAnswered, pbx.Outbound},
		{"missed outgoing (call_id spelling)", pbx.Route{},
			pztest.Call{Scenario: pztest.MissedOutgoing, LegEvents: true},
			[]string{"ringing/100", "leg_ended/100", "call_ended/100"}, false, "", pbx.OutcomeMissed, pbx.Outbound},
		{"smart transfer", pbx.Route{Extension: "100"},
			pztest.Call{Scenario: pztest.SmartTransfer},
			[]string{}, true, "100", pbx.OutcomeUnknown, pbx.DirectionUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.route)
			res, err := r.fake.Play(context.Background(), r.hook.URL, tt.call)
			require.NoError(t, err)
			assert.Equal(t, tt.wantAsked, res.Asked)
			assert.Equal(t, tt.wantResp, res.Responsible)
			assert.Equal(t, tt.route.DisplayName, res.ContactName)
			evs := r.events.all()
			assert.Equal(t, tt.wantTypes, types(evs))
			if tt.wantAsked {
				q := r.router.asked()
				require.Len(t, q, 1)
				assert.Equal(t, "79991234567", q[0].Phone)
			}
			for _, e := range evs {
				assert.Equal(t, res.Call.CallID, e.CallID, "every notification carries the call id")
				assert.Equal(t, tt.wantDir, e.Direction)
				assert.Equal(t, Name, e.Provider)
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
				if tt.call.SendWait {
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
	_, err := r.fake.Play(context.Background(), r.hook.URL, pztest.Call{Scenario: pztest.AnsweredIncoming, CRMToken: "wrong"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "401")
	assert.Empty(t, r.events.all())
	assert.Empty(t, r.router.asked())

	r.events.fail(errBoom)
	res, err := r.fake.Play(context.Background(), r.hook.URL, pztest.Call{Scenario: pztest.OutboundCallback})
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

	reqs := r.fake.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "makecall", reqs[0].Operation)
	assert.True(t, reqs[0].APIKeyOK)
	assert.Equal(t, map[string]string{"user": "101", "phone": "79161234567"}, reqs[0].Params)

	evs := r.events.all()
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
		assert.Equal(t, "При выполнении запроса к Простым звонкам произошла ошибка: АТС недоступна. Пожалуйста, обратитесь в поддержку Простых звонков.", UserMessage(err))
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
		assert.Contains(t, UserMessage(err), "Пользователь с внутренним номером 555 не найден")
	})
	t.Run("wrong key", func(t *testing.T) {
		fake := pztest.NewServer(pztest.Options{})
		defer fake.Close()
		c := newClient(t, Config{APIKey: "wrong-k3y", BaseURL: fake.URL})
		_, err := c.MakeCall(context.Background(), pbx.CallRequest{Extension: "100", Phone: "89991234567"})
		assert.True(t, errors.Is(err, provider.ErrUnauthorized), "%v", err)
		assert.NotContains(t, err.Error(), "wrong-k3y")
		assert.False(t, fake.Requests()[0].APIKeyOK)
	})
}

// TestFakeDSN opens the provider by the fake's DSN and places a call.
func TestFakeDSN(t *testing.T) {
	fake := pztest.NewServer(pztest.Options{APIKey: "k/+@y", CRMToken: "t&k"})
	defer fake.Close()
	p, err := provider.Open(fake.DSN())
	require.NoError(t, err)
	c := p.(pbx.Caller)
	_, err = c.MakeCall(context.Background(), pbx.CallRequest{Extension: "100", Phone: "89991234567"})
	require.NoError(t, err)

	var got collector
	hook := httptest.NewServer(p.WebhookHandler(&got, nil))
	defer hook.Close()
	_, err = fake.Play(context.Background(), hook.URL, pztest.Call{Scenario: pztest.MissedIncoming})
	require.NoError(t, err)
	assert.Len(t, got.all(), 2)
}
