package rostelecom_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/rostelecom"
	"github.com/pbxkit/pbxkit/rostelecom/rostelecomtest"
)

// newFake starts a fake PBX and a client of it.
func newFake(t *testing.T, opts rostelecomtest.Options) (*rostelecomtest.Server, *rostelecom.Client) {
	t.Helper()
	srv := rostelecomtest.NewServer(opts)
	t.Cleanup(srv.Close)
	cfg := srv.Config()
	cfg.HistoryPoll = 5 * time.Millisecond
	c, err := rostelecom.New(cfg)
	require.NoError(t, err)
	return srv, c
}

func TestNewValidates(t *testing.T) {
	ok := rostelecom.Config{ClientID: "ID", SignKey: "s3cr3t-key", Domain: "d.20.rt.ru"}
	c, err := rostelecom.New(ok)
	require.NoError(t, err)
	assert.Equal(t, "rostelecom", c.Name())
	assert.Equal(t, "Europe/Moscow", c.Location().String())

	for name, mutate := range map[string]func(*rostelecom.Config){
		"ClientID": func(c *rostelecom.Config) { c.ClientID = "" },
		"SignKey":  func(c *rostelecom.Config) { c.SignKey = "" },
		"Domain":   func(c *rostelecom.Config) { c.Domain = "" },
		"space":    func(c *rostelecom.Config) { c.SignKey = " s3cr3t-key\n" },
		"BaseURL":  func(c *rostelecom.Config) { c.BaseURL = "ftp://x" },
	} {
		cfg := ok
		mutate(&cfg)
		_, err := rostelecom.New(cfg)
		require.Error(t, err, name)
		assert.NotContains(t, err.Error(), "s3cr3t", name)
		if name != "space" && name != "BaseURL" {
			assert.Contains(t, err.Error(), name)
		}
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
	assert.Equal(t, "application/json", reqs[0].ContentType)
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

func TestReadsAreRetried(t *testing.T) {
	var hits atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		_, _ = io.WriteString(w, `{"result":0,"resultMessage":"","users":[]}`)
	}))
	defer ts.Close()
	var retries atomic.Int32
	c, err := rostelecom.New(rostelecom.Config{ClientID: "ID", SignKey: "KEY", Domain: "d", BaseURL: ts.URL,
		OnRetry: func(provider.RetryInfo) { retries.Add(1) }})
	require.NoError(t, err)
	subs, err := c.Subscribers(context.Background())
	require.NoError(t, err)
	assert.Empty(t, subs)
	assert.EqualValues(t, 2, hits.Load())
	assert.EqualValues(t, 1, retries.Load())
}

func TestEnvelopeResultForms(t *testing.T) {
	answers := map[string]struct {
		body   string
		status int
		code   string
		unauth bool
	}{
		`string "0"`:        {body: `{"result":"0","resultMessage":"ok","users":[]}`},
		"number 0":          {body: `{"result":0,"resultMessage":null,"users":null}`},
		`string "-1"`:       {body: `{"result":"-1","resultMessage":"Домен не найден"}`, status: 200, code: "-1"},
		"number -20":        {body: `{"result":-20,"resultMessage":"x"}`, status: 200, code: "-20"},
		"test host stub":    {body: string(mustRead(t, "testdata/answers/call_back_test_host.json")), status: 200, code: "1"},
		"no result":         {body: `{"users":[]}`, status: 200},
		"not JSON":          {body: `<html>oops</html>`, status: 200},
		"401 with envelope": {body: `{"result":"-1","resultMessage":"bad sign"}`, status: 401, code: "-1", unauth: true},
		"403 HTML":          {body: `<html>forbidden</html>`, status: 403, unauth: true},
	}
	for name, a := range answers {
		t.Run(name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if a.status != 0 {
					w.WriteHeader(a.status)
				}
				_, _ = io.WriteString(w, a.body)
			}))
			defer ts.Close()
			c, err := rostelecom.New(rostelecom.Config{ClientID: "ID", SignKey: "KEY", Domain: "d", BaseURL: ts.URL})
			require.NoError(t, err)
			_, err = c.UsersInfo(context.Background(), rostelecom.UsersInfoRequest{})
			if a.status == 0 {
				require.NoError(t, err)
				return
			}
			var ae *provider.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, a.status, ae.StatusCode)
			assert.Equal(t, a.code, ae.Code)
			assert.Equal(t, a.unauth, errors.Is(err, provider.ErrUnauthorized))
			assert.NotContains(t, err.Error(), "KEY")
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

