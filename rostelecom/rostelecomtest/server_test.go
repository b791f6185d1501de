package rostelecomtest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/rostelecom"
	"github.com/pbxkit/pbxkit/rostelecom/rostelecomtest"
)

// post sends a correctly signed API request and returns status and body.
func post(t *testing.T, srv *rostelecomtest.Server, method, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL()+"/"+method, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("X-Client-ID", srv.ClientID())
	req.Header.Set("X-Client-Sign", rostelecom.Sign(srv.ClientID(), []byte(body), srv.SignKey()))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// manualStaff are the users of the 1C subsystem manual's screenshot
// ("admin" 201 and "user1" 202) and a colleague, which the tests below were
// written with.
func manualStaff() []pbxtest.Employee {
	return []pbxtest.Employee{
		{Extension: "201", Login: "admin", Name: "Балабанова Наталья Игнатьевна"},
		{Extension: "202", Login: "user1", Name: "Гладилина Вера Михайловна"},
		{Extension: "203", Login: "user2", Name: "Смирнов Олег Петрович"},
	}
}

func TestFakeAnswersLikeThePBX(t *testing.T) {
	srv := rostelecomtest.NewServer(rostelecomtest.Options{Employees: manualStaff()})
	defer srv.Close()
	id := srv.AddHistory(rostelecomtest.HistoryEntry{Caller: "79991234567", Line: "74951234567", Extension: "201", Answered: true, Talk: 8 * time.Second, Record: true})

	status, body := post(t, srv, "call_info", `{"session_id":"`+id+`"}`)
	assert.Equal(t, 200, status)
	assert.Contains(t, body, `"result":0,`, "call_info: result is a number")

	_, body = post(t, srv, "get_record", `{"session_id":"`+id+`"}`)
	assert.Contains(t, body, `"result":"0"`, "get_record: result is a string")
	assert.Contains(t, body, "/records_new_scheme/record/download/")

	_, body = post(t, srv, "users_info", `{"domain":"`+srv.Domain()+`","user_pin":"201"}`)
	assert.Contains(t, body, `"users":{`, "one user is an object")
	_, body = post(t, srv, "users_info", `{"domain":"`+srv.Domain()+`"}`)
	assert.Contains(t, body, `"users":[`)
	_, body = post(t, srv, "users_info", `{}`)
	assert.Contains(t, body, `"result":-1`, "users_info needs the domain")

	_, body = post(t, srv, "domain_call_history", `{"date_start":1611619200,"date_end":1611705599}`)
	assert.Contains(t, body, "Невозможно получить call_history_id", "epoch dates are rejected")
	_, body = post(t, srv, "domain_call_history", `{"date_start":"2021-10-1 00:00:00","date_end":"2021-10-31 23:59:59"}`)
	assert.Contains(t, body, `"order_id"`, "unpadded dates are accepted")

	status, body = post(t, srv, "download_call_history", `{"order_id":"`+srv.OrderIDs()[0]+`"}`)
	assert.Equal(t, 404, status)
	assert.Contains(t, body, ".csv.z] not found")
	status, body = post(t, srv, "download_call_history", `{"order_id":"`+srv.OrderIDs()[0]+`"}`)
	assert.Equal(t, 200, status)
	assert.True(t, strings.HasPrefix(body, "PK\x03\x04"), "a ZIP")

	_, body = post(t, srv, "call_back", `{"request_number":"+74951234567","from_sipuri":"admin@`+srv.Domain()+`"}`)
	assert.Contains(t, body, `"session_id"`)
	_, body = post(t, srv, "call_back", `{"request_number":"+74951234567"}`)
	assert.Contains(t, body, `"result":"-1"`)

	status, body = post(t, srv, "call_back", `not json`)
	assert.Equal(t, 200, status)
	assert.Contains(t, body, `"result":"-1"`)

	status, _ = post(t, srv, "no_such_method", `{}`)
	assert.Equal(t, 404, status)

	resp, err := http.Get(srv.URL() + "/users_info")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	for _, r := range srv.RequestsFor("call_info") {
		assert.True(t, r.SignatureOK)
	}
}

func TestFailNext(t *testing.T) {
	srv := rostelecomtest.NewServer(rostelecomtest.Options{})
	defer srv.Close()
	srv.FailNext("users_info", -5, "Сервис временно недоступен")
	_, body := post(t, srv, "users_info", `{"domain":"`+srv.Domain()+`"}`)
	assert.JSONEq(t, `{"result":"-5","resultMessage":"Сервис временно недоступен"}`, body)
	_, body = post(t, srv, "users_info", `{"domain":"`+srv.Domain()+`"}`)
	assert.Contains(t, body, `"users"`, "one failure only")
}

func TestNotifyIsSigned(t *testing.T) {
	srv := rostelecomtest.NewServer(rostelecomtest.Options{ClientID: "ID", SignKey: "KEY"})
	defer srv.Close()
	var got *http.Request
	var body []byte
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		body, _ = io.ReadAll(r.Body)
		_, _ = io.WriteString(w, `{"result":"0","resultMessage":"ok"}`)
	}))
	defer hook.Close()
	d, err := srv.Notify(context.Background(), hook.URL+"/base/", "call_events", []byte(`{"state": "new"}`))
	require.NoError(t, err)
	assert.Equal(t, "/base/call_events", got.URL.Path)
	assert.Equal(t, "ID", got.Header.Get("X-Client-ID"))
	assert.Equal(t, rostelecom.Sign("ID", body, "KEY"), got.Header.Get("X-Client-Sign"))
	assert.Equal(t, `{"state": "new"}`, string(body), "sent as given")
	assert.Equal(t, 200, d.Status)
}

