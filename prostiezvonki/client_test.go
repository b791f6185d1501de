package prostiezvonki

import (
	"bytes"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/provider"
)

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
