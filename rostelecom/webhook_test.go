package rostelecom_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/rostelecom"
	"github.com/pbxkit/pbxkit/rostelecom/rostelecomtest"
)

func types(events []pbx.CallEvent) []pbx.EventType {
	var out []pbx.EventType
	for _, e := range events {
		out = append(out, e.Type)
	}
	return out
}

// routeTo routes every call to ext with a display name.
func routeTo(ext, name string) pbx.Router {
	return pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
		return pbx.Route{Extension: ext, DisplayName: name}, nil
	})
}

// signedRequest builds a notification request signed with the manual's
// credentials (the fake's defaults).
func signedRequest(path string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Client-ID", rostelecomtest.DefaultClientID)
	r.Header.Set("X-Client-Sign", rostelecom.Sign(rostelecomtest.DefaultClientID, body, rostelecomtest.DefaultSignKey))
	return r
}

func manualClient(t testing.TB, mutate ...func(*rostelecom.Config)) *rostelecom.Client {
	t.Helper()
	cfg := rostelecom.Config{ClientID: rostelecomtest.DefaultClientID, SignKey: rostelecomtest.DefaultSignKey, Domain: "example_domain.ru"}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := rostelecom.New(cfg)
	require.NoError(t, err)
	return c
}

func TestWebhookBadInput(t *testing.T) {
	c := manualClient(t)
	rec := &pbxtest.Recorder{}
	routed := atomic.Int32{}
	h := c.WebhookHandler(rec, pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
		routed.Add(1)
		return pbx.Route{}, nil
	}))
	good := mustRead(t, "testdata/notifications/manual_end.json")
	reencoded, err := json.Marshal(json.RawMessage(good)) // compacted: different bytes, same JSON
	require.NoError(t, err)
	big := []byte(`{"state":"new","pad":"` + strings.Repeat("x", 2<<20) + `"}`)

	tests := []struct {
		name   string
		req    func() *http.Request
		status int
		msg    string
	}{
		{"no headers", func() *http.Request {
			return httptest.NewRequest(http.MethodPost, "/rt/call_events", strings.NewReader(string(good)))
		}, 401, "missing header X-Client-ID"},
		{"no signature", func() *http.Request {
			r := signedRequest("/rt/call_events", good)
			r.Header.Del("X-Client-Sign")
			return r
		}, 401, "missing header X-Client-Sign"},
		{"wrong ID", func() *http.Request {
			r := signedRequest("/rt/call_events", good)
			r.Header.Set("X-Client-ID", "000003C405E6525C64C184258C44EC98")
			return r
		}, 403, "unknown client"},
		{"wrong signature", func() *http.Request {
			r := signedRequest("/rt/call_events", good)
			r.Header.Set("X-Client-Sign", strings.Repeat("0", 64))
			return r
		}, 403, "bad signature"},
		{"signature over re-encoded JSON", func() *http.Request {
			r := signedRequest("/rt/call_events", good)
			r.Header.Set("X-Client-Sign", rostelecom.Sign(rostelecomtest.DefaultClientID, reencoded, rostelecomtest.DefaultSignKey))
			return r
		}, 403, "bad signature"},
		{"signature with the wrong formula (key + body)", func() *http.Request {
			r := signedRequest("/rt/call_events", good)
			r.Header.Set("X-Client-Sign", rostelecom.Sign("", append([]byte(rostelecomtest.DefaultSignKey), good...), ""))
			return r
		}, 403, "bad signature"},
		{"empty body", func() *http.Request { return signedRequest("/rt/call_events", nil) }, 400, "empty body"},
		{"invalid JSON", func() *http.Request { return signedRequest("/rt/call_events", []byte(`{"state":`)) }, 400, "invalid JSON"},
		{"JSON array", func() *http.Request { return signedRequest("/rt/call_events", []byte(`[{"state":"new"}]`)) }, 400, "not a JSON object"},
		{"wrong type", func() *http.Request { return signedRequest("/rt/call_events", []byte(`{"state":{"a":1}}`)) }, 400, "want a string or number"},
		{"2 MiB body", func() *http.Request { return signedRequest("/rt/call_events", big) }, 413, "too large"},
		{"wrong method", func() *http.Request {
			r := signedRequest("/rt/call_events", good)
			r.Method = http.MethodGet
			return r
		}, 405, "method not allowed"},
		{"unknown path", func() *http.Request { return signedRequest("/rt/call_event", good) }, 404, "unknown notification"},
		{"root", func() *http.Request { return signedRequest("/", good) }, 404, "unknown notification"},
		{"get_number_info unsigned", func() *http.Request {
			r := signedRequest("/rt/get_number_info", mustRead(t, "testdata/notifications/manual_get_number_info.json"))
			r.Header.Set("X-Client-Sign", "nope")
			return r
		}, 403, "bad signature"},
		{"get_number_info invalid JSON", func() *http.Request { return signedRequest("/rt/get_number_info", []byte(`nope`)) }, 400, "not a JSON object"},
		{"history_file_completed invalid JSON", func() *http.Request {
			return signedRequest("/rt/history_file_completed", []byte(`{"order_id":`))
		}, 400, "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, tt.req())
			assert.Equal(t, tt.status, w.Code)
			assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
			var ans struct {
				Result        string `json:"result"`
				ResultMessage string `json:"resultMessage"`
			}
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &ans), w.Body.String())
			assert.Equal(t, "-1", ans.Result)
			assert.Contains(t, ans.ResultMessage, tt.msg)
			assert.NotContains(t, w.Body.String(), rostelecomtest.DefaultSignKey)
		})
	}
	assert.Empty(t, rec.Events(), "nothing reached the handler")
	assert.Zero(t, routed.Load(), "nothing reached the router")

	// The same request, correctly signed, with upper-case hex and a
	// trailing slash, passes.
	r := signedRequest("/rt/call_events/", good)
	r.Header.Set("X-Client-Sign", strings.ToUpper(r.Header.Get("X-Client-Sign")))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assert.Equal(t, 200, w.Code)
	assert.Equal(t, `{"result":"0","resultMessage":"ok"}`, w.Body.String())
	assert.Len(t, rec.Events(), 1)
}

