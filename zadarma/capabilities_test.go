package zadarma_test

import (
	"context"
	"io"
	"net/http/httptest"
	"sync/atomic"
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

// MakeCall against the fake: request/callback once, from the extension to
// the normalised phone with the extension as sip; the fake then plays the
// outgoing call, whose notifications the webhook maps.
func TestMakeCallPlaysTheCallback(t *testing.T) {
	fake := zadarmatest.NewServer(zadarmatest.Options{})
	defer fake.Close()
	c, err := zadarma.New(fake.Config())
	require.NoError(t, err)
	var rec pbxtest.Recorder
	hook := httptest.NewServer(c.WebhookHandler(&rec, &rec))
	defer hook.Close()
	fake.SetWebhook(hook.URL)

	res, err := c.MakeCall(context.Background(), pbx.CallRequest{Extension: "101", Phone: "8 (903) 123-45-67"})
	require.NoError(t, err)
	assert.Equal(t, pbx.CallResult{}, res, "Zadarma returns no id")
	reqs := fake.APIRequests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "request/callback", reqs[0].Operation)
	assert.Equal(t, "101", reqs[0].Params.Get("from"))
	assert.Equal(t, "79031234567", reqs[0].Params.Get("to"))
	assert.Equal(t, "101", reqs[0].Params.Get("sip"))
	assert.True(t, reqs[0].AuthOK)

	ok := rec.WaitFor(context.Background(), 5*time.Second, func(es []pbx.CallEvent) bool {
		return len(es) > 0 && es[len(es)-1].Type == pbx.EventCallEnded
	})
	require.True(t, ok, "the callback's notifications arrived")
	es := rec.Events()
	require.GreaterOrEqual(t, len(es), 2)
	first := es[0]
	assert.Equal(t, pbx.EventCallStarted, first.Type)
	assert.Equal(t, pbx.Outbound, first.Direction)
	assert.Equal(t, "101", first.Extension)
	assert.Equal(t, "79031234567", first.Phone, "matched by its parties")
	ended := es[1]
	assert.Equal(t, pbx.EventCallEnded, ended.Type)
	assert.Equal(t, first.CallID, ended.CallID)
	assert.Equal(t, pbx.OutcomeAnswered, ended.Outcome)
	assert.True(t, ended.HasRecording)

	_, err = c.MakeCall(context.Background(), pbx.CallRequest{Extension: "", Phone: "79031234567"})
	assert.Error(t, err)
	_, err = c.MakeCall(context.Background(), pbx.CallRequest{Extension: "101", Phone: "ivan.petrov"})
	assert.Error(t, err)
	_, err = c.MakeCall(context.Background(), pbx.CallRequest{Extension: "999", Phone: "79031234567"})
	var ae *provider.APIError
	require.ErrorAs(t, err, &ae, "the fake refuses an unknown extension")
	assert.Contains(t, ae.Message, "from")
	assert.Len(t, fake.APIRequests(), 2, "the refused requests were never resent")
}

// A recording is "not ready" (pbx.ErrNotReady) until Options.RecordingDelay
// after its call, then streams, by the call's pbx_call_id or by its
// recording id; the download carries no Authorization.
func TestFetchRecordingNotReadyThenReady(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	fake := zadarmatest.NewServer(zadarmatest.Options{RecordingDelay: 40 * time.Second, RecordingSize: 10000, NotifyRecord: true,
		Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	defer fake.Close()
	c, err := zadarma.New(fake.Config())
	require.NoError(t, err)
	hook := httptest.NewServer(c.WebhookHandler(nil, nil))
	defer hook.Close()
	played, err := fake.PlayWith(context.Background(), hook.URL, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, Start: now}, zadarmatest.Extras{})
	require.NoError(t, err)
	require.NotEmpty(t, played.RecordingID)
	for _, sent := range played.Sent {
		assert.NotEqual(t, "NOTIFY_RECORD", sent.Get("event"), "not sent while the recording is not ready")
	}

	ctx := context.Background()
	_, err = c.FetchRecording(ctx, played.CallID)
	assert.ErrorIs(t, err, pbx.ErrNotReady)

	clock.Store(now.Add(41 * time.Second).UnixNano())
	for _, id := range []string{played.CallID, played.RecordingID} {
		rec, err := c.FetchRecording(ctx, id)
		require.NoError(t, err, id)
		b, err := io.ReadAll(rec.Body)
		require.NoError(t, err)
		require.NoError(t, rec.Body.Close())
		assert.Equal(t, pbxtest.MP3Bytes(10000), b, id)
		assert.Equal(t, "audio/mpeg", rec.ContentType)
		assert.Equal(t, int64(10000), rec.Size)
	}
	var byID, byCall int
	for _, r := range fake.APIRequests() {
		switch r.Operation {
		case "pbx/record/download":
			assert.Empty(t, r.Header.Get("Authorization"), "the link carries its own token")
		case "pbx/record/request":
			if r.Params.Get("pbx_call_id") != "" {
				byCall++
			}
			if r.Params.Get("call_id") != "" {
				byID++
			}
		}
	}
	assert.Equal(t, 2, byCall)
	assert.Equal(t, 1, byID)
}

func TestSubscribers(t *testing.T) {
	fake := zadarmatest.NewServer(zadarmatest.Options{})
	defer fake.Close()
	c, err := zadarma.New(fake.Config())
	require.NoError(t, err)
	subs, err := c.Subscribers(context.Background())
	require.NoError(t, err)
	require.Len(t, subs, 3)
	for i, e := range pbxtest.Employees() {
		assert.Equal(t, e.Extension, subs[i].Extension)
		assert.Equal(t, e.Name, subs[i].Name)
		info, ok := subs[i].Raw.(*zadarma.ExtensionInfo)
		require.True(t, ok)
		assert.Equal(t, zadarmatest.DefaultPBXID, info.PBXID)
	}
	in, err := c.Internal(context.Background())
	require.NoError(t, err)
	assert.Equal(t, zadarma.Internal{PBXID: zadarmatest.DefaultPBXID, Numbers: []string{"101", "102", "103"}}, in)
	_, err = c.ExtensionInfo(context.Background(), "../../info")
	assert.Error(t, err, "an extension is digits")
}

// The statistics bucket of the fake set to Zadarma's own limit: once the
// answer says none is left, the next statistics request is not sent when
// it cannot wait for the reset, while other methods still are.
func TestStatisticsRateLimitFromTheFake(t *testing.T) {
	fake := zadarmatest.NewServer(zadarmatest.Options{StatisticsRateLimit: 1})
	defer fake.Close()
	cfg := fake.Config()
	cfg.Timeout = time.Second
	c, err := zadarma.New(cfg)
	require.NoError(t, err)
	ctx := context.Background()
	now := time.Now()
	_, err = c.PBXStatistics(ctx, zadarma.StatisticsRequest{Start: now.Add(-time.Hour), End: now})
	require.NoError(t, err)
	_, stats := c.RateLimits()
	assert.Equal(t, 1, stats.Limit)
	assert.Equal(t, 0, stats.Remaining)
	_, err = c.PBXStatistics(ctx, zadarma.StatisticsRequest{Start: now.Add(-time.Hour), End: now})
	var rle *zadarma.RateLimitError
	require.ErrorAs(t, err, &rle)
	assert.Equal(t, "statistics", rle.Bucket)
	_, err = c.Internal(ctx)
	assert.NoError(t, err, "the general bucket is apart")
	n := 0
	for _, r := range fake.APIRequests() {
		if r.Operation == "statistics/pbx" {
			n++
		}
	}
	assert.Equal(t, 1, n, "the second statistics request was not sent")
}
