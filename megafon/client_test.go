package megafon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/provider"
)

const (
	testKey   = "api-key-5f1e9c"
	testToken = "crm-token-8d2a41"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestConfigRedacted: no way of printing or logging a Config or a Client
// shows a secret.
func TestConfigRedacted(t *testing.T) {
	cfg := Config{APIKey: testKey, CRMToken: testToken, Domain: "vats1", BaseURL: "https://u:pw-" + testKey + "@vats1.megapbx.ru/crmapi/v1?k=" + testToken}
	c, err := New(Config{APIKey: testKey, CRMToken: testToken, Domain: "vats1", Logger: quiet()})
	require.NoError(t, err)
	var out []string
	for _, v := range []any{cfg, &cfg, c, struct{ C Config }{cfg}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x"} {
			out = append(out, fmt.Sprintf(verb, v))
		}
		b, _ := json.Marshal(v)
		out = append(out, string(b))
		var buf bytes.Buffer
		slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "v", v)
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "v", v)
		out = append(out, buf.String())
	}
	for _, s := range out {
		assert.NotContains(t, s, testKey)
		assert.NotContains(t, s, testToken)
		assert.NotContains(t, s, "pw-")
	}
	assert.Contains(t, cfg.String(), "APIKey:xxxxx")
	assert.Contains(t, Config{}.String(), `APIKey:""`)
	assert.Equal(t, "megafon.Client{BaseURL:https://vats1.megapbx.ru/crmapi/v1}", c.String())
}

// TestNewAddress: the domain gives the API root; a bad address is an error
// that quotes nothing.
func TestNewAddress(t *testing.T) {
	for _, tt := range []struct{ domain, base, want string }{
		{"vats123", "", "https://vats123.megapbx.ru/crmapi/v1"},
		{"vats123.megapbx.ru", "", "https://vats123.megapbx.ru/crmapi/v1"},
		{"pbx.example.org:8443", "", "https://pbx.example.org:8443/crmapi/v1"},
		{"ignored", "http://127.0.0.1:9/crmapi/v1/?x=1#f", "http://127.0.0.1:9/crmapi/v1"},
		{"", "", ""},
	} {
		c, err := New(Config{Domain: tt.domain, BaseURL: tt.base, CRMToken: "t"})
		require.NoError(t, err, tt)
		assert.Equal(t, tt.want, c.BaseURL())
	}
	for _, cfg := range []Config{
		{Domain: "vats/../x"}, {Domain: "user:" + testKey + "@vats"}, {Domain: ".megapbx.ru"},
		{BaseURL: "ftp://x"}, {BaseURL: "http://u:" + testKey + "@x/"}, {BaseURL: "/relative"},
	} {
		cfg.CRMToken = "t"
		_, err := New(cfg)
		require.Error(t, err, "%+v", cfg)
		assert.NotContains(t, err.Error(), testKey)
	}
}