func TestWebhookPlayedCalls(t *testing.T) {
	srv := rostelecomtest.NewServer(rostelecomtest.Options{Employees: manualStaff()})
	defer srv.Close()
	c, err := rostelecom.New(srv.Config())
	require.NoError(t, err)
	rec := &pbxtest.Recorder{}
	var queries []pbx.RouteQuery
	var qmu sync.Mutex
	router := pbx.RouterFunc(func(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) {
		qmu.Lock()
		queries = append(queries, q)
		qmu.Unlock()
		if q.Phone == "79833574337" {
			return pbx.Route{Extension: "202", DisplayName: "Орлов Александр Владимирович"}, nil
		}
		return pbx.Route{}, nil
	})
	hook := httptest.NewServer(c.WebhookHandler(rec, router))
	defer hook.Close()
	ctx := context.Background()

	// Answered incoming, routed to the responsible manager.
	played, err := srv.PlayDetailed(ctx, hook.URL+"/pbx/rt/", pbxtest.Call{Scenario: pbxtest.AnsweredIncoming,
		Caller: "79833574337", Line: "73852557475", Talk: 19 * time.Second})
	require.NoError(t, err)
	assert.True(t, played.Asked)
	assert.Equal(t, []string{"202"}, played.Rang, "the fake rings the PIN the webhook answered")
	assert.Equal(t, "202", played.AnsweredBy)
	assert.Equal(t, "202", played.Route.Extension)
	assert.Equal(t, "Орлов Александр Владимирович", played.Route.DisplayName)
	assert.Equal(t, `{"result":"0","resultMessage":"ok","displayName":"Орлов Александр Владимирович","PIN":"202"}`, string(played.Sent[0].Answer))
	require.Len(t, queries, 1)
	assert.Equal(t, pbx.RouteQuery{Provider: "rostelecom", Phone: "79833574337", Line: "73852557475", Raw: queries[0].Raw}, queries[0])

	events := rec.Events()
	assert.Equal(t, []pbx.EventType{pbx.EventCallStarted, pbx.EventRinging, pbx.EventAnswered, pbx.EventLegEnded, pbx.EventCallEnded}, types(events))
	for _, e := range events {
		assert.Equal(t, played.Call.CallID, e.CallID)
		assert.Equal(t, pbx.Inbound, e.Direction)
		assert.Equal(t, "79833574337", e.Phone)
		assert.NotEmpty(t, e.DedupeKey)
	}
	assert.Equal(t, "73852557475", events[0].Line)
	assert.Equal(t, "202", events[2].Extension)
	assert.Equal(t, pbx.OutcomeUnknown, events[4].Outcome, "ResolveEnded is off")
	assert.True(t, events[4].Raw.(*rostelecom.CallEventNotification).Recorded())
	assert.True(t, events[4].HasRecording, "is_record \"true\" on end")
	for _, e := range events[:4] {
		assert.False(t, e.HasRecording, "only end says")
	}
	for _, e := range events {
		assert.Zero(t, e.TalkDuration, "notifications carry no duration")
		assert.Zero(t, e.CallDuration, "notifications carry no duration")
	}
	assert.Equal(t, 19*time.Second, events[3].At.Sub(events[2].At))

	// The played call is known to the API: fetch its recording.
	recording, err := c.FetchRecording(ctx, played.Call.CallID)
	require.NoError(t, err)
	n, _ := io.Copy(io.Discard, recording.Body)
	recording.Body.Close()
	assert.EqualValues(t, rostelecomtest.DefaultRecordingSize, n)

	// Missed incoming: nobody decided, the fake rings its default.
	rec.Reset()
	played, err = srv.PlayDetailed(ctx, hook.URL, pbxtest.Call{Scenario: pbxtest.MissedIncoming, Caller: "73852557475", Extensions: []string{"201", "203"}})
	require.NoError(t, err)
	assert.Equal(t, `{"result":"0","resultMessage":"ok","displayName":"","PIN":""}`, string(played.Sent[0].Answer))
	assert.Equal(t, []string{"201", "203"}, played.Rang, "nobody routed: the group rings")
	assert.Empty(t, played.AnsweredBy)
	assert.Equal(t, []pbx.EventType{pbx.EventCallStarted, pbx.EventRinging, pbx.EventRinging, pbx.EventCallEnded}, types(rec.Events()))
	assert.Equal(t, "203", rec.Events()[2].Extension)
	assert.False(t, rec.Events()[3].HasRecording, `is_record "false" on a missed call's end`)

	// Outbound callback.
	rec.Reset()
	played, err = srv.PlayDetailed(ctx, hook.URL, pbxtest.Call{Scenario: pbxtest.OutboundCallback, Caller: "79991234567", Extensions: []string{"202"}})
	require.NoError(t, err)
	events = rec.Events()
	assert.Equal(t, []pbx.EventType{pbx.EventCallStarted, pbx.EventRinging, pbx.EventAnswered, pbx.EventLegEnded, pbx.EventCallEnded}, types(events))
	for _, e := range events {
		assert.Equal(t, pbx.Outbound, e.Direction)
		assert.Equal(t, "79991234567", e.Phone)
		assert.Equal(t, "202", e.Extension)
	}
	assert.Len(t, played.Events(), 5)
}

