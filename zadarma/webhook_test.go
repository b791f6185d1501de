package zadarma

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
)

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestWebhookEcho(t *testing.T) {
	c := newTestClient(t, "")
	rec := &recorder{route: pbx.Route{Extension: "101"}}
	h := c.WebhookHandler(rec, rec)
	long := strings.Repeat("x", maxEchoLen)
	for _, tc := range []struct {
		method, query string
		status        int
		body          string
	}{
		{http.MethodGet, "zd_echo=abc123", 200, "abc123"},
		{http.MethodGet, "x=1&zd_echo=Zz-9_.~", 200, "Zz-9_.~"},
		{http.MethodGet, "zd_echo=a%2Fb%3D", 200, "a/b="},
		{http.MethodPost, "zd_echo=abc", 200, "abc"}, // the official examples read $_GET whatever the method
		{http.MethodGet, "zd_echo=" + long, 200, long},
		{http.MethodGet, "zd_echo=" + long + "x", 400, ""},
		{http.MethodGet, "zd_echo=", 400, ""},
		{http.MethodGet, "zd_echo=%3Cscript%3E", 400, ""},
		{http.MethodGet, "zd_echo=a%20b", 400, ""},
		{http.MethodGet, "zd_echo=%D0%AF", 400, ""},
		{http.MethodGet, "zd_echo=a%22b", 400, ""},
	} {
		w := serve(h, httptest.NewRequest(tc.method, "/zadarma?"+tc.query, nil))
		assert.Equal(t, tc.status, w.Code, tc.query)
		if tc.status == 200 {
			assert.Equal(t, tc.body, w.Body.String(), "exactly the value: %s", tc.query)
			assert.Equal(t, "text/plain; charset=utf-8", w.Header().Get("Content-Type"))
			assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
		} else {
			assert.NotContains(t, w.Body.String(), "script")
		}
	}
	assert.Empty(t, rec.Events())
	assert.Empty(t, rec.Queries())
}

