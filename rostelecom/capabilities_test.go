package rostelecom_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/rostelecom"
	"github.com/pbxkit/pbxkit/rostelecom/rostelecomtest"
)

// TestWebhookTestRequest: the test notification is one the Client's own
// webhook accepts, handing one call_started event to the handler; a
// webhook configured with another sign key or client ID refuses it, and
// nothing reaches its handler.
func TestWebhookTestRequest(t *testing.T) {
	ctx := context.Background()
	c := manualClient(t)
	var tester provider.WebhookTester = c
	rec := &pbxtest.Recorder{}
	hook := httptest.NewServer(c.WebhookHandler(rec, rec))
	defer hook.Close()

	send := func(req *http.Request) int {
		t.Helper()
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	req, err := tester.WebhookTestRequest(ctx, hook.URL+"/pbx/rostelecom/", "pbxctl-test-1")
	require.NoError(t, err)
	assert.Equal(t, "/pbx/rostelecom/call_events", req.URL.Path, "the PBX appends the notification's name")
	assert.Equal(t, http.MethodPost, req.Method)
	assert.Equal(t, rostelecomtest.DefaultClientID, req.Header.Get("X-Client-ID"))
	assert.Equal(t, http.StatusOK, send(req))
	events := rec.Events()
	require.Len(t, events, 1)
	e := events[0]
	assert.Equal(t, pbx.EventCallStarted, e.Type)
	assert.Equal(t, "pbxctl-test-1", e.CallID)
	assert.Equal(t, pbx.Inbound, e.Direction)
	assert.Equal(t, "79990000000", e.Phone)
	assert.Equal(t, "70000000000", e.Line)
	assert.Empty(t, e.Extension, "nobody is rung")
	assert.Equal(t, c.Location(), e.At.Location())
	assert.Empty(t, rec.Queries(), "no routing question")

	// Without a trailing slash, and without a call id: one is made up.
	req, err = c.WebhookTestRequest(ctx, hook.URL+"/hook", "")
	require.NoError(t, err)
	assert.Equal(t, "/hook/call_events", req.URL.Path)
	assert.Equal(t, http.StatusOK, send(req))
	require.Len(t, rec.Events(), 2)
	assert.NotEmpty(t, rec.Events()[1].CallID)

	// Receivers with other credentials refuse it.
	for name, cfg := range map[string]rostelecom.Config{
		"another sign key":  {ClientID: rostelecomtest.DefaultClientID, SignKey: "00000716ABDA6D4DFF10F82BCBBFC500", Domain: "example_domain.ru"},
		"another client ID": {ClientID: "000003C405E6525C64C184258C44EC00", SignKey: rostelecomtest.DefaultSignKey, Domain: "example_domain.ru"},
	} {
		t.Run(name, func(t *testing.T) {
			other, err := rostelecom.New(cfg)
			require.NoError(t, err)
			got := &pbxtest.Recorder{}
			otherHook := httptest.NewServer(other.WebhookHandler(got, got))
			defer otherHook.Close()
			req, err := c.WebhookTestRequest(ctx, otherHook.URL, "pbxctl-test-2")
			require.NoError(t, err)
			assert.Equal(t, http.StatusForbidden, send(req))
			assert.Empty(t, got.Events())
		})
	}
}

// TestWebhookTestRequestBadURL: a URL that is not absolute http(s) is an
// error that shows neither its user info nor its query.
func TestWebhookTestRequestBadURL(t *testing.T) {
	c := manualClient(t)
	for _, u := range []string{"", "/relative/path", "ftp://crm.example.ru/pbx", "https://user:s3cr3t@/pbx?token=t0ken", "http://%zz"} {
		_, err := c.WebhookTestRequest(context.Background(), u, "x")
		require.Error(t, err, u)
		assert.NotContains(t, err.Error(), "s3cr3t", u)
		assert.NotContains(t, err.Error(), "t0ken", u)
		assert.NotContains(t, err.Error(), rostelecomtest.DefaultSignKey, u)
	}
}

func TestCallBackAndMakeCall(t *testing.T) {
	srv, c := newFake(t, rostelecomtest.Options{})
	ctx := context.Background()

	res, err := c.MakeCall(ctx, pbx.CallRequest{Extension: "201", Phone: "8 (999) 123-45-67"})
	require.NoError(t, err)
	assert.NotEmpty(t, res.CallID)

	reqs := srv.RequestsFor(rostelecom.MethodCallBack)
	require.Len(t, reqs, 1)
	assert.True(t, reqs[0].SignatureOK, "the client signs the exact bytes it sends")
	assert.JSONEq(t, `{"request_number":"+79991234567","from_pin":"201"}`, string(reqs[0].Body))
	assert.Equal(t, "application/json", reqs[0].Header.Get("Content-Type"))
	assert.Equal(t, map[string]string{"request_number": "+79991234567", "from_pin": "201"}, reqs[0].Params)

	info, err := c.CallInfo(ctx, res.CallID)
	require.NoError(t, err, "the fake remembers the call")
	assert.EqualValues(t, 3, info.Info.CallType, "a callback")

	// Typed method with a SIP URI.
	cb, err := c.CallBack(ctx, rostelecom.CallBackRequest{RequestNumber: "+74951234567", FromSIPURI: "user1@" + srv.Domain()})
	require.NoError(t, err)
	assert.NotEmpty(t, cb.SessionID)
	assert.True(t, cb.OK())

	// The PBX's refusal.
	_, err = c.MakeCall(ctx, pbx.CallRequest{Extension: "999", Phone: "+79991234567"})
	var ae *provider.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "-20", ae.Code)
	assert.Equal(t, "Ошибка при попытке выполнения обратного вызова", ae.Message)
	assert.Equal(t, http.StatusOK, ae.StatusCode)

	// Refused before sending.
	for _, req := range []pbx.CallRequest{{Phone: "79991234567"}, {Extension: "201", Phone: "ivan.petrov"}, {Extension: "201"}} {
		_, err := c.MakeCall(ctx, req)
		require.Error(t, err)
	}
	_, err = c.CallBack(ctx, rostelecom.CallBackRequest{RequestNumber: "1", FromPIN: "201", FromSIPURI: "x@y"})
	require.Error(t, err)
	assert.Len(t, srv.RequestsFor(rostelecom.MethodCallBack), 3)
}