func TestFakeRejectsBadSignatures(t *testing.T) {
	srv, _ := newFake(t, rostelecomtest.Options{})
	for name, cfg := range map[string]rostelecom.Config{
		"wrong key": {ClientID: srv.ClientID(), SignKey: "WRONG", Domain: srv.Domain(), BaseURL: srv.URL},
		"wrong id":  {ClientID: "0000", SignKey: srv.SignKey(), Domain: srv.Domain(), BaseURL: srv.URL},
	} {
		c, err := rostelecom.New(cfg)
		require.NoError(t, err)
		_, err = c.Subscribers(context.Background())
		assert.ErrorIs(t, err, provider.ErrUnauthorized, name)
	}
	for _, r := range srv.Requests() {
		assert.False(t, r.SignatureOK)
	}

	// Upper-case hex and a re-encoded body are refused too.
	body := []byte(`{"domain": "` + srv.Domain() + `"}`)
	for name, sign := range map[string]string{
		"upper case":      strings.ToUpper(rostelecom.Sign(srv.ClientID(), body, srv.SignKey())),
		"re-encoded body": rostelecom.Sign(srv.ClientID(), []byte(`{"domain":"`+srv.Domain()+`"}`), srv.SignKey()),
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/users_info", strings.NewReader(string(body)))
		req.Header.Set("X-Client-ID", srv.ClientID())
		req.Header.Set("X-Client-Sign", sign)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, name)
	}
}