func TestWebhookRejects(t *testing.T) {
	logs := &logBuffer{}
	c := newTestClient(t, "", func(c *Config) { c.Logger = debugLogger(logs) })
	rec := &recorder{route: pbx.Route{Extension: "101"}}
	h := c.WebhookHandler(rec, rec)
	unknown := url.Values{"event": {"NOTIFY_TRANSFER"}, "caller_id": {"1"}, "called_did": {"2"}, "call_start": {"3"}}
	unknownReq := signedForm(t, "/", unknown, testSecret)
	unknownReq.Header.Set("Signature", SignNotification("123", testSecret)) // what the START rule would sign
	badSig := signedForm(t, "/", startFields(), testSecret+"x")
	noSig := signedForm(t, "/", startFields(), testSecret)
	noSig.Header.Del("Signature")
	tampered := signedForm(t, "/", startFields(), testSecret)
	f := startFields()
	f.Set("caller_id", "79990000000")
	tampered.Body = io.NopCloser(strings.NewReader(f.Encode()))
	big := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("event=NOTIFY_START&x="+strings.Repeat("a", 1<<20)))
	big.Header.Set("Signature", "x")
	noEvent := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("caller_id=1"))
	noEvent.Header.Set("Signature", "x")
	badJSON := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"event":`))
	badJSON.Header.Set("Content-Type", "application/json")
	badJSON.Header.Set("Signature", "x")
	inQuery := httptest.NewRequest(http.MethodPost, "/?"+startFields().Encode(), nil)
	inQuery.Header.Set("Signature", signedForm(t, "/", startFields(), testSecret).Header.Get("Signature"))

	for _, tc := range []struct {
		name   string
		req    *http.Request
		status int
	}{
		{"GET without zd_echo", httptest.NewRequest(http.MethodGet, "/", nil), 405},
		{"PUT", httptest.NewRequest(http.MethodPut, "/", strings.NewReader(startFields().Encode())), 405},
		{"no Signature", noSig, 401},
		{"signed with another secret", badSig, 401},
		{"a signed field changed", tampered, 401},
		{"unknown event type", unknownReq, 400},
		{"no event", noEvent, 400},
		{"the fields in the query", inQuery, 400},
		{"malformed JSON", badJSON, 400},
		{"too large", big, 413},
	} {
		w := serve(h, tc.req)
		assert.Equal(t, tc.status, w.Code, tc.name)
		assert.NotContains(t, w.Body.String(), testSecret, tc.name)
	}
	assert.Empty(t, rec.Events(), "nothing reached the EventHandler")
	assert.Empty(t, rec.Queries(), "nothing reached the Router")
	out := logs.String()
	assert.Contains(t, out, "pbx webhook rejected")
	assert.Contains(t, out, "bad signature")
	assert.Contains(t, out, "unknown event type")
	assert.NotContains(t, out, testSecret)
	assert.NotContains(t, out, SignNotification("79161234567"+"74951234567"+"2026-03-01 10:00:00", testSecret))
}

func TestWebhookEvents(t *testing.T) {
	c := newTestClient(t, "")
	rec := &recorder{}
	h := c.WebhookHandler(rec, rec)
	for _, f := range []url.Values{
		{"event": {EventInternal}, "caller_id": {"79161234567"}, "called_did": {"74951234567"}, "call_start": {"2026-03-01 10:00:00"}, "internal": {"101"}},
		{"event": {EventAnswer}, "caller_id": {"79161234567"}, "destination": {"101"}, "call_start": {"2026-03-01 10:00:00"}, "internal": {"101"}},
		endFields(),
		{"event": {EventOutStart}, "internal": {"101"}, "destination": {"79031234567"}, "call_start": {"2026-03-01 10:00:00"}},
		{"event": {EventOutEnd}, "internal": {"101"}, "destination": {"79031234567"}, "call_start": {"2026-03-01 10:00:00"}, "disposition": {"answered"}},
		{"event": {EventRecord}, "pbx_call_id": {"in_x"}, "call_id_with_rec": {"1.2"}},
	} {
		w := serve(h, signedForm(t, "/", f, testSecret))
		assert.Equal(t, http.StatusOK, w.Code, f.Get("event"))
		assert.Empty(t, w.Body.String(), f.Get("event"))
	}
	evs := rec.Events()
	require.Len(t, evs, 6)
	assert.Equal(t, []pbx.EventType{pbx.EventRinging, pbx.EventAnswered, pbx.EventCallEnded, pbx.EventCallStarted, pbx.EventCallEnded, pbx.EventUnknown},
		[]pbx.EventType{evs[0].Type, evs[1].Type, evs[2].Type, evs[3].Type, evs[4].Type, evs[5].Type})
	assert.Empty(t, rec.Queries(), "only NOTIFY_START and NOTIFY_IVR ask the router")

	rec.err = errors.New("journal down")
	w := serve(h, signedForm(t, "/", endFields(), testSecret))
	assert.Equal(t, http.StatusInternalServerError, w.Code)
	assert.NotContains(t, w.Body.String(), "journal down", "the handler's error stays in the log")

	// Nil handler and router: acknowledged and dropped.
	w = serve(c.WebhookHandler(nil, nil), signedForm(t, "/", endFields(), testSecret))
	assert.Equal(t, http.StatusOK, w.Code)
	w = serve(c.WebhookHandler(nil, nil), signedForm(t, "/", startFields(), testSecret))
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Empty(t, w.Body.String())
}

func TestWebhookStartRoutes(t *testing.T) {
	type answer struct {
		Redirect      string `json:"redirect"`
		ReturnTimeout *int64 `json:"return_timeout"`
		CallerName    string `json:"caller_name"`
	}
	for _, tc := range []struct {
		name      string
		route     pbx.Route
		rerr      error
		returnTO  time.Duration
		hErr      error
		status    int
		redirect  string
		returnSec int64
		caller    string
	}{
		{name: "a decision", route: pbx.Route{Extension: "102", DisplayName: "ООО Ромашка"}, status: 200, redirect: "102", caller: "ООО Ромашка"},
		{name: "a decision without a name", route: pbx.Route{Extension: " 103 "}, status: 200, redirect: "103"},
		{name: "return_timeout rounded up", route: pbx.Route{Extension: "102"}, returnTO: 1500 * time.Millisecond, status: 200, redirect: "102", returnSec: 2},
		{name: "return_timeout whole", route: pbx.Route{Extension: "102"}, returnTO: 20 * time.Second, status: 200, redirect: "102", returnSec: 20},
		{name: "no decision", route: pbx.Route{DisplayName: "a name alone"}, status: 200},
		{name: "router error", route: pbx.Route{Extension: "102"}, rerr: errors.New("directory down"), status: 200},
		{name: "handler error", route: pbx.Route{Extension: "102"}, hErr: errors.New("journal down"), status: 500},
	} {
		c := newTestClient(t, "", func(c *Config) { c.ReturnTimeout = tc.returnTO })
		rec := &recorder{route: tc.route, rerr: tc.rerr, err: tc.hErr}
		w := serve(c.WebhookHandler(rec, rec), signedForm(t, "/", startFields(), testSecret))
		assert.Equal(t, tc.status, w.Code, tc.name)
		require.Len(t, rec.Events(), 1, "%s: NOTIFY_START is an event", tc.name)
		assert.Equal(t, pbx.EventCallStarted, rec.Events()[0].Type, tc.name)
		require.Len(t, rec.Queries(), 1, "%s: and the routing question", tc.name)
		assert.Equal(t, "79161234567", rec.Queries()[0].Phone, tc.name)
		if tc.status != 200 {
			continue
		}
		if tc.redirect == "" {
			assert.Empty(t, w.Body.String(), "%s: no decision is an empty answer", tc.name)
			continue
		}
		assert.True(t, strings.HasPrefix(w.Header().Get("Content-Type"), "application/json"), tc.name)
		var a answer
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &a), tc.name)
		assert.Equal(t, tc.redirect, a.Redirect, tc.name)
		require.NotNil(t, a.ReturnTimeout, "%s: return_timeout is always sent with a redirect", tc.name)
		assert.Equal(t, tc.returnSec, *a.ReturnTimeout, tc.name)
		assert.Equal(t, tc.caller, a.CallerName, tc.name)
		if tc.caller == "" {
			assert.NotContains(t, w.Body.String(), "caller_name", tc.name)
		}
	}
}

// The event is handed over while the router is asked: the handler waits
// for the router to have started and the router for the handler, so a
// handler that ran before the router (or after it) would wait in vain
// (here: 5 s, and the router past RouteTimeout) and the answer would carry
// no redirect.
func TestWebhookStartHandlerAndRouterConcurrent(t *testing.T) {
	c := newTestClient(t, "")
	routerStarted, handlerStarted := make(chan struct{}), make(chan struct{})
	var routerOnce, handlerOnce sync.Once
	router := pbx.RouterFunc(func(ctx context.Context, _ pbx.RouteQuery) (pbx.Route, error) {
		routerOnce.Do(func() { close(routerStarted) })
		select {
		case <-handlerStarted:
			return pbx.Route{Extension: "101"}, nil
		case <-ctx.Done():
			return pbx.Route{}, ctx.Err()
		}
	})
	sawRouter := false
	events := pbx.EventHandlerFunc(func(context.Context, pbx.CallEvent) error {
		handlerOnce.Do(func() { close(handlerStarted) })
		select {
		case <-routerStarted:
			sawRouter = true
		case <-time.After(5 * time.Second):
		}
		return nil
	})
	w := serve(c.WebhookHandler(events, router), signedForm(t, "/", startFields(), testSecret))
	assert.Equal(t, http.StatusOK, w.Code)
	assert.True(t, sawRouter, "the router was asked while the event handler ran")
	assert.Contains(t, w.Body.String(), `"redirect":"101"`, "the router saw the handler running")
}

// The check the conformance suite cannot make for NOTIFY_START (it is an
// event too): 200 simultaneous questions with routers that do not return
// (they ignore their context and wait to be released) are all answered "no
// decision", none before RouteTimeout and all while every router is still
// blocked, each handing its event over once; no goroutine is left once the
// routers return.
func TestWebhookStartDeadline(t *testing.T) {
	const (
		questions    = 200
		routeTimeout = 200 * time.Millisecond
	)
	baseline := runtime.NumGoroutine()
	c := newTestClient(t, "", func(c *Config) { c.RouteTimeout = routeTimeout })
	release := make(chan struct{})
	var started, finished atomic.Int32
	router := pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
		started.Add(1)
		defer finished.Add(1)
		<-release // ignores its context
		return pbx.Route{Extension: "999"}, nil
	})
	var mu sync.Mutex
	got := map[string]int{}
	events := pbx.EventHandlerFunc(func(_ context.Context, e pbx.CallEvent) error {
		mu.Lock()
		got[e.CallID]++
		mu.Unlock()
		return nil
	})
	srv := httptest.NewServer(c.WebhookHandler(events, router))
	tr := &http.Transport{MaxIdleConnsPerHost: questions}
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second} // "did not hang"
	var wg sync.WaitGroup
	lat := make([]time.Duration, questions)
	bodies := make([]string, questions)
	for i := range questions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := startFields()
			f.Set("pbx_call_id", fmt.Sprintf("in_%040d", i))
			req := signedForm(t, srv.URL, f, testSecret)
			req.RequestURI = ""
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				bodies[i] = "error: " + err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			lat[i] = time.Since(start)
			bodies[i] = resp.Status + " " + string(b)
		}()
	}
	wg.Wait()
	assert.Zero(t, finished.Load(), "every answer came while the routers were still blocked")
	assert.Equal(t, int32(questions), started.Load(), "every question reached the router")
	close(release)
	for i, b := range bodies {
		assert.Equal(t, "200 OK ", b, "question %d: no decision", i)
		assert.GreaterOrEqual(t, lat[i], routeTimeout, "question %d answered before RouteTimeout", i)
	}
	mu.Lock()
	assert.Len(t, got, questions, "every NOTIFY_START handed its event over")
	for id, n := range got {
		assert.Equal(t, 1, n, id)
	}
	mu.Unlock()
	srv.Close()
	tr.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for (finished.Load() < questions || runtime.NumGoroutine() > baseline+3) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	assert.Equal(t, int32(questions), finished.Load())
	assert.LessOrEqual(t, runtime.NumGoroutine(), baseline+3, "goroutines left behind")
}

func TestWebhookIVRIsAQuestionOnly(t *testing.T) {
	c := newTestClient(t, "")
	rec := &recorder{route: pbx.Route{Extension: "102", DisplayName: "Sales"}}
	f := startFields()
	f.Set("event", EventIVR)
	f.Set("wait_dtmf[name]", "menu")
	f.Set("wait_dtmf[digits]", "2")
	w := serve(c.WebhookHandler(rec, rec), signedForm(t, "/", f, testSecret))
	assert.Equal(t, http.StatusOK, w.Code)
	assert.JSONEq(t, `{"redirect":"102","return_timeout":0,"caller_name":"Sales"}`, w.Body.String())
	assert.Empty(t, rec.Events())
	require.Len(t, rec.Queries(), 1)
	assert.Equal(t, "2", rec.Queries()[0].Digits)
}

func TestWebhookRawSignatureAccepted(t *testing.T) {
	c := newTestClient(t, "")
	rec := &recorder{}
	req := signedForm(t, "/", endFields(), testSecret)
	mac := hmac.New(sha1.New, []byte(testSecret))
	mac.Write([]byte("79161234567" + "74951234567" + "2026-03-01 10:00:00"))
	req.Header.Set("Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	assert.Equal(t, http.StatusOK, serve(c.WebhookHandler(rec, nil), req).Code)
	assert.Len(t, rec.Events(), 1)
}

func TestWebhookTestRequest(t *testing.T) {
	c := newTestClient(t, "")
	ctx := context.Background()
	rec := &recorder{route: pbx.Route{Extension: "101"}}
	srv := httptest.NewServer(c.WebhookHandler(rec, rec))
	defer srv.Close()
	req, err := c.WebhookTestRequest(ctx, srv.URL+"/hook?x=1", "in_test")
	require.NoError(t, err)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, rec.Events(), 1)
	e := rec.Events()[0]
	assert.Equal(t, pbx.EventCallStarted, e.Type)
	assert.Equal(t, "in_test", e.CallID)
	assert.Equal(t, "79990000000", e.Phone)
	assert.Len(t, rec.Queries(), 1)

	other := newTestClient(t, "", func(c *Config) { c.Secret = "another-secret-123" })
	rec2 := &recorder{}
	srv2 := httptest.NewServer(other.WebhookHandler(rec2, rec2))
	defer srv2.Close()
	req, err = c.WebhookTestRequest(ctx, srv2.URL, "")
	require.NoError(t, err)
	resp, err = srv2.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a handler with another secret refuses it")
	assert.Empty(t, rec2.Events())

	for _, bad := range []string{"", "ftp://x", "://", "http://"} {
		_, err := c.WebhookTestRequest(ctx, bad, "")
		assert.Error(t, err, bad)
	}
}