// TestMakeCallIsNeverRetried sends call_back to servers that fail in every
// way a request may already have rung a phone: each must be sent once.
func TestMakeCallIsNeverRetried(t *testing.T) {
	faults := map[string]func(w http.ResponseWriter){
		"500": func(w http.ResponseWriter) { w.WriteHeader(500) },
		"502": func(w http.ResponseWriter) { w.WriteHeader(502) },
		"429": func(w http.ResponseWriter) { w.Header().Set("Retry-After", "0"); w.WriteHeader(429) },
		"reset": func(w http.ResponseWriter) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			_ = conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		},
		"timeout": func(http.ResponseWriter) { time.Sleep(300 * time.Millisecond) },
	}
	for name, fault := range faults {
		t.Run(name, func(t *testing.T) {
			var hits atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				hits.Add(1)
				fault(w)
			}))
			defer ts.Close()
			c, err := rostelecom.New(rostelecom.Config{ClientID: "ID", SignKey: "KEY", Domain: "d", BaseURL: ts.URL})
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			_, err = c.MakeCall(ctx, pbx.CallRequest{Extension: "201", Phone: "79991234567"})
			require.Error(t, err)
			assert.EqualValues(t, 1, hits.Load())
		})
	}
}

func TestSubscribers(t *testing.T) {
	srv, c := newFake(t, rostelecomtest.Options{})
	subs, err := c.Subscribers(context.Background())
	require.NoError(t, err)
	require.Len(t, subs, len(srv.Employees()))
	assert.Equal(t, pbx.Subscriber{Extension: "201", Login: "admin", Name: "Балабанова Наталья Игнатьевна", Raw: subs[0].Raw}, subs[0])
	u, ok := subs[0].Raw.(*rostelecom.User)
	require.True(t, ok)
	assert.JSONEq(t, `{"display_name":"Балабанова Наталья Игнатьевна","name":"admin","pin":"201"}`, string(u.Body))

	one, err := c.UsersInfo(context.Background(), rostelecom.UsersInfoRequest{UserPIN: "202"})
	require.NoError(t, err, "one user comes as an object")
	require.Len(t, one.Users, 1)
	assert.Equal(t, "user1", one.Users[0].Name)
	assert.JSONEq(t, `{"domain":"`+srv.Domain()+`","user_pin":"202"}`, string(srv.RequestsFor("users_info")[1].Body))

	var manual rostelecom.UsersInfoResponse
	require.NoError(t, json.Unmarshal(mustRead(t, "testdata/answers/users_info.json"), &manual))
	assert.Equal(t, "501", string(manual.Users[0].PIN))
	for body, n := range map[string]int{
		`{"users":null}`: 0, `{"users":""}`: 0, `{"users":[]}`: 0,
		`{"users":[{"pin":501},{"pin":"502","phone":"+7 999"}]}`: 2,
	} {
		var r rostelecom.UsersInfoResponse
		require.NoError(t, json.Unmarshal([]byte(body), &r), body)
		assert.Len(t, r.Users, n, body)
	}
	var bad rostelecom.UsersInfoResponse
	assert.Error(t, json.Unmarshal([]byte(`{"users":42}`), &bad))
}

