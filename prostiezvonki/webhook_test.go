package prostiezvonki

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

const incoming = `{"cmd": "event", "type": "INCOMING", "direction": "in", "user": "100", "ext": "100", "phone": "89991234567", "diversion": "3333333", "callid": "1659685427407907141", "crm_token": "token123"}`

// TestWebhookBadInput: nothing that fails a check reaches the handler or the
// router, and each failure gets its documented answer.
func TestWebhookBadInput(t *testing.T) {
	big := `{"cmd":"event","crm_token":"token123","pad":"` + strings.Repeat("x", 2<<20) + `"}`
	tests := []struct {
		name   string
		method string
		ctype  string
		body   string
		query  string
		status int
		answer string
	}{
		{"wrong token", "POST", "application/json", strings.Replace(incoming, "token123", "token124", 1), "", 401, `{"error":"Invalid token"}`},
		{"token differs in length", "POST", "application/json", strings.Replace(incoming, "token123", "token1234", 1), "", 401, `{"error":"Invalid token"}`},
		{"missing token", "POST", "application/json", `{"cmd":"event","type":"INCOMING"}`, "", 401, `{"error":"Invalid token"}`},
		{"empty token", "POST", "application/json", `{"cmd":"event","crm_token":""}`, "", 401, `{"error":"Invalid token"}`},
		{"token as object", "POST", "application/json", `{"cmd":"event","crm_token":{"v":"token123"}}`, "", 401, `{"error":"Invalid token"}`},
		{"wrong token in a form", "POST", "application/x-www-form-urlencoded", "cmd=event&crm_token=nope", "", 401, `{"error":"Invalid token"}`},
		{"wrong token and wrong types", "POST", "application/json", `{"cmd":"history","duration":{},"crm_token":"x"}`, "", 401, `{"error":"Invalid token"}`},
		{"empty body", "POST", "application/json", "", "", 400, `{"error":"Invalid parameters"}`},
		{"white space body", "POST", "application/json", " \n\t ", "", 400, `{"error":"Invalid parameters"}`},
		{"invalid JSON", "POST", "application/json", `{"cmd": "event", "crm_token": "token123"`, "", 400, `{"error":"Invalid parameters"}`},
		{"JSON array", "POST", "application/json", `[` + incoming + `]`, "", 400, `{"error":"Invalid parameters"}`},
		{"JSON string", "POST", "application/json", `"cmd"`, "", 401, `{"error":"Invalid token"}`},
		{"bad form escape", "POST", "application/x-www-form-urlencoded", "cmd=event&crm_token=%zz", "", 400, `{"error":"Invalid parameters"}`},
		{"missing cmd", "POST", "application/json", `{"type":"INCOMING","crm_token":"token123"}`, "", 400, `{"error":"Invalid parameters"}`},
		{"empty cmd", "POST", "application/json", `{"cmd":" ","crm_token":"token123"}`, "", 400, `{"error":"Invalid parameters"}`},
		{"duration as object", "POST", "application/json", `{"cmd":"history","type":"in","duration":{"s":50},"crm_token":"token123"}`, "", 400, `{"error":"Invalid parameters"}`},
		{"phone as array", "POST", "application/json", `{"cmd":"event","phone":["1"],"crm_token":"token123"}`, "", 400, `{"error":"Invalid parameters"}`},
		{"duration not a number", "POST", "application/json", `{"cmd":"history","type":"in","duration":"fifty","crm_token":"token123"}`, "", 400, `{"error":"Invalid parameters"}`},
		{"negative duration", "POST", "application/json", `{"cmd":"history","type":"in","duration":-5,"crm_token":"token123"}`, "", 400, `{"error":"Invalid parameters"}`},
		{"fractional duration", "POST", "application/json", `{"cmd":"history","type":"in","duration":5.5,"crm_token":"token123"}`, "", 400, `{"error":"Invalid parameters"}`},
		{"wait not a number", "POST", "application/json", `{"cmd":"history","type":"in","wait":"x","crm_token":"token123"}`, "", 400, `{"error":"Invalid parameters"}`},
		{"2 MiB body", "POST", "application/json", big, "", 413, `{"error":"Request body too large"}`},
		{"PUT", "PUT", "application/json", incoming, "", 405, `{"error":"Method not allowed"}`},
		{"GET without parameters", "GET", "", "", "", 400, `{"error":"Invalid parameters"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got collector
			rt := &routeTo{r: pbx.Route{Extension: "101"}}
			h := newClient(t, Config{}).WebhookHandler(&got, rt)
			target := "/pz"
			if tt.query != "" {
				target += "?" + tt.query
			}
			w := do(h, tt.method, target, tt.ctype, []byte(tt.body))
			assert.Equal(t, tt.status, w.Code)
			assert.JSONEq(t, tt.answer, w.Body.String())
			assert.Contains(t, w.Header().Get("Content-Type"), "application/json")
			assert.Empty(t, got.all(), "nothing reaches the event handler")
			assert.Empty(t, rt.asked(), "nothing reaches the router")
		})
	}
}

// TestWebhookNoTokenConfigured: a Client without CRMToken accepts nothing,
// not even a request with an empty token.
func TestWebhookNoTokenConfigured(t *testing.T) {
	c, err := New(Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	var got collector
	for _, body := range []string{incoming, `{"cmd":"event","crm_token":""}`, `{"cmd":"event"}`} {
		w := post(c.WebhookHandler(&got, nil), body)
		assert.Equal(t, http.StatusUnauthorized, w.Code, body)
	}
	assert.Empty(t, got.all())
}

func TestWebhookHandlerErrorGives500AndIsLogged(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	got := &collector{err: errBoom}
	w := post(newClient(t, Config{Logger: logger}).WebhookHandler(got, nil), incoming)
	assert.Equal(t, http.StatusInternalServerError, w.Code)
	assert.JSONEq(t, `{"error":"Internal error"}`, w.Body.String())
	assert.Contains(t, logs.String(), "boom")
	assert.Contains(t, logs.String(), `"level":"ERROR"`)
}

func TestWebhookNilHandlerAcknowledges(t *testing.T) {
	h := newClient(t, Config{}).WebhookHandler(nil, nil)
	for _, body := range []string{incoming, string(fixture(t, "03_incoming_answered_history.json"))} {
		w := post(h, body)
		assert.Equal(t, http.StatusOK, w.Code)
		assert.JSONEq(t, `{"result":"ok"}`, w.Body.String())
	}
	w := post(h, string(fixture(t, "09_smart_transfer_contact.json")))
	assert.Equal(t, http.StatusOK, w.Code)
	assert.JSONEq(t, `{"responsible":""}`, w.Body.String())
}

// TestWebhookContact covers the routing question's answers.
func TestWebhookContact(t *testing.T) {
	slow := pbx.RouterFunc(func(ctx context.Context, _ pbx.RouteQuery) (pbx.Route, error) {
		<-ctx.Done()
		return pbx.Route{Extension: "102"}, nil
	})
	deaf := pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
		time.Sleep(300 * time.Millisecond) // ignores its context
		return pbx.Route{Extension: "102"}, nil
	})
	tests := []struct {
		name   string
		router pbx.Router
		body   string
		want   string
	}{
		{"found", &routeTo{r: pbx.Route{Extension: "100"}}, "", `{"responsible":"100"}`},
		{"found with name", &routeTo{r: pbx.Route{Extension: "101", DisplayName: "ООО \"Альфа\""}}, "", `{"responsible":"101","contact_name":"ООО \"Альфа\""}`},
		{"name without extension", &routeTo{r: pbx.Route{DisplayName: "ООО Альфа"}}, "", `{"responsible":""}`},
		{"no decision", &routeTo{}, "", `{"responsible":""}`},
		{"nil router", nil, "", `{"responsible":""}`},
		{"error", pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) { return pbx.Route{Extension: "1"}, errBoom }), "", `{"responsible":""}`},
		{"panic", pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) { panic("router bug") }), "", `{"responsible":""}`},
		{"timeout", slow, "", `{"responsible":""}`},
		{"timeout, router ignores ctx", deaf, "", `{"responsible":""}`},
		{"family fields", &routeTo{r: pbx.Route{Extension: "100"}}, `{"cmd":"contact","phone":"79991234567","diversion":"74951234567","callid":"abc","crm_token":"token123"}`, `{"responsible":"100"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got collector
			h := newClient(t, Config{RouteTimeout: 50 * time.Millisecond}).WebhookHandler(&got, tt.router)
			body := tt.body
			if body == "" {
				body = `{"cmd": "contact", "phone": "89991234567", "crm_token": "token123"}`
			}
			start := time.Now()
			w := post(h, body)
			assert.Less(t, time.Since(start), 250*time.Millisecond, "answered in time")
			assert.Equal(t, http.StatusOK, w.Code)
			assert.JSONEq(t, tt.want, w.Body.String())
			assert.Empty(t, got.all(), "a routing question is not an event")
			if rt, ok := tt.router.(*routeTo); ok && tt.body != "" {
				q := rt.asked()[0]
				assert.Equal(t, "abc", q.CallID)
				assert.Equal(t, "74951234567", q.Line)
				assert.Equal(t, "79991234567", q.Phone)
			}
		})
	}
}

