package sipuni

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// TestEventMapping feeds events shaped like ones captured from Sipuni.
func TestEventMapping(t *testing.T) {
	loc := time.FixedZone("UZT", 5*3600)
	ts := func(sec int64) time.Time { return time.Unix(sec, 0).In(loc) }
	tests := []struct {
		name  string
		query string
		want  pbx.CallEvent // compared without Raw and DedupeKey
	}{
		{
			name:  "callback ringing (outbound 2 to 1)",
			query: ring1,
			want: pbx.CallEvent{Provider: "sipuni", Type: pbx.EventRinging, CallID: "1774372584.533596", Direction: pbx.Outbound,
				Extension: "201", Phone: "998948867473", At: ts(1774372584)},
		},
		{
			name: "callback answered and ended",
			query: "event=2&call_id=1774372584.533596&status=ANSWER&call_start_timestamp=1774372584&call_answer_timestamp=1774372594" +
				"&timestamp=1774372602&last_called=201&call_record_link=https%3A%2F%2Fsipuni.com%2Fapi%2Fcrm%2Frecord%3Fid%3D1774372584.533596%26hash%3D93247a3b%26user%3D070196" +
				"&src_type=2&src_num=070196201&short_src_num=201&dst_type=1&dst_num=998948867473&channel=SIP%2F070196998783337125-000471d4",
			want: pbx.CallEvent{Provider: "sipuni", Type: pbx.EventCallEnded, CallID: "1774372584.533596", Direction: pbx.Outbound,
				Extension: "201", Phone: "998948867473", At: ts(1774372602), StartedAt: ts(1774372584), AnsweredAt: ts(1774372594),
				EndedAt: ts(1774372602), TalkDuration: 8 * time.Second, CallDuration: 18 * time.Second, Outcome: pbx.OutcomeAnswered,
				RecordingURL: "https://sipuni.com/api/crm/record?id=1774372584.533596&hash=93247a3b&user=070196", HasRecording: true},
		},
		{
			name: "record link sent doubly encoded",
			query: "event=2&status=CANCEL&timestamp=1774372602&call_record_link=" +
				url.QueryEscape(url.QueryEscape("https://sipuni.com/api/crm/record?id=1.2&hash=ab&user=070196")),
			want: pbx.CallEvent{Provider: "sipuni", Type: pbx.EventCallEnded, At: ts(1774372602), EndedAt: ts(1774372602),
				Outcome: pbx.OutcomeCancelled, RecordingURL: "https://sipuni.com/api/crm/record?id=1.2&hash=ab&user=070196", HasRecording: true},
		},
		{
			name: "inbound missed, destination is the line with an _id suffix (1 to 1)",
			query: "event=2&call_id=1774373436.533962&src_type=1&src_num=951218115&short_src_num=951218115&dst_type=1" +
				"&dst_num=998783337125_id265648&short_dst_num=998783337125_id265648&pbxdstnum=998783337125&timestamp=1774373455" +
				"&status=NOANSWER&call_start_timestamp=1774373436&call_answer_timestamp=0&treeName=" + url.QueryEscape("Входящая") +
				"&last_called=102,103",
			want: pbx.CallEvent{Provider: "sipuni", Type: pbx.EventCallEnded, CallID: "1774373436.533962", Direction: pbx.Inbound,
				Phone: "951218115", Line: "998783337125", At: ts(1774373455), StartedAt: ts(1774373436), EndedAt: ts(1774373455),
				CallDuration: 19 * time.Second, Outcome: pbx.OutcomeMissed},
		},
		{
			name: "call_external: answer time set on an unanswered call is ignored",
			query: "event=2&call_id=1774376114.534794&status=NOANSWER&call_start_timestamp=1774376127&call_answer_timestamp=1774376127" +
				"&timestamp=1774376133&last_called=201&src_type=2&short_src_num=201&dst_type=1&dst_num=998948867473&pbxdstnum=998948867473",
			want: pbx.CallEvent{Provider: "sipuni", Type: pbx.EventCallEnded, CallID: "1774376114.534794", Direction: pbx.Outbound,
				Extension: "201", Phone: "998948867473", At: ts(1774376133), StartedAt: ts(1774376127), EndedAt: ts(1774376133),
				CallDuration: 6 * time.Second, Outcome: pbx.OutcomeMissed},
		},
		{
			name: "inbound group ring leg (1 to 2)",
			query: "event=1&call_id=7.1&src_type=1&src_num=89031234567&short_src_num=89031234567&dst_type=2&dst_num=012345102" +
				"&short_dst_num=102&timestamp=1774372584&is_inner_call=0",
			want: pbx.CallEvent{Provider: "sipuni", Type: pbx.EventRinging, CallID: "7.1", Direction: pbx.Inbound,
				Extension: "102", Phone: "79031234567", At: ts(1774372584)},
		},
		{
			name: "answered",
			query: "event=3&call_id=7.1&src_type=1&src_num=79031234567&dst_type=2&dst_num=012345101&short_dst_num=101" +
				"&timestamp=1774372592",
			want: pbx.CallEvent{Provider: "sipuni", Type: pbx.EventAnswered, CallID: "7.1", Direction: pbx.Inbound,
				Extension: "101", Phone: "79031234567", At: ts(1774372592), AnsweredAt: ts(1774372592)},
		},
		{
			name: "secondary hangup of a leg",
			query: "event=4&call_id=7.1&src_type=1&src_num=79031234567&dst_type=2&short_dst_num=102&timestamp=1774372592" +
				"&status=NOANSWER&call_start_timestamp=1774372584&call_answer_timestamp=0",
			want: pbx.CallEvent{Provider: "sipuni", Type: pbx.EventLegEnded, CallID: "7.1", Direction: pbx.Inbound,
				Extension: "102", Phone: "79031234567", At: ts(1774372592), StartedAt: ts(1774372584), EndedAt: ts(1774372592),
				Outcome: pbx.OutcomeMissed},
		},
		{
			name: "secondary hangup of an answered leg: its talk, no call length (the call goes on)",
			query: "event=4&call_id=7.1&src_type=1&src_num=79031234567&dst_type=2&short_dst_num=101&timestamp=1774372614" +
				"&status=ANSWER&call_start_timestamp=1774372584&call_answer_timestamp=1774372592",
			want: pbx.CallEvent{Provider: "sipuni", Type: pbx.EventLegEnded, CallID: "7.1", Direction: pbx.Inbound,
				Extension: "101", Phone: "79031234567", At: ts(1774372614), StartedAt: ts(1774372584), AnsweredAt: ts(1774372592),
				EndedAt: ts(1774372614), TalkDuration: 22 * time.Second, Outcome: pbx.OutcomeAnswered},
		},
		{
			name:  "internal call (2 to 2)",
			query: "event=1&call_id=8.1&src_type=2&src_num=012345101&short_src_num=101&dst_type=2&short_dst_num=103&timestamp=1774372584&is_inner_call=1",
			want: pbx.CallEvent{Provider: "sipuni", Type: pbx.EventRinging, CallID: "8.1", Direction: pbx.Internal,
				Extension: "103", At: ts(1774372584)},
		},
		{
			name:  "failed: congestion; milliseconds tolerated",
			query: "event=2&call_id=9.1&status=congestion&timestamp=1774372584000&src_type=2&short_src_num=101&dst_type=1&dst_num=%2B79031234567",
			want: pbx.CallEvent{Provider: "sipuni", Type: pbx.EventCallEnded, CallID: "9.1", Direction: pbx.Outbound,
				Extension: "101", Phone: "79031234567", At: ts(1774372584), EndedAt: ts(1774372584), Outcome: pbx.OutcomeFailed},
		},
		{
			name:  "chanunavail",
			query: "event=2&status=CHANUNAVAIL&timestamp=1774372584",
			want:  pbx.CallEvent{Provider: "sipuni", Type: pbx.EventCallEnded, At: ts(1774372584), EndedAt: ts(1774372584), Outcome: pbx.OutcomeFailed},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := hookClient(t, Config{WebhookToken: hookToken, Location: loc})
			rec := &eventRecorder{}
			w := req{target: "/?token=" + hookToken + "&" + tt.query}.do(c.WebhookHandler(rec, nil))
			require.Equal(t, 200, w.Code)
			got := rec.got()
			require.Len(t, got, 1)
			e := got[0]
			raw, ok := e.Raw.(*Event)
			require.True(t, ok)
			assert.NotEmpty(t, e.DedupeKey)
			e.Raw, e.DedupeKey = nil, ""
			assert.Equal(t, tt.want, e)
			assert.Equal(t, loc, e.At.Location())
			q, _ := url.ParseQuery(tt.query)
			assert.Equal(t, q.Get("event"), raw.Event)
			assert.Equal(t, q.Get("call_id"), raw.CallID)
		})
	}
}

