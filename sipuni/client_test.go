package sipuni

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

const (
	testAccount = "012345"
	testSecret  = "0.s3cr3tKey"
	testBase    = "https://sipuni.test/api/"
)

// mockClient returns a Client whose requests go to an httpmock transport.
func mockClient(t *testing.T, cfg Config) (*Client, *httpmock.MockTransport) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	if cfg.Account == "" {
		cfg.Account = testAccount
	}
	if cfg.Secret == "" {
		cfg.Secret = testSecret
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = testBase
	}
	if cfg.WebhookToken == "" && cfg.WebhookUser == "" {
		cfg.WebhookToken = "tok"
	}
	cfg.HTTPClient = &http.Client{Transport: mt}
	c, err := New(cfg)
	require.NoError(t, err)
	return c, mt
}

// formOf reads a request's form body and checks its hash like Sipuni.
func formOf(t *testing.T, r *http.Request) url.Values {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	assert.Equal(t, "application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
	v, err := url.ParseQuery(string(b))
	require.NoError(t, err)
	assert.Equal(t, testAccount, v.Get("user"))
	assert.Equal(t, Sign(v, testSecret), v.Get("hash"), "hash over what was sent")
	return v
}

func TestCallNumberSendsSignedForm(t *testing.T) {
	c, mt := mockClient(t, Config{})
	var got url.Values
	mt.RegisterResponder(http.MethodPost, testBase+"callback/call_number", func(r *http.Request) (*http.Response, error) {
		got = formOf(t, r)
		return httpmock.NewStringResponse(200, `{"success":true,"id":"5f0c","callId":"1774372584.533596"}`), nil
	})
	resp, err := c.CallNumber(context.Background(), CallNumberRequest{Phone: "79031234567", SIPNumber: "201", AntiAON: true})
	require.NoError(t, err)
	assert.Equal(t, CallResponse{ID: "5f0c", CallID: "1774372584.533596"}, resp)
	// Exactly the documented set, nothing more.
	assert.Equal(t, url.Values{
		"antiaon": {"1"}, "phone": {"79031234567"}, "reverse": {"0"}, "sipnumber": {"201"},
		"user": {testAccount}, "hash": {md5hex("1+79031234567+0+201+012345+" + testSecret)},
	}, got)
}

func TestCallMethodsParameterSets(t *testing.T) {
	tests := []struct {
		name string
		call func(c *Client) error
		op   string
		want url.Values // without user and hash
	}{
		{
			name: "call_tree with attempt time",
			call: func(c *Client) error {
				_, err := c.CallTree(context.Background(), CallTreeRequest{Phone: "79031234567", SIPNumber: "201", Tree: "000-913901", CallAttemptTime: 30})
				return err
			},
			op:   "callback/call_tree",
			want: url.Values{"phone": {"79031234567"}, "sipnumber": {"201"}, "tree": {"000-913901"}, "reverse": {"0"}, "callAttemptTime": {"30"}},
		},
		{
			name: "call_tree without attempt time",
			call: func(c *Client) error {
				_, err := c.CallTree(context.Background(), CallTreeRequest{Phone: "79031234567", SIPNumber: "201", Tree: "000658610", Reverse: true})
				return err
			},
			op:   "callback/call_tree",
			want: url.Values{"phone": {"79031234567"}, "sipnumber": {"201"}, "tree": {"000658610"}, "reverse": {"1"}},
		},
		{
			name: "call_external",
			call: func(c *Client) error {
				_, err := c.CallExternal(context.Background(), CallExternalRequest{PhoneFrom: "998946963233", PhoneTo: "998948867473", SIPNumber: "201", SIPNumber2: "201"})
				return err
			},
			op:   "callback/call_external",
			want: url.Values{"phoneFrom": {"998946963233"}, "phoneTo": {"998948867473"}, "sipnumber": {"201"}, "sipnumber2": {"201"}},
		},
		{
			name: "hangup",
			call: func(c *Client) error { return c.Hangup(context.Background(), "1774372146.533584") },
			op:   "events/call/hangup",
			want: url.Values{"callId": {"1774372146.533584"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := mockClient(t, Config{})
			var got url.Values
			mt.RegisterResponder(http.MethodPost, testBase+tt.op, func(r *http.Request) (*http.Response, error) {
				got = formOf(t, r)
				return httpmock.NewStringResponse(200, `{"success":true}`), nil
			})
			require.NoError(t, tt.call(c))
			require.NotNil(t, got)
			got.Del("user")
			got.Del("hash")
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestCallAnswers(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		body         string
		header       http.Header
		wantErr      bool
		unauthorized bool
		wantMsg      string
		want         CallResponse
	}{
		{name: "success with id", status: 200, body: `{"success":true,"id":"abc"}`, want: CallResponse{ID: "abc"}},
		{name: "success as string", status: 200, body: `{"success":"true","callId":123}`, want: CallResponse{CallID: "123"}},
		{name: "bare 1", status: 200, body: "1\n"},
		{name: "success false with message", status: 200, body: `{"success":false,"message":"Номер не найден"}`, wantErr: true, wantMsg: "Номер не найден"},
		{name: "success false with msg", status: 200, body: `{"success":false,"msg":"limit"}`, wantErr: true, wantMsg: "limit"},
		{name: "success false with error string", status: 200, body: `{"success":false,"error":"bad phone"}`, wantErr: true, wantMsg: "bad phone"},
		{name: "success missing", status: 200, body: `{"id":"abc"}`, wantErr: true},
		{name: "not JSON", status: 200, body: `ok`, wantErr: true},
		{name: "bad hash as text", status: 200, body: `Неправильный хеш`, wantErr: true, unauthorized: true, wantMsg: badHash},
		{name: "bad hash as HTML 500", status: 500, body: "<html><body><h1>Неправильный хеш</h1></body></html>", wantErr: true, unauthorized: true},
		{name: "other HTML page", status: 200, body: "<!DOCTYPE html><html><title>Вход</title></html>", header: http.Header{"Content-Type": {"text/html"}}, wantErr: true, unauthorized: true},
		{name: "HTTP 403", status: 403, body: "Forbidden", wantErr: true, unauthorized: true},
		{name: "HTTP 502", status: 502, body: "Bad Gateway", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := mockClient(t, Config{})
			mt.RegisterResponder(http.MethodPost, testBase+"callback/call_number", func(*http.Request) (*http.Response, error) {
				r := httpmock.NewStringResponse(tt.status, tt.body)
				for k, v := range tt.header {
					r.Header[k] = v
				}
				return r, nil
			})
			got, err := c.CallNumber(context.Background(), CallNumberRequest{Phone: "79031234567", SIPNumber: "201"})
			// A call is never sent twice, whatever the answer.
			assert.Equal(t, 1, mt.GetTotalCallCount())
			if !tt.wantErr {
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
				return
			}
			require.Error(t, err)
			var ae *provider.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.status, ae.StatusCode)
			assert.Equal(t, tt.unauthorized, errors.Is(err, provider.ErrUnauthorized), err.Error())
			if tt.wantMsg != "" {
				assert.Equal(t, tt.wantMsg, ae.Message)
			}
			assert.NotContains(t, err.Error(), testSecret)
		})
	}
}

func TestCallArgumentErrorsSendNothing(t *testing.T) {
	c, mt := mockClient(t, Config{})
	ctx := context.Background()
	_, err := c.CallNumber(ctx, CallNumberRequest{SIPNumber: "201"})
	assert.Error(t, err)
	_, err = c.CallNumber(ctx, CallNumberRequest{Phone: "79031234567"})
	assert.Error(t, err)
	_, err = c.CallTree(ctx, CallTreeRequest{Phone: "79031234567"})
	assert.Error(t, err)
	_, err = c.CallExternal(ctx, CallExternalRequest{PhoneFrom: "1", SIPNumber: "201"})
	assert.Error(t, err)
	assert.Error(t, c.Hangup(ctx, ""))
	_, err = c.MakeCall(ctx, pbx.CallRequest{Extension: "201", Phone: "ivan.petrov"})
	assert.Error(t, err)
	_, err = c.MakeCall(ctx, pbx.CallRequest{Phone: "89031234567"})
	assert.Error(t, err)
	_, err = c.Record(ctx, "")
	assert.Error(t, err)
	assert.Zero(t, mt.GetTotalCallCount())
}

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

func TestExportStatisticsParams(t *testing.T) {
	loc := time.FixedZone("ALMT", 5*3600)
	c, mt := mockClient(t, Config{Location: loc})
	var got url.Values
	csvBody, err := os.ReadFile("testdata/export_full.csv")
	require.NoError(t, err)
	mt.RegisterResponder(http.MethodPost, testBase+"statistic/export", func(r *http.Request) (*http.Response, error) {
		got = formOf(t, r)
		return httpmock.NewBytesResponse(200, csvBody), nil
	})
	// 2026-03-23 20:30 UTC is already the 24th in UTC+5.
	from := time.Date(2026, 3, 23, 20, 30, 0, 0, time.UTC)
	rows, err := c.ExportStatistics(context.Background(), ExportRequest{
		From: from, To: from, Type: IncomingCalls, State: AnsweredCalls, TimeFrom: "09:00",
		Names: true, ShowTreeID: true, IgnoreSpecChar: true, Anonymous: true,
	})
	require.NoError(t, err)
	assert.Len(t, rows, 4)
	got.Del("hash")
	assert.Equal(t, url.Values{
		"anonymous": {"1"}, "crmLinks": {"0"}, "dtmfUserAnswer": {"0"}, "firstTime": {"0"},
		"from": {"24.03.2026"}, "to": {"24.03.2026"}, "fromNumber": {""}, "hangupinitor": {"0"},
		"ignoreSpecChar": {"1"}, "names": {"1"}, "numbersInvolved": {"0"}, "numbersRinged": {"0"},
		"outgoingLine": {"0"}, "rating": {""}, "showTreeId": {"1"}, "state": {"2"}, "timeFrom": {"09:00"},
		"timeTo": {""}, "toAnswer": {""}, "toNumber": {""}, "tree": {""}, "type": {"1"}, "user": {testAccount},
	}, got)
	assert.Equal(t, time.Date(2026, 3, 24, 10, 15, 0, 0, loc), rows[0].Time)
	assert.Equal(t, loc, rows[0].Time.Location())
}

func TestExportStatisticsRequestErrors(t *testing.T) {
	c, mt := mockClient(t, Config{})
	ctx := context.Background()
	day := time.Date(2026, 3, 24, 0, 0, 0, 0, time.UTC)
	for name, req := range map[string]ExportRequest{
		"no dates":       {},
		"to before from": {From: day, To: day.AddDate(0, 0, -1)},
		"bad clock":      {From: day, To: day, TimeFrom: "9 am"},
	} {
		_, err := c.ExportStatistics(ctx, req)
		assert.Error(t, err, name)
	}
	assert.Zero(t, mt.GetTotalCallCount())
}

func TestExportStatisticsAnswers(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		body         string
		rows         int
		unauthorized bool
		wantErr      bool
	}{
		{name: "header only", status: 200, body: "\uFEFFТип;Статус;Время\n", rows: 0},
		{name: "empty body", status: 200, body: "", rows: 0},
		{name: "bad hash text", status: 200, body: "Неправильный хеш", wantErr: true, unauthorized: true},
		{name: "HTML", status: 200, body: "<html><body>Ошибка</body></html>", wantErr: true, unauthorized: true},
		{name: "text error", status: 200, body: "Неверный формат даты", wantErr: true},
		{name: "404", status: 404, body: "Not Found", wantErr: true},
		{name: "unparsable time", status: 200, body: "Тип;Время\nВходящий;вчера\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := mockClient(t, Config{})
			mt.RegisterResponder(http.MethodPost, testBase+"statistic/export", httpmock.NewStringResponder(tt.status, tt.body))
			day := time.Date(2026, 3, 24, 0, 0, 0, 0, time.UTC)
			rows, err := c.ExportStatistics(context.Background(), ExportRequest{From: day, To: day})
			if tt.wantErr {
				require.Error(t, err)
				assert.Equal(t, tt.unauthorized, errors.Is(err, provider.ErrUnauthorized), err.Error())
				return
			}
			require.NoError(t, err)
			assert.Len(t, rows, tt.rows)
		})
	}
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

func TestRecordAnswers(t *testing.T) {
	mp3 := append([]byte("ID3\x04\x00\x00\x00\x00\x00\x00"), bytes.Repeat([]byte{0xFF, 0xFB, 0x90, 0x64}, 100)...)
	tests := []struct {
		name         string
		status       int
		ctype        string
		body         []byte
		wantCT       string
		notReady     bool
		unauthorized bool
		wantErr      bool
	}{
		{name: "audio/mpeg", status: 200, ctype: "audio/mpeg", body: mp3, wantCT: "audio/mpeg"},
		{name: "octet-stream", status: 200, ctype: "application/octet-stream", body: mp3, wantCT: "audio/mpeg"},
		{name: "MP3 bytes under a wrong content type", status: 200, ctype: "text/html", body: mp3, wantCT: "text/html"},
		{name: "empty: not ready", status: 200, body: nil, wantErr: true, notReady: true},
		{name: "304: not ready", status: 304, body: nil, wantErr: true, notReady: true},
		{name: "bad hash", status: 200, ctype: "text/html", body: []byte("<html>Неправильный хеш</html>"), wantErr: true, unauthorized: true},
		{name: "short text", status: 200, ctype: "text/plain", body: []byte("Запись не найдена"), wantErr: true},
		{name: "404", status: 404, ctype: "text/plain", body: []byte("Запись не найдена"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := mockClient(t, Config{})
			var got url.Values
			mt.RegisterResponder(http.MethodPost, testBase+"statistic/record", func(r *http.Request) (*http.Response, error) {
				got = formOf(t, r)
				resp := httpmock.NewBytesResponse(tt.status, tt.body)
				if tt.ctype != "" {
					resp.Header.Set("Content-Type", tt.ctype)
				}
				resp.ContentLength = int64(len(tt.body))
				return resp, nil
			})
			rec, err := c.FetchRecording(context.Background(), "1774372584.533596")
			assert.Equal(t, url.Values{"id": {"1774372584.533596"}, "user": {testAccount}, "hash": {md5hex("1774372584.533596+012345+" + testSecret)}}, got)
			if tt.wantErr {
				require.Error(t, err)
				assert.Equal(t, tt.notReady, errors.Is(err, pbx.ErrNotReady), err.Error())
				assert.Equal(t, tt.unauthorized, errors.Is(err, provider.ErrUnauthorized), err.Error())
				return
			}
			require.NoError(t, err)
			defer rec.Body.Close()
			b, err := io.ReadAll(rec.Body)
			require.NoError(t, err)
			assert.Equal(t, tt.body, b)
			assert.Equal(t, tt.wantCT, rec.ContentType)
			assert.Equal(t, int64(len(tt.body)), rec.Size)
		})
	}
}

func TestOperatorsAndSubscribers(t *testing.T) {
	c, mt := mockClient(t, Config{})
	body, err := os.ReadFile("testdata/operators.csv")
	require.NoError(t, err)
	mt.RegisterResponder(http.MethodPost, testBase+"statistic/operators", func(r *http.Request) (*http.Response, error) {
		v := formOf(t, r)
		assert.Equal(t, url.Values{"user": {testAccount}, "hash": {md5hex("012345+" + testSecret)}}, v)
		return httpmock.NewBytesResponse(200, body), nil
	})
	subs, err := c.Subscribers(context.Background())
	require.NoError(t, err)
	require.Len(t, subs, 3)
	assert.Equal(t, pbx.Subscriber{Extension: "101", Login: "101", Name: "Иван Петров", Raw: subs[0].Raw}, subs[0])
	op, ok := subs[1].Raw.(*Operator)
	require.True(t, ok, "Raw is %T", subs[1].Raw)
	assert.Equal(t, "Перерыв", op.Status)
	assert.Equal(t, "Разговаривает", op.CallState)
	assert.Equal(t, "", subs[2].Extension, "a SIP login is not an extension")
	assert.Equal(t, "012345100003", subs[2].Login)

	// (Status 200: a 500 would be retried first, as reads are.)
	mt.RegisterResponder(http.MethodPost, testBase+"statistic/operators", httpmock.NewStringResponder(200, "<html>Неправильный хеш</html>"))
	_, err = c.Operators(context.Background())
	assert.ErrorIs(t, err, provider.ErrUnauthorized)
}

func TestNewValidates(t *testing.T) {
	ok := Config{Account: "012345", Secret: "s", WebhookToken: "t"}
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"account as a number lost its zero", func(c *Config) { c.Account = "12345" }},
		{"account with letters", func(c *Config) { c.Account = "01234a" }},
		{"account too long", func(c *Config) { c.Account = "0123456" }},
		{"no secret", func(c *Config) { c.Secret = "" }},
		{"user without password", func(c *Config) { c.WebhookUser = "sipuni" }},
		{"password without user", func(c *Config) { c.WebhookPassword = "p4ss" }},
		{"negative route timeout", func(c *Config) { c.RouteTimeout = -time.Second }},
		{"base URL not http", func(c *Config) { c.BaseURL = "ftp://sipuni.com/api/" }},
		{"base URL with credentials", func(c *Config) { c.BaseURL = "https://u:p4ss@sipuni.com/api/" }},
		{"base URL relative", func(c *Config) { c.BaseURL = "/api/" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			_, err := New(cfg)
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "p4ss")
		})
	}
	c, err := New(ok)
	require.NoError(t, err)
	assert.Equal(t, "sipuni", c.Name())
	assert.Equal(t, "012345", c.Account())
	assert.Equal(t, provider.DefaultLocation(), c.Location())
	assert.Equal(t, DefaultBaseURL, c.base)
	assert.Equal(t, DefaultRouteTimeout, c.cfg.RouteTimeout)

	c, err = New(Config{Account: "000001", Secret: "s", WebhookToken: "t", BaseURL: "http://127.0.0.1:1/api"})
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:1/api/", c.base)
}

func TestNewWarnsOnceWithoutWebhookAuth(t *testing.T) {
	var buf bytes.Buffer
	logger := newTestLogger(&buf)
	_, err := New(Config{Account: "012345", Secret: testSecret, Logger: logger})
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(buf.String(), "not authenticated"), buf.String())
	assert.NotContains(t, buf.String(), testSecret)

	buf.Reset()
	_, err = New(Config{Account: "012345", Secret: testSecret, Logger: logger, WebhookUser: "u", WebhookPassword: "p"})
	require.NoError(t, err)
	assert.NotContains(t, buf.String(), "not authenticated")
}