// TestNewWarnsWithoutToken: a Client that cannot accept notifications says
// so once.
func TestNewWarnsWithoutToken(t *testing.T) {
	var buf bytes.Buffer
	_, err := New(Config{APIKey: testKey, Domain: "vats1", Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(buf.String(), "CRMToken is empty"))
	buf.Reset()
	_, err = New(Config{APIKey: testKey, CRMToken: testToken, Domain: "vats1", Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	require.NoError(t, err)
	assert.Empty(t, buf.String())
}

// TestAnswerError: the vendor's error shapes become APIErrors with its text;
// successes stay successes.
func TestAnswerError(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		header http.Header
		ok     bool
		msg    string
		auth   bool
		retry  time.Duration
	}{
		{"callid", 200, `{"callid":"a-b"}`, nil, true, "", false, 0},
		{"list", 200, `[{"uid":"1"}]`, nil, true, "", false, 0},
		{"empty", 200, ``, nil, true, "", false, 0},
		{"message alone in a 200", 200, `{"message":"Пользователь не найден"}`, nil, false, "Пользователь не найден", false, 0},
		{"message beside data", 200, `{"callid":"x","message":"ok"}`, nil, true, "", false, 0},
		{"error in a 200", 200, `{"error":"Invalid token"}`, nil, false, "Invalid token", true, 0},
		{"error false", 200, `{"error":false,"callid":"x"}`, nil, true, "", false, 0},
		{"errors object", 400, `{"message":"Validation","errors":{"phone":["bad"]}}`, nil, false, `{"phone":["bad"]}`, false, 0},
		{"errors list", 400, `{"errors":[{"message":"a"},"b"]}`, nil, false, "a; b", false, 0},
		{"HTML", 200, `<html>portal</html>`, nil, false, "unexpected HTML answer (is the domain right?)", false, 0},
		{"401", 401, `{"message":"Unauthorized"}`, nil, false, "Unauthorized", true, 0},
		{"key in text", 400, `{"message":"Неверный ключ API"}`, nil, false, "Неверный ключ API", true, 0},
		{"429", 429, `{"message":"slow down"}`, http.Header{"Retry-After": {"7"}}, false, "slow down", false, 7 * time.Second},
		{"500 text", 500, `Internal Server Error`, nil, false, "Internal Server Error", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			e := answerError("op", &http.Response{StatusCode: tt.status, Header: h}, []byte(tt.body))
			if tt.ok {
				assert.Nil(t, e)
				return
			}
			require.NotNil(t, e)
			assert.Equal(t, tt.msg, e.Message)
			assert.Equal(t, tt.auth, errors.Is(e, provider.ErrUnauthorized))
			assert.Equal(t, tt.retry, e.RetryAfter)
			assert.Equal(t, Name, e.Provider)
		})
	}
}

// TestKeyFor: the API key goes only to the API's host or, for the real
// service, to MegaFon's hosts over https.
func TestKeyFor(t *testing.T) {
	real, err := New(Config{APIKey: testKey, CRMToken: "t", Domain: "vats123", Logger: quiet()})
	require.NoError(t, err)
	fake, err := New(Config{APIKey: testKey, CRMToken: "t", BaseURL: "http://127.0.0.1:8080/crmapi/v1", Logger: quiet()})
	require.NoError(t, err)
	none, err := New(Config{CRMToken: "t", Logger: quiet()})
	require.NoError(t, err)
	for _, tt := range []struct {
		c    *Client
		link string
		want bool
	}{
		{real, "https://records.megapbx.ru/record/vats123.megapbx.ru/2026-03-23/1ce3/a.mp3", true},
		{real, "https://vats123.megapbx.ru/records/a.mp3", true},
		{real, "http://records.megapbx.ru/record/a.mp3", false}, // never down to http
		{real, "https://records.megapbx.ru.evil.example/a.mp3", false},
		{real, "https://evilmegapbx.ru/a.mp3", false},
		{real, "https://example.org/a.mp3", false},
		{fake, "http://127.0.0.1:8080/record/x.mp3", true},
		{fake, "http://127.0.0.1:8081/record/x.mp3", false},
		{fake, "http://localhost:8080/record/x.mp3", false},
		{none, "https://records.megapbx.ru/a.mp3", false},
	} {
		u, err := url.Parse(tt.link)
		require.NoError(t, err)
		assert.Equal(t, tt.want, tt.c.keyFor(u), tt.link)
	}
}

// TestVerifyToken: constant-time comparison that never fails open.
func TestVerifyToken(t *testing.T) {
	c, err := New(Config{CRMToken: testToken, Logger: quiet()})
	require.NoError(t, err)
	assert.NoError(t, c.verifyToken(testToken))
	var ve *provider.VerificationError
	require.ErrorAs(t, c.verifyToken(""), &ve)
	assert.Equal(t, provider.ReasonMissingToken, ve.Reason)
	require.ErrorAs(t, c.verifyToken(testToken+"x"), &ve)
	assert.Equal(t, provider.ReasonBadToken, ve.Reason)
	assert.NotContains(t, c.verifyToken("guess").Error(), testToken)

	open, err := New(Config{APIKey: testKey, Domain: "v", Logger: quiet()})
	require.NoError(t, err)
	assert.Error(t, open.verifyToken(""), "no CRMToken accepts no token, not even an empty one")
}

// TestAPIWithoutAddress: a receive-only Client's API methods say what is
// missing instead of calling anywhere.
func TestAPIWithoutAddress(t *testing.T) {
	c, err := New(Config{CRMToken: testToken, Logger: quiet()})
	require.NoError(t, err)
	_, err = c.Users(t.Context())
	assert.ErrorContains(t, err, "no API address")
	c, err = New(Config{CRMToken: testToken, Domain: "vats1", Logger: quiet()})
	require.NoError(t, err)
	_, err = c.Call(t.Context(), CallRequest{User: "101", Phone: "79161234567"})
	assert.ErrorContains(t, err, "APIKey is empty")
}
