package prostiezvonki

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
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

const (
	testKey     = "c5ab8f9e-b29a-4c79-9147-6b405865317b"
	mockBase    = "https://pz.example/httpapiinteg"
	mockCallURL = mockBase + "/crmapi/v1/makecall"
)

// mockClient returns a Client whose requests go to an httpmock transport.
func mockClient(t *testing.T, cfg Config) (*Client, *httpmock.MockTransport) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	cfg.HTTPClient = &http.Client{Transport: mt}
	if cfg.APIKey == "" {
		cfg.APIKey = testKey
	}
	cfg.BaseURL = mockBase
	return newClient(t, cfg), mt
}

// TestMakeCallAnswers reads every answer shape (httpmock).
func TestMakeCallAnswers(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		wantID   string
		wantErr  bool
		wantMsg  string
		wantAuth bool
	}{
		{"result ok", 200, `{"result":"ok"}`, "", false, "", false},
		{"family callid", 200, `{"callid":"a1b2"}`, "a1b2", false, "", false},
		{"call_id number", 200, `{"result":"success","call_id":12345}`, "12345", false, "", false},
		{"gravitel uuid", 200, `{"uuid":"u-1"}`, "u-1", false, "", false},
		{"empty 200", 200, ``, "", false, "", false},
		{"plain OK", 200, `OK`, "", false, "", false},
		{"200 with message only", 200, `{"message":"Звонок инициирован"}`, "", false, "", false},
		{"error false is no error", 200, `{"result":"ok","error":false}`, "", false, "", false},
		{"error null is no error", 200, `{"result":"ok","error":null}`, "", false, "", false},
		{"error 0 is no error", 200, `{"error":0,"result":null}`, "", false, "", false},
		{"error true", 200, `{"error":true}`, "", true, "true", false},
		{"200 with error", 200, `{"error":"Пользователь не найден"}`, "", true, "Пользователь не найден", false},
		{"200 with result error", 200, `{"result":"error","message":"Линия занята"}`, "", true, "Линия занята", false},
		{"200 with bare result error", 200, `{"result":"fail"}`, "", true, "result fail", false},
		{"200 with errors list", 200, `{"errors":[{"message":"bad phone"},"bad user"]}`, "", true, "bad phone; bad user", false},
		{"200 with HTML", 200, `<!DOCTYPE html><html>portal</html>`, "", true, "unexpected HTML answer (is the base URL right?)", false},
		{"400 with error", 400, `{"error":"Invalid parameters"}`, "", true, "Invalid parameters", false},
		{"400 empty token", 400, `{"error":"Empty token"}`, "", true, "Empty token", true},
		{"401", 401, `{"error":"Invalid token"}`, "", true, "Invalid token", true},
		{"403 empty", 403, ``, "", true, "", true},
		{"500 plain text", 500, `Internal Server Error`, "", true, "Internal Server Error", false},
		{"500 error object", 500, `{"error":{"code":17,"message":"АТС недоступна"}}`, "", true, "АТС недоступна", false},
		{"500 broken JSON", 500, `{"error":`, "", true, `{"error":`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := mockClient(t, Config{})
			mt.RegisterResponder(http.MethodPost, mockCallURL, httpmock.NewStringResponder(tt.status, tt.body))
			res, err := c.MakeCall(context.Background(), pbx.CallRequest{Extension: "100", Phone: "89991234567"})
			assert.Equal(t, 1, mt.GetTotalCallCount(), "sent once, never retried")
			if !tt.wantErr {
				require.NoError(t, err)
				assert.Equal(t, tt.wantID, res.CallID)
				return
			}
			require.Error(t, err)
			var ae *provider.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.status, ae.StatusCode)
			assert.Equal(t, Name, ae.Provider)
			assert.Equal(t, "makecall", ae.Operation)
			assert.Equal(t, tt.wantMsg, ae.Message)
			assert.Equal(t, tt.wantAuth, errors.Is(err, provider.ErrUnauthorized))
			assert.NotContains(t, err.Error(), testKey)
			assert.Contains(t, UserMessage(err), "При выполнении запроса к Простым звонкам произошла ошибка: ")
		})
	}
}