func TestPlayStopsOnAFailingWebhook(t *testing.T) {
	srv := rostelecomtest.NewServer(rostelecomtest.Options{})
	defer srv.Close()
	n := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		if strings.HasSuffix(r.URL.Path, "/get_number_info") {
			_, _ = io.WriteString(w, `{"result":"0","resultMessage":"ok","displayName":"","PIN":""}`)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer hook.Close()
	played, err := srv.PlayDetailed(context.Background(), hook.URL, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "500")
	assert.Len(t, played.Sent, 2, "get_number_info, then the failing new")
	assert.Equal(t, 2, n)
	assert.Equal(t, 2, played.Notifications)

	_, err = srv.Play(context.Background(), hook.URL, pbxtest.Call{})
	assert.Error(t, err, "a call needs a scenario")
}

func TestPlayedNotificationsLookLikeTheManual(t *testing.T) {
	srv := rostelecomtest.NewServer(rostelecomtest.Options{Employees: manualStaff()})
	defer srv.Close()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"result":"0","resultMessage":"ok","displayName":"Альфа","PIN":"202"}`)
	}))
	defer hook.Close()
	start := time.Date(2018, 4, 23, 15, 1, 27, 214e6, time.FixedZone("MSK", 3*3600))
	played, err := srv.PlayDetailed(context.Background(), hook.URL, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming,
		CallID: "76981273981237", Caller: "79771234567", Line: "74951234567", Start: start})
	require.NoError(t, err)
	assert.Equal(t, `{"domain":"example.20.rt.ru","from_number":"79771234567","request_number":"74951234567"}`, string(played.Sent[0].Body))
	ev := played.Events()
	require.Len(t, ev, 5)
	assert.Equal(t, `{"state":"new","type":"incoming","session_id":"76981273981237","timestamp":"2018-04-23 15:01:27.214",`+
		`"from_number":"sip:79771234567@example.20.rt.ru","request_number":"sip:74951234567@example.20.rt.ru"}`, string(ev[0].Body))
	assert.Equal(t, `{"state":"connected","type":"incoming","session_id":"76981273981237","timestamp":"2018-04-23 15:01:32.214",`+
		`"from_number":"sip:79771234567@example.20.rt.ru","request_number":"user1@example.20.rt.ru","request_pin":"202"}`, string(ev[2].Body))
	var end map[string]string
	require.NoError(t, json.Unmarshal(ev[4].Body, &end))
	assert.Equal(t, "true", end["is_record"], "a string, as the PBX sends it")
}

// TestMP3Reader: the fake's recordings are pbxtest's generated stream.
func TestMP3Reader(t *testing.T) {
	b, err := io.ReadAll(pbxtest.NewMP3Reader(10_000))
	require.NoError(t, err)
	assert.Len(t, b, 10_000)
	assert.Equal(t, "ID3", string(b[:3]))
	assert.Equal(t, []byte{0xFF, 0xFB}, b[10:12], "an MPEG frame follows the tag")
	assert.Equal(t, []byte{0xFF, 0xFB}, b[10+417:10+419], "and the next one")

	r := pbxtest.NewMP3Reader(1 << 30)
	buf := make([]byte, 32<<10)
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = r.Read(buf) }))

	empty, err := io.ReadAll(pbxtest.NewMP3Reader(0))
	require.NoError(t, err)
	assert.Empty(t, empty)
}

// TestRecordingStreams downloads a large recording through the client and
// checks that neither side buffers it.
func TestRecordingStreams(t *testing.T) {
	const size = 64 << 20
	srv := rostelecomtest.NewServer(rostelecomtest.Options{RecordingSize: size})
	defer srv.Close()
	c, err := rostelecom.New(srv.Config())
	require.NoError(t, err)
	id := srv.AddHistory(rostelecomtest.HistoryEntry{Caller: "79991234567", Answered: true, Talk: time.Minute, Record: true})

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rec, err := c.FetchRecording(context.Background(), id)
	require.NoError(t, err)
	n, err := io.Copy(io.Discard, rec.Body)
	require.NoError(t, err)
	require.NoError(t, rec.Body.Close())
	runtime.ReadMemStats(&after)
	assert.EqualValues(t, size, n)
	assert.EqualValues(t, size, rec.Size)
	growth := int64(after.HeapInuse) - int64(before.HeapInuse)
	assert.Less(t, growth, int64(8<<20), "heap grew by %d bytes", growth)
}

func TestParseNumberInfoAnswer(t *testing.T) {
	tests := []struct {
		body, pin, name string
		ok              bool
	}{
		{`{"result":"0","resultMessage":"ok","displayName":"Иванов Сергей","PIN":"765"}`, "765", "Иванов Сергей", true},
		{`{"result":0,"displayName":null,"PIN":null}`, "", "", true},
		{`{"result":"-1","resultMessage":"Unknown domain"}`, "", "", true},
		{`{"result":"0","displayName":"OOO Alfa"}`, "", "OOO Alfa", true},
		{`{"result":"0","pin":"765"}`, "", "", false},
		{`{"result":"0","PIN ":"765"}`, "", "", false},
		{`{"result":"0","display_name":"x"}`, "", "", false},
		{`{"result":"0","PIN":765}`, "", "", false},
		{`{"PIN":"765"}`, "", "", false},
		{``, "", "", false},
		{`[]`, "", "", false},
	}
	for _, tt := range tests {
		pin, name, err := rostelecomtest.ParseNumberInfoAnswer([]byte(tt.body))
		if !tt.ok {
			assert.Error(t, err, tt.body)
			continue
		}
		require.NoError(t, err, tt.body)
		assert.Equal(t, tt.pin, pin, tt.body)
		assert.Equal(t, tt.name, name, tt.body)
	}
}

func TestPlayRejectsAWrongRoutingAnswer(t *testing.T) {
	srv := rostelecomtest.NewServer(rostelecomtest.Options{})
	defer srv.Close()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"result":"0","pin":"202"}`)
	}))
	defer hook.Close()
	res, err := srv.PlayDetailed(context.Background(), hook.URL, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming})
	require.ErrorContains(t, err, `spells "pin"`)
	assert.True(t, res.Asked)
	assert.Len(t, res.Sent, 1)
	assert.Equal(t, err, srv.Plays()[0].Err, "the result is kept")
}

