package mango_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/mango"
	"github.com/pbxkit/pbxkit/mango/mangotest"
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

func collect(t *testing.T, csv string, fields []string) []*mango.StatsRow {
	t.Helper()
	var out []*mango.StatsRow
	for r, err := range mango.ParseStats(strings.NewReader(csv), fields, msk) {
		require.NoError(t, err)
		out = append(out, r)
	}
	return out
}

// TestParseStats: ";" between fields, rows split on "\n" and "\r\n",
// records with or without brackets, a header line and empty lines
// skipped, short rows tolerated, unknown columns kept.
func TestParseStats(t *testing.T) {
	fields := []string{"records", "start", "finish", "answer", "from_extension", "from_number", "to_extension",
		"to_number", "disconnect_reason", "line_number", "location", "entry_id", "x_extra"}
	rows := []string{
		"[rec1,rec2];1700000000;1700000070;1700000010;;79161234567;101;sip:ivanova@x;1100;74951234567;abonent;E1;v",
		"rec3;1700000100;1700000120;0;;79161234568;102;74951234567;Busy;74951234567;abonent;E2",
		";1700000200;1700000260;1700000205;101;sip:ivanova@x;;89991234567;1100;74951234567;abonent;E3",
		"x;1700000300",
	}
	header := strings.Join(fields, ";")
	for _, eol := range []string{"\n", "\r\n"} {
		csv := header + eol + strings.Join(rows[:2], eol) + eol + eol + strings.Join(rows[2:], eol) + eol
		got := collect(t, csv, fields)
		require.Len(t, got, 4, "%q", eol)
		assert.Equal(t, []string{"rec1", "rec2"}, got[0].Records)
		assert.Equal(t, "E1", got[0].EntryID)
		assert.True(t, got[0].Answer.Equal(time.Unix(1700000010, 0)))
		assert.Equal(t, msk, got[0].Start.Location())
		assert.Equal(t, map[string]string{"x_extra": "v"}, got[0].Extra)
		assert.Equal(t, []string{"rec3"}, got[1].Records)
		assert.True(t, got[1].Answer.IsZero(), "0 is no answer")
		assert.Equal(t, "Busy", got[1].DisconnectReason)
		assert.Equal(t, "74951234567", got[1].LineNumber, "no \\r left on the last column")
		assert.Equal(t, []string{"x"}, got[3].Records)
		assert.True(t, got[3].Finish.IsZero())

		r0 := got[0].CallRecord()
		assert.Equal(t, pbx.CallRecord{CallID: "E1", Direction: pbx.Inbound, Phone: "79161234567", Line: "74951234567",
			Extension: "101", StartedAt: got[0].Start, TalkDuration: time.Minute, CallDuration: 70 * time.Second,
			Outcome: pbx.OutcomeAnswered, HasRecording: true, Raw: got[0]}, r0)
		r1 := got[1].CallRecord()
		assert.Equal(t, pbx.OutcomeBusy, r1.Outcome)
		assert.Zero(t, r1.TalkDuration)
		r2 := got[2].CallRecord()
		assert.Equal(t, pbx.Outbound, r2.Direction)
		assert.Equal(t, "101", r2.Extension)
		assert.Equal(t, "79991234567", r2.Phone)
		assert.False(t, r2.HasRecording)
	}
}

// TestParseStatsLimits: a line over 1 MiB is an error, yielded once; a
// reader that fails is an error; a consumer that stops early stops it.
func TestParseStatsLimits(t *testing.T) {
	var errs int
	for _, err := range mango.ParseStats(strings.NewReader(strings.Repeat("x", 2<<20)), mango.StatsFields, nil) {
		require.Error(t, err)
		errs++
	}
	assert.Equal(t, 1, errs)
	errs = 0
	for _, err := range mango.ParseStats(iotest.ErrReader(errors.New("boom")), mango.StatsFields, nil) {
		assert.ErrorContains(t, err, "boom")
		errs++
	}
	assert.Equal(t, 1, errs)
	n := 0
	for range mango.ParseStats(strings.NewReader("a\nb\nc\n"), mango.StatsFields, nil) {
		n++
		break
	}
	assert.Equal(t, 1, n)
}

// historyOf runs History against the fake and returns the records.
func historyOf(t *testing.T, c *mango.Client, q pbx.HistoryQuery) []pbx.CallRecord {
	t.Helper()
	var out []pbx.CallRecord
	for r, err := range c.History(ctx(t), q) {
		require.NoError(t, err)
		out = append(out, r)
	}
	return out
}

