package zadarma_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/zadarma"
	"github.com/pbxkit/pbxkit/zadarma/zadarmatest"
)

var moscow = time.FixedZone("MSK", 3*3600)

// The statistics/pbx answer as the official OpenAPI description shows it
// (call_id a JSON number, sip/clid/destination numbers, is_recorded a
// boolean), and with the strings some clients write.
func TestParseStatistics(t *testing.T) {
	body := `{"status":"success","start":"2026-03-01 00:00:00","end":"2026-03-02 00:00:00","version":2,"stats":[
	 {"call_id":1439981389.2702773,"sip":101,"callstart":"2026-03-01 10:00:00","clid":79161234567,"destination":101,
	  "disposition":"answered","seconds":47,"is_recorded":true,"pbx_call_id":"in_ae6b03b3b0765d127ec0b739209346bbc4f0d52d"},
	 {"call_id":"1439981390.1","sip":"102","callstart":"2026-03-01 11:00:00","clid":"74951234567","destination":"89031234567",
	  "disposition":"busy","seconds":"0","is_recorded":"0","pbx_call_id":"out_0000000000000000000000000000000000000001"},
	 {"call_id":"x","sip":"","callstart":"yesterday","clid":"79161234567","destination":"0-1",
	  "disposition":"call failed","seconds":3,"is_recorded":false,"pbx_call_id":"in_2"}]}`
	p, err := zadarma.ParseStatistics([]byte(body), moscow)
	require.NoError(t, err)
	assert.Equal(t, 2, p.Version)
	assert.Equal(t, "2026-03-01 00:00:00", p.Start)
	require.Len(t, p.Stats, 3)
	assert.Equal(t, "1439981389.2702773", p.Stats[0].CallID, "the recording id as written, not a float")

	r0 := p.Stats[0].CallRecord()
	assert.Equal(t, pbx.CallRecord{CallID: "in_ae6b03b3b0765d127ec0b739209346bbc4f0d52d", Direction: pbx.Inbound,
		Phone: "79161234567", Extension: "101", StartedAt: time.Date(2026, 3, 1, 10, 0, 0, 0, moscow),
		CallDuration: 47 * time.Second, Outcome: pbx.OutcomeAnswered, HasRecording: true, Raw: &p.Stats[0]}, r0)
	r1 := p.Stats[1].CallRecord()
	assert.Equal(t, pbx.CallRecord{CallID: "out_0000000000000000000000000000000000000001", Direction: pbx.Outbound,
		Phone: "79031234567", Line: "74951234567", Extension: "102", StartedAt: time.Date(2026, 3, 1, 11, 0, 0, 0, moscow),
		Outcome: pbx.OutcomeBusy, Raw: &p.Stats[1]}, r1)
	r2 := p.Stats[2].CallRecord()
	assert.True(t, r2.StartedAt.IsZero(), "an unreadable time stays zero")
	assert.Equal(t, "", r2.Extension, "a scenario is not an extension")
	assert.Equal(t, pbx.OutcomeFailed, r2.Outcome)

	for _, bad := range []string{"", "[]", "{", `{"stats":{}}`, "<html>"} {
		_, err := zadarma.ParseStatistics([]byte(bad), nil)
		assert.Error(t, err, bad)
	}
}

