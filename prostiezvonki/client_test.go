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

func TestMakeCallDefaultDeadline(t *testing.T) {
	c, mt := mockClient(t, Config{})
	var deadline time.Time
	mt.RegisterResponder(http.MethodPost, mockCallURL, func(r *http.Request) (*http.Response, error) {
		deadline, _ = r.Context().Deadline()
		return httpmock.NewStringResponse(200, ``), nil
	})
	_, err := c.MakeCall(context.Background(), pbx.CallRequest{Extension: "100", Phone: "89991234567"})
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(MakeCallTimeout), deadline, time.Second)
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

// TestSecretsNeverPrinted: printing a Config or a Client shows no secret.
func TestSecretsNeverPrinted(t *testing.T) {
	cfg := Config{APIKey: "k3y-s3cr3t", CRMToken: "t0ken-s3cr3t", BaseURL: "https://h/"}
	c, err := New(cfg)
	require.NoError(t, err)
	for _, s := range []string{
		fmt.Sprint(cfg), fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg),
		fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c),
	} {
		assert.NotContains(t, s, "s3cr3t")
	}
	assert.Contains(t, fmt.Sprint(cfg), "xxxxx")
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