func TestSubscribers(t *testing.T) {
	srv, c := newFake(t, rostelecomtest.Options{})
	subs, err := c.Subscribers(context.Background())
	require.NoError(t, err)
	require.Len(t, subs, len(srv.Users()))
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

func TestOpenDSN(t *testing.T) {
	p, err := provider.Open("rostelecom://000003C405E6525C64C184258C44EC99:00000716ABDA6D4DFF10F82BCBBFC532@api.cloudpbx.rt.ru/?domain=example.20.rt.ru")
	require.NoError(t, err)
	assert.Equal(t, "rostelecom", p.Name())
	_, ok := p.(pbx.HistoryExporter)
	assert.True(t, ok)

	cfg, err := rostelecom.ParseDSN("rostelecom://ID:KEY@api-test.cloudpbx.rt.ru/?domain=d&route_timeout=700ms&resolve_ended=true&location=Asia/Irkutsk&timeout=12s")
	require.NoError(t, err)
	assert.Equal(t, 12*time.Second, cfg.Timeout)
	assert.Equal(t, rostelecom.TestBaseURL, cfg.BaseURL)
	assert.Equal(t, 700*time.Millisecond, cfg.RouteTimeout)
	assert.True(t, cfg.ResolveEnded)
	assert.Equal(t, "Asia/Irkutsk", cfg.Location.String())
	assert.Equal(t, "ID", cfg.ClientID)
	assert.Equal(t, "KEY", cfg.SignKey)

	// The fake's DSN reaches the fake.
	srv, _ := newFake(t, rostelecomtest.Options{})
	p, err = provider.Open(srv.DSN())
	require.NoError(t, err)
	subs, err := p.(pbx.SubscriberLister).Subscribers(context.Background())
	require.NoError(t, err)
	assert.Len(t, subs, len(srv.Users()))

	for _, dsn := range []string{
		"rostelecom://api.cloudpbx.rt.ru/?domain=d",
		"rostelecom://ID@api.cloudpbx.rt.ru/?domain=d",
		"rostelecom://ID:s3cr3t@api.cloudpbx.rt.ru/",
		"rostelecom://ID:s3cr3t@api.cloudpbx.rt.ru/?domain=d&route_timout=1s",
		"rostelecom://ID:s3cr3t@api.cloudpbx.rt.ru/?domain=d&route_timeout=soon",
		"rostelecom://ID:s3cr3t@api.cloudpbx.rt.ru/?domain=d&resolve_ended=perhaps",
		"rostelecom://ID:s3cr3t@api.cloudpbx.rt.ru/?domain=d&timeout=-1s",
		"rostelecom://ID:s3cr3t@api.cloudpbx.rt.ru/?domain=d&location=Mars/Base",
		"rostelecom://ID:s3cr3t@api.cloudpbx.rt.ru/?domain=d&base_url=ftp://x",
		"rostelecom://ID:%zzs3cr3t@api.cloudpbx.rt.ru/?domain=d",
	} {
		_, err := provider.Open(dsn)
		require.Error(t, err, dsn)
		assert.ErrorIs(t, err, provider.ErrBadDSN, dsn)
		assert.NotContains(t, err.Error(), "s3cr3t", dsn)
	}
}

// TestNewWarnsWithoutResolveEnded: with ResolveEnded off, New logs exactly
// one Warn saying end notifications carry no outcome, to Config.Logger or,
// without one, to slog.Default(); with ResolveEnded on, nothing.
func TestNewWarnsWithoutResolveEnded(t *testing.T) {
	base := rostelecom.Config{ClientID: "ID", SignKey: "S3CR3T-KEY", Domain: "d.20.rt.ru"}
	warnings := func(out string) int { return strings.Count(out, "end notifications carry no outcome") }

	var buf bytes.Buffer
	cfg := base
	cfg.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	_, err := rostelecom.New(cfg)
	require.NoError(t, err)
	assert.Equal(t, 1, warnings(buf.String()), buf.String())
	assert.Equal(t, 1, strings.Count(buf.String(), "level=WARN"))
	assert.Contains(t, buf.String(), "ResolveEnded")
	assert.Contains(t, buf.String(), "domain=d.20.rt.ru")
	assert.NotContains(t, buf.String(), "S3CR3T-KEY")

	buf.Reset()
	cfg.ResolveEnded = true
	_, err = rostelecom.New(cfg)
	require.NoError(t, err)
	assert.Empty(t, buf.String(), "ResolveEnded on: nothing to warn about")

	buf.Reset()
	cfg.ResolveEnded, cfg.ClientID = false, ""
	_, err = rostelecom.New(cfg)
	require.Error(t, err)
	assert.Empty(t, buf.String(), "no warning for a Config New refuses")

	// No Logger: slog.Default().
	var def bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&def, nil)))
	defer slog.SetDefault(old)
	_, err = rostelecom.New(base)
	require.NoError(t, err)
	assert.Equal(t, 1, warnings(def.String()), def.String())
}

// TestRedirectsAreNotFollowed: an API that redirects gets neither the
// signature headers nor the call_back body at the other host; the
// operation fails with a *provider.RedirectError naming it, after one
// request.
func TestRedirectsAreNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		_, _ = io.WriteString(w, `{"result":"0","resultMessage":"ok","session_id":"x","users":[]}`)
	}))
	defer other.Close()
	var hits atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, other.URL+r.URL.Path+"?token=t0ken", http.StatusTemporaryRedirect)
	}))
	defer api.Close()
	c := timeoutClient(t, api.URL, 5*time.Second)
	ctx := context.Background()
	_, err := c.MakeCall(ctx, pbx.CallRequest{Extension: "201", Phone: "79991234567"})
	var re *provider.RedirectError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, http.StatusTemporaryRedirect, re.StatusCode)
	assert.Contains(t, err.Error(), strings.TrimPrefix(other.URL, "http://"), "names where the API pointed")
	assert.NotContains(t, err.Error(), "t0ken")
	_, err = c.Subscribers(ctx)
	require.ErrorAs(t, err, &re)
	assert.EqualValues(t, 2, hits.Load(), "each sent once")
	assert.Zero(t, elsewhere.Load(), "nothing reached the other host")
}