func TestWebhookCallBackPlaysToTheConfiguredWebhook(t *testing.T) {
	rec := &pbxtest.Recorder{}
	var c *rostelecom.Client
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.WebhookHandler(rec, nil).ServeHTTP(w, r)
	}))
	defer hook.Close()
	srv := rostelecomtest.NewServer(rostelecomtest.Options{Employees: manualStaff()})
	defer srv.Close()
	srv.SetWebhook(hook.URL)
	var err error
	c, err = rostelecom.New(srv.Config())
	require.NoError(t, err)

	res, err := c.MakeCall(context.Background(), pbx.CallRequest{Extension: "202", Phone: "+7 999 123-45-67"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(rec.Events()) == 5 }, 5*time.Second, 5*time.Millisecond)
	for _, e := range rec.Events() {
		assert.Equal(t, res.CallID, e.CallID)
		assert.Equal(t, "202", e.Extension)
	}
}

func TestWebhookResolveEnded(t *testing.T) {
	srv := rostelecomtest.NewServer(rostelecomtest.Options{})
	defer srv.Close()
	cfg := srv.Config()
	cfg.ResolveEnded = true
	c, err := rostelecom.New(cfg)
	require.NoError(t, err)
	rec := &pbxtest.Recorder{}
	hook := httptest.NewServer(c.WebhookHandler(rec, nil))
	defer hook.Close()

	start := time.Now().Truncate(time.Second)
	_, err = srv.Play(context.Background(), hook.URL, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, Start: start,
		Ring: 5 * time.Second, Talk: 30 * time.Second})
	require.NoError(t, err)
	end := rec.Events()[4]
	assert.Equal(t, pbx.OutcomeAnswered, end.Outcome)
	// call_info's duration is the whole call (ringing included); the
	// answer offset in session_log gives the talk time.
	assert.Equal(t, 35*time.Second, end.CallDuration, "duration: the whole call, ringing included")
	assert.Equal(t, 30*time.Second, end.TalkDuration, "talk: from the answer (session_log cc at 5 s) to the end")
	assert.True(t, start.Equal(end.StartedAt), "%v", end.StartedAt)
	assert.True(t, start.Add(5*time.Second).Equal(end.AnsweredAt), "%v", end.AnsweredAt)
	assert.True(t, end.HasRecording)

	rec.Reset()
	_, err = srv.Play(context.Background(), hook.URL, pbxtest.Call{Scenario: pbxtest.MissedIncoming})
	require.NoError(t, err)
	missed := rec.Events()[2]
	assert.Equal(t, pbx.OutcomeMissed, missed.Outcome)
	assert.Zero(t, missed.CallDuration, "duration 0 (no connection) is unknown, not zero length")
	assert.Zero(t, missed.TalkDuration)
	assert.True(t, missed.AnsweredAt.IsZero())
	assert.False(t, missed.HasRecording)
	assert.Len(t, srv.RequestsFor(rostelecom.MethodCallInfo), 2, "one call_info per end")

	// call_info failing leaves the outcome unknown and still delivers.
	rec.Reset()
	srv.FailNext(rostelecom.MethodCallInfo, -1, "Превышен лимит запросов")
	_, err = srv.Play(context.Background(), hook.URL, pbxtest.Call{Scenario: pbxtest.MissedIncoming})
	require.NoError(t, err)
	assert.Equal(t, pbx.OutcomeUnknown, rec.Events()[2].Outcome)
}

