package rostelecom_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/rostelecom"
	"github.com/pbxkit/pbxkit/rostelecom/rostelecomtest"
)

// syncBuffer is a bytes.Buffer safe for the handler's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestSecretsNeverLeak drives every path that logs or returns an error,
// with a debug logger, and looks for the sign key in all of it.
func TestSecretsNeverLeak(t *testing.T) {
	const key = "S3CR3T-SIGN-KEY-DO-NOT-LEAK"
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := rostelecomtest.NewServer(rostelecomtest.Options{SignKey: key})
	defer srv.Close()
	cfg := srv.Config()
	cfg.Logger = logger
	cfg.ResolveEnded = true
	c, err := rostelecom.New(cfg)
	require.NoError(t, err)
	wrong := cfg
	wrong.SignKey = key + "-WRONG"
	bad, err := rostelecom.New(wrong)
	require.NoError(t, err)

	var errs []error
	collect := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	ctx := context.Background()
	_, err = c.Subscribers(ctx)
	require.NoError(t, err)
	_, err = bad.Subscribers(ctx)
	require.ErrorIs(t, err, provider.ErrUnauthorized)
	collect(err)
	_, err = c.MakeCall(ctx, pbx.CallRequest{Extension: "999", Phone: "79991234567"})
	collect(err)
	_, err = c.FetchRecording(ctx, "nope")
	collect(err)

	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	gone := cfg
	gone.BaseURL = dead.URL
	gc, err := rostelecom.New(gone)
	require.NoError(t, err)
	tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = gc.CallInfo(tctx, "x")
	collect(err)

	hook := httptest.NewServer(c.WebhookHandler(pbx.EventHandlerFunc(func(context.Context, pbx.CallEvent) error { return nil }), nil))
	defer hook.Close()
	_, err = srv.Play(ctx, hook.URL, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming})
	require.NoError(t, err)
	badHook := httptest.NewServer(bad.WebhookHandler(nil, nil))
	defer badHook.Close()
	_, err = srv.Play(ctx, badHook.URL, pbxtest.Call{Scenario: pbxtest.MissedIncoming})
	require.Error(t, err, "a wrong key rejects the notification")
	collect(err)

	_, err = provider.Open("rostelecom://ID:" + key + "@api.cloudpbx.rt.ru/?domain=d&nonsense=1")
	collect(err)
	_, err = rostelecom.New(rostelecom.Config{ClientID: "ID", SignKey: " " + key, Domain: "d"})
	collect(err)

	require.NotEmpty(t, errs)
	for _, err := range errs {
		assert.NotContains(t, err.Error(), key)
		assert.NotContains(t, err.Error(), strings.ToLower(key))
	}
	out := logs.String()
	assert.Contains(t, out, "pbx api request", "the journal is written")
	assert.Contains(t, out, "pbx webhook")
	assert.NotContains(t, out, key)
}

// TestConfigAndClientPrintNoSecret prints a Config (and a pointer to it, and
// one nested in a struct) and a Client with every common verb and through
// slog's JSON and text handlers: the client ID, the sign key and the user
// info and query of BaseURL never appear.
func TestConfigAndClientPrintNoSecret(t *testing.T) {
	const (
		id  = "CLIENT-ID-0DD5EC4E7"
		key = "SIGN-KEY-S3CR3T-99"
	)
	cfg := rostelecom.Config{ClientID: id, SignKey: key, Domain: "example.20.rt.ru",
		BaseURL: "https://user:pa55word@api.example/?token=t0ken"}
	good := cfg
	good.BaseURL = ""
	good.Logger = slog.New(slog.DiscardHandler)
	c, err := rostelecom.New(good)
	require.NoError(t, err)
	secrets := []string{id, key, "pa55word", "t0ken"}

	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x"} {
		for _, v := range []any{cfg, &cfg, struct{ C rostelecom.Config }{cfg}, c, []any{cfg, c}} {
			outs = append(outs, fmt.Sprintf(verb, v))
		}
	}
	outs = append(outs, cfg.String(), cfg.GoString(), c.String(), c.GoString(), fmt.Sprint(cfg, c), fmt.Sprintln(&cfg))
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("config", "cfg", cfg, "ptr", &cfg, "client", c)
		l.Info("attrs", slog.Any("cfg", cfg), slog.Any("client", c))
	}
	outs = append(outs, buf.String())
	for _, out := range outs {
		for _, s := range secrets {
			require.NotContains(t, out, s)
		}
	}
	// What is printed is still useful.
	assert.Contains(t, fmt.Sprint(cfg), `Domain:"example.20.rt.ru"`)
	assert.Contains(t, fmt.Sprint(cfg), "SignKey:xxxxx")
	assert.Contains(t, fmt.Sprint(cfg), `BaseURL:"https://api.example/"`)
	assert.Contains(t, fmt.Sprint(rostelecom.Config{}), `SignKey:""`, "a missing key shows")
	assert.Contains(t, fmt.Sprint(c), "example.20.rt.ru")
	assert.Contains(t, buf.String(), `"domain":"example.20.rt.ru"`)
	var nilClient *rostelecom.Client
	assert.Equal(t, "rostelecom.Client(nil)", fmt.Sprint(nilClient))
}

// TestNewDoesNotQuoteBaseURL: a BaseURL that fails validation may carry
// credentials; New's error (and a DSN's) names the problem without quoting
// it.
func TestNewDoesNotQuoteBaseURL(t *testing.T) {
	tests := []struct{ base, problem string }{
		{"https://ivan:s3cret@api.example/?k=v4lue", "user info"},
		{"https://api.example/?k=v4lue&s3cret=1", "query"},
		{"https://api.example/#s3cret", "fragment"},
		{"ftp://ivan:s3cret@api.example/?k=v4lue", "http or https"},
		{"ivan:s3cret@api.example", "http or https"},
		{"https://iv an:s3cret@api.example/?k=v4lue%zz", "not a valid URL"},
		{"//ivan:s3cret@/?k=v4lue", "http or https"},
	}
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			_, err := rostelecom.New(rostelecom.Config{ClientID: "ID", SignKey: "KEY", Domain: "d", BaseURL: tt.base})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.problem)
			for _, s := range []string{"s3cret", "v4lue", "ivan"} {
				assert.NotContains(t, err.Error(), s)
			}
			dsn := "rostelecom://ID:KEY@api.cloudpbx.rt.ru/?domain=d&base_url=" + url.QueryEscape(tt.base)
			_, err = provider.Open(dsn, provider.WithLogger(slog.New(slog.DiscardHandler)))
			require.ErrorIs(t, err, provider.ErrBadDSN)
			assert.NotContains(t, err.Error(), "s3cret")
			assert.NotContains(t, err.Error(), "v4lue")
		})
	}
}
