package prostiezvonki

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

// TestMakeCallRetryAfter: a 429 or 503 answer's Retry-After reaches
// APIError.RetryAfter (the call itself is still sent once), and an answer
// without one leaves it zero.
func TestMakeCallRetryAfter(t *testing.T) {
	tests := []struct {
		status int
		header string
		want   time.Duration
	}{
		{http.StatusTooManyRequests, "7", 7 * time.Second},
		{http.StatusServiceUnavailable, "2", 2 * time.Second},
		{http.StatusTooManyRequests, "", 0},
		{http.StatusBadRequest, "", 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d %q", tt.status, tt.header), func(t *testing.T) {
			var hits atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if tt.header != "" {
					w.Header().Set("Retry-After", tt.header)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, `{"error":"Too many requests"}`)
			}))
			defer ts.Close()
			c := newClient(t, Config{APIKey: testKey, BaseURL: ts.URL})
			_, err := c.MakeCall(context.Background(), pbx.CallRequest{Extension: "101", Phone: "89991234567"})
			var ae *provider.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.status, ae.StatusCode)
			assert.Equal(t, tt.want, ae.RetryAfter)
			assert.Equal(t, "Too many requests", ae.Message)
			assert.EqualValues(t, 1, hits.Load(), "never resent")
		})
	}
}