func TestWebhookHandlerErrorGives500(t *testing.T) {
	c := manualClient(t)
	h := c.WebhookHandler(&pbxtest.Recorder{Err: errors.New("database is down")}, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, signedRequest("/call_events", mustRead(t, "testdata/notifications/manual_new.json")))
	assert.Equal(t, http.StatusInternalServerError, w.Code)
	assert.NotContains(t, w.Body.String(), "database", "internal errors stay inside")
}

func TestWebhookNilHandlers(t *testing.T) {
	h := manualClient(t).WebhookHandler(nil, nil)
	for path, file := range map[string]string{
		"/call_events":            "manual_new.json",
		"/get_number_info":        "manual_get_number_info.json",
		"/history_file_completed": "history_file_completed.json",
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, signedRequest(path, mustRead(t, "testdata/notifications/"+file)))
		assert.Equal(t, http.StatusOK, w.Code, path)
	}
}

func TestWebhookRouting(t *testing.T) {
	question := mustRead(t, "testdata/notifications/manual_get_number_info.json")
	tests := []struct {
		name   string
		router pbx.Router
		want   string
	}{
		{"route", routeTo("765", "Иванов Сергей Петрович"),
			`{"result":"0","resultMessage":"ok","displayName":"Иванов Сергей Петрович","PIN":"765"}`},
		{"display name only", routeTo("", "OOO Alfa"), `{"result":"0","resultMessage":"ok","displayName":"OOO Alfa","PIN":""}`},
		{"no decision", routeTo("", ""), `{"result":"0","resultMessage":"ok","displayName":"","PIN":""}`},
		{"router error", pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
			return pbx.Route{Extension: "1"}, errors.New("1C is down")
		}), `{"result":"0","resultMessage":"ok","displayName":"","PIN":""}`},
		{"router panic", pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) { panic("boom") }),
			`{"result":"0","resultMessage":"ok","displayName":"","PIN":""}`},
		{"slow router", pbx.RouterFunc(func(ctx context.Context, _ pbx.RouteQuery) (pbx.Route, error) {
			time.Sleep(time.Second) // ignores its context
			return pbx.Route{Extension: "765"}, nil
		}), `{"result":"0","resultMessage":"ok","displayName":"","PIN":""}`},
	}
	c := manualClient(t, func(c *rostelecom.Config) { c.RouteTimeout = 50 * time.Millisecond })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			start := time.Now()
			c.WebhookHandler(nil, tt.router).ServeHTTP(w, signedRequest("/hook/get_number_info", question))
			assert.Less(t, time.Since(start), 500*time.Millisecond, "answered in time")
			assert.Equal(t, http.StatusOK, w.Code)
			assert.Equal(t, tt.want, w.Body.String())
			assert.Equal(t, rostelecom.Sign(rostelecomtest.DefaultClientID, w.Body.Bytes(), rostelecomtest.DefaultSignKey), w.Header().Get("X-Client-Sign"), "the answer is signed")
		})
	}
	// The query.
	var got pbx.RouteQuery
	w := httptest.NewRecorder()
	c.WebhookHandler(nil, pbx.RouterFunc(func(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) {
		got = q
		return pbx.Route{}, nil
	})).ServeHTTP(w, signedRequest("/get_number_info", question))
	assert.Equal(t, "74959561111", got.Phone)
	assert.Equal(t, "74992222222", got.Line)
	raw := got.Raw.(*rostelecom.NumberInfoRequest)
	assert.Equal(t, "test_domain.14.rt.ru", string(raw.Domain))
}

