package rostelecom

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

func TestParseCallEventManualExamples(t *testing.T) {
	msk := provider.DefaultLocation()
	tests := []struct {
		file string
		want pbx.CallEvent
	}{
		{"notifications/manual_new.json", pbx.CallEvent{
			Type: pbx.EventCallStarted, CallID: "76981273981237", Direction: pbx.Inbound,
			Phone: "79771234567", Line: "74951234567",
			At: time.Date(2018, 4, 23, 15, 1, 27, 214e6, msk), StartedAt: time.Date(2018, 4, 23, 15, 1, 27, 214e6, msk),
		}},
		{"notifications/manual_connected.json", pbx.CallEvent{
			Type: pbx.EventAnswered, CallID: "76981273981237", Direction: pbx.Inbound,
			Phone: "79771234567", Extension: "317",
			At: time.Date(2018, 4, 23, 15, 1, 29, 214e6, msk), AnsweredAt: time.Date(2018, 4, 23, 15, 1, 29, 214e6, msk),
		}},
		{"notifications/manual_disconnected.json", pbx.CallEvent{
			Type: pbx.EventLegEnded, CallID: "76981273981237", Direction: pbx.Inbound,
			Phone: "79771234567", Extension: "317",
			At: time.Date(2018, 4, 23, 15, 1, 35, 214e6, msk),
		}},
		{"notifications/manual_end.json", pbx.CallEvent{
			Type: pbx.EventCallEnded, CallID: "76981273981237", Direction: pbx.Inbound,
			Phone: "79771234567", Extension: "317", HasRecording: true, // is_record "true"
			At: time.Date(2018, 4, 23, 15, 1, 27, 214e6, msk), EndedAt: time.Date(2018, 4, 23, 15, 1, 27, 214e6, msk),
		}},
		{"notifications/r3_outbound_disconnected.json", pbx.CallEvent{
			Type: pbx.EventLegEnded, CallID: "1674-aFEQBQE", Direction: pbx.Outbound,
			Phone: "78912345678", Extension: "201", // 10 digits in the sanitised sample
			At: time.Date(2020, 5, 12, 10, 46, 56, 725e6, msk),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := readFixture(t, tt.file)
			e, err := ParseCallEvent(body, nil)
			require.NoError(t, err)
			raw, ok := e.Raw.(*CallEventNotification)
			require.True(t, ok, "Raw is the decoded notification")
			assert.Equal(t, body, []byte(raw.Body), "the raw payload is passed on")
			assert.Equal(t, provider.DedupeKey(body), e.DedupeKey)
			assert.Equal(t, Name, e.Provider)
			assert.Equal(t, pbx.OutcomeUnknown, e.Outcome, "end does not say whether the call was answered")
			e.Raw, e.DedupeKey, e.Provider = nil, "", ""
			assert.Equal(t, tt.want.At.UnixNano(), e.At.UnixNano())
			assert.Equal(t, msk, e.At.Location())
			tt.want.At, e.At = time.Time{}, time.Time{}
			for _, p := range []*time.Time{&tt.want.StartedAt, &tt.want.AnsweredAt, &tt.want.EndedAt, &e.StartedAt, &e.AnsweredAt, &e.EndedAt} {
				if !p.IsZero() {
					*p = p.UTC()
				}
			}
			assert.Equal(t, tt.want, e)
		})
	}
	end, err := ParseCallEvent(readFixture(t, "notifications/manual_end.json"), nil)
	require.NoError(t, err)
	assert.True(t, end.Raw.(*CallEventNotification).Recorded(), `is_record "true" is a string`)
}