// TestMakeCallNeverRetried: a 500, a 503 and a dropped connection each
// reach the server once.
func TestMakeCallNeverRetried(t *testing.T) {
	for _, fault := range []string{"500", "503", "reset", "timeout"} {
		t.Run(fault, func(t *testing.T) {
			var hits atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				_, _ = io.Copy(io.Discard, r.Body)
				switch fault {
				case "500":
					w.WriteHeader(500)
				case "503":
					w.Header().Set("Retry-After", "0")
					w.WriteHeader(503)
				case "reset":
					conn, _, _ := w.(http.Hijacker).Hijack()
					conn.Close()
				case "timeout":
					time.Sleep(300 * time.Millisecond)
				}
			}))
			defer ts.Close()
			c := newClient(t, Config{APIKey: testKey, BaseURL: ts.URL})
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			_, err := c.MakeCall(ctx, pbx.CallRequest{Extension: "100", Phone: "89991234567"})
			require.Error(t, err)
			assert.EqualValues(t, 1, hits.Load())
			assert.NotContains(t, err.Error(), testKey)
		})
	}
}

// TestMakeCallPhoneForms: what is sent for each way of writing a number.
func TestMakeCallPhoneForms(t *testing.T) {
	tests := []struct{ in, want string }{
		{"89991234567", "89991234567"}, // the spec's form is kept
		{"8 (999) 123-45-67", "89991234567"},
		{"+7 (999) 123-45-67", "79991234567"},
		{"79991234567", "79991234567"},
		{"9991234567", "79991234567"},
		{"sip:+74951234567@10.0.0.1", "74951234567"},
		{"102", "102"},
		{"+998901234567", "998901234567"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, mt := mockClient(t, Config{})
			var sent makeCallRequest
			mt.RegisterResponder(http.MethodPost, mockCallURL, func(r *http.Request) (*http.Response, error) {
				if err := json.NewDecoder(r.Body).Decode(&sent); err != nil {
					return nil, err
				}
				return httpmock.NewStringResponse(200, `{"result":"ok"}`), nil
			})
			_, err := c.MakeCall(context.Background(), pbx.CallRequest{Extension: " 101 ", Phone: tt.in})
			require.NoError(t, err)
			assert.Equal(t, makeCallRequest{User: "101", Phone: tt.want}, sent)
		})
	}
}

func TestMakeCallRejectsBadRequests(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		req  pbx.CallRequest
	}{
		{"no extension", Config{APIKey: testKey}, pbx.CallRequest{Phone: "89991234567"}},
		{"no phone", Config{APIKey: testKey}, pbx.CallRequest{Extension: "100"}},
		{"phone is a login", Config{APIKey: testKey}, pbx.CallRequest{Extension: "100", Phone: "ivan.petrov"}},
		{"phone has no digits", Config{APIKey: testKey}, pbx.CallRequest{Extension: "100", Phone: "+()-"}},
		{"no API key", Config{}, pbx.CallRequest{Extension: "100", Phone: "89991234567"}},
		{"900-digit number", Config{APIKey: testKey}, pbx.CallRequest{Extension: "100", Phone: strings.Repeat("7", 900)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mt := httpmock.NewMockTransport()
			tt.cfg.HTTPClient = &http.Client{Transport: mt}
			c := newClient(t, tt.cfg)
			_, err := c.MakeCall(context.Background(), tt.req)
			require.Error(t, err)
			assert.Zero(t, mt.GetTotalCallCount(), "nothing is sent")
		})
	}
}

// TestMakeCallJournal: the debug journal names the call and never the key.
func TestMakeCallJournal(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, mt := mockClient(t, Config{Logger: logger})
	mt.RegisterResponder(http.MethodPost, mockCallURL, httpmock.NewStringResponder(400, `{"error":"bad"}`))
	_, err := c.MakeCall(context.Background(), pbx.CallRequest{Extension: "100", Phone: "89991234567"})
	require.Error(t, err)
	assert.Contains(t, logs.String(), `"operation":"makecall"`)
	assert.Contains(t, logs.String(), `"policy":"action"`)
	assert.NotContains(t, logs.String(), testKey)
}