// TestAnswerTimeOutsideCallIsUnknown replays the captured live
// callback/call_external event whose call_answer_timestamp is a second
// before call_start_timestamp (start T, answer T-1, end T+19; the real talk
// was 7 s). Answer-to-end gave 20 s of talk in a 19 s call; an answer time
// outside [start, end] must instead be unknown.
func TestAnswerTimeOutsideCallIsUnknown(t *testing.T) {
	const T = 1774376127
	ts := func(sec int64) time.Time { return time.Unix(sec, 0).In(provider.DefaultLocation()) }
	event := func(start, answer, end string) string {
		q := "event=2&call_id=1774376114.534794&status=ANSWER&last_called=201&src_type=2&short_src_num=201" +
			"&dst_type=1&dst_num=998948867473&call_record_link=https%3A%2F%2Fsipuni.com%2Fapi%2Fcrm%2Frecord%3Fid%3D1"
		for k, v := range map[string]string{"call_start_timestamp": start, "call_answer_timestamp": answer, "timestamp": end} {
			if v != "" {
				q += "&" + k + "=" + v
			}
		}
		return q
	}
	n := func(sec int64) string { return strconv.FormatInt(sec, 10) }
	tests := []struct {
		name         string
		query        string
		wantAnswered time.Time
		wantTalk     time.Duration
		wantCall     time.Duration
	}{
		{"captured: answer a second before the start", event(n(T), n(T-1), n(T+19)), time.Time{}, 0, 19 * time.Second},
		{"answer after the end", event(n(T), n(T+20), n(T+19)), time.Time{}, 0, 19 * time.Second},
		{"answer at the start", event(n(T), n(T), n(T+19)), ts(T), 19 * time.Second, 19 * time.Second},
		{"answer at the end", event(n(T), n(T+19), n(T+19)), ts(T + 19), 0, 19 * time.Second},
		{"answer inside", event(n(T), n(T+12), n(T+19)), ts(T + 12), 7 * time.Second, 19 * time.Second},
		{"no start: only the end bounds it", event("", n(T+12), n(T+19)), ts(T + 12), 7 * time.Second, 0},
		{"end before start: nothing derived", event(n(T+19), n(T+12), n(T)), time.Time{}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := hookClient(t, Config{WebhookToken: hookToken})
			rec := &eventRecorder{}
			w := req{target: "/?token=" + hookToken + "&" + tt.query}.do(c.WebhookHandler(rec, nil))
			require.Equal(t, 200, w.Code)
			got := rec.got()
			require.Len(t, got, 1)
			e := got[0]
			assert.NotEqual(t, 20*time.Second, e.TalkDuration, "the old answer-to-end reading")
			assert.Equal(t, tt.wantAnswered, e.AnsweredAt)
			assert.Equal(t, tt.wantTalk, e.TalkDuration)
			assert.Equal(t, tt.wantCall, e.CallDuration)
			assert.Equal(t, pbx.OutcomeAnswered, e.Outcome)
			assert.True(t, e.HasRecording)
			if e.CallDuration > 0 {
				assert.LessOrEqual(t, e.TalkDuration, e.CallDuration)
			}
		})
	}
}

