package sipuni

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// TestMakeCall: Sipuni's answer names the order, not the call, so CallID
// stays empty and the id goes to OrderID (the old code put it in CallID,
// where a caller would wait for events that never carry it).
func TestMakeCall(t *testing.T) {
	tests := []struct {
		in, wantPhone string
		answer        string
		wantOrder     string
	}{
		{"+7 (903) 123-45-67", "79031234567", `{"success":true,"id":"order-1"}`, "order-1"},
		{"89031234567", "79031234567", `{"success":true,"id":"order-1","callId":"c-2"}`, "order-1"},
		{"8 903 123 45 67", "79031234567", `{"success":true,"callId":"c-2"}`, "c-2"},
		{"9031234567", "79031234567", `1`, ""},
		{"998948867473", "998948867473", `{"success":true}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, mt := mockClient(t, Config{})
			var got url.Values
			mt.RegisterResponder(http.MethodPost, testBase+"callback/call_number", func(r *http.Request) (*http.Response, error) {
				got = formOf(t, r)
				return httpmock.NewStringResponse(200, tt.answer), nil
			})
			res, err := c.MakeCall(context.Background(), pbx.CallRequest{Extension: "101", Phone: tt.in})
			require.NoError(t, err)
			assert.Equal(t, pbx.CallResult{OrderID: tt.wantOrder}, res, "CallID is never an order id")
			assert.Equal(t, tt.wantPhone, got.Get("phone"))
			assert.Equal(t, "101", got.Get("sipnumber"))
			assert.Equal(t, "0", got.Get("reverse"))
			assert.Equal(t, "0", got.Get("antiaon"))
		})
	}
}

func TestMakeCallIsNotRetried(t *testing.T) {
	c, mt := mockClient(t, Config{})
	mt.RegisterResponder(http.MethodPost, testBase+"callback/call_number", httpmock.NewErrorResponder(io.ErrUnexpectedEOF))
	_, err := c.MakeCall(context.Background(), pbx.CallRequest{Extension: "101", Phone: "79031234567"})
	require.Error(t, err)
	assert.Equal(t, 1, mt.GetTotalCallCount())
}

func TestHistorySplitsIntoDayRanges(t *testing.T) {
	loc := provider.DefaultLocation()
	c, mt := mockClient(t, Config{})
	var ranges [][2]string
	mt.RegisterResponder(http.MethodPost, testBase+"statistic/export", func(r *http.Request) (*http.Response, error) {
		v := formOf(t, r)
		ranges = append(ranges, [2]string{v.Get("from"), v.Get("to")})
		assert.Equal(t, "1", v.Get("ignoreSpecChar"))
		assert.Equal(t, "2", v.Get("type"))
		// Two rows on the first date: one before From, one inside.
		body := "Тип;Статус;Время;Откуда;Куда;ID записи\n"
		if v.Get("from") == "01.03.2026" {
			body += "Исходящий;отвечен;01.03.2026 09:00:00;101;79031234567;1.1\n" +
				"Исходящий;отвечен;01.03.2026 11:00:00;101;89031234567;1.2\n"
		}
		if v.Get("to") == "10.03.2026" {
			body += "Исходящий;отвечен;10.03.2026 12:00:00;101;79031234567;1.3\n" // at To: excluded
		}
		return httpmock.NewStringResponse(200, body), nil
	})
	q := pbx.HistoryQuery{
		From:      time.Date(2026, 3, 1, 10, 0, 0, 0, loc),
		To:        time.Date(2026, 3, 10, 12, 0, 0, 0, loc),
		Direction: pbx.Outbound,
	}
	var recs []pbx.CallRecord
	for rec, err := range c.History(context.Background(), q) {
		require.NoError(t, err)
		recs = append(recs, rec)
	}
	assert.Equal(t, [][2]string{{"01.03.2026", "07.03.2026"}, {"08.03.2026", "10.03.2026"}}, ranges)
	require.Len(t, recs, 1)
	assert.Equal(t, "1.2", recs[0].CallID)
	assert.Equal(t, "79031234567", recs[0].Phone)
	assert.Equal(t, "101", recs[0].Extension)
	assert.Equal(t, pbx.Outbound, recs[0].Direction)
}

func TestHistoryStopsOnErrorAndEarlyBreak(t *testing.T) {
	c, mt := mockClient(t, Config{})
	mt.RegisterResponder(http.MethodPost, testBase+"statistic/export", httpmock.NewStringResponder(200, "Неправильный хеш"))
	now := time.Now()
	n := 0
	for rec, err := range c.History(context.Background(), pbx.HistoryQuery{From: now.AddDate(0, 0, -30), To: now}) {
		n++
		assert.Zero(t, rec)
		assert.ErrorIs(t, err, provider.ErrUnauthorized)
	}
	assert.Equal(t, 1, n, "an error is yielded once and ends the sequence")
	assert.Equal(t, 1, mt.GetTotalCallCount())

	mt.RegisterResponder(http.MethodPost, testBase+"statistic/export",
		httpmock.NewStringResponder(200, "Тип;Время;ID записи\nВходящий;;1\nВходящий;;2\n"))
	mt.ZeroCallCounters()
	n = 0
	for _, err := range c.History(context.Background(), pbx.HistoryQuery{From: now.AddDate(0, 0, -30), To: now}) {
		require.NoError(t, err)
		n++
		break
	}
	assert.Equal(t, 1, n)
	assert.Equal(t, 1, mt.GetTotalCallCount(), "stopping early sends no further request")

	for _, err := range c.History(context.Background(), pbx.HistoryQuery{}) {
		assert.Error(t, err, "From is required")
	}
}

// TestWebhookTestRequest: the request the client builds for pbxctl
// webhook-test is accepted by its own handler, which hands one event to the
// EventHandler, and refused by handlers built with other credentials.
func TestWebhookTestRequest(t *testing.T) {
	ctx := context.Background()
	own := Config{WebhookToken: hookToken, WebhookUser: hookUser, WebhookPassword: hookPass}
	tests := []struct {
		name   string
		client Config // the client that builds the request
		target string
		server Config // the client whose handler receives it
		want   int
	}{
		{"own token and basic auth", own, "https://crm.example/sipuni?keep=me", own, http.StatusOK},
		{"token only", Config{WebhookToken: hookToken}, "http://127.0.0.1:8080/hook", Config{WebhookToken: hookToken}, http.StatusOK},
		{"basic auth only", Config{WebhookUser: hookUser, WebhookPassword: hookPass}, "http://127.0.0.1:8080/hook",
			Config{WebhookUser: hookUser, WebhookPassword: hookPass}, http.StatusOK},
		{"the URL's own token is what Sipuni sends", Config{WebhookToken: "other"}, "http://127.0.0.1/hook?token=" + hookToken,
			Config{WebhookToken: hookToken}, http.StatusOK},
		{"another token", Config{WebhookToken: "other-token", WebhookUser: hookUser, WebhookPassword: hookPass}, "http://127.0.0.1/hook",
			own, http.StatusUnauthorized},
		{"another password", Config{WebhookToken: hookToken, WebhookUser: hookUser, WebhookPassword: "other-pass"}, "http://127.0.0.1/hook",
			own, http.StatusUnauthorized},
		{"no basic auth", Config{WebhookToken: hookToken}, "http://127.0.0.1/hook", own, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := hookClient(t, tt.client).WebhookTestRequest(ctx, tt.target, "pbxctl-test-1")
			require.NoError(t, err)
			assert.Equal(t, http.MethodGet, r.Method)
			rec := &eventRecorder{}
			w := httptest.NewRecorder()
			hookClient(t, tt.server).WebhookHandler(rec, nil).ServeHTTP(w, r)
			require.Equal(t, tt.want, w.Code, w.Body.String())
			if tt.want != http.StatusOK {
				assert.Empty(t, rec.got(), "nothing reaches user code")
				return
			}
			assert.Equal(t, `{"success":true}`, w.Body.String())
			got := rec.got()
			require.Len(t, got, 1)
			e := got[0]
			assert.Equal(t, pbx.EventRinging, e.Type)
			assert.Equal(t, "pbxctl-test-1", e.CallID)
			assert.Equal(t, pbx.Inbound, e.Direction)
			assert.Equal(t, webhookTestCaller, e.Phone)
			assert.Equal(t, webhookTestExtension, e.Extension)
			assert.WithinDuration(t, time.Now(), e.At, time.Minute)
			if u, _ := url.Parse(tt.target); u.Query().Has("keep") {
				assert.Equal(t, "me", e.Raw.(*Event).Params.Get("keep"), "the URL's own query is kept")
			}
		})
	}

	c := hookClient(t, own)
	r, err := c.WebhookTestRequest(ctx, "http://127.0.0.1/hook", "")
	require.NoError(t, err)
	assert.NotEmpty(t, r.URL.Query().Get("call_id"), "a made-up call id")
	for _, bad := range []string{"ftp://crm.example/?token=" + hookToken, "/relative?token=" + hookToken, "http://%zz?token=" + hookToken} {
		_, err := c.WebhookTestRequest(ctx, bad, "x")
		require.Error(t, err, bad)
		assert.NotContains(t, err.Error(), hookToken)
	}
}