// TestMakeCallStalledAnswer: a service that accepts the request and then
// stalls (before its headers, or in the middle of its body) makes MakeCall
// fail after Config.Timeout even with a context without deadline, and the
// call is sent once.
func TestMakeCallStalledAnswer(t *testing.T) {
	for _, stall := range []string{"before headers", "half-sent body"} {
		t.Run(stall, func(t *testing.T) {
			release := make(chan struct{})
			var hits atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				_, _ = io.Copy(io.Discard, r.Body)
				if stall == "half-sent body" {
					w.Header().Set("Content-Type", "application/json")
					w.Header().Set("Content-Length", "100")
					w.WriteHeader(http.StatusOK)
					_, _ = io.WriteString(w, `{"result":`)
					w.(http.Flusher).Flush()
				}
				select {
				case <-release:
				case <-r.Context().Done():
				}
			}))
			defer ts.Close()
			defer close(release) // runs first: the handler returns, then the server closes

			c := newClient(t, Config{APIKey: testKey, BaseURL: ts.URL, Timeout: 200 * time.Millisecond})
			done := make(chan error, 1)
			go func() {
				_, err := c.MakeCall(context.Background(), pbx.CallRequest{Extension: "100", Phone: "89991234567"})
				done <- err
			}()
			select {
			case err := <-done:
				require.Error(t, err)
				assert.NotContains(t, err.Error(), testKey)
			case <-time.After(5 * time.Second):
				t.Fatal("MakeCall did not give up on a stalled answer")
			}
			assert.EqualValues(t, 1, hits.Load(), "never resent")
		})
	}
}

// TestMakeCallNeverFollowsRedirects: a redirect from the API is an error
// naming where it pointed; the X-API-KEY and the makecall body never reach
// the other host, also with the user's own *http.Client.
func TestMakeCallNeverFollowsRedirects(t *testing.T) {
	for _, own := range []bool{false, true} {
		t.Run(fmt.Sprintf("own HTTPClient %v", own), func(t *testing.T) {
			var elsewhere atomic.Int32
			other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				elsewhere.Add(1)
			}))
			defer other.Close()
			var hits atomic.Int32
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				http.Redirect(w, r, other.URL+"/makecall?sig=q-s3cr3t", http.StatusTemporaryRedirect)
			}))
			defer api.Close()
			cfg := Config{APIKey: testKey, BaseURL: api.URL}
			if own {
				cfg.HTTPClient = &http.Client{}
			}
			_, err := newClient(t, cfg).MakeCall(context.Background(), pbx.CallRequest{Extension: "100", Phone: "89991234567"})
			require.Error(t, err)
			var re *provider.RedirectError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, http.StatusTemporaryRedirect, re.StatusCode)
			assert.Contains(t, err.Error(), strings.TrimPrefix(other.URL, "http://"), "names the host it pointed to")
			assert.NotContains(t, err.Error(), "s3cr3t")
			assert.NotContains(t, err.Error(), testKey)
			assert.EqualValues(t, 1, hits.Load(), "sent once")
			assert.Zero(t, elsewhere.Load(), "nothing reached the other host")
			if own {
				assert.Nil(t, cfg.HTTPClient.CheckRedirect, "the user's client is not modified")
			}
		})
	}
}