func TestParseCallEventTolerance(t *testing.T) {
	loc := time.FixedZone("IRKT", 8*3600)
	tests := []struct {
		name, body string
		check      func(t *testing.T, e pbx.CallEvent)
	}{
		{"unknown state and extra fields", `{"state":"analytics","type":"incoming","session_id":"s","timestamp":"2024-01-02 03:04:05.000","from_number":"79991234567","request_number":"74951234567","emotion":{"score":1}}`,
			func(t *testing.T, e pbx.CallEvent) {
				assert.Equal(t, pbx.EventUnknown, e.Type)
				assert.Contains(t, string(e.Raw.(*CallEventNotification).Body), "emotion")
			}},
		{"calling, upper case with spaces", `{"state":" CALLING ","type":" Incoming","session_id":"s","from_number":"+7 (999) 123-45-67","request_number":"u@d","request_pin":"765"}`,
			func(t *testing.T, e pbx.CallEvent) {
				assert.Equal(t, pbx.EventRinging, e.Type)
				assert.Equal(t, pbx.Inbound, e.Direction)
				assert.Equal(t, "79991234567", e.Phone)
				assert.Equal(t, "765", e.Extension)
				assert.Empty(t, e.Line, "only new carries the line")
				assert.WithinDuration(t, time.Now(), e.At, time.Minute, "no timestamp: the receive time")
				assert.Equal(t, loc, e.At.Location())
			}},
		{"numbers as JSON numbers", `{"state":"new","type":"outbound","session_id":76981273981237,"from_pin":201,"request_number":89131234567,"from_number":"sip:admin@d"}`,
			func(t *testing.T, e pbx.CallEvent) {
				assert.Equal(t, "76981273981237", e.CallID)
				assert.Equal(t, "201", e.Extension)
				assert.Equal(t, "79131234567", e.Phone)
			}},
		{"internal", `{"state":"connected","type":"internal","session_id":"s","from_pin":"201","request_pin":"202","from_number":"admin@d","request_number":"user1@d"}`,
			func(t *testing.T, e pbx.CallEvent) {
				assert.Equal(t, pbx.Internal, e.Direction)
				assert.Equal(t, "202", e.Extension)
				assert.Empty(t, e.Phone)
			}},
		{"SIP URI with params and without scheme", `{"state":"new","type":"incoming","session_id":"s","from_number":"sip:+71234567890@188.254.33.73;tgrp=x","request_number":"74951234567@d"}`,
			func(t *testing.T, e pbx.CallEvent) {
				assert.Equal(t, "71234567890", e.Phone)
				assert.Equal(t, "74951234567", e.Line)
			}},
		{"timestamp in the configured zone", `{"state":"end","type":"incoming","session_id":"s","timestamp":"2024-01-02 03:04:05.120"}`,
			func(t *testing.T, e pbx.CallEvent) {
				assert.Equal(t, time.Date(2024, 1, 2, 3, 4, 5, 120e6, loc), e.At)
				assert.Equal(t, e.At, e.EndedAt)
			}},
		{"null fields", `{"state":"end","type":null,"session_id":"s","is_record":null}`,
			func(t *testing.T, e pbx.CallEvent) {
				assert.Equal(t, pbx.DirectionUnknown, e.Direction)
				assert.False(t, e.Raw.(*CallEventNotification).Recorded())
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ParseCallEvent([]byte(tt.body), loc)
			require.NoError(t, err)
			tt.check(t, e)
		})
	}
}

func TestParseCallEventErrors(t *testing.T) {
	for _, body := range []string{"", "  ", "[]", `"x"`, "{", `{"state":{}}`, `{"session_id":[1]}`, "null"} {
		_, err := ParseCallEvent([]byte(body), nil)
		assert.Error(t, err, "%q", body)
	}
}

