package rostelecom_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/rostelecom"
)

const (
	mockID  = "ONOFIQNEOIFNQO142EIFNGQEPIN"
	mockKey = "OQNFOI5213QNEFOI135QNEOFINQE"
)

// mockAPI is a client of the production base URL whose requests go to an
// httpmock transport.
func mockAPI(t *testing.T) (*rostelecom.Client, *httpmock.MockTransport) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	c, err := rostelecom.New(rostelecom.Config{ClientID: mockID, SignKey: mockKey, Domain: "873427.20.rt.ru",
		HTTPClient: &http.Client{Transport: mt}})
	require.NoError(t, err)
	return c, mt
}

// signed answers body with status after checking the request's signature
// and passing its JSON to check.
func signed(t *testing.T, status int, body []byte, check func(req map[string]any)) httpmock.Responder {
	return func(r *http.Request) (*http.Response, error) {
		got, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		assert.Equal(t, mockID, r.Header.Get("X-Client-ID"))
		assert.Equal(t, rostelecom.Sign(mockID, got, mockKey), r.Header.Get("X-Client-Sign"), "signed over the bytes sent")
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		if check != nil {
			var req map[string]any
			require.NoError(t, json.Unmarshal(got, &req))
			check(req)
		}
		resp := httpmock.NewBytesResponse(status, body)
		resp.Header.Set("Content-Type", "application/json; charset=utf-8")
		return resp, nil
	}
}

func TestAPIAgainstTheManualSamples(t *testing.T) {
	c, mt := mockAPI(t)
	ctx := context.Background()
	base := rostelecom.DefaultBaseURL

	mt.RegisterResponder("POST", base+"/call_back", signed(t, 200, mustRead(t, "testdata/answers/call_back.json"), func(req map[string]any) {
		assert.Equal(t, map[string]any{"request_number": "+74951234567", "from_sipuri": "test_user@cloudpbx.rt.ru"}, req)
	}))
	cb, err := c.CallBack(ctx, rostelecom.CallBackRequest{RequestNumber: "+74951234567", FromSIPURI: "test_user@cloudpbx.rt.ru"})
	require.NoError(t, err)
	assert.Equal(t, "534dbe28-7e58-4705-89a4-26a308405464", string(cb.SessionID))
	assert.Equal(t, "Операция выполнена успешно", cb.ResultMessage)

	mt.RegisterResponder("POST", base+"/call_info", signed(t, 200, mustRead(t, "testdata/answers/call_info.json"), func(req map[string]any) {
		assert.Equal(t, map[string]any{"session_id": "s1"}, req, "no domain: optional except for users_info")
	}))
	info, err := c.CallInfo(ctx, "s1")
	require.NoError(t, err)
	assert.True(t, info.Info.Answered())
	assert.Equal(t, "sip:m1@testdomain.ru", string(info.Info.OrigNumber))
	assert.Equal(t, "0:ct:89035037889;5:cc:89035037889;8:cd:89035037889;", info.Info.SessionLog)

	mt.RegisterResponder("POST", base+"/get_record", signed(t, 200, mustRead(t, "testdata/answers/get_record.json"), nil))
	rec, err := c.GetRecord(ctx, rostelecom.GetRecordRequest{SessionID: "s1"})
	require.NoError(t, err)
	assert.Equal(t, "https://api.cloudpbx.rt.ru/records_new_scheme/record/download/000017494cf705ab6d72a091aa550726/188254033084", rec.URL)

	mt.RegisterResponder("POST", base+"/users_info", signed(t, 200, mustRead(t, "testdata/answers/users_info.json"), func(req map[string]any) {
		assert.Equal(t, map[string]any{"domain": "873427.20.rt.ru"}, req)
	}))
	subs, err := c.Subscribers(ctx)
	require.NoError(t, err)
	assert.Equal(t, []pbx.Subscriber{{Extension: "501", Login: "snovos4", Name: "Admin", Raw: subs[0].Raw}}, subs)

	assert.Equal(t, 4, mt.GetTotalCallCount())
}

func TestAPIRefusals(t *testing.T) {
	c, mt := mockAPI(t)
	ctx := context.Background()
	base := rostelecom.DefaultBaseURL

	mt.RegisterResponder("POST", base+"/call_back", signed(t, 200, mustRead(t, "testdata/answers/call_back_error.json"), nil))
	_, err := c.MakeCall(ctx, pbx.CallRequest{Extension: "201", Phone: "79991234567"})
	var ae *provider.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "rostelecom", ae.Provider)
	assert.Equal(t, "call_back", ae.Operation)
	assert.Equal(t, "-20", ae.Code)
	assert.Equal(t, "rostelecom: call_back: HTTP 200: code -20: Ошибка при попытке выполнения обратного вызова", err.Error())
	assert.Equal(t, 1, mt.GetCallCountInfo()["POST "+base+"/call_back"], "a refusal is not retried")

	mt.RegisterResponder("POST", base+"/get_record", signed(t, 200, []byte(`{"result":"-1","resultMessage":"Запись не найдена"}`), nil))
	_, err = c.FetchRecording(ctx, "s1")
	assert.ErrorIs(t, err, pbx.ErrNotReady)
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "Запись не найдена", ae.Message)

	mt.RegisterResponder("POST", base+"/domain_call_history", signed(t, 200,
		[]byte(`{"result":"-1","resultMessage":"Невозможно получить call_history_id"}`), func(req map[string]any) {
			assert.Equal(t, "2024-03-05 09:00:00", req["date_start"], "dates in the client's zone, not epoch")
		}))
	from := time.Date(2024, 3, 5, 6, 0, 0, 0, time.UTC) // 09:00 in Moscow
	_, err = c.OrderCallHistory(ctx, rostelecom.CallHistoryOrder{From: from, To: from.Add(time.Hour)})
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "Невозможно получить call_history_id", ae.Message)
}

func TestDownloadCallHistoryKinds(t *testing.T) {
	c, mt := mockAPI(t)
	url := rostelecom.DefaultBaseURL + "/download_call_history"
	csv := mustRead(t, "testdata/history/manual_semicolon.csv")
	var zipped bytes.Buffer
	zw := zip.NewWriter(&zipped)
	w, _ := zw.Create("api3_1.csv")
	_, _ = w.Write(csv)
	require.NoError(t, zw.Close())

	tests := []struct {
		name     string
		status   int
		body     []byte
		rows     int
		notReady bool
	}{
		{"404 HTML", 404, mustRead(t, "testdata/answers/history_not_ready.html"), 0, true},
		{"HTML with 200", 200, []byte("<html><body>File [x] not found</body></html>"), 0, true},
		{"ZIP", 200, zipped.Bytes(), 3, false},
		{"plain CSV", 200, csv, 3, false},
		{"test-host stub", 200, []byte(`{"result":"1","resultMessage":"Операция выполнена успешно","session_id":"x"}`), 0, false},
		{"JSON success without a file", 200, []byte(`{"result":"0","resultMessage":"ok"}`), 0, false},
		{"500", 500, []byte("oops"), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mt.RegisterResponder("POST", url, signed(t, tt.status, tt.body, func(req map[string]any) {
				assert.Equal(t, map[string]any{"order_id": "o1"}, req)
			}))
			rows, err := c.DownloadCallHistory(context.Background(), "o1")
			if tt.rows > 0 {
				require.NoError(t, err)
				assert.Len(t, rows, tt.rows)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.notReady, errors.Is(err, pbx.ErrNotReady), err.Error())
		})
	}
}