// TestMakeCallDeadline: without a context deadline a MakeCall is bounded
// by Config.Timeout (default 30 s); an earlier context deadline wins.
func TestMakeCallDeadline(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		ctx     time.Duration // 0: context.Background()
		want    time.Duration
	}{
		{"default", 0, 0, 30 * time.Second},
		{"configured", 3 * time.Second, 0, 3 * time.Second},
		{"earlier context deadline wins", 3 * time.Second, time.Second, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := mockClient(t, Config{Timeout: tt.timeout})
			if tt.timeout == 0 {
				assert.Equal(t, provider.DefaultTimeout, c.cfg.Timeout)
			}
			var deadline time.Time
			var has bool
			mt.RegisterResponder(http.MethodPost, mockCallURL, func(r *http.Request) (*http.Response, error) {
				deadline, has = r.Context().Deadline()
				return httpmock.NewStringResponse(200, ``), nil
			})
			ctx := context.Background()
			if tt.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctx)
				defer cancel()
			}
			_, err := c.MakeCall(ctx, pbx.CallRequest{Extension: "100", Phone: "89991234567"})
			require.NoError(t, err)
			require.True(t, has, "the request has a deadline")
			assert.WithinDuration(t, time.Now().Add(tt.want), deadline, time.Second)
		})
	}
}

func TestUserMessage(t *testing.T) {
	const prefix = "При выполнении запроса к Простым звонкам произошла ошибка: "
	const suffix = ". Пожалуйста, обратитесь в поддержку Простых звонков."
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"vendor text", &provider.APIError{StatusCode: 400, Message: "Пользователь не найден", Body: `{"error":"Пользователь не найден"}`}, "Пользователь не найден"},
		{"vendor text with a full stop", &provider.APIError{StatusCode: 400, Message: "Номер неверен."}, "Номер неверен"},
		{"body only", &provider.APIError{StatusCode: 500, Body: "Internal Server Error"}, "Internal Server Error"},
		{"status only", &provider.APIError{StatusCode: 500}, "HTTP 500 Internal Server Error"},
		{"wrapped", fmt.Errorf("crm: %w", &provider.APIError{StatusCode: 400, Message: "x"}), "x"},
		{"transport", errors.New("prostiezvonki: makecall: connection refused"), "prostiezvonki: makecall: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := ""
			if tt.want != "" {
				want = prefix + tt.want + suffix
			}
			assert.Equal(t, want, UserMessage(tt.err))
		})
	}
}

func TestNew(t *testing.T) {
	c, err := New(Config{BaseURL: "http://127.0.0.1:8080/api/?x=1"})
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:8080/api", c.BaseURL())
	assert.Equal(t, Name, c.Name())

	c, err = New(Config{})
	require.NoError(t, err)
	assert.Equal(t, DefaultBaseURL, c.BaseURL())
	assert.Equal(t, DefaultRouteTimeout, c.cfg.RouteTimeout)
	assert.Equal(t, provider.DefaultLocation(), c.cfg.Location)

	for _, bad := range []string{"ftp://x/", "/relative", "http://", "https://user:s3cr3t@host/", "://"} {
		_, err := New(Config{BaseURL: bad})
		require.Error(t, err, bad)
		assert.NotContains(t, err.Error(), "s3cr3t")
	}
}

// TestSecretsNeverPrinted: printing a Config (also a pointer to one, or
// one inside a struct) or a Client, with any verb or through slog's JSON
// and text handlers, shows no secret, not even one in a BaseURL's user
// info or query.
func TestSecretsNeverPrinted(t *testing.T) {
	cfg := Config{APIKey: "k3y-s3cr3t", CRMToken: "t0ken-s3cr3t", BaseURL: "https://h/", Timeout: 7 * time.Second}
	c, err := New(cfg)
	require.NoError(t, err)
	withURLSecrets := cfg
	withURLSecrets.BaseURL = "https://user:pa55-s3cr3t@h/api?key=q-s3cr3t" // New refuses it; printing must not show it
	type holder struct{ Cfg Config }
	values := map[string]any{
		"Config": cfg, "*Config": &cfg, "Config with URL secrets": withURLSecrets, "*Config with URL secrets": &withURLSecrets,
		"struct holding a Config": holder{cfg}, "*Client": c,
	}
	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			var out []string
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%20v", "%T"} {
				out = append(out, fmt.Sprintf(verb, v))
			}
			out = append(out, fmt.Sprint(v), fmt.Sprintln(v))
			var js, txt bytes.Buffer
			slog.New(slog.NewJSONHandler(&js, nil)).Info("config", "v", v)
			slog.New(slog.NewTextHandler(&txt, nil)).Info("config", slog.Any("v", v))
			out = append(out, js.String(), txt.String())
			for _, s := range out {
				assert.NotContains(t, s, "s3cr3t")
			}
			if name != "*Client" {
				assert.Contains(t, fmt.Sprint(v), "xxxxx", "a set secret is shown as set")
				assert.Contains(t, js.String(), "xxxxx")
			}
		})
	}
	assert.Contains(t, fmt.Sprintf("%v", cfg), "Timeout:7s")
	assert.Contains(t, fmt.Sprint(Config{}), `APIKey:""`, "an empty secret is shown as empty")
}