// History pages through 2,500 calls of one chunk (three requests: skip 0,
// 1000, 2000) and splits 70 days into three chunks of at most 28 days,
// each yielding its calls once, a call on a chunk's edge included.
func TestHistoryPagesAndChunks(t *testing.T) {
	fake := zadarmatest.NewServer(zadarmatest.Options{Location: moscow})
	defer fake.Close()
	c, err := zadarma.New(fake.Config())
	require.NoError(t, err)
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, moscow)
	var rows []zadarmatest.HistoryEntry
	for i := range 2500 {
		rows = append(rows, zadarmatest.HistoryEntry{CallID: fmt.Sprintf("1767225600.%07d", i), PBXCallID: fmt.Sprintf("in_%040d", i),
			SIP: "101", CLID: "79161234567", Destination: "101", Disposition: "answered", Start: from.Add(time.Duration(i) * time.Second),
			Duration: 30 * time.Second})
	}
	// One call exactly on the edge of the second chunk, one in the third,
	// one after the period.
	edge := from.Add(zadarma.HistoryChunk)
	rows = append(rows,
		zadarmatest.HistoryEntry{CallID: "2", PBXCallID: "in_edge", Disposition: "answered", Start: edge},
		zadarmatest.HistoryEntry{CallID: "3", PBXCallID: "out_late", Disposition: "busy", Start: from.Add(60 * 24 * time.Hour)},
		zadarmatest.HistoryEntry{CallID: "4", PBXCallID: "in_after", Disposition: "busy", Start: from.Add(71 * 24 * time.Hour)})
	fake.SetHistory(rows)

	seen := map[string]int{}
	for rec, err := range c.History(context.Background(), pbx.HistoryQuery{From: from, To: from.Add(70 * 24 * time.Hour)}) {
		require.NoError(t, err)
		seen[rec.CallID]++
	}
	assert.Len(t, seen, 2502)
	for id, n := range seen {
		require.Equal(t, 1, n, "%s yielded once", id)
	}
	assert.Contains(t, seen, "in_edge")
	assert.NotContains(t, seen, "in_after")

	var skips []string
	var periods [][2]string
	for _, r := range fake.APIRequests() {
		if r.Operation != "statistics/pbx" {
			continue
		}
		skips = append(skips, r.Params.Get("skip"))
		periods = append(periods, [2]string{r.Params.Get("start"), r.Params.Get("end")})
		start, _ := time.ParseInLocation("2006-01-02 15:04:05", r.Params.Get("start"), moscow)
		end, _ := time.ParseInLocation("2006-01-02 15:04:05", r.Params.Get("end"), moscow)
		assert.LessOrEqual(t, end.Sub(start), 28*24*time.Hour, "at most a month a request")
		assert.Equal(t, "1000", r.Params.Get("limit"))
		assert.Equal(t, "2", r.Params.Get("version"))
		assert.True(t, r.AuthOK)
	}
	assert.Equal(t, []string{"", "1000", "2000", "", ""}, skips)
	assert.Equal(t, [2]string{"2026-01-01 00:00:00", "2026-01-29 00:00:00"}, periods[0])
	assert.Equal(t, [2]string{"2026-01-29 00:00:00", "2026-02-26 00:00:00"}, periods[3])
}

func TestHistoryDirectionAndErrors(t *testing.T) {
	fake := zadarmatest.NewServer(zadarmatest.Options{})
	defer fake.Close()
	c, err := zadarma.New(fake.Config())
	require.NoError(t, err)
	ctx := context.Background()
	now := time.Now()
	q := pbx.HistoryQuery{From: now.Add(-24 * time.Hour), To: now}
	count := func(q pbx.HistoryQuery) (n int) {
		for rec, err := range c.History(ctx, q) {
			require.NoError(t, err)
			if q.Direction != pbx.DirectionUnknown {
				assert.Equal(t, q.Direction, rec.Direction)
			}
			n++
		}
		return n
	}
	all := count(q)
	q.Direction = pbx.Inbound
	in := count(q)
	q.Direction = pbx.Outbound
	out := count(q)
	assert.Equal(t, 3, all, "the fake's seeded calls")
	assert.Equal(t, 2, in)
	assert.Equal(t, 1, out)
	calls := map[string]bool{}
	for _, r := range fake.APIRequests() {
		calls[r.Params.Get("call_type")] = true
	}
	assert.Equal(t, map[string]bool{"": true, "in": true, "out": true}, calls)

	for _, err := range c.History(ctx, pbx.HistoryQuery{}) {
		assert.ErrorContains(t, err, "From is required")
	}
	n := 0
	for range c.History(ctx, pbx.HistoryQuery{From: now, To: now.Add(-time.Hour)}) {
		n++
	}
	assert.Zero(t, n, "an empty period")
	// Stopping early.
	n = 0
	for range c.History(ctx, pbx.HistoryQuery{From: now.Add(-24 * time.Hour)}) {
		n++
		break
	}
	assert.Equal(t, 1, n)
}

// A server that ignores skip would repeat its first page forever: History
// notices and stops with an error.
func TestHistorySkipIgnored(t *testing.T) {
	var rows []string
	for i := range zadarma.MaxStatisticsRows {
		rows = append(rows, fmt.Sprintf(`{"call_id":%d,"callstart":"2026-03-01 10:00:00","disposition":"answered","pbx_call_id":"in_%d"}`, i, i))
	}
	page := `{"status":"success","version":2,"stats":[` + strings.Join(rows, ",") + `]}`
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		_, _ = w.Write([]byte(page))
	}))
	defer srv.Close()
	c, err := zadarma.New(zadarma.Config{Key: "k", Secret: "s", BaseURL: srv.URL, Location: moscow})
	require.NoError(t, err)
	var last error
	n := 0
	for _, err := range c.History(context.Background(), pbx.HistoryQuery{From: time.Date(2026, 3, 1, 0, 0, 0, 0, moscow),
		To: time.Date(2026, 3, 2, 0, 0, 0, 0, moscow)}) {
		if err != nil {
			last = err
			continue
		}
		n++
	}
	assert.ErrorContains(t, last, "skip is not honoured")
	assert.Equal(t, zadarma.MaxStatisticsRows, n, "the first page only")
	assert.Equal(t, 2, hits)
}
