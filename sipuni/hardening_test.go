package sipuni

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// stallServer answers every request with headers and the first part of a
// body, then hangs until the test ends. It counts the requests.
func stallServer(t *testing.T, ctype string, first []byte) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	release := make(chan struct{})
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Length", "1048576")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(first)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: handlers return, Close does not wait
	return srv, &n
}

// TestStalledBodyGivesUp: a server that sends headers and part of a body,
// then nothing, held every operation for as long as it wished (MakeCall 13 s
// and counting) when ctx had no deadline. With Config.Timeout each one now
// fails, and MakeCall is still sent once.
func TestStalledBodyGivesUp(t *testing.T) {
	mp3 := append([]byte("ID3\x04\x00\x00\x00\x00\x00\x00"), bytes.Repeat([]byte{0xFF, 0xFB, 0x90, 0x64}, 1024)...)
	tests := []struct {
		name  string
		ctype string
		first []byte
		run   func(c *Client) error
	}{
		{"MakeCall", "application/json", []byte(`{"success":tr`), func(c *Client) error {
			_, err := c.MakeCall(context.Background(), pbx.CallRequest{Extension: "101", Phone: "79031234567"})
			return err
		}},
		{"Subscribers", "text/csv", []byte("Login;Name;Status\n101;Иван"), func(c *Client) error {
			_, err := c.Subscribers(context.Background())
			return err
		}},
		{"History", "text/csv", []byte("\uFEFFТип;Статус;Время\nВходящий;отвечен;"), func(c *Client) error {
			for _, err := range c.History(context.Background(), pbx.HistoryQuery{From: time.Now().Add(-time.Hour)}) {
				if err != nil {
					return err
				}
			}
			return nil
		}},
		// Stalled before the first line ended, or before 512 bytes of
		// audio: what arrived was judged "not CSV", "not audio".
		{"History, stalled in the header", "text/csv", []byte("\uFEFFТи"), func(c *Client) error {
			_, err := c.ExportStatistics(context.Background(), ExportRequest{From: time.Now(), To: time.Now()})
			return err
		}},
		{"FetchRecording, stalled in the first bytes", "audio/mpeg", []byte("ID3\x04"), func(c *Client) error {
			_, err := c.FetchRecording(context.Background(), "1774372584.533596")
			return err
		}},
		{"FetchRecording (idle limit)", "audio/mpeg", mp3, func(c *Client) error {
			rec, err := c.FetchRecording(context.Background(), "1774372584.533596")
			if err != nil {
				return err
			}
			defer rec.Body.Close()
			_, err = io.Copy(io.Discard, rec.Body)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, n := stallServer(t, tt.ctype, tt.first)
			c, err := New(Config{Account: testAccount, Secret: testSecret, BaseURL: srv.URL + "/api/", WebhookToken: "t",
				Timeout: 200 * time.Millisecond})
			require.NoError(t, err)
			done := make(chan error, 1)
			go func() { done <- tt.run(c) }()
			select {
			case err := <-done:
				require.Error(t, err)
				assert.ErrorIs(t, err, context.DeadlineExceeded)
				assert.NotContains(t, err.Error(), testSecret)
			case <-time.After(10 * time.Second):
				t.Fatal("still waiting for a stalled body after 10 s (Timeout is 200 ms)")
			}
			if tt.name == "MakeCall" {
				assert.Equal(t, int32(1), n.Load(), "a call is never sent twice")
			}
		})
	}
}

// TestSlowDownloadIsNotCut: Timeout is an idle limit for recordings, so a
// download that keeps receiving runs longer than Timeout.
func TestSlowDownloadIsNotCut(t *testing.T) {
	const chunks, gap = 40, 20 * time.Millisecond
	chunk := append([]byte("ID3\x04\x00\x00\x00\x00\x00\x00"), bytes.Repeat([]byte{0xFF, 0xFB, 0x90, 0x64}, 256)...)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		w.WriteHeader(http.StatusOK)
		for range chunks {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-time.After(gap):
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{Account: testAccount, Secret: testSecret, BaseURL: srv.URL + "/api/", WebhookToken: "t",
		Timeout: 300 * time.Millisecond})
	require.NoError(t, err)
	start := time.Now()
	rec, err := c.FetchRecording(context.Background(), "1.1")
	require.NoError(t, err)
	n, err := io.Copy(io.Discard, rec.Body)
	require.NoError(t, rec.Body.Close())
	require.NoError(t, err, "cut after %v", time.Since(start))
	assert.Equal(t, int64(chunks*len(chunk)), n)
}