func TestRecordings(t *testing.T) {
	srv, c := newFake(t, rostelecomtest.Options{RecordingNotReady: 1})
	ctx := context.Background()
	id := srv.AddHistory(rostelecomtest.HistoryEntry{Caller: "79991234567", Line: "74951234567", Extension: "201",
		Answered: true, Talk: 30 * time.Second, Record: true, RecordingSize: 1 << 20})

	_, err := c.FetchRecording(ctx, id)
	require.ErrorIs(t, err, pbx.ErrNotReady, "the first ask is 'not ready'")

	rec, err := c.FetchRecording(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "audio/mpeg", rec.ContentType)
	assert.EqualValues(t, 1<<20, rec.Size)
	head := make([]byte, 3)
	_, err = io.ReadFull(rec.Body, head)
	require.NoError(t, err)
	assert.Equal(t, "ID3", string(head))
	n, err := io.Copy(io.Discard, rec.Body)
	require.NoError(t, err)
	assert.EqualValues(t, 1<<20-3, n)
	require.NoError(t, rec.Body.Close())

	// The link is one-time.
	res, err := c.GetRecord(ctx, rostelecom.GetRecordRequest{SessionID: id, IPAddress: "188.254.33.84"})
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(res.URL, "/188254033084"), res.URL)
	assert.JSONEq(t, `{"session_id":"`+id+`","ip_adress":"188.254.33.84"}`, string(srv.RequestsFor("get_record")[2].Body))
	for i, want := range []int{200, 404} {
		resp, err := http.Get(res.URL)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode, "download %d", i+1)
	}

	// No recording, unknown call.
	missed := srv.AddHistory(rostelecomtest.HistoryEntry{Caller: "79991234567"})
	for _, id := range []string{missed, "nope"} {
		_, err := c.FetchRecording(ctx, id)
		assert.ErrorIs(t, err, pbx.ErrNotReady)
	}
}