// failingBody yields part of a body, then the error a server's connection
// gives on a read timeout, which names both socket addresses.
type failingBody struct{ sent bool }

func (b *failingBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		return copy(p, `{"state":"new","session_id":"`), nil
	}
	return 0, errors.New("read tcp 127.0.0.1:8080->127.0.0.1:5555: i/o timeout")
}

func (b *failingBody) Close() error { return nil }

// TestWebhookReadErrorHidesAddresses: a body that fails mid-read is answered
// 400 with a generic message; the error, with the server's socket
// addresses, goes only to the debug journal.
func TestWebhookReadErrorHidesAddresses(t *testing.T) {
	var logs syncBuffer
	c := manualClient(t, func(cfg *rostelecom.Config) {
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	rec := &pbxtest.Recorder{}
	r := signedRequest("/rt/call_events", []byte(`{"state":"new"}`))
	r.Body = &failingBody{}
	r.ContentLength = -1
	w := httptest.NewRecorder()
	c.WebhookHandler(rec, nil).ServeHTTP(w, r)
	assert.Equal(t, http.StatusBadRequest, w.Code)
	assert.JSONEq(t, `{"result":"-1","resultMessage":"rostelecom: cannot read request body"}`, w.Body.String())
	for _, s := range []string{"127.0.0.1", "8080", "5555", "i/o timeout"} {
		assert.NotContains(t, w.Body.String(), s)
	}
	assert.Empty(t, rec.Events())
	assert.Contains(t, logs.String(), "127.0.0.1:5555: i/o timeout", "the detail is journaled at debug")
}

// TestWebhookRejectionsWarn: a notification rejected for authentication is
// logged at Warn (not only at debug), rate-limited per reason, naming the
// provider and the reason, never the key or the signature received.
func TestWebhookRejectionsWarn(t *testing.T) {
	var logs syncBuffer
	c := manualClient(t, func(cfg *rostelecom.Config) {
		cfg.ResolveEnded = true // no warning from New in the way
		cfg.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	h := c.WebhookHandler(&pbxtest.Recorder{}, nil)
	good := mustRead(t, "testdata/notifications/manual_new.json")
	badSign := "deadbeef" + strings.Repeat("0", 56)
	for range 3 {
		r := signedRequest("/rt/call_events", good)
		r.Header.Set("X-Client-Sign", badSign)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		require.Equal(t, http.StatusForbidden, w.Code)
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		lines = append(lines, m)
	}
	require.Len(t, lines, 1, "three rejections for one reason within a minute: one line\n%s", logs.String())
	assert.Equal(t, "WARN", lines[0]["level"])
	assert.Equal(t, "rostelecom", lines[0]["provider"])
	assert.Equal(t, "call_events", lines[0]["operation"])
	assert.Contains(t, lines[0]["reason"], "bad signature")
	out := logs.String()
	for _, s := range []string{rostelecomtest.DefaultSignKey, badSign} {
		assert.NotContains(t, out, s)
	}
}

// TestWebhookHandlerFailureIsLoggedOnce: an event handler's error is logged
// once, at Error, in the words every pbxkit provider uses
// (provider.HandOver), naming the provider and the call; the PBX gets a
// 500 that does not quote it.
func TestWebhookHandlerFailureIsLoggedOnce(t *testing.T) {
	var logs syncBuffer
	c := manualClient(t, func(cfg *rostelecom.Config) {
		cfg.ResolveEnded = true // no warning from New in the way
		cfg.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	h := c.WebhookHandler(&pbxtest.Recorder{Err: errors.New("journal is down")}, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, signedRequest("/rt/call_events", mustRead(t, "testdata/notifications/manual_new.json")))
	require.Equal(t, http.StatusInternalServerError, w.Code)
	assert.NotContains(t, w.Body.String(), "journal is down")
	var errorLines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		if m["level"] == "ERROR" {
			errorLines = append(errorLines, m)
		}
	}
	require.Len(t, errorLines, 1, logs.String())
	assert.Contains(t, errorLines[0]["msg"], "pbx event handler failed")
	assert.Equal(t, "rostelecom", errorLines[0]["provider"])
	assert.Equal(t, "76981273981237", errorLines[0]["call_id"])
	assert.Equal(t, "journal is down", errorLines[0]["error"])
}
