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

func TestParseOperators(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Operator
	}{
		{name: "empty", in: ""},
		{
			name: "English header (Login, Name, Status, Call state)",
			in:   "Login;Name;Status;Call state\n101;Иван Петров;Свободен;Не разговаривает\n",
			want: []Operator{{Login: "101", Extension: "101", Name: "Иван Петров", Status: "Свободен", CallState: "Не разговаривает",
				Fields: map[string]string{"Login": "101", "Name": "Иван Петров", "Status": "Свободен", "Call state": "Не разговаривает"}}},
		},
		{
			name: "extension, name, status with a BOM",
			in:   "\uFEFFextension;name;status\r\n102;Мария;online\r\n\r\n",
			want: []Operator{{Extension: "102", Name: "Мария", Status: "online",
				Fields: map[string]string{"extension": "102", "name": "Мария", "status": "online"}}},
		},
		{
			name: "Russian header with extra column",
			in:   "Внутренний номер;Сотрудник;Статус;Отдел\n103;Алексей;Перерыв;Продажи\n",
			want: []Operator{{Extension: "103", Name: "Алексей", Status: "Перерыв",
				Fields: map[string]string{"Внутренний номер": "103", "Сотрудник": "Алексей", "Статус": "Перерыв", "Отдел": "Продажи"}}},
		},
		{
			name: "no header: positional",
			in:   "\uFEFF104;Ольга;Свободен;Не разговаривает;лишнее\n",
			want: []Operator{{Login: "104", Extension: "104", Name: "Ольга", Status: "Свободен", CallState: "Не разговаривает",
				Fields: map[string]string{"Login": "104", "Name": "Ольга", "Status": "Свободен", "Call state": "Не разговаривает", "column 5": "лишнее"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOperators(strings.NewReader(tt.in))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