func TestHistory(t *testing.T) {
	for name, format := range map[string]rostelecomtest.HistoryFormat{
		"zip":         {},
		"gzip header": {Compression: rostelecomtest.Gzip, Header: true},
		"plain comma": {Compression: rostelecomtest.Plain, Comma: ','},
	} {
		t.Run(name, func(t *testing.T) {
			srv, c := newFake(t, rostelecomtest.Options{HistoryNotReady: 2, HistoryFormat: format})
			loc := c.Location()
			day := time.Date(2021, 1, 26, 0, 0, 0, 0, loc)
			srv.AddHistory(rostelecomtest.HistoryEntry{CallID: "in-answered", Caller: "79833574337", Line: "73852557475", Extension: "202",
				Answered: true, Start: day.Add(12 * time.Hour), Talk: 25 * time.Second, Record: true})
			srv.AddHistory(rostelecomtest.HistoryEntry{CallID: "in-missed", Caller: "73852557475", Line: "73852557475",
				Start: day.Add(13 * time.Hour)})
			srv.AddHistory(rostelecomtest.HistoryEntry{CallID: "out", Direction: 2, Caller: "79991234567", Extension: "201",
				Answered: true, Start: day.Add(14 * time.Hour), Talk: 5 * time.Second})
			srv.AddHistory(rostelecomtest.HistoryEntry{CallID: "other day", Caller: "79991234567", Start: day.Add(-time.Hour)})

			var got []pbx.CallRecord
			for rec, err := range c.History(context.Background(), pbx.HistoryQuery{From: day, To: day.Add(24*time.Hour - time.Second)}) {
				require.NoError(t, err)
				got = append(got, rec)
			}
			require.Len(t, got, 3)
			assert.Equal(t, pbx.CallRecord{CallID: "in-answered", Direction: pbx.Inbound, Phone: "79833574337", Line: "73852557475",
				Extension: "202", StartedAt: day.Add(12 * time.Hour), CallDuration: 25 * time.Second, Outcome: pbx.OutcomeAnswered,
				HasRecording: true, Raw: got[0].Raw}, got[0])
			row, ok := got[0].Raw.(*rostelecom.HistoryRow)
			require.True(t, ok, "Raw is a *HistoryRow")
			assert.Equal(t, "in-answered", row.SessionID)
			assert.Equal(t, pbx.OutcomeMissed, got[1].Outcome)
			assert.Equal(t, pbx.Outbound, got[2].Direction)
			assert.Equal(t, "79991234567", got[2].Phone)
			assert.Equal(t, "201", got[2].Extension)

			order := srv.RequestsFor(rostelecom.MethodDomainCallHistory)
			require.Len(t, order, 1)
			assert.JSONEq(t, `{"date_start":"2021-01-26 00:00:00","date_end":"2021-01-26 23:59:59","direction":0,"state":0}`, string(order[0].Body))
			assert.Len(t, srv.RequestsFor(rostelecom.MethodDownloadCallHistory), 3, "two 'being prepared' answers, then the file")

			// Filter by direction, and stop early.
			n := 0
			for rec, err := range c.History(context.Background(), pbx.HistoryQuery{From: day, To: day.Add(24 * time.Hour), Direction: pbx.Inbound}) {
				require.NoError(t, err)
				assert.Equal(t, pbx.Inbound, rec.Direction)
				n++
				break
			}
			assert.Equal(t, 1, n)
		})
	}
}

func TestHistoryStopsOnTheContext(t *testing.T) {
	_, c := newFake(t, rostelecomtest.Options{HistoryNotReady: 1 << 30})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var errs []error
	for _, err := range c.History(ctx, pbx.HistoryQuery{From: time.Now().Add(-time.Hour)}) {
		errs = append(errs, err)
	}
	require.Len(t, errs, 1, "one error ends the sequence")
	assert.ErrorIs(t, errs[0], context.DeadlineExceeded)
}

func TestHistoryWakesOnTheNotification(t *testing.T) {
	srv := rostelecomtest.NewServer(rostelecomtest.Options{HistoryNotReady: 1 << 30})
	defer srv.Close()
	cfg := srv.Config()
	cfg.HistoryPoll = time.Hour // only the notification can end the wait
	c, err := rostelecom.New(cfg)
	require.NoError(t, err)
	var seen atomic.Value
	hook := httptest.NewServer(c.WebhookHandler(pbx.EventHandlerFunc(func(_ context.Context, e pbx.CallEvent) error {
		seen.Store(e)
		return nil
	}), nil))
	defer hook.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		for _, err := range c.History(ctx, pbx.HistoryQuery{From: time.Now().Add(-time.Hour)}) {
			done <- err
			return
		}
		done <- nil
	}()
	require.Eventually(t, func() bool { return len(srv.OrderIDs()) == 1 }, 2*time.Second, time.Millisecond)
	orderID := srv.OrderIDs()[0]
	d, err := srv.CompleteHistory(ctx, hook.URL, orderID)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, d.Status)
	assert.JSONEq(t, `{"result":"0","resultMessage":"ok"}`, string(d.Answer))
	select {
	case err := <-done:
		require.NoError(t, err, "an empty log")
	case <-ctx.Done():
		t.Fatal("History did not wake on history_file_completed")
	}
	e := seen.Load().(pbx.CallEvent)
	assert.Equal(t, pbx.EventUnknown, e.Type)
	n, ok := e.Raw.(*rostelecom.HistoryFileCompleted)
	require.True(t, ok)
	assert.Equal(t, orderID, string(n.OrderID))
}