// TestWebhookNeverLogsTheToken runs good and bad requests with debug
// logging on and looks for the token in the journal.
func TestWebhookNeverLogsTheToken(t *testing.T) {
	const secret = "s3cr3t-crm-token"
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newClient(t, Config{CRMToken: secret, Logger: logger})
	h := c.WebhookHandler(&collector{err: errBoom}, &routeTo{})
	for _, body := range []string{
		strings.Replace(incoming, testToken, secret, 1),
		strings.Replace(incoming, testToken, secret+"x", 1),
		`{"cmd":"contact","phone":"1","crm_token":"` + secret + `"}`,
		`{"cmd":"history","duration":{},"crm_token":"` + secret + `"}`,
		`{"crm_token":"` + secret + `"}`,
		`{"crm_token":"` + secret,
	} {
		w := post(h, body)
		assert.NotContains(t, w.Body.String(), secret)
	}
	require.NotEmpty(t, logs.String(), "the journal was written")
	assert.Contains(t, logs.String(), `"provider":"prostiezvonki"`)
	assert.NotContains(t, logs.String(), secret)
	assert.NotContains(t, logs.String(), "s3cr3t")
}

// TestWebhookAnswersAfterTheHandler: the handler is called synchronously,
// so the PBX gets its answer only once the handler has returned.
func TestWebhookAnswersAfterTheHandler(t *testing.T) {
	var done atomic.Bool
	h := newClient(t, Config{}).WebhookHandler(pbx.EventHandlerFunc(func(context.Context, pbx.CallEvent) error {
		time.Sleep(50 * time.Millisecond)
		done.Store(true)
		return nil
	}), nil)
	ts := httptest.NewServer(h)
	defer ts.Close()
	resp, err := http.Post(ts.URL, "application/json", strings.NewReader(incoming))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, done.Load(), "answered only after HandleEvent returned")
}

