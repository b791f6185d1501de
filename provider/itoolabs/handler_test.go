package itoolabs

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

const testToken = "secret-token"

// recorder keeps what reached user code.
type recorder struct {
	mu      sync.Mutex
	events  []pbx.CallEvent
	queries []pbx.RouteQuery
	route   pbx.Route
	err     error
	delay   time.Duration
}

func (r *recorder) HandleEvent(_ context.Context, e pbx.CallEvent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return r.err
}

func (r *recorder) Route(ctx context.Context, q pbx.RouteQuery) (pbx.Route, error) {
	r.mu.Lock()
	r.queries = append(r.queries, q)
	route, delay := r.route, r.delay
	r.mu.Unlock()
	if delay > 0 {
		select {
		case <-ctx.Done():
			return pbx.Route{}, ctx.Err()
		case <-time.After(delay):
		}
	}
	return route, nil
}

func (r *recorder) counts() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events), len(r.queries)
}

func verifyToken(tok string) error {
	if provider.SecretEqual(tok, testToken) {
		return nil
	}
	return &provider.VerificationError{Provider: "test", Reason: provider.ReasonBadToken}
}

func newTestHandler(d *Dialect, rec *recorder, verify func(string) error) http.Handler {
	return NewHandler(HandlerConfig{Dialect: d, Verify: verify, Location: msk, RouteTimeout: 200 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler), Log: provider.NewWebhookLog(slog.New(slog.DiscardHandler), d.Provider)}, rec, rec)
}

