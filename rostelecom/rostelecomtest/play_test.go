package rostelecomtest_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/rostelecom"
	"github.com/pbxkit/pbxkit/rostelecom/rostelecomtest"
)

// playTo starts a fake with the default staff and a rostelecom webhook fed
// to rec, and returns the fake and the webhook's URL.
func playTo(t *testing.T, rec *pbxtest.Recorder) (*rostelecomtest.Server, string) {
	t.Helper()
	srv := rostelecomtest.NewServer(rostelecomtest.Options{})
	t.Cleanup(srv.Close)
	c, err := rostelecom.New(srv.Config())
	require.NoError(t, err)
	hook := httptest.NewServer(c.WebhookHandler(rec, rec))
	t.Cleanup(hook.Close)
	return srv, hook.URL + "/pbx/rostelecom/"
}

// routeTo answers every routing question with ext.
func routeTo(ext string) pbx.Router {
	return pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
		return pbx.Route{Extension: ext}, nil
	})
}

// legs lists the events as "type ext".
func legs(events []pbx.CallEvent) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Type.String()+" "+e.Extension)
	}
	return out
}

// TestPlayGroupRing: every extension rings at once, the routing answer is
// asked but not followed, the first answers and the other legs end.
func TestPlayGroupRing(t *testing.T) {
	rec := &pbxtest.Recorder{Router: routeTo("103")}
	srv, hook := playTo(t, rec)
	res, err := srv.PlayDetailed(context.Background(), hook, pbxtest.Call{Scenario: pbxtest.GroupRing})
	require.NoError(t, err)
	assert.True(t, res.Asked)
	assert.Equal(t, "103", res.Route.Extension, "the answer is recorded")
	assert.Equal(t, []string{"101", "102", "103"}, res.Rang, "the seeded staff rings, whatever the answer")
	assert.Equal(t, "101", res.AnsweredBy)
	assert.Equal(t, len(res.Sent), res.Notifications)
	assert.Equal(t, []string{
		"call_started ", "ringing 101", "ringing 102", "ringing 103", "answered 101",
		"leg_ended 102", "leg_ended 103", "leg_ended 101", "call_ended 101",
	}, legs(rec.Events()))
	for _, e := range rec.Events() {
		assert.Equal(t, res.CallID, e.CallID)
	}
	var reasons []string
	for _, s := range res.Events() {
		if s.State == "disconnected" {
			var n map[string]string
			require.NoError(t, json.Unmarshal(s.Body, &n))
			reasons = append(reasons, n["request_pin"]+":"+n["disconnect_reason"])
		}
	}
	assert.Equal(t, []string{"102:", "103:", "101:5"}, reasons, "legs that only rang end without a connection")
	hist := srv.History()
	require.Len(t, hist, 1)
	assert.Equal(t, "101", hist[0].Extension)
	assert.True(t, hist[0].Answered)
}

// TestPlayTransfer: the first extension answers and transfers the call to
// the second, who talks until the end.
func TestPlayTransfer(t *testing.T) {
	rec := &pbxtest.Recorder{}
	srv, hook := playTo(t, rec)
	res, err := srv.PlayDetailed(context.Background(), hook, pbxtest.Call{Scenario: pbxtest.Transfer})
	require.NoError(t, err)
	assert.Equal(t, []string{"101", "102"}, res.Rang)
	assert.Equal(t, "101", res.AnsweredBy, "the first who answered, as call_info's answering_pin")
	assert.Equal(t, []string{
		"call_started ", "ringing 101", "answered 101", "leg_ended 101",
		"ringing 102", "answered 102", "leg_ended 102", "call_ended 102",
	}, legs(rec.Events()))
	ev := res.Events()
	var first map[string]string
	require.NoError(t, json.Unmarshal(ev[3].Body, &first))
	assert.Equal(t, "disconnected", first["state"])
	assert.Equal(t, "0", first["disconnect_reason"], "0 is a transfer")
	events := rec.Events()
	for i := 1; i < len(events); i++ {
		assert.False(t, events[i].At.Before(events[i-1].At), "times never go back: %v", legs(events[i-1:i+1]))
	}

	// A routed PIN answers first; the second extension takes the transfer.
	rec.Reset()
	rec.Router = routeTo("103")
	res, err = srv.PlayDetailed(context.Background(), hook, pbxtest.Call{Scenario: pbxtest.Transfer})
	require.NoError(t, err)
	assert.Equal(t, []string{"103", "102"}, res.Rang)
	assert.Equal(t, "103", res.AnsweredBy)

	// One extension cannot transfer.
	_, err = srv.Play(context.Background(), hook, pbxtest.Call{Scenario: pbxtest.Transfer, Extensions: []string{"101"}})
	require.ErrorContains(t, err, "Transfer needs two Extensions")
}

// TestPlayRefusesAPINTheDomainDoesNotHave: a routing answer naming a PIN
// the domain lacks is an error in Played.Err; nothing rings and the call
// stays out of the log.
func TestPlayRefusesAPINTheDomainDoesNotHave(t *testing.T) {
	for _, sc := range []pbxtest.Scenario{pbxtest.AnsweredIncoming, pbxtest.MissedIncoming, pbxtest.Transfer} {
		t.Run(sc.String(), func(t *testing.T) {
			rec := &pbxtest.Recorder{Router: routeTo("999")}
			srv, hook := playTo(t, rec)
			played, err := srv.Play(context.Background(), hook, pbxtest.Call{Scenario: sc})
			require.ErrorContains(t, err, `"999"`)
			assert.Equal(t, err, played.Err)
			assert.True(t, played.Asked)
			assert.Equal(t, "999", played.Route.Extension)
			assert.Empty(t, played.Rang, "nothing rang")
			assert.Empty(t, played.AnsweredBy)
			assert.Equal(t, 1, played.Notifications, "get_number_info only")
			assert.Empty(t, rec.Events(), "no call_events")
			assert.Empty(t, srv.History(), "the call is not in the log")
			require.Len(t, srv.Plays(), 1)
			assert.Equal(t, err, srv.Plays()[0].Err)
		})
	}
}

// TestPlayNeutralResult: Play's result in pbxtest's words, the defaults
// filled in.
func TestPlayNeutralResult(t *testing.T) {
	rec := &pbxtest.Recorder{Router: routeTo("102")}
	srv, hook := playTo(t, rec)
	var fake pbxtest.Fake = srv
	played, err := fake.Play(context.Background(), hook, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming})
	require.NoError(t, err)
	assert.NotEmpty(t, played.CallID)
	assert.Equal(t, played.CallID, played.Call.CallID)
	assert.Equal(t, pbxtest.DefaultCaller, played.Call.Caller)
	assert.Equal(t, pbxtest.DefaultLine, played.Call.Line)
	assert.Equal(t, pbxtest.DefaultTalk, played.Call.Talk)
	assert.Equal(t, pbx.Route{Extension: "102"}, played.Route)
	assert.Equal(t, []string{"102"}, played.Rang)
	assert.Equal(t, "102", played.AnsweredBy)
	assert.Equal(t, 6, played.Notifications, "get_number_info and five call_events")
	assert.Equal(t, []pbxtest.Played{played}, fake.Plays())
	require.Len(t, rec.Queries(), 1)
	assert.Equal(t, pbxtest.DefaultCaller, rec.Queries()[0].Phone)

	_, err = fake.Play(context.Background(), hook, pbxtest.Call{Scenario: pbxtest.Scenario(42)})
	require.ErrorContains(t, err, "unknown scenario")
}