// TestWebhookLogsUnknownContent: unknown fields and codes are journalled at
// debug level by name.
func TestWebhookLogsUnknownContent(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newClient(t, Config{Logger: logger}).WebhookHandler(nil, nil)
	post(h, `{"cmd":"event","type":"HOLD","z_flag":"0","telnum_name":"x","crm_token":"token123"}`)
	assert.Contains(t, logs.String(), `"unknown_fields":"z_flag"`)
	assert.Contains(t, logs.String(), `"type":"HOLD"`)
	logs.Reset()
	post(h, incoming)
	assert.NotContains(t, logs.String(), "unrecognised", "a known notification logs only its journal line")
	assert.Contains(t, logs.String(), `"operation":"event"`)
}

// TestWebhookRejectionIsLoudAndRateLimited: a wrong or missing crm_token is
// logged at Warn (not only in the debug journal), once per reason however
// many requests come, naming the provider and the reason and never a token.
func TestWebhookRejectionIsLoudAndRateLimited(t *testing.T) {
	const configured, sent = "right-s3cr3t", "wrong-s3cr3t"
	var logs lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var got collector
	h := newClient(t, Config{CRMToken: configured, Logger: logger}).WebhookHandler(&got, nil)
	for range 5 {
		w := post(h, strings.Replace(incoming, testToken, sent, 1))
		require.Equal(t, http.StatusUnauthorized, w.Code)
	}
	lines := warnLines(t, logs.String())
	require.Len(t, lines, 1, "five rejections, one warning: %s", logs.String())
	assert.Contains(t, lines[0], `prostiezvonki`)
	assert.Contains(t, lines[0], string(provider.ReasonBadToken))

	w := post(h, `{"cmd":"event","type":"INCOMING"}`) // another reason
	require.Equal(t, http.StatusUnauthorized, w.Code)
	lines = warnLines(t, logs.String())
	require.Len(t, lines, 2, logs.String())
	assert.Contains(t, lines[1], string(provider.ReasonMissingToken))

	assert.NotContains(t, logs.String(), "s3cr3t")
	assert.Empty(t, got.all())
}

// warnLines returns the WARN records of a JSON log.
func warnLines(t *testing.T, log string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		if l == "" {
			continue
		}
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &rec), l)
		if rec["level"] == "WARN" {
			out = append(out, l)
		}
	}
	return out
}

// TestWebhookMemoryFollowsTheBytes: Prostie Zvonki's token is inside the
// body, so the body is read before anything is checked. A request that
// announces 1 MiB and sends a few bytes must not cost 1 MiB: memory
// follows the bytes received (600 such idle connections once held 540 MB).
func TestWebhookMemoryFollowsTheBytes(t *testing.T) {
	h := newClient(t, Config{}).WebhookHandler(nil, nil)
	body := []byte(strings.Replace(incoming, testToken, "wrong", 1))
	const requests = 20
	reqs := make([]*http.Request, requests)
	for i := range reqs {
		reqs[i] = httptest.NewRequest(http.MethodPost, "/pz", bytes.NewReader(body))
		reqs[i].Header.Set("Content-Type", "application/json")
		reqs[i].ContentLength = provider.DefaultMaxBodySize // announced, never sent
	}
	w := &discardWriter{h: http.Header{}}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, r := range reqs {
		w.reset()
		h.ServeHTTP(w, r)
	}
	runtime.ReadMemStats(&after)
	assert.Equal(t, http.StatusUnauthorized, w.status)
	perRequest := (after.TotalAlloc - before.TotalAlloc) / requests
	assert.Less(t, perRequest, uint64(64<<10), "allocated %d bytes per request of %d bytes", perRequest, len(body))
}
