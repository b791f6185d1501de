package megafon_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/megafon"
	"github.com/pbxkit/pbxkit/megafon/megafontest"
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
)

// serveWebhook mounts c's handler for rec on a loopback server.
func serveWebhook(t *testing.T, c *megafon.Client, rec *pbxtest.Recorder) string {
	t.Helper()
	srv := httptest.NewServer(c.WebhookHandler(rec, rec))
	t.Cleanup(srv.Close)
	return srv.URL + "/pbx/megafon"
}

func types(evs []pbx.CallEvent) []pbx.EventType {
	out := make([]pbx.EventType, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

// TestPlayScenarios: every neutral scenario the fake plays reaches user
// code as the family's events, in order, with the history's outcome,
// times and durations.
func TestPlayScenarios(t *testing.T) {
	start := time.Date(2026, 3, 23, 8, 56, 26, 0, time.UTC)
	tests := []struct {
		scenario pbxtest.Scenario
		want     []pbx.EventType
		outcome  pbx.Outcome
		dir      pbx.Direction
		rang     []string
		talk     time.Duration
		call     time.Duration
	}{
		{pbxtest.AnsweredIncoming, []pbx.EventType{pbx.EventRinging, pbx.EventAnswered, pbx.EventLegEnded, pbx.EventCallEnded},
			pbx.OutcomeAnswered, pbx.Inbound, []string{"101"}, pbxtest.DefaultTalk, pbxtest.DefaultRing + pbxtest.DefaultTalk},
		{pbxtest.MissedIncoming, []pbx.EventType{pbx.EventRinging, pbx.EventLegEnded, pbx.EventCallEnded},
			pbx.OutcomeMissed, pbx.Inbound, []string{"101"}, 0, pbxtest.DefaultMissedRing},
		{pbxtest.OutboundCallback, []pbx.EventType{pbx.EventRinging, pbx.EventAnswered, pbx.EventLegEnded, pbx.EventCallEnded},
			pbx.OutcomeAnswered, pbx.Outbound, []string{"101"}, pbxtest.DefaultTalk, pbxtest.DefaultRing + pbxtest.DefaultTalk},
		{pbxtest.GroupRing, []pbx.EventType{pbx.EventRinging, pbx.EventRinging, pbx.EventRinging, pbx.EventAnswered,
			pbx.EventLegEnded, pbx.EventLegEnded, pbx.EventLegEnded, pbx.EventCallEnded},
			pbx.OutcomeAnswered, pbx.Inbound, []string{"101", "102", "103"}, pbxtest.DefaultTalk, pbxtest.DefaultRing + pbxtest.DefaultTalk},
		{pbxtest.Transfer, []pbx.EventType{pbx.EventRinging, pbx.EventAnswered, pbx.EventTransferred, pbx.EventLegEnded,
			pbx.EventRinging, pbx.EventAnswered, pbx.EventLegEnded, pbx.EventCallEnded},
			pbx.OutcomeAnswered, pbx.Inbound, []string{"101", "102"}, pbxtest.DefaultTalk, pbxtest.DefaultRing + pbxtest.DefaultTalk},
	}
	for _, tt := range tests {
		t.Run(tt.scenario.String(), func(t *testing.T) {
			fake, c := startFake(t, megafontest.Options{})
			rec := &pbxtest.Recorder{}
			played, err := fake.Play(t.Context(), serveWebhook(t, c, rec), pbxtest.Call{Scenario: tt.scenario, Start: start})
			require.NoError(t, err)
			assert.Equal(t, tt.rang, played.Rang)
			evs := rec.EventsOf(played.CallID)
			assert.Equal(t, tt.want, types(evs))
			assert.Equal(t, played.Notifications-btoi(played.Asked), len(evs))
			for _, e := range evs {
				assert.Equal(t, megafon.Name, e.Provider)
				assert.Equal(t, pbxtest.DefaultCaller, e.Phone)
				assert.Equal(t, tt.dir, e.Direction)
				assert.IsType(t, &megafon.Notification{}, e.Raw)
				assert.NotEmpty(t, e.DedupeKey)
			}
			end := evs[len(evs)-1]
			assert.Equal(t, tt.outcome, end.Outcome)
			assert.True(t, end.StartedAt.Equal(start), "start %v", end.StartedAt)
			assert.Equal(t, tt.call, end.CallDuration, "duration is the whole call")
			assert.Equal(t, tt.talk, end.TalkDuration, "talk = duration - wait")
			assert.Equal(t, tt.outcome == pbx.OutcomeAnswered, end.HasRecording)
			assert.Equal(t, pbxtest.DefaultLine, end.Line)
			if tt.scenario.Incoming() {
				require.Len(t, rec.Queries(), 1)
				assert.Equal(t, pbxtest.DefaultCaller, rec.Queries()[0].Phone)
			}
			// The call joined the log.
			found := false
			for _, e := range fake.History() {
				found = found || e.UID == played.CallID
			}
			assert.True(t, found)
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestPlayRouting: the router's extension (or login) is rung; {} rings the
// default; an extension the PBX does not have is an error and rings
// nobody.
func TestPlayRouting(t *testing.T) {
	for _, tt := range []struct {
		route   pbx.Route
		rang    []string
		errText string
	}{
		{pbx.Route{Extension: "103", DisplayName: "ООО Ромашка"}, []string{"103"}, ""},
		{pbx.Route{Extension: "kuznetsov"}, []string{"102"}, ""},
		{pbx.Route{}, []string{"101"}, ""},
		{pbx.Route{DisplayName: "Иван"}, []string{"101"}, ""},
		{pbx.Route{Extension: "999"}, nil, "does not have"},
	} {
		fake, c := startFake(t, megafontest.Options{})
		rec := &pbxtest.Recorder{Router: pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) { return tt.route, nil })}
		played, err := fake.Play(t.Context(), serveWebhook(t, c, rec), pbxtest.Call{Scenario: pbxtest.AnsweredIncoming})
		assert.Equal(t, tt.route, played.Route, "the answer as the PBX read it")
		if tt.errText != "" {
			require.ErrorContains(t, err, tt.errText)
			assert.Equal(t, err, played.Err)
			assert.Empty(t, played.Rang)
			assert.Empty(t, rec.Events(), "nobody was rung")
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tt.rang, played.Rang)
	}
}

// TestPlayVariants: JSON bodies, lower-case codes and a history without
// wait decode the same; without wait the talk time is unknown.
func TestPlayVariants(t *testing.T) {
	for _, x := range []megafontest.Extras{{JSON: true}, {LowerCase: true}, {NoWait: true}, {JSON: true, LowerCase: true}} {
		fake, c := startFake(t, megafontest.Options{})
		rec := &pbxtest.Recorder{}
		res, err := fake.PlayWith(t.Context(), serveWebhook(t, c, rec), pbxtest.Call{Scenario: pbxtest.AnsweredIncoming}, x)
		require.NoError(t, err, "%+v", x)
		evs := rec.EventsOf(res.CallID)
		require.Equal(t, []pbx.EventType{pbx.EventRinging, pbx.EventAnswered, pbx.EventLegEnded, pbx.EventCallEnded}, types(evs), "%+v", x)
		end := evs[len(evs)-1]
		assert.Equal(t, pbx.OutcomeAnswered, end.Outcome)
		assert.Equal(t, pbxtest.DefaultRing+pbxtest.DefaultTalk, end.CallDuration)
		if x.NoWait {
			assert.Zero(t, end.TalkDuration, "not guessed")
		} else {
			assert.Equal(t, pbxtest.DefaultTalk, end.TalkDuration)
		}
		for _, s := range res.Sent {
			assert.Equal(t, `{}`, string(s.Answer), "MegaFon's answers (no router: no decision) are {}")
		}
	}
}

// TestWebhookWrongToken: a play with another crm_token is refused before
// user code, and the fake stops.
func TestWebhookWrongToken(t *testing.T) {
	fake, c := startFake(t, megafontest.Options{})
	rec := &pbxtest.Recorder{}
	_, err := fake.PlayWith(t.Context(), serveWebhook(t, c, rec), pbxtest.Call{Scenario: pbxtest.AnsweredIncoming}, megafontest.Extras{CRMToken: "wrong"})
	require.ErrorContains(t, err, "401")
	assert.Empty(t, rec.Events())
	assert.Empty(t, rec.Queries())
}

// TestClickToCallPlays: a makecall the fake accepts plays the outgoing
// call at the webhook, with makecall's callid.
func TestClickToCallPlays(t *testing.T) {
	fake, c := startFake(t, megafontest.Options{})
	rec := &pbxtest.Recorder{}
	fake.SetWebhook(serveWebhook(t, c, rec))
	res, err := c.MakeCall(t.Context(), pbx.CallRequest{Extension: "102", Phone: "8 916 123 45 67"})
	require.NoError(t, err)
	require.NoError(t, fake.Wait())
	evs := rec.EventsOf(res.CallID)
	require.NotEmpty(t, evs, "the events carry makecall's callid")
	assert.Equal(t, "102", evs[0].Extension)
	assert.Equal(t, "79161234567", evs[0].Phone)
	assert.Equal(t, pbx.Outbound, evs[0].Direction)
}

// TestWebhookTestRequest: the test notification is accepted by the
// Client's own handler and hands on one ringing event; a handler with
// another token refuses it.
func TestWebhookTestRequest(t *testing.T) {
	_, c := startFake(t, megafontest.Options{})
	rec := &pbxtest.Recorder{}
	u := serveWebhook(t, c, rec)
	req, err := c.WebhookTestRequest(t.Context(), u, "test-call-1")
	require.NoError(t, err)
	assert.Equal(t, "application/x-www-form-urlencoded", req.Header.Get("Content-Type"))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	evs := rec.Events()
	require.Len(t, evs, 1)
	assert.Equal(t, pbx.EventRinging, evs[0].Type)
	assert.Equal(t, "test-call-1", evs[0].CallID)

	other, err := megafon.New(megafon.Config{CRMToken: "another-token", Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	rec2 := &pbxtest.Recorder{}
	srv := httptest.NewServer(other.WebhookHandler(rec2, rec2))
	defer srv.Close()
	req, err = c.WebhookTestRequest(t.Context(), srv.URL, "test-call-2")
	require.NoError(t, err)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Empty(t, rec2.Events())

	_, err = c.WebhookTestRequest(t.Context(), u, "")
	require.NoError(t, err, "an empty call id gets a made-up one")
	_, err = c.WebhookTestRequest(t.Context(), "ftp://x", "id")
	assert.Error(t, err)
	noToken, err := megafon.New(megafon.Config{APIKey: "k", Domain: "v", Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	_, err = noToken.WebhookTestRequest(t.Context(), u, "id")
	assert.ErrorContains(t, err, "CRMToken is empty")
}

// TestNotificationMapping: the exported mapping gives what the handler
// hands on; Raw is the vendor's own type.
func TestNotificationMapping(t *testing.T) {
	received := time.Date(2026, 3, 23, 9, 0, 0, 0, time.UTC)
	n := &megafon.Notification{Cmd: "history", Type: "in", Status: "Success", Phone: "89161234567", Diversion: "74951234567",
		Start: "20260323T085626Z", Duration: "28", Wait: "5", CallID: "c", Link: "https://records.megapbx.ru/r.mp3"}
	e, err := n.CallEvent(nil, received)
	require.NoError(t, err)
	assert.Equal(t, megafon.Name, e.Provider)
	assert.Same(t, n, e.Raw)
	assert.Equal(t, 23*time.Second, e.TalkDuration)
	assert.True(t, e.StartedAt.Equal(time.Date(2026, 3, 23, 8, 56, 26, 0, time.UTC)))
	assert.Equal(t, "Europe/Moscow", e.StartedAt.Location().String())
	q := (&megafon.Notification{Cmd: "contact", Phone: "8 916 123-45-67", CallID: "c"}).RouteQuery()
	assert.Equal(t, "79161234567", q.Phone)
	assert.Equal(t, megafon.Name, q.Provider)
	assert.IsType(t, &megafon.Notification{}, q.Raw)
}

// TestWebhookFormFirstTokenCounts: of two crm_token values in a form the
// first counts; the right one in second place is refused.
func TestWebhookFormFirstTokenCounts(t *testing.T) {
	fake, c := startFake(t, megafontest.Options{})
	rec := &pbxtest.Recorder{}
	h := c.WebhookHandler(rec, rec)
	for body, want := range map[string]int{
		"cmd=event&type=INCOMING&crm_token=" + url.QueryEscape(fake.CRMToken()) + "&crm_token=x": http.StatusOK,
		"cmd=event&type=INCOMING&crm_token=x&crm_token=" + url.QueryEscape(fake.CRMToken()):      http.StatusUnauthorized,
	} {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		assert.Equal(t, want, w.Code, body)
	}
	assert.Len(t, rec.Events(), 1)
}