func TestEventLastCalledList(t *testing.T) {
	ev := decodeEvent(url.Values{"last_called": {"102, 103", "104"}, "last_called[]": {"105"}})
	assert.Equal(t, []string{"102", "103", "104", "105"}, ev.LastCalled)
	assert.Empty(t, decodeEvent(url.Values{"last_called": {" , "}}).LastCalled)
}

func TestDedupeKeys(t *testing.T) {
	c := hookClient(t, Config{WebhookToken: hookToken})
	rec := &eventRecorder{}
	h := c.WebhookHandler(rec, nil)
	send := func(q string) string {
		before := len(rec.got())
		req{target: "/?token=" + hookToken + "&" + q}.do(h)
		got := rec.got()
		require.Len(t, got, before+1)
		return got[before].DedupeKey
	}
	ring := send(ring1)
	// Sipuni's repeat of event 1: the same but a second later.
	assert.Equal(t, ring, send(strings.Replace(ring1, "timestamp=1774372584", "timestamp=1774372585", 1)))
	// The same call ringing another phone is another notification.
	assert.NotEqual(t, ring, send(strings.Replace(ring1, "short_src_num=201", "short_src_num=202", 1)))
	assert.NotEqual(t, ring, send(strings.Replace(ring1, "call_id=1774372584.533596", "call_id=1774372584.533597", 1)))

	end := send("event=2&call_id=1.1&status=ANSWER&timestamp=100")
	assert.Equal(t, end, send("timestamp=100&status=ANSWER&call_id=1.1&event=2"), "parameter order does not matter")
	assert.NotEqual(t, end, send("event=2&call_id=1.1&status=ANSWER&timestamp=101"))
	assert.NotEqual(t, end, send("event=2&call_id=1.1&status=BUSY&timestamp=100"))
	assert.NotEqual(t, send("event=2&a=b&c="), send("event=2&a=&bc="), "pairs are delimited")
}