// TestRedirectIsNotFollowed: an API answering 307 gets no second request,
// and the host it points to gets nothing: neither the signed form nor a
// second make-call.
func TestRedirectIsNotFollowed(t *testing.T) {
	var other atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		other.Add(1)
		_, _ = io.WriteString(w, `{"success":true,"id":"x"}`)
	}))
	t.Cleanup(target.Close)
	var first atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first.Add(1)
		http.Redirect(w, r, target.URL+"/api/callback/call_number", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{Account: testAccount, Secret: testSecret, BaseURL: srv.URL + "/api/", WebhookToken: "t",
		HTTPClient: &http.Client{}})
	require.NoError(t, err)
	_, err = c.MakeCall(context.Background(), pbx.CallRequest{Extension: "101", Phone: "79031234567"})
	var re *provider.RedirectError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, int32(1), first.Load())
	assert.Zero(t, other.Load())
}

// TestSecretsNeverPrinted prints a Config, a pointer to it and a Client with
// every verb and through slog's JSON and text handlers: the old Config
// printed its Secret, WebhookToken and WebhookPassword in the clear.
func TestSecretsNeverPrinted(t *testing.T) {
	const (
		secret   = "0.SECRETkey-7c1d"
		token    = "hooktoken-91ab"
		user     = "hookuser-44f0"
		password = "hookpass-2e8d"
		urlPass  = "urlpass-5b3c"
		urlQuery = "qsecret-0d9e"
	)
	secrets := []string{secret, token, user, password, urlPass, urlQuery}
	cfg := Config{Account: testAccount, Secret: secret, WebhookToken: token, WebhookUser: user, WebhookPassword: password,
		Timeout: 5 * time.Second}
	c, err := New(cfg)
	require.NoError(t, err)
	// A BaseURL New would refuse, printed before New saw it.
	bad := cfg
	bad.BaseURL = "https://admin:" + urlPass + "@sipuni.example/api/?key=" + urlQuery

	var out strings.Builder
	for _, v := range []any{cfg, &cfg, bad, &bad, c, *c, []*Client{c}, struct{ Cfg Config }{cfg}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
	}
	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&logs, nil), slog.NewTextHandler(&logs, nil)} {
		slog.New(h).Info("config", "cfg", cfg, "ptr", &bad, "client", c)
	}
	out.WriteString(logs.String())
	printed := out.String()
	for _, s := range secrets {
		assert.NotContains(t, printed, s)
	}
	// Not vacuous: the printed forms say something.
	assert.Contains(t, printed, testAccount)
	assert.Contains(t, printed, redacted)
	assert.Contains(t, printed, "sipuni.example")
	assert.Contains(t, printed, "token and basic auth")
	assert.Contains(t, printed, `"Timeout":5000000000`, "slog JSON carries the settings")
}

// TestWebhookRejectionWarns: a wrong token was logged at debug only, so a
// mistyped token in Sipuni's cabinet lost every event without a trace. Now
// one Warn line names the provider and the reason, and repeats within a
// minute are counted, not logged.
func TestWebhookRejectionWarns(t *testing.T) {
	var logs lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c := hookClient(t, Config{WebhookToken: hookToken, Logger: logger})
	h := c.WebhookHandler(&eventRecorder{}, nil)
	for range 3 {
		w := req{target: "/?token=" + hookToken + "-wrong&" + ring1}.do(h)
		require.Equal(t, http.StatusUnauthorized, w.Code)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, 1, logs.String())
	var line map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &line))
	assert.Equal(t, "WARN", line["level"])
	assert.Equal(t, Name, line["provider"])
	assert.Equal(t, string(provider.ReasonBadToken), line["reason"])
	assert.NotContains(t, logs.String(), hookToken)

	// A missing token is another reason: its own line.
	req{target: "/?" + ring1}.do(h)
	assert.Contains(t, logs.String(), string(provider.ReasonMissingToken))
}

// TestHugeNumberIsNoPhone: a 900-digit "phone number" is not one: Phone
// stays empty, the value stays in Raw.
func TestHugeNumberIsNoPhone(t *testing.T) {
	huge := strings.Repeat("7", 900)
	c := hookClient(t, Config{WebhookToken: hookToken})
	rec := &eventRecorder{}
	h := c.WebhookHandler(rec, pbx.RouterFunc(func(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) {
		assert.Empty(t, q.Phone)
		assert.Equal(t, huge, q.Raw.(*RouteQuestion).FromNum)
		return pbx.Route{}, nil
	}))
	for _, q := range []string{
		"event=1&src_type=1&dst_type=2&short_dst_num=101&src_num=" + huge,
		"event=2&src_type=2&dst_type=1&short_src_num=101&status=ANSWER&dst_num=" + huge,
		"event=1&src_type=1&treeName=" + url.QueryEscape("Входящая") + "&short_src_num=" + huge,
	} {
		w := req{target: "/?token=" + hookToken + "&" + q}.do(h)
		require.Equal(t, 200, w.Code)
	}
	for _, e := range rec.got() {
		assert.Empty(t, e.Phone)
		raw := e.Raw.(*Event)
		assert.Contains(t, []string{raw.SrcNum, raw.DstNum, raw.ShortSrcNum}, huge)
	}
	w := req{target: "/?token=" + hookToken + "&fromnum=" + huge}.do(h)
	assert.Equal(t, `{"choice":0}`, w.Body.String())

	row := StatisticsRow{Type: "Входящий", From: huge, To: "74951234567"}
	assert.Empty(t, row.CallRecord().Phone)

	mc, mt := mockClient(t, Config{})
	_, err := mc.MakeCall(context.Background(), pbx.CallRequest{Extension: "101", Phone: huge})
	assert.Error(t, err)
	assert.Zero(t, mt.GetTotalCallCount())
}