func TestSetWebhookRingsAfterCallBack(t *testing.T) {
	srv := rostelecomtest.NewServer(rostelecomtest.Options{Employees: manualStaff()})
	defer srv.Close()
	var mu sync.Mutex
	var states []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n rostelecom.CallEventNotification
		_ = json.NewDecoder(r.Body).Decode(&n)
		mu.Lock()
		states = append(states, n.Type+" "+n.State+" "+n.FromPIN+" "+n.RequestNumber)
		mu.Unlock()
		_, _ = io.WriteString(w, `{"result":"0","resultMessage":"ok"}`)
	}))
	defer hook.Close()
	srv.SetWebhook(hook.URL)
	_, body := post(t, srv, "call_back", `{"request_number":"+79991234567","from_pin":"202"}`)
	var ans struct {
		SessionID string `json:"session_id"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &ans))
	require.NoError(t, srv.Wait())
	assert.Equal(t, []string{
		"outbound new 202 79991234567", "outbound calling 202 79991234567", "outbound connected 202 79991234567",
		"outbound disconnected 202 79991234567", "outbound end 202 79991234567",
	}, states)
	plays := srv.Plays()
	require.Len(t, plays, 1)
	assert.Equal(t, ans.SessionID, plays[0].Call.CallID)
	assert.Equal(t, "202", plays[0].AnsweredBy)
	hist := srv.History()
	require.Len(t, hist, 1)
	assert.Equal(t, rostelecomtest.HistoryEntry{CallID: ans.SessionID, Direction: 2, Callback: true, Caller: "79991234567",
		Extension: "202", Answered: true, Start: hist[0].Start, Ring: 5 * time.Second, Talk: 42 * time.Second, Record: true}, hist[0])
	assert.Equal(t, map[string]int64{ans.SessionID: rostelecomtest.DefaultRecordingSize}, srv.Recordings())

	// A webhook that fails: Wait reports it.
	gone := httptest.NewServer(http.NotFoundHandler())
	defer gone.Close()
	srv.SetWebhook(gone.URL)
	post(t, srv, "call_back", `{"request_number":"+79991234567","from_pin":"201"}`)
	assert.Error(t, srv.Wait())
	assert.NoError(t, srv.Wait(), "errors are reported once")
}

// TestFakeDurationIsTheWholeCall: call_info and the export give the whole
// call (ringing included) as duration and show the connection in
// session_log, in the manual sample's shape; a call nobody answered has
// duration 0.
func TestFakeDurationIsTheWholeCall(t *testing.T) {
	srv := rostelecomtest.NewServer(rostelecomtest.Options{})
	defer srv.Close()
	answered := srv.AddHistory(rostelecomtest.HistoryEntry{Caller: "89035037889", Line: "74951234567", Extension: "201",
		Answered: true, Ring: 5 * time.Second, Talk: 3 * time.Second})
	missed := srv.AddHistory(rostelecomtest.HistoryEntry{Caller: "89035037889", Line: "74951234567", Extension: "201",
		Ring: 20 * time.Second})
	var ans struct {
		Info struct {
			Duration   int    `json:"duration"`
			SessionLog string `json:"session_log"`
		} `json:"info"`
	}
	_, body := post(t, srv, "call_info", `{"session_id":"`+answered+`"}`)
	require.NoError(t, json.Unmarshal([]byte(body), &ans))
	assert.Equal(t, 8, ans.Info.Duration)
	assert.Equal(t, "0:ct:74951234567;5:cc:74951234567;8:cd:74951234567;", ans.Info.SessionLog)
	_, body = post(t, srv, "call_info", `{"session_id":"`+missed+`"}`)
	require.NoError(t, json.Unmarshal([]byte(body), &ans))
	assert.Equal(t, 0, ans.Info.Duration, "no connection")
	assert.Equal(t, "0:ct:74951234567;", ans.Info.SessionLog)
}