// TestHistory: against the fake, rows of one call merge into one record;
// the export is polled until ready; the direction filters; both line
// endings read.
func TestHistory(t *testing.T) {
	for _, crlf := range []bool{false, true} {
		fake := mangotest.NewServer(mangotest.Options{StatsNotReady: 3, StatsCRLF: crlf})
		t.Cleanup(fake.Close)
		now := time.Now()
		fake.AddHistory(mangotest.HistoryEntry{Caller: "79031234567", Line: "74951234567", Extension: "101",
			Start: now.Add(-2 * time.Hour), Ring: 5 * time.Second, Talk: time.Minute, Records: []string{"r1"}})
		two := fake.AddHistory(mangotest.HistoryEntry{Caller: "79031234568", Line: "74951234567", Extension: "102",
			Start: now.Add(-time.Hour), Ring: 20 * time.Second})
		fake.AddHistory(mangotest.HistoryEntry{EntryID: two, Caller: "79031234568", Line: "74951234567", Extension: "103",
			Start: now.Add(-time.Hour).Add(25 * time.Second), Ring: 3 * time.Second, Talk: 30 * time.Second, Records: []string{"r2"}})
		fake.AddHistory(mangotest.HistoryEntry{Direction: pbx.Outbound, Caller: "79991234567", Line: "74951234567", Extension: "101",
			Start: now.Add(-30 * time.Minute), Ring: 4 * time.Second, Talk: 10 * time.Second})
		fake.AddHistory(mangotest.HistoryEntry{Caller: "79990000000", Extension: "101", Start: now.Add(-48 * time.Hour)}) // outside

		c := newClient(t, fake.URL(), func(cfg *mango.Config) { cfg.Limits = map[string]mango.Limit{mango.OpStatsRequest: {}} })
		recs := historyOf(t, c, pbx.HistoryQuery{From: now.Add(-3 * time.Hour), To: now})
		require.Len(t, recs, 3)
		assert.Equal(t, pbx.OutcomeAnswered, recs[0].Outcome)
		assert.Equal(t, two, recs[1].CallID)
		assert.Equal(t, pbx.OutcomeAnswered, recs[1].Outcome, "the second leg answered")
		assert.Equal(t, "103", recs[1].Extension, "the answering leg's employee")
		assert.True(t, recs[1].HasRecording)
		assert.Equal(t, 58*time.Second, recs[1].CallDuration)
		assert.Equal(t, pbx.Outbound, recs[2].Direction)

		in := historyOf(t, c, pbx.HistoryQuery{From: now.Add(-3 * time.Hour), To: now, Direction: pbx.Inbound})
		assert.Len(t, in, 2)

		polls := 0
		for _, r := range fake.Requests() {
			if r.Operation == mango.OpStatsResult {
				polls++
			}
		}
		assert.Equal(t, 2*4, polls, "three 204s, then the CSV, per export")
	}
}

// TestHistorySplitsMonths: a period over 30 days is exported in parts.
func TestHistorySplitsMonths(t *testing.T) {
	api := newAPIServer(t, func(op string, _ map[string]any) (int, string) {
		if op == mango.OpStatsRequest {
			return 200, `{"key":"k"}`
		}
		return 200, ``
	})
	c := newClient(t, api.base(), func(cfg *mango.Config) {
		cfg.Limits = map[string]mango.Limit{mango.OpStatsRequest: {}}
	})
	to := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	recs := historyOf(t, c, pbx.HistoryQuery{From: to.AddDate(0, 0, -70), To: to})
	assert.Empty(t, recs)
	var spans []time.Duration
	for _, r := range api.requests() {
		if r.Op == mango.OpStatsRequest {
			from, _ := provider.ParseInt(r.JSON["date_from"].(string))
			until, _ := provider.ParseInt(r.JSON["date_to"].(string))
			spans = append(spans, time.Duration(until-from)*time.Second)
			assert.Contains(t, r.JSON["fields"], "entry_id")
		}
	}
	assert.Equal(t, []time.Duration{30 * 24 * time.Hour, 30 * 24 * time.Hour, 10 * 24 * time.Hour}, spans)
}

// TestHistoryFailures: a key that expired is an error; an export never
// ready ends after HistoryMaxWait with pbx.ErrNotReady; a bad query is an
// error before any request.
func TestHistoryFailures(t *testing.T) {
	api := newAPIServer(t, func(op string, _ map[string]any) (int, string) {
		if op == mango.OpStatsRequest {
			return 200, `{"key":"k"}`
		}
		return 404, ``
	})
	c := newClient(t, api.base(), nil)
	var err error
	for _, e := range c.History(ctx(t), pbx.HistoryQuery{From: time.Now().Add(-time.Hour), To: time.Now()}) {
		err = e
	}
	var ae *provider.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 404, ae.StatusCode)
	assert.Contains(t, err.Error(), "expired")

	never := newAPIServer(t, func(op string, _ map[string]any) (int, string) {
		if op == mango.OpStatsRequest {
			return 200, `{"key":"k"}`
		}
		return 204, ``
	})
	nc := newClient(t, never.base(), func(cfg *mango.Config) { cfg.HistoryMaxWait = 100 * time.Millisecond })
	err = nil
	for _, e := range nc.History(ctx(t), pbx.HistoryQuery{From: time.Now().Add(-time.Hour), To: time.Now()}) {
		err = e
	}
	assert.ErrorIs(t, err, pbx.ErrNotReady)

	err = nil
	for _, e := range nc.History(context.Background(), pbx.HistoryQuery{From: time.Now(), To: time.Now().Add(-time.Hour)}) {
		err = e
	}
	assert.Error(t, err)
}