// TestRawIsAlwaysAPointer checks the one shape of Raw on every value the
// package makes (Event and StatisticsRow used to be values).
func TestRawIsAlwaysAPointer(t *testing.T) {
	c := hookClient(t, Config{WebhookToken: hookToken})
	rec := &eventRecorder{}
	var asked pbx.RouteQuery
	h := c.WebhookHandler(rec, pbx.RouterFunc(func(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) {
		asked = q
		return pbx.Route{}, nil
	}))
	req{target: "/?token=" + hookToken + "&" + ring1}.do(h)
	req{target: "/?token=" + hookToken + "&fromnum=79031234567"}.do(h)
	require.Len(t, rec.got(), 1)
	assert.IsType(t, (*Event)(nil), rec.got()[0].Raw)
	assert.IsType(t, (*RouteQuestion)(nil), asked.Raw)
	row := StatisticsRow{RecordID: "1.1", TalkDuration: time.Second}
	r := row.CallRecord()
	assert.IsType(t, (*StatisticsRow)(nil), r.Raw)
	row.RecordID = "changed"
	assert.Equal(t, "1.1", r.Raw.(*StatisticsRow).RecordID, "a copy, not the caller's row")
}

// TestStatisticsRowJSON: the row is the Raw of CallRecord, whose JSON goes
// to 1C and JavaScript: its durations are seconds, like talk_seconds and
// call_seconds of the record, not Go nanoseconds; and it round-trips.
func TestStatisticsRowJSON(t *testing.T) {
	row := StatisticsRow{Type: "Входящий", Time: time.Date(2026, 3, 24, 10, 15, 0, 0, time.UTC), RecordID: "1.1",
		CallDuration: 103 * time.Second, TalkDuration: 95 * time.Second, AnswerDelay: 8 * time.Second, RecordExists: true}
	b, err := json.Marshal(row.CallRecord())
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	assert.Equal(t, 95.0, m["talk_seconds"])
	assert.Equal(t, 103.0, m["call_seconds"])
	raw := m["raw"].(map[string]any)
	assert.Equal(t, 103.0, raw["call_seconds"])
	assert.Equal(t, 95.0, raw["talk_seconds"])
	assert.Equal(t, 8.0, raw["answer_seconds"])
	assert.NotContains(t, string(b), "95000000000")

	var back StatisticsRow
	rb, err := json.Marshal(row)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(rb, &back))
	assert.Equal(t, row, back)
	assert.NotContains(t, string(rb), "HasRecordColumn")

	// An unanswered row: no talk.
	b, err = json.Marshal(StatisticsRow{CallDuration: 20 * time.Second}.CallRecord())
	require.NoError(t, err)
	assert.NotContains(t, string(b), "talk_seconds")
	assert.Contains(t, string(b), `"call_seconds":20`)
}

// TestRetryAfter: Sipuni's own rejections carry the wait a 429 or 503 asks
// for, like every provider.APIError.
func TestRetryAfter(t *testing.T) {
	c, mt := mockClient(t, Config{})
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		mt.RegisterResponder(http.MethodPost, testBase+"callback/call_number", func(*http.Request) (*http.Response, error) {
			r := httpmock.NewStringResponse(status, "busy")
			r.Header.Set("Retry-After", "7")
			return r, nil
		})
		_, err := c.MakeCall(context.Background(), pbx.CallRequest{Extension: "101", Phone: "79031234567"})
		var ae *provider.APIError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, status, ae.StatusCode)
		assert.Equal(t, 7*time.Second, ae.RetryAfter)
	}
}

func TestTimeoutDSN(t *testing.T) {
	p, err := provider.Open("sipuni://012345:S@/?webhook_token=T&timeout=5s")
	require.NoError(t, err)
	assert.Equal(t, 5*time.Second, p.(*Client).cfg.Timeout)
	for _, bad := range []string{"timeout=x", "timeout=-1s", "timeout=0s"} {
		_, err := provider.Open("sipuni://012345:S@/?webhook_token=T&" + bad)
		assert.ErrorIs(t, err, provider.ErrBadDSN, bad)
	}
	c, err := New(Config{Account: testAccount, Secret: "s", WebhookToken: "t"})
	require.NoError(t, err)
	assert.Equal(t, DefaultTimeout, c.cfg.Timeout)
	assert.False(t, errors.Is(err, provider.ErrBadDSN))
}
