package zadarmatest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/zadarma"
	"github.com/pbxkit/pbxkit/zadarma/zadarmatest"
)

// hook serves a zadarma webhook with rec for the fake's credentials.
func hook(t *testing.T, fake *zadarmatest.Server, rec *pbxtest.Recorder) string {
	t.Helper()
	c, err := zadarma.New(fake.Config())
	require.NoError(t, err)
	srv := httptest.NewServer(c.WebhookHandler(rec, rec))
	t.Cleanup(srv.Close)
	return srv.URL
}

func events(sent []url.Values) []string {
	var out []string
	for _, s := range sent {
		out = append(out, s.Get("event"))
	}
	return out
}

func TestPlayScenarios(t *testing.T) {
	ctx := context.Background()
	fake := zadarmatest.NewServer(zadarmatest.Options{NotifyRecord: true})
	defer fake.Close()
	rec := &pbxtest.Recorder{}
	url := hook(t, fake, rec)

	res, err := fake.PlayWith(ctx, url, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming}, zadarmatest.Extras{})
	require.NoError(t, err)
	assert.Equal(t, []string{"NOTIFY_START", "NOTIFY_INTERNAL", "NOTIFY_ANSWER", "NOTIFY_END", "NOTIFY_RECORD"}, events(res.Sent))
	assert.True(t, res.Asked)
	assert.Equal(t, []string{"101"}, res.Rang)
	assert.Equal(t, "101", res.AnsweredBy)
	assert.True(t, strings.HasPrefix(res.CallID, "in_") && len(res.CallID) == 43, res.CallID)
	es := rec.EventsOf(res.CallID)
	require.Len(t, es, 5)
	assert.Equal(t, []pbx.EventType{pbx.EventCallStarted, pbx.EventRinging, pbx.EventAnswered, pbx.EventCallEnded, pbx.EventUnknown},
		[]pbx.EventType{es[0].Type, es[1].Type, es[2].Type, es[3].Type, es[4].Type})
	end := es[3]
	assert.Equal(t, pbx.OutcomeAnswered, end.Outcome)
	assert.Equal(t, pbxtest.DefaultRing+pbxtest.DefaultTalk, end.CallDuration)
	assert.Equal(t, pbxtest.DefaultCaller, end.Phone)
	assert.Equal(t, pbxtest.DefaultLine, end.Line)
	assert.True(t, end.HasRecording)
	assert.Len(t, rec.Queries(), 1)

	// The routing answer decides whom to ring.
	rec.Reset()
	rec.Router = pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
		return pbx.Route{Extension: "103", DisplayName: "VIP"}, nil
	})
	res, err = fake.PlayWith(ctx, url, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming}, zadarmatest.Extras{})
	require.NoError(t, err)
	assert.Equal(t, pbx.Route{Extension: "103", DisplayName: "VIP"}, res.Route)
	assert.Equal(t, "103", res.Redirect)
	assert.Equal(t, []string{"103"}, res.Rang)

	// An extension the PBX does not have: an error, nothing rings.
	rec.Router = pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
		return pbx.Route{Extension: "555"}, nil
	})
	played, err := fake.Play(ctx, url, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"555"`)
	assert.Equal(t, err, played.Err)
	assert.Empty(t, played.Rang)
	assert.Equal(t, 1, played.Notifications, "only NOTIFY_START went out")

	// A group ring ignores the answer and rings everyone.
	res, err = fake.PlayWith(ctx, url, pbxtest.Call{Scenario: pbxtest.GroupRing}, zadarmatest.Extras{})
	require.NoError(t, err)
	assert.Equal(t, []string{"NOTIFY_START", "NOTIFY_INTERNAL", "NOTIFY_INTERNAL", "NOTIFY_INTERNAL", "NOTIFY_ANSWER", "NOTIFY_END", "NOTIFY_RECORD"}, events(res.Sent))
	assert.Equal(t, []string{"101", "102", "103"}, res.Rang)

	// Missed, without the routing question.
	rec.Router = nil
	res, err = fake.PlayWith(ctx, url, pbxtest.Call{Scenario: pbxtest.MissedIncoming, SkipRouting: true, Extensions: []string{"101", "102"}}, zadarmatest.Extras{})
	require.NoError(t, err)
	assert.False(t, res.Asked)
	assert.Equal(t, []string{"NOTIFY_INTERNAL", "NOTIFY_INTERNAL", "NOTIFY_END"}, events(res.Sent))
	assert.Equal(t, "no answer", res.Sent[2].Get("disposition"))
	assert.Equal(t, "0", res.Sent[2].Get("is_recorded"))
	assert.Empty(t, res.AnsweredBy)

	// The outgoing call a callback starts.
	res, err = fake.PlayWith(ctx, url, pbxtest.Call{Scenario: pbxtest.OutboundCallback, Caller: "79031234567"}, zadarmatest.Extras{})
	require.NoError(t, err)
	assert.Equal(t, []string{"NOTIFY_OUT_START", "NOTIFY_OUT_END", "NOTIFY_RECORD"}, events(res.Sent))
	assert.True(t, strings.HasPrefix(res.CallID, "out_"))
	es = rec.EventsOf(res.CallID)
	require.GreaterOrEqual(t, len(es), 2)
	assert.Equal(t, pbx.Outbound, es[0].Direction)
	assert.Equal(t, "79031234567", es[0].Phone)
	assert.Equal(t, "101", es[0].Extension)

	// Transfer cannot be expressed.
	_, err = fake.Play(ctx, url, pbxtest.Call{Scenario: pbxtest.Transfer})
	assert.ErrorContains(t, err, "Transfer")
	_, err = fake.Play(ctx, url, pbxtest.Call{Scenario: pbxtest.Scenario(42)})
	assert.Error(t, err)
	_, err = fake.Play(ctx, "ftp://x", pbxtest.Call{Scenario: pbxtest.AnsweredIncoming})
	assert.Error(t, err)
	assert.GreaterOrEqual(t, len(fake.Plays()), 8)
}

func TestPlayIVRDigitsRoute(t *testing.T) {
	fake := zadarmatest.NewServer(zadarmatest.Options{})
	defer fake.Close()
	rec := &pbxtest.Recorder{Router: pbx.RouterFunc(func(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) {
		if q.Digits == "2" {
			return pbx.Route{Extension: "102"}, nil
		}
		return pbx.Route{}, nil
	})}
	res, err := fake.PlayWith(context.Background(), hook(t, fake, rec), pbxtest.Call{Scenario: pbxtest.AnsweredIncoming},
		zadarmatest.Extras{IVRDigits: "2"})
	require.NoError(t, err)
	assert.Equal(t, []string{"NOTIFY_START", "NOTIFY_IVR", "NOTIFY_INTERNAL", "NOTIFY_ANSWER", "NOTIFY_END"}, events(res.Sent), "no NOTIFY_RECORD by default")
	assert.Equal(t, []string{"102"}, res.Rang)
	require.Len(t, rec.Queries(), 2)
	assert.Equal(t, "2", rec.Queries()[1].Digits)
}

// The fake signs as the PHP client does, or, with RawSignature, as the
// TypeScript client checks: the provider accepts both. A webhook with
// another secret refuses both, and the play stops.
func TestPlaySignatures(t *testing.T) {
	for _, raw := range []bool{false, true} {
		fake := zadarmatest.NewServer(zadarmatest.Options{RawSignature: raw})
		rec := &pbxtest.Recorder{}
		_, err := fake.Play(context.Background(), hook(t, fake, rec), pbxtest.Call{Scenario: pbxtest.MissedIncoming})
		assert.NoError(t, err, "raw=%v", raw)
		other, err := zadarma.New(zadarma.Config{Secret: "some-other-secret"})
		require.NoError(t, err)
		srv := httptest.NewServer(other.WebhookHandler(rec, rec))
		played, err := fake.Play(context.Background(), srv.URL, pbxtest.Call{Scenario: pbxtest.MissedIncoming})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "401")
		assert.Equal(t, 1, played.Notifications)
		srv.Close()
		fake.Close()
	}
}

func TestCheckURL(t *testing.T) {
	fake := zadarmatest.NewServer(zadarmatest.Options{})
	defer fake.Close()
	require.NoError(t, fake.CheckURL(context.Background(), hook(t, fake, &pbxtest.Recorder{})+"/path?x=1"))
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.URL.Query().Get("zd_echo")+"\n")
	}))
	defer bad.Close()
	assert.Error(t, fake.CheckURL(context.Background(), bad.URL), "a newline more is not exactly the value")
}

// get sends a signed GET of params to the fake's method.
func get(t *testing.T, fake *zadarmatest.Server, method string, params url.Values) (*http.Response, map[string]any) {
	t.Helper()
	params.Set("format", "json")
	req, err := http.NewRequest(http.MethodGet, fake.URL()+method+"?"+zadarma.EncodeQuery(params), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", fake.Key()+":"+zadarma.Sign(method, params, fake.Secret()))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var m map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
	return resp, m
}

func TestFakeAPI(t *testing.T) {
	fake := zadarmatest.NewServer(zadarmatest.Options{RateLimit: 3, Location: time.UTC})
	defer fake.Close()
	resp, m := get(t, fake, "/v1/pbx/internal/", url.Values{})
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "success", m["status"])
	assert.Equal(t, "3", resp.Header.Get("X-RateLimit-Limit"))
	assert.Equal(t, "2", resp.Header.Get("X-RateLimit-Remaining"))
	assert.NotEmpty(t, resp.Header.Get("X-RateLimit-Reset"))

	// A wrong signature.
	req, _ := http.NewRequest(http.MethodGet, fake.URL()+"/v1/pbx/internal/?format=json", nil)
	req.Header.Set("Authorization", fake.Key()+":bm9wZQ==")
	r2, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	r2.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, r2.StatusCode)
	reqs := fake.APIRequests()
	assert.False(t, reqs[len(reqs)-1].AuthOK)

	// The third request of the minute is the last; the fourth is a 429.
	resp, _ = get(t, fake, "/v1/pbx/internal/", url.Values{})
	assert.Equal(t, "0", resp.Header.Get("X-RateLimit-Remaining"))
	resp, m = get(t, fake, "/v1/pbx/internal/", url.Values{})
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "error", m["status"])
	assert.Empty(t, resp.Header.Get("Retry-After"))

	// The statistics: a period over a month is shortened to 30 days.
	fake2 := zadarmatest.NewServer(zadarmatest.Options{Location: time.UTC})
	defer fake2.Close()
	_, m = get(t, fake2, "/v1/statistics/pbx/", url.Values{"start": {"2026-01-01 00:00:00"}, "end": {"2026-04-01 00:00:00"}, "version": {"2"}})
	assert.Equal(t, "2026-01-31 00:00:00", m["end"])
	_, m = get(t, fake2, "/v1/statistics/pbx/", url.Values{"start": {"2026-01-01 00:00:00"}, "end": {"2026-01-02 00:00:00"}, "version": {"1"}})
	assert.Equal(t, "error", m["status"])
	_, m = get(t, fake2, "/v1/nope/", url.Values{})
	assert.Equal(t, "error", m["status"])
}

func TestRegisteredAndDSN(t *testing.T) {
	f, err := pbxtest.Start("zadarma", pbxtest.Options{Employees: []pbxtest.Employee{{Extension: "201", Name: "Test"}}})
	require.NoError(t, err)
	defer f.Close()
	assert.Equal(t, "zadarma", f.Name())
	p, err := provider.Open(f.DSN())
	require.NoError(t, err)
	subs, err := p.(pbx.SubscriberLister).Subscribers(context.Background())
	require.NoError(t, err)
	require.Len(t, subs, 1)
	assert.Equal(t, "201", subs[0].Extension)
	assert.Equal(t, "Test", subs[0].Name)
	assert.NotEmpty(t, f.Requests())
}

func FuzzParseRouteAnswer(f *testing.F) {
	for _, s := range []string{"", `{"redirect":"101","return_timeout":0,"caller_name":"x"}`, `{"redirect":101}`, `[]`, `{"redirect":null}`,
		`{"redirect":"1","return_timeout":-1}`, `{"hangup":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		route, ret, err := zadarmatest.ParseRouteAnswer(b)
		if err != nil {
			return
		}
		if ret < 0 || (route.Extension == "" && (route.DisplayName != "" || ret != 0)) {
			t.Fatalf("%q gave %+v %d", b, route, ret)
		}
	})
}
