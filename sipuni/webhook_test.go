package sipuni

import (
	"bytes"
	"context"
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
	"github.com/pbxkit/pbxkit/phone"
	"github.com/pbxkit/pbxkit/provider"
)

const (
	hookToken = "tok-9f2b7c"
	hookUser  = "sipuni"
	hookPass  = "p4ss-w0rd-77"
)

// lockedBuffer is a bytes.Buffer safe for a logger used from handler
// goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// eventRecorder is an EventHandler that keeps what it got and returns err.
type eventRecorder struct {
	mu     sync.Mutex
	events []pbx.CallEvent
	err    error
}

func (r *eventRecorder) HandleEvent(_ context.Context, e pbx.CallEvent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return r.err
}

func (r *eventRecorder) got() []pbx.CallEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]pbx.CallEvent(nil), r.events...)
}

func hookClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	cfg.Account = testAccount
	cfg.Secret = testSecret
	c, err := New(cfg)
	require.NoError(t, err)
	return c
}

type req struct {
	method string
	target string // path and query
	body   string
	ctype  string
	user   string
	pass   string
}

func (r req) do(h http.Handler) *httptest.ResponseRecorder {
	method := r.method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr := httptest.NewRequest(method, r.target, body)
	if r.ctype != "" {
		hr.Header.Set("Content-Type", r.ctype)
	}
	if r.user != "" || r.pass != "" {
		hr.SetBasicAuth(r.user, r.pass)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, hr)
	return w
}

const ring1 = "event=1&call_id=1774372584.533596&src_type=2&src_num=070196201&short_src_num=201" +
	"&dst_type=1&dst_num=998948867473&pbxdstnum=%2B998948867473&timestamp=1774372584" +
	"&treeName=%D0%98%D1%81%D1%85%D0%BE%D0%B4%D1%8F%D1%89%D0%B0%D1%8F&treeNumber=000-1734445" +
	"&channel=SIP%2F070196100003-000471d3&user_id=070196"