func send(h http.Handler, method, target, ctype, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

const form = "application/x-www-form-urlencoded"

// TestHandlerDialectAnswers: each dialect answers accepted notifications
// and undecided contact questions in its own words, and routes the same.
func TestHandlerDialectAnswers(t *testing.T) {
	event := "cmd=event&type=INCOMING&direction=in&user=admin&ext=101&phone=79161234567&callid=c1&crm_token=" + testToken
	contact := "cmd=contact&phone=79161234567&diversion=74951234567&callid=c1&crm_token=" + testToken
	tests := []struct {
		name                 string
		d                    *Dialect
		route                pbx.Route
		wantEvent, wantRoute string
	}{
		{"local: no decision", localDialect, pbx.Route{}, `{"result":"ok"}`, `{"responsible":""}`},
		{"UTC: no decision", utcDialect, pbx.Route{}, `{}`, `{}`},
		{"local: decision", localDialect, pbx.Route{Extension: "101", DisplayName: "ООО Ромашка"}, `{"result":"ok"}`,
			`{"responsible":"101","contact_name":"ООО Ромашка"}`},
		{"UTC: decision", utcDialect, pbx.Route{Extension: "101"}, `{}`, `{"responsible":"101"}`},
		{"local: a name alone is no decision", localDialect, pbx.Route{DisplayName: "Иван"}, `{"result":"ok"}`, `{"responsible":""}`},
		{"UTC: a name alone is answered", utcDialect, pbx.Route{DisplayName: "Иван"}, `{}`, `{"contact_name":"Иван"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{route: tt.route}
			h := newTestHandler(tt.d, rec, verifyToken)
			w := send(h, http.MethodPost, "/", form, event)
			require.Equal(t, http.StatusOK, w.Code)
			assert.Equal(t, tt.wantEvent, w.Body.String())
			assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
			w = send(h, http.MethodPost, "/", form, contact)
			require.Equal(t, http.StatusOK, w.Code)
			assert.JSONEq(t, tt.wantRoute, w.Body.String())
			require.Len(t, rec.events, 1)
			assert.Equal(t, tt.d.Provider, rec.events[0].Provider)
			assert.Equal(t, pbx.EventRinging, rec.events[0].Type)
			require.Len(t, rec.queries, 1)
			assert.Equal(t, pbx.RouteQuery{Provider: tt.d.Provider, CallID: "c1", Phone: "79161234567", Line: "74951234567",
				Raw: rec.queries[0].Raw}, rec.queries[0])
		})
	}
}

// TestHandlerRejects: nothing unauthenticated or malformed reaches user
// code, and the token is checked before a field error is reported.
func TestHandlerRejects(t *testing.T) {
	tests := []struct {
		name, method, ctype, body string
		verify                    func(string) error
		want                      int
		wantBody                  string
	}{
		{"no token", "POST", form, "cmd=event&type=INCOMING", verifyToken, 401, `{"error":"Invalid token"}`},
		{"wrong token", "POST", form, "cmd=event&crm_token=x", verifyToken, 401, `{"error":"Invalid token"}`},
		{"first of two tokens wrong", "POST", form, "cmd=event&crm_token=x&crm_token=" + testToken, verifyToken, 401, ""},
		{"token as a JSON number", "POST", "application/json", `{"cmd":"event","crm_token":123}`, verifyToken, 401, ""},
		{"no Verify never fails open", "POST", form, "cmd=event&crm_token=" + testToken, nil, 401, ""},
		{"empty token against a Verify that wants one", "POST", form, "cmd=event&crm_token=", verifyToken, 401, ""},
		{"bad field with a wrong token is 401", "POST", "application/json", `{"cmd":"history","duration":{},"crm_token":"x"}`, verifyToken, 401, ""},
		{"bad field with the token is 400", "POST", "application/json", `{"cmd":"history","duration":{},"crm_token":"` + testToken + `"}`, verifyToken, 400, `{"error":"Invalid parameters"}`},
		{"duration not a number", "POST", form, "cmd=history&duration=abc&crm_token=" + testToken, verifyToken, 400, ""},
		{"no cmd", "POST", form, "type=INCOMING&crm_token=" + testToken, verifyToken, 400, ""},
		{"array", "POST", "application/json", `[]`, verifyToken, 400, ""},
		{"empty", "POST", form, ``, verifyToken, 400, ""},
		{"PUT", "PUT", form, "cmd=event&crm_token=" + testToken, verifyToken, 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{route: pbx.Route{Extension: "101"}}
			w := send(newTestHandler(utcDialect, rec, tt.verify), tt.method, "/", tt.ctype, tt.body)
			assert.Equal(t, tt.want, w.Code, w.Body.String())
			if tt.wantBody != "" {
				assert.Equal(t, tt.wantBody, w.Body.String())
			}
			assert.NotContains(t, w.Body.String(), testToken)
			ev, q := rec.counts()
			assert.Zero(t, ev+q, "nothing reaches user code")
		})
	}
	// A body over 1 MiB.
	rec := &recorder{}
	big := "cmd=event&crm_token=" + testToken + "&x=" + strings.Repeat("a", 1<<20)
	w := send(newTestHandler(utcDialect, rec, verifyToken), "POST", "/", form, big)
	assert.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
}

// TestHandlerEventHandlerError: a failing EventHandler gives the PBX a 500,
// so that it may redeliver.
func TestHandlerEventHandlerError(t *testing.T) {
	rec := &recorder{err: errors.New("journal down")}
	w := send(newTestHandler(utcDialect, rec, verifyToken), "POST", "/", form, "cmd=event&type=ACCEPTED&crm_token="+testToken)
	assert.Equal(t, http.StatusInternalServerError, w.Code)
	assert.Equal(t, `{"error":"Internal error"}`, w.Body.String())
}

// TestHandlerRouteTimeout: a late router gives the dialect's "no decision"
// after RouteTimeout, not the router's late answer.
func TestHandlerRouteTimeout(t *testing.T) {
	rec := &recorder{route: pbx.Route{Extension: "101"}, delay: 3 * time.Second}
	start := time.Now()
	w := send(newTestHandler(utcDialect, rec, verifyToken), "POST", "/", form, "cmd=contact&phone=79161234567&crm_token="+testToken)
	took := time.Since(start)
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, `{}`, w.Body.String())
	assert.Less(t, took, 2*time.Second, "did not wait for the router")
}

// TestHandlerNilUserCode: without events and router, notifications are
// acknowledged and questions get no decision.
func TestHandlerNilUserCode(t *testing.T) {
	h := NewHandler(HandlerConfig{Dialect: localDialect, Verify: verifyToken, RouteTimeout: time.Second}, nil, nil)
	w := send(h, "POST", "/", "application/json", `{"cmd":"event","type":"INCOMING","crm_token":"`+testToken+`"}`)
	assert.Equal(t, `{"result":"ok"}`, w.Body.String())
	w = send(h, "GET", "/?cmd=contact&phone=1&crm_token="+testToken, "", "")
	assert.Equal(t, `{"responsible":""}`, w.Body.String())
}

// TestHandlerUnknownContentLogged: unknown fields and codes are noted at
// debug level, without their values (which could hold anything).
func TestHandlerUnknownContentLogged(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := NewHandler(HandlerConfig{Dialect: utcDialect, Verify: verifyToken, RouteTimeout: time.Second, Logger: logger}, nil, nil)
	w := send(h, "POST", "/", form, "cmd=event&type=HOLD&secretish=value123&crm_token="+testToken)
	require.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, buf.String(), "unknown_fields=secretish")
	assert.Contains(t, buf.String(), "type=HOLD")
	assert.NotContains(t, buf.String(), "value123")
	assert.NotContains(t, buf.String(), testToken)
}