func TestParseQueryInto(t *testing.T) {
	v := url.Values{"pre": {"body"}}
	parseQueryInto(v, "a=1&b=2&a=3&pre=q&c&=x&%zz=%yy&d=a%2Bb+c")
	assert.Equal(t, url.Values{"pre": {"body", "q"}, "a": {"1", "3"}, "b": {"2"}, "c": {""}, "%zz": {"%yy"}, "d": {"a+b c"}}, v)
	// Appending to one key never overwrites another's value.
	v["b"] = append(v["b"], "x")
	assert.Equal(t, []string{"1", "3"}, v["a"])
	assert.Equal(t, []string{"2", "x"}, v["b"])
}

// TestMappersByHand: the mapping steps are usable without the handler, on
// values built by hand (a WebSocket receiver, a replay from storage). An
// Event without Params is keyed by its fields, so two different hangups do
// not share a DedupeKey.
func TestMappersByHand(t *testing.T) {
	loc := time.FixedZone("UZT", 5*3600)
	received := time.Date(2026, 3, 24, 10, 0, 0, 0, time.UTC)
	end := &Event{Event: "2", CallID: "7.1", SrcType: "1", SrcNum: "89031234567", DstType: "2", ShortDstNum: "101",
		Status: "ANSWER", CallStartTimestamp: "1774372584", CallAnswerTimestamp: "1774372592", Timestamp: "1774372614"}
	e := end.CallEvent(loc, received)
	assert.Equal(t, pbx.EventCallEnded, e.Type)
	assert.Equal(t, pbx.Inbound, e.Direction)
	assert.Equal(t, "79031234567", e.Phone)
	assert.Equal(t, "101", e.Extension)
	assert.Equal(t, 22*time.Second, e.TalkDuration)
	assert.Equal(t, 30*time.Second, e.CallDuration)
	assert.Equal(t, loc, e.At.Location())
	assert.Same(t, end, e.Raw)
	require.NotEmpty(t, e.DedupeKey)

	busy := *end
	busy.Status = "BUSY"
	assert.NotEqual(t, e.DedupeKey, busy.CallEvent(loc, received).DedupeKey, "keyed by the fields")
	again := *end
	assert.Equal(t, e.DedupeKey, again.CallEvent(loc, received).DedupeKey)

	// No timestamp: the receive time, in the zone; nil means Moscow.
	e = (&Event{Event: "3"}).CallEvent(nil, received)
	assert.Equal(t, received.In(provider.DefaultLocation()), e.At)

	q := (&RouteQuestion{FromNum: "8 903 123-45-67", ToNum: "74996477948", DTMF: "2"}).RouteQuery()
	assert.Equal(t, "sipuni", q.Provider)
	assert.Equal(t, "79031234567", q.Phone)
	assert.Equal(t, "74996477948", q.Line)
	assert.Equal(t, "2", q.Digits)
	assert.IsType(t, (*RouteQuestion)(nil), q.Raw)
}