func TestWebhookBadInput(t *testing.T) {
	big := "event=1&call_id=1&pad=" + strings.Repeat("x", 2<<20)
	tests := []struct {
		name       string
		req        req
		wantStatus int
		wantBody   string
		wantEvents int
		check      func(t *testing.T, e pbx.CallEvent)
	}{
		{name: "no token", req: req{target: "/hook?" + ring1, user: hookUser, pass: hookPass},
			wantStatus: 401, wantBody: string(answerUnauthorized)},
		{name: "wrong token", req: req{target: "/hook?token=nope&" + ring1, user: hookUser, pass: hookPass},
			wantStatus: 401, wantBody: string(answerUnauthorized)},
		{name: "token differing in case", req: req{target: "/hook?token=" + strings.ToUpper(hookToken) + "&" + ring1, user: hookUser, pass: hookPass},
			wantStatus: 401, wantBody: string(answerUnauthorized)},
		{name: "token only in a POST body", req: req{method: "POST", target: "/hook", body: "token=" + hookToken + "&" + ring1, ctype: "application/x-www-form-urlencoded", user: hookUser, pass: hookPass},
			wantStatus: 401, wantBody: string(answerUnauthorized)},
		{name: "no basic auth", req: req{target: "/hook?token=" + hookToken + "&" + ring1},
			wantStatus: 401, wantBody: string(answerUnauthorized)},
		{name: "wrong password", req: req{target: "/hook?token=" + hookToken + "&" + ring1, user: hookUser, pass: "guess"},
			wantStatus: 401, wantBody: string(answerUnauthorized)},
		{name: "wrong user", req: req{target: "/hook?token=" + hookToken + "&" + ring1, user: "admin", pass: hookPass},
			wantStatus: 401, wantBody: string(answerUnauthorized)},
		{name: "2 MiB body without auth", req: req{method: "POST", target: "/hook", body: big, ctype: "application/x-www-form-urlencoded"},
			wantStatus: 401, wantBody: string(answerUnauthorized)},
		{name: "2 MiB body", req: req{method: "POST", target: "/hook?token=" + hookToken, body: big, ctype: "application/x-www-form-urlencoded", user: hookUser, pass: hookPass},
			wantStatus: 413, wantBody: string(answerTooLarge)},
		{name: "PUT", req: req{method: "PUT", target: "/hook?token=" + hookToken + "&" + ring1, user: hookUser, pass: hookPass},
			wantStatus: 405, wantBody: string(answerFailure)},
		{name: "valid event", req: req{target: "/hook?token=" + hookToken + "&" + ring1, user: hookUser, pass: hookPass},
			wantStatus: 200, wantBody: `{"success":true}`, wantEvents: 1,
			check: func(t *testing.T, e pbx.CallEvent) {
				assert.Equal(t, pbx.EventRinging, e.Type)
				assert.Equal(t, time.Unix(1774372584, 0), e.At.Local())
			}},
		{name: "unknown event code", req: req{target: "/hook?token=" + hookToken + "&event=11&call_id=1.2", user: hookUser, pass: hookPass},
			wantStatus: 200, wantBody: `{"success":true}`, wantEvents: 1,
			check: func(t *testing.T, e pbx.CallEvent) {
				assert.Equal(t, pbx.EventUnknown, e.Type)
				assert.Equal(t, "11", e.Raw.(*Event).Event)
			}},
		{name: "non-numeric event code", req: req{target: "/hook?token=" + hookToken + "&event=ring", user: hookUser, pass: hookPass},
			wantStatus: 200, wantBody: `{"success":true}`, wantEvents: 1,
			check: func(t *testing.T, e pbx.CallEvent) { assert.Equal(t, pbx.EventUnknown, e.Type) }},
		{name: "non-numeric timestamps", req: req{target: "/hook?token=" + hookToken + "&event=2&call_id=1.2&status=ANSWER&timestamp=yesterday&call_start_timestamp=x&call_answer_timestamp=1e9", user: hookUser, pass: hookPass},
			wantStatus: 200, wantBody: `{"success":true}`, wantEvents: 1,
			check: func(t *testing.T, e pbx.CallEvent) {
				assert.WithinDuration(t, time.Now(), e.At, time.Minute, "receive time instead")
				assert.Equal(t, e.At, e.EndedAt)
				assert.Zero(t, e.StartedAt)
				assert.Zero(t, e.AnsweredAt)
				assert.Zero(t, e.TalkDuration)
				assert.Zero(t, e.CallDuration)
				assert.Equal(t, pbx.OutcomeAnswered, e.Outcome)
			}},
		{name: "out-of-range timestamps", req: req{target: "/hook?token=" + hookToken + "&event=3&timestamp=99999999999999999999&call_start_timestamp=-5", user: hookUser, pass: hookPass},
			wantStatus: 200, wantBody: `{"success":true}`, wantEvents: 1,
			check: func(t *testing.T, e pbx.CallEvent) {
				assert.WithinDuration(t, time.Now(), e.At, time.Minute)
				assert.Equal(t, e.At, e.AnsweredAt)
			}},
		{name: "bad numbers", req: req{target: "/hook?token=" + hookToken + "&event=1&src_type=1&dst_type=2&src_num=%2B7+(903)+abc&short_dst_num=10x1_id5&dst_num=&timestamp=1774372584", user: hookUser, pass: hookPass},
			wantStatus: 200, wantBody: `{"success":true}`, wantEvents: 1,
			check: func(t *testing.T, e pbx.CallEvent) {
				assert.Equal(t, pbx.Inbound, e.Direction)
				assert.Equal(t, phone.Normalize("+7 (903) abc"), e.Phone)
				assert.Equal(t, "10x1", e.Extension)
			}},
		{name: "bad types", req: req{target: "/hook?token=" + hookToken + "&event=1&src_type=external&dst_type=9&src_num=79031234567", user: hookUser, pass: hookPass},
			wantStatus: 200, wantBody: `{"success":true}`, wantEvents: 1,
			check: func(t *testing.T, e pbx.CallEvent) {
				assert.Equal(t, pbx.DirectionUnknown, e.Direction)
				assert.Empty(t, e.Phone)
			}},
		{name: "broken escapes and semicolons", req: req{target: "/hook?token=" + hookToken + "&event=1&call_id=%zz&channel=Local/998946963233@vatsout-000022c5;1&&=x", user: hookUser, pass: hookPass},
			wantStatus: 200, wantBody: `{"success":true}`, wantEvents: 1,
			check: func(t *testing.T, e pbx.CallEvent) {
				assert.Equal(t, "%zz", e.CallID)
				assert.Equal(t, "Local/998946963233@vatsout-000022c5;1", e.Raw.(*Event).Channel)
			}},
		{name: "ping without call fields", req: req{target: "/hook?token=" + hookToken, user: hookUser, pass: hookPass},
			wantStatus: 200, wantBody: `{"success":true}`},
		{name: "POST ping", req: req{method: "POST", target: "/hook?token=" + hookToken, body: "foo=bar", ctype: "application/x-www-form-urlencoded", user: hookUser, pass: hookPass},
			wantStatus: 200, wantBody: `{"success":true}`},
		{name: "POST form event", req: req{method: "POST", target: "/hook?token=" + hookToken, body: ring1, ctype: "application/x-www-form-urlencoded", user: hookUser, pass: hookPass},
			wantStatus: 200, wantBody: `{"success":true}`, wantEvents: 1,
			check: func(t *testing.T, e pbx.CallEvent) {
				assert.Equal(t, pbx.Outbound, e.Direction)
				assert.Equal(t, "201", e.Extension)
			}},
		{name: "POST JSON event", req: req{method: "POST", target: "/hook?token=" + hookToken, body: `{"event":2,"call_id":"1.5","status":"BUSY","src_type":2,"dst_type":1,"short_src_num":"202","dst_num":79031234567,"last_called":["102","103"],"transfer_from":null,"x":{"a":1}}`, ctype: "application/json", user: hookUser, pass: hookPass},
			wantStatus: 200, wantBody: `{"success":true}`, wantEvents: 1,
			check: func(t *testing.T, e pbx.CallEvent) {
				assert.Equal(t, pbx.EventCallEnded, e.Type)
				assert.Equal(t, pbx.OutcomeBusy, e.Outcome)
				assert.Equal(t, "79031234567", e.Phone)
				assert.Equal(t, "202", e.Extension)
				assert.Equal(t, []string{"102", "103"}, e.Raw.(*Event).LastCalled)
				assert.Equal(t, `{"a":1}`, e.Raw.(*Event).Params.Get("x"))
			}},
		// Malformed JSON used to be acknowledged as a settings ping and
		// lost; it is refused so that the sender sees it.
		{name: "POST malformed JSON", req: req{method: "POST", target: "/hook?token=" + hookToken, body: `{"event":`, ctype: "application/json", user: hookUser, pass: hookPass},
			wantStatus: 400, wantBody: string(answerMalformed)},
		{name: "POST malformed JSON without a JSON type", req: req{method: "POST", target: "/hook?token=" + hookToken, body: `{"event":2,"call_id":"1.5"`, ctype: "application/x-www-form-urlencoded", user: hookUser, pass: hookPass},
			wantStatus: 400, wantBody: string(answerMalformed)},
		{name: "POST JSON that is not an object", req: req{method: "POST", target: "/hook?token=" + hookToken, body: `["event",2]`, ctype: "application/json; charset=utf-8", user: hookUser, pass: hookPass},
			wantStatus: 400, wantBody: string(answerMalformed)},
		{name: "POST form under a JSON type", req: req{method: "POST", target: "/hook?token=" + hookToken, body: ring1, ctype: "application/json", user: hookUser, pass: hookPass},
			wantStatus: 400, wantBody: string(answerMalformed)},
		// The settings check stays acknowledged: no fields, an empty
		// body, an empty JSON object.
		{name: "POST ping with an empty body", req: req{method: "POST", target: "/hook?token=" + hookToken, ctype: "application/x-www-form-urlencoded", user: hookUser, pass: hookPass},
			wantStatus: 200, wantBody: `{"success":true}`},
		{name: "POST ping with an empty JSON body", req: req{method: "POST", target: "/hook?token=" + hookToken, body: " \n", ctype: "application/json", user: hookUser, pass: hookPass},
			wantStatus: 200, wantBody: `{"success":true}`},
		{name: "POST ping with an empty JSON object", req: req{method: "POST", target: "/hook?token=" + hookToken, body: `{}`, ctype: "application/json", user: hookUser, pass: hookPass},
			wantStatus: 200, wantBody: `{"success":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := hookClient(t, Config{WebhookToken: hookToken, WebhookUser: hookUser, WebhookPassword: hookPass})
			rec := &eventRecorder{}
			var routed atomic.Int32
			router := pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
				routed.Add(1)
				return pbx.Route{}, nil
			})
			w := tt.req.do(c.WebhookHandler(rec, router))
			assert.Equal(t, tt.wantStatus, w.Code)
			assert.Equal(t, tt.wantBody, w.Body.String())
			assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
			if tt.wantStatus == 401 {
				assert.Contains(t, w.Header().Get("WWW-Authenticate"), "Basic")
			}
			got := rec.got()
			require.Len(t, got, tt.wantEvents)
			assert.Zero(t, routed.Load())
			if tt.check != nil && len(got) == 1 {
				e := got[0]
				assert.Equal(t, "sipuni", e.Provider)
				assert.NotNil(t, e.At.Location())
				assert.Equal(t, provider.DefaultLocation(), e.At.Location())
				assert.NotEmpty(t, e.DedupeKey)
				tt.check(t, e)
			}
		})
	}
}

func TestWebhookAuthModes(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		req  req
		want int
	}{
		{"token only: ok", Config{WebhookToken: hookToken}, req{target: "/?token=" + hookToken + "&event=3"}, 200},
		{"token only: escaped token ok", Config{WebhookToken: "a+b/c"}, req{target: "/?token=a%2Bb%2Fc&event=3"}, 200},
		{"token only: missing", Config{WebhookToken: hookToken}, req{target: "/?event=3"}, 401},
		{"token only: empty", Config{WebhookToken: hookToken}, req{target: "/?token=&event=3"}, 401},
		{"basic only: ok", Config{WebhookUser: hookUser, WebhookPassword: hookPass}, req{target: "/?event=3", user: hookUser, pass: hookPass}, 200},
		{"basic only: a token does not replace it", Config{WebhookUser: hookUser, WebhookPassword: hookPass}, req{target: "/?token=" + hookPass + "&event=3"}, 401},
		{"none configured: open", Config{}, req{target: "/?event=3"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := hookClient(t, tt.cfg)
			rec := &eventRecorder{}
			w := tt.req.do(c.WebhookHandler(rec, nil))
			assert.Equal(t, tt.want, w.Code)
			if tt.want == 401 {
				assert.Empty(t, rec.got())
			} else {
				assert.Len(t, rec.got(), 1)
			}
		})
	}
}

func TestWebhookNeverLeaksSecrets(t *testing.T) {
	var logs lockedBuffer
	c := hookClient(t, Config{WebhookToken: hookToken, WebhookUser: hookUser, WebhookPassword: hookPass, Logger: newTestLogger(&logs)})
	rec := &eventRecorder{err: errors.New("db down")}
	h := c.WebhookHandler(rec, pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
		return pbx.Route{}, errors.New("crm down")
	}))
	for _, r := range []req{
		{target: "/?token=" + hookToken + "x&event=1", user: hookUser, pass: hookPass},
		{target: "/?token=" + hookToken + "&event=1", user: hookUser, pass: hookPass + "x"},
		{target: "/?token=" + hookToken + "&event=1&call_id=9.9", user: hookUser, pass: hookPass},
		{target: "/?token=" + hookToken + "&fromnum=79031234567", user: hookUser, pass: hookPass},
	} {
		w := r.do(h)
		assert.NotContains(t, w.Body.String(), hookToken)
		assert.NotContains(t, w.Body.String(), hookPass)
	}
	out := logs.String()
	assert.Contains(t, out, "bad token")
	assert.Contains(t, out, "bad credentials")
	assert.Contains(t, out, "db down")
	assert.Contains(t, out, "crm down")
	for _, secret := range []string{hookToken, hookPass, testSecret} {
		assert.NotContains(t, out, secret)
	}
	// The token never reaches user code either.
	got := rec.got()
	require.Len(t, got, 1)
	assert.Empty(t, got[0].Raw.(*Event).Params["token"])
	assert.NotContains(t, got[0].DedupeKey, hookToken)
}

func TestWebhookHandlerErrorGives500(t *testing.T) {
	c := hookClient(t, Config{WebhookToken: hookToken})
	rec := &eventRecorder{err: errors.New("queue full")}
	w := req{target: "/?token=" + hookToken + "&" + ring1}.do(c.WebhookHandler(rec, nil))
	assert.Equal(t, http.StatusInternalServerError, w.Code)
	assert.Equal(t, `{"success":false}`, w.Body.String())
	assert.Len(t, rec.got(), 1)

	// A nil handler acknowledges and drops.
	w = req{target: "/?token=" + hookToken + "&" + ring1}.do(c.WebhookHandler(nil, nil))
	assert.Equal(t, 200, w.Code)
	assert.Equal(t, `{"success":true}`, w.Body.String())
}

type routeCase struct {
	name      string
	router    pbx.Router
	req       req
	wantBody  string
	wantQuery *pbx.RouteQuery
}

func TestWebhookRouting(t *testing.T) {
	loc := provider.DefaultLocation()
	var asked atomic.Pointer[pbx.RouteQuery]
	manager := pbx.RouterFunc(func(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) {
		asked.Store(&q)
		if q.Phone == "79031234567" {
			return pbx.Route{Extension: "101", DisplayName: "ООО \"Ромашка\" <VIP>"}, nil
		}
		if q.Phone == "79990000000" {
			return pbx.Route{DisplayName: "name without extension"}, nil
		}
		return pbx.Route{}, nil
	})
	slow := pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
		time.Sleep(400 * time.Millisecond) // ignores its context
		return pbx.Route{Extension: "101"}, nil
	})
	tests := []routeCase{
		{
			name:     "route found",
			router:   manager,
			req:      req{target: "/1c/hs/sipuni/get?token=" + hookToken + "&fromnum=89031234567&tonum=74996477948&dtmf=2&label=main&time=1774372584"},
			wantBody: `{"choice":1,"number":"101","name":"ООО \"Ромашка\" \u003cVIP\u003e"}`,
			wantQuery: &pbx.RouteQuery{Provider: "sipuni", Phone: "79031234567", Line: "74996477948", Digits: "2",
				Raw: &RouteQuestion{FromNum: "89031234567", ToNum: "74996477948", DTMF: "2", Label: "main", Time: "1774372584",
					At: time.Unix(1774372584, 0).In(loc)}},
		},
		{
			name:     "route found, POST form, local time",
			router:   manager,
			req:      req{method: "POST", target: "/?token=" + hookToken, body: "fromnum=79031234567&tonum=74996477948&time=2026-03-24+10%3A15%3A00", ctype: "application/x-www-form-urlencoded"},
			wantBody: `{"choice":1,"number":"101","name":"ООО \"Ромашка\" \u003cVIP\u003e"}`,
			wantQuery: &pbx.RouteQuery{Provider: "sipuni", Phone: "79031234567", Line: "74996477948",
				Raw: &RouteQuestion{FromNum: "79031234567", ToNum: "74996477948", Time: "2026-03-24 10:15:00",
					At: time.Date(2026, 3, 24, 10, 15, 0, 0, loc)}},
		},
		{
			name:     "no decision",
			router:   manager,
			req:      req{target: "/?token=" + hookToken + "&fromnum=79161234567&tonum=74996477948&time=garbage"},
			wantBody: `{"choice":0}`,
			wantQuery: &pbx.RouteQuery{Provider: "sipuni", Phone: "79161234567", Line: "74996477948",
				Raw: &RouteQuestion{FromNum: "79161234567", ToNum: "74996477948", Time: "garbage"}},
		},
		{
			name:     "a display name alone is no decision",
			router:   manager,
			req:      req{target: "/?token=" + hookToken + "&fromnum=79990000000"},
			wantBody: `{"choice":0}`,
		},
		{
			name: "router error",
			router: pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
				return pbx.Route{Extension: "101"}, errors.New("1C is down")
			}),
			req:      req{target: "/?token=" + hookToken + "&fromnum=79031234567"},
			wantBody: `{"choice":0}`,
		},
		{
			name:     "router panics",
			router:   pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) { panic("boom") }),
			req:      req{target: "/?token=" + hookToken + "&fromnum=79031234567"},
			wantBody: `{"choice":0}`,
		},
		{
			name:     "router too slow",
			router:   slow,
			req:      req{target: "/?token=" + hookToken + "&fromnum=79031234567"},
			wantBody: `{"choice":0}`,
		},
		{
			name:     "nil router",
			req:      req{target: "/?token=" + hookToken + "&fromnum=79031234567"},
			wantBody: `{"choice":0}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			asked.Store(nil)
			c := hookClient(t, Config{WebhookToken: hookToken, RouteTimeout: 100 * time.Millisecond})
			rec := &eventRecorder{}
			start := time.Now()
			w := tt.req.do(c.WebhookHandler(rec, tt.router))
			assert.Less(t, time.Since(start), 300*time.Millisecond, "answered within the route timeout")
			assert.Equal(t, 200, w.Code)
			assert.Equal(t, tt.wantBody, w.Body.String())
			assert.Empty(t, rec.got(), "a routing question is not an event")
			if tt.wantQuery != nil {
				q := asked.Load()
				require.NotNil(t, q)
				raw, ok := q.Raw.(*RouteQuestion)
				require.True(t, ok, "Raw is %T", q.Raw)
				assert.NotContains(t, raw.Params, "token")
				raw.Params = nil
				assert.Equal(t, *tt.wantQuery, *q)
			}
		})
	}

	// Unauthenticated questions reach no router.
	c := hookClient(t, Config{WebhookToken: hookToken})
	w := req{target: "/?fromnum=79031234567"}.do(c.WebhookHandler(nil, manager))
	assert.Equal(t, 401, w.Code)
}