// TestLocalTime: the PBX's times, read through provider.ParseLocalTime.
func TestLocalTime(t *testing.T) {
	msk := provider.DefaultLocation()
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2018-04-23 15:01:27.214", time.Date(2018, 4, 23, 15, 1, 27, 214e6, msk), true},
		{"2018-04-23 15:01:27", time.Date(2018, 4, 23, 15, 1, 27, 0, msk), true},
		{"2021-10-1 00:00:00", time.Date(2021, 10, 1, 0, 0, 0, 0, msk), true},
		{"2018-04-23T15:01:27", time.Date(2018, 4, 23, 15, 1, 27, 0, msk), true},
		{"1552315968", time.Unix(1552315968, 0), true},
		{"1552315968123", time.UnixMilli(1552315968123), true},
		{" 1552315968 ", time.Unix(1552315968, 0), true},
		{"", time.Time{}, false},
		{"yesterday", time.Time{}, false},
		{"99999999999999999999", time.Time{}, false},
		{"0", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := localTime(tt.in, msk)
		assert.Equal(t, tt.ok, ok, tt.in)
		if tt.ok {
			assert.True(t, tt.want.Equal(got), "%s: %v", tt.in, got)
			assert.Equal(t, msk, got.Location(), tt.in)
		}
	}
}

func TestNumber(t *testing.T) {
	for in, want := range map[string]string{
		"sip:79771234567@example_domain.ru":      "79771234567",
		"sip:+71234567890@188.254.33.73":         "71234567890",
		"sip:89131234567@x;tgrp=1":               "79131234567",
		"79771234567@example_domain.ru":          "79771234567",
		"user@example_domain.ru":                 "",
		"sip:username@1.2.3.4":                   "",
		"74959561111":                            "74959561111",
		"+7 (495) 123-45-67":                     "74951234567",
		"":                                       "",
		"sip:89123456789":                        "79123456789",
		"<sip:79991234567@host>":                 "79991234567",
		"Иван <sip:79991234567@host;user=phone>": "79991234567",
	} {
		assert.Equal(t, want, number(in), in)
	}
}

// TestHugeNumberIsNotAPhone: a "number" of 900 digits is longer than any
// telephone number (phone.MaxDigits): Phone stays empty everywhere and the
// value stays in Raw; MakeCall refuses it before sending anything.
func TestHugeNumberIsNotAPhone(t *testing.T) {
	huge := strings.Repeat("7", 900)
	assert.Empty(t, number(huge))
	assert.Empty(t, number("sip:"+huge+"@example_domain.ru"))

	for _, body := range []string{
		`{"state":"new","type":"incoming","session_id":"s","from_number":"sip:` + huge + `@d","request_number":"` + huge + `"}`,
		`{"state":"new","type":"outbound","session_id":"s","from_pin":"201","request_number":"` + huge + `"}`,
	} {
		e, err := ParseCallEvent([]byte(body), nil)
		require.NoError(t, err)
		assert.Empty(t, e.Phone)
		assert.Empty(t, e.Line)
		assert.Contains(t, string(e.Raw.(*CallEventNotification).Body), huge, "Raw keeps the value")
	}
	rec := HistoryRow{SessionID: "s", Direction: 1, OrigNumber: "sip:" + huge + "@d", DestNumber: huge}.CallRecord()
	assert.Empty(t, rec.Phone)
	assert.Empty(t, rec.Line)
	assert.Equal(t, "sip:"+huge+"@d", rec.Raw.(*HistoryRow).OrigNumber)

	c, err := New(Config{ClientID: manualID, SignKey: manualKey, Domain: "d", BaseURL: "http://127.0.0.1:1",
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	var got pbx.RouteQuery
	h := c.WebhookHandler(nil, pbx.RouterFunc(func(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) {
		got = q
		return pbx.Route{}, nil
	}))
	body := []byte(`{"domain":"d","from_number":"` + huge + `","request_number":"74992222222"}`)
	r := httptest.NewRequest(http.MethodPost, "/get_number_info", strings.NewReader(string(body)))
	r.Header.Set("X-Client-ID", manualID)
	r.Header.Set("X-Client-Sign", Sign(manualID, body, manualKey))
	h.ServeHTTP(httptest.NewRecorder(), r)
	assert.Empty(t, got.Phone)
	assert.Equal(t, "74992222222", got.Line)
	assert.Equal(t, huge, got.Raw.(*NumberInfoRequest).FromNumber)

	_, err = c.MakeCall(context.Background(), pbx.CallRequest{Extension: "201", Phone: huge})
	require.ErrorContains(t, err, "is not a telephone number")
	assert.Less(t, len(err.Error()), 600, "the error quotes an excerpt, not the whole value")
}

func TestCallInfoDurations(t *testing.T) {
	tests := []struct {
		name     string
		duration int64
		log      string
		call     time.Duration
		offset   time.Duration
		ok       bool
	}{
		{"manual sample", 8, "0:ct:89035037889;5:cc:89035037889;8:cd:89035037889;", 8 * time.Second, 5 * time.Second, true},
		{"transfer: the first connection counts", 60, "0:ct:1;3:cc:1;20:ct:2;22:cc:2;60:cd:2;", time.Minute, 3 * time.Second, true},
		{"upper case and spaces", 10, " 0:CT:1 ; 4 : CC :1;", 10 * time.Second, 4 * time.Second, true},
		{"no connection", 0, "0:ct:89035037889;", 0, 0, false},
		{"empty log", 30, "", 30 * time.Second, 0, false},
		{"unreadable offset", 30, "x:cc:1;", 30 * time.Second, 0, false},
		{"negative offset", 30, "-3:cc:1;", 30 * time.Second, 0, false},
		{"absurd duration", 1 << 62, "0:cc:1;", 0, 0, true},
		{"negative duration", -5, "", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := CallInfo{Duration: provider.Int(tt.duration), SessionLog: tt.log}
			assert.Equal(t, tt.call, info.CallDuration())
			off, ok := info.AnswerOffset()
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.offset, off)
		})
	}
}

