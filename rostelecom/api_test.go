package rostelecom_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/rostelecom"
	"github.com/pbxkit/pbxkit/rostelecom/rostelecomtest"
)

func TestCallInfo(t *testing.T) {
	srv, c := newFake(t, rostelecomtest.Options{})
	start := time.Date(2021, 1, 26, 12, 12, 11, 0, c.Location())
	id := srv.AddHistory(rostelecomtest.HistoryEntry{Caller: "79833574337", Line: "73852557475", Extension: "202", Answered: true, Start: start, Talk: 19 * time.Second, Record: true})
	res, err := c.CallInfo(context.Background(), id)
	require.NoError(t, err)
	assert.True(t, res.Info.Answered())
	assert.EqualValues(t, 1, res.Info.Direction)
	assert.EqualValues(t, 19, res.Info.Duration)
	assert.Equal(t, "202", string(res.Info.AnsweringPIN))
	assert.True(t, bool(res.Info.IsRecord))
	got, ok := res.Info.StartedAt(c.Location())
	require.True(t, ok)
	assert.True(t, start.Equal(got))

	_, err = c.CallInfo(context.Background(), "unknown")
	var ae *provider.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "-1", ae.Code)

	var manual rostelecom.CallInfoResponse
	require.NoError(t, json.Unmarshal(mustRead(t, "testdata/answers/call_info.json"), &manual))
	assert.True(t, manual.OK())
	assert.EqualValues(t, 8, manual.Info.Duration)
	assert.Equal(t, 8*time.Second, manual.Info.CallDuration(), "the whole call: session_log disconnects at 8")
	off, ok := manual.Info.AnswerOffset()
	require.True(t, ok)
	assert.Equal(t, 5*time.Second, off, "session_log connects at 5")
	ts, ok := manual.Info.StartedAt(c.Location())
	require.True(t, ok)
	assert.EqualValues(t, 1552315968, ts.Unix())
}

func TestDownloadCallHistory(t *testing.T) {
	srv, c := newFake(t, rostelecomtest.Options{})
	ctx := context.Background()
	day := time.Date(2024, 3, 5, 0, 0, 0, 0, c.Location())
	srv.AddHistory(rostelecomtest.HistoryEntry{Caller: "79991234567", Start: day.Add(time.Hour)})
	order, err := c.OrderCallHistory(ctx, rostelecom.CallHistoryOrder{From: day, To: day.Add(time.Hour * 2)})
	require.NoError(t, err)

	_, err = c.OrderCallHistory(ctx, rostelecom.CallHistoryOrder{From: day, To: day.Add(time.Hour * 2)})
	var ae *provider.APIError
	require.ErrorAs(t, err, &ae, "the same period while pending")
	assert.Contains(t, ae.Message, "уже существует")

	_, err = c.DownloadCallHistory(ctx, string(order.OrderID))
	require.ErrorIs(t, err, pbx.ErrNotReady, "404 HTML: being prepared")
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusNotFound, ae.StatusCode)

	rows, err := c.DownloadCallHistory(ctx, string(order.OrderID))
	require.NoError(t, err)
	require.Len(t, rows, 1)
	assert.Equal(t, "sip:79991234567@"+srv.Domain(), rows[0].OrigNumber)

	_, err = c.OrderCallHistory(ctx, rostelecom.CallHistoryOrder{From: day.Add(time.Hour), To: day})
	require.Error(t, err)
}
