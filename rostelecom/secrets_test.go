package rostelecom_test

import (
	"bytes"
	"context"
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
	_, err = srv.Play(ctx, hook.URL, rostelecomtest.Call{Scenario: rostelecomtest.AnsweredIncoming})
	require.NoError(t, err)
	badHook := httptest.NewServer(bad.WebhookHandler(nil, nil))
	defer badHook.Close()
	_, err = srv.Play(ctx, badHook.URL, rostelecomtest.Call{Scenario: rostelecomtest.MissedIncoming})
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