// TestMappingMethods: each decoded payload maps to the neutral value with
// the method every pbxkit vendor names the same way, as the webhook maps it.
func TestMappingMethods(t *testing.T) {
	loc := time.FixedZone("IRKT", 8*3600)
	body := readFixture(t, "notifications/manual_connected.json")
	want, err := ParseCallEvent(body, loc)
	require.NoError(t, err)
	n, err := decodeCallEvent(body)
	require.NoError(t, err)
	got := n.CallEvent(loc)
	assert.Equal(t, want, got, "CallEvent is ParseCallEvent's mapping")
	assert.Equal(t, time.Date(2018, 4, 23, 15, 1, 29, 214e6, loc), got.At)
	assert.Same(t, n, got.Raw)
	assert.Equal(t, provider.DefaultLocation(), n.CallEvent(nil).At.Location(), "nil: Moscow")

	q := &NumberInfoRequest{Domain: "d", FromNumber: "74959561111", RequestNumber: "sip:74992222222@d", SessionID: " s1 "}
	assert.Equal(t, pbx.RouteQuery{Provider: Name, CallID: "s1", Phone: "74959561111", Line: "74992222222", Raw: q}, q.RouteQuery())

	hb := []byte(`{"order_id":"o1","result":"0"}`)
	h := &HistoryFileCompleted{OrderID: "o1", Result: "0", Body: hb}
	e := h.CallEvent(loc)
	assert.Equal(t, pbx.EventUnknown, e.Type)
	assert.Equal(t, Name, e.Provider)
	assert.Equal(t, provider.DedupeKey(hb), e.DedupeKey)
	assert.Same(t, h, e.Raw)
	assert.Equal(t, loc, e.At.Location())
	assert.WithinDuration(t, time.Now(), e.At, time.Minute)

	row := HistoryRow{SessionID: "s", Direction: 2, OrigPIN: "201", DestNumber: "sip:79991234567@d", State: 1}
	assert.Equal(t, row.CallRecord(), row.Record(), "the deprecated name maps the same")
	assert.Equal(t, "79991234567", row.CallRecord().Phone)
}