// TestNewWarnsWithoutCRMToken: a Client without CRMToken (outbound only)
// rejects every notification, and says so once, at Warn, when it is made.
func TestNewWarnsWithoutCRMToken(t *testing.T) {
	var logs lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	c, err := New(Config{APIKey: "k3y-s3cr3t", Logger: logger})
	require.NoError(t, err)
	lines := warnLines(t, logs.String())
	require.Len(t, lines, 1, logs.String())
	assert.Contains(t, lines[0], "CRMToken")
	assert.Contains(t, lines[0], "rejected")
	assert.Contains(t, lines[0], `"provider":"prostiezvonki"`)
	assert.NotContains(t, lines[0], "s3cr3t")

	// Only New warns; requests are then rejected as usual.
	w := post(c.WebhookHandler(nil, nil), incoming)
	assert.Equal(t, http.StatusUnauthorized, w.Code)

	logs = lockedBuffer{}
	logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	_, err = New(Config{CRMToken: testToken, Logger: logger})
	require.NoError(t, err)
	assert.Empty(t, logs.String(), "no warning when the token is set")
}

// TestNewWarnsToDefaultLogger: without Config.Logger the warning goes to
// slog.Default(). It swaps the process-wide default logger, so it must not
// run in parallel with other tests.
func TestNewWarnsToDefaultLogger(t *testing.T) {
	var logs lockedBuffer
	prev, prevOut, prevFlags := slog.Default(), log.Writer(), log.Flags()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&logs, nil)))
	t.Cleanup(func() {
		slog.SetDefault(prev) // a default handler leaves package log alone, so restore it too
		log.SetOutput(prevOut)
		log.SetFlags(prevFlags)
	})
	_, err := New(Config{APIKey: testKey})
	require.NoError(t, err)
	lines := warnLines(t, logs.String())
	require.Len(t, lines, 1, logs.String())
	assert.Contains(t, lines[0], "CRMToken")
	assert.NotContains(t, lines[0], testKey)
}

// TestCapabilities: a Client is a Provider and a Caller, and has none of the
// capabilities Prostie Zvonki lacks.
func TestCapabilities(t *testing.T) {
	var p any = newClient(t, Config{})
	_, ok := p.(pbx.Provider)
	assert.True(t, ok)
	_, ok = p.(pbx.Caller)
	assert.True(t, ok)
	_, ok = p.(pbx.RecordingFetcher)
	assert.False(t, ok, "no recording API")
	_, ok = p.(pbx.SubscriberLister)
	assert.False(t, ok, "no employee API")
	_, ok = p.(pbx.HistoryExporter)
	assert.False(t, ok, "no history API")
}

func TestParseAnswerKeepsExcerptsShort(t *testing.T) {
	for _, body := range []string{
		strings.Repeat("я", 1000),
		strings.Repeat("0", 255) + "\xdf", // found by FuzzParseAnswer: invalid UTF-8 grew the excerpt
		`{"error":"` + strings.Repeat("\\xff", 300) + `"}`,
		`{"errors":[` + strings.Repeat(`"abc",`, 200) + `"x"]}`,
	} {
		a := parseAnswer([]byte(body))
		assert.LessOrEqual(t, len(a.text), provider.ExcerptLen)
		assert.NotEmpty(t, a.text)
	}
}
