package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
)

func TestReadBody(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		limit   int64
		chunked bool
		wantErr error
	}{
		{"small", `{"a":1}`, 0, false, nil},
		{"exactly the limit", "12345", 5, false, nil},
		{"over the limit", "123456", 5, false, ErrBodyTooLarge},
		{"over the limit without length", "123456", 5, true, ErrBodyTooLarge},
		{"empty", "", 0, false, nil},
		{"big under default", strings.Repeat("x", 100_000), 0, true, nil},
		{"2 MiB over default", strings.Repeat("x", 2<<20), 0, false, ErrBodyTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			if tt.chunked {
				r.ContentLength = -1
			}
			got, err := ReadBody(r, tt.limit)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.body, string(got))
		})
	}
}

func TestSecretEqual(t *testing.T) {
	assert.True(t, SecretEqual("token", "token"))
	assert.False(t, SecretEqual("token", "tokeN"))
	assert.False(t, SecretEqual("tok", "token"))
	assert.False(t, SecretEqual("", ""), "an empty expected secret never matches")
	assert.False(t, SecretEqual("x", ""))
}

func TestHexEqual(t *testing.T) {
	want := "ab12ef"
	assert.True(t, HexEqual("ab12ef", want))
	assert.True(t, HexEqual("AB12EF", want))
	assert.False(t, HexEqual("ab12ee", want))
	assert.False(t, HexEqual("ab12e", want))
	assert.False(t, HexEqual("", ""))
}

func TestVerificationErrorNamesTheCheck(t *testing.T) {
	err := &VerificationError{Provider: "rostelecom", Reason: ReasonMissingHeader, Header: "X-Client-Sign"}
	assert.Equal(t, "rostelecom: webhook verification failed: missing header X-Client-Sign", err.Error())
	err = &VerificationError{Provider: "sipuni", Reason: ReasonBadToken}
	assert.Equal(t, "sipuni: webhook verification failed: bad token", err.Error())
}

func TestWriteJSON(t *testing.T) {
	w := httptest.NewRecorder()
	WriteJSON(w, 401, map[string]string{"error": "Invalid token"})
	assert.Equal(t, 401, w.Code)
	assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
	assert.JSONEq(t, `{"error":"Invalid token"}`, w.Body.String())
}

func TestAskRouter(t *testing.T) {
	q := pbx.RouteQuery{Phone: "79991234567"}
	tests := []struct {
		name    string
		router  pbx.Router
		want    pbx.Route
		wantErr error
	}{
		{"nil router", nil, pbx.Route{}, nil},
		{"answer", pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
			return pbx.Route{Extension: "101"}, nil
		}), pbx.Route{Extension: "101"}, nil},
		{"error", pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
			return pbx.Route{Extension: "101"}, errors.New("db down")
		}), pbx.Route{}, errors.New("db down")},
		{"ignores its context", pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
			time.Sleep(300 * time.Millisecond)
			return pbx.Route{Extension: "101"}, nil
		}), pbx.Route{}, ErrRouteTimeout},
		{"panics", pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
			panic("boom")
		}), pbx.Route{}, errors.New("router panicked: boom")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			got, err := AskRouter(context.Background(), tt.router, q, 50*time.Millisecond)
			assert.Less(t, time.Since(start), 200*time.Millisecond)
			assert.Equal(t, tt.want, got)
			if tt.wantErr == nil {
				assert.NoError(t, err)
			} else {
				assert.EqualError(t, err, tt.wantErr.Error())
			}
		})
	}
}

func TestAskRouterLeavesNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	r := pbx.RouterFunc(func(ctx context.Context, _ pbx.RouteQuery) (pbx.Route, error) {
		<-ctx.Done()
		return pbx.Route{}, ctx.Err()
	})
	for range 50 {
		_, err := AskRouter(context.Background(), r, pbx.RouteQuery{}, time.Millisecond)
		assert.ErrorIs(t, err, ErrRouteTimeout)
	}
	assert.Eventually(t, func() bool { return runtime.NumGoroutine() <= before }, time.Second, 10*time.Millisecond)
}

// tenBytesThenFail is a body that announces more than it sends: 10 bytes,
// then the connection fails.
type tenBytesThenFail struct{ sent bool }

func (b *tenBytesThenFail) Read(p []byte) (int, error) {
	if b.sent {
		return 0, io.ErrUnexpectedEOF
	}
	b.sent = true
	return copy(p, "0123456789"), nil
}

// TestReadBodyMemoryFollowsBytesReceived: a request that announces 1 MiB and
// sends 10 bytes must not reserve 1 MiB (the old ReadBody did, before a
// byte arrived: 600 such connections took 567 MB).
func TestReadBodyMemoryFollowsBytesReceived(t *testing.T) {
	const n = 50
	reqs := make([]*http.Request, n)
	for i := range reqs {
		reqs[i] = &http.Request{Method: "POST", ContentLength: DefaultMaxBodySize, Body: io.NopCloser(&tenBytesThenFail{})}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, r := range reqs {
		_, err := ReadBody(r, 0)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("ReadBody: %v, want the body's error", err)
		}
	}
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d requests announcing 1 MiB allocated %d bytes", n, allocated)
	assert.Less(t, allocated, uint64(1<<20), "memory follows the bytes received, not Content-Length")
}

func TestReadBodyGrowsToTheAnnouncedLength(t *testing.T) {
	for _, size := range []int{0, 1, 511, 512, 4095, 4096, 4097, 100_000, DefaultMaxBodySize} {
		body := strings.Repeat("y", size)
		for _, chunked := range []bool{false, true} {
			r := httptest.NewRequest("POST", "/", strings.NewReader(body))
			if chunked {
				r.ContentLength = -1
			}
			got, err := ReadBody(r, 0)
			require.NoError(t, err, size)
			assert.Equal(t, size, len(got))
		}
	}
	r := httptest.NewRequest("POST", "/", strings.NewReader("12345"))
	r.ContentLength = 3 // lies short: the bytes received count
	got, err := ReadBody(r, 4)
	assert.ErrorIs(t, err, ErrBodyTooLarge)
	assert.Nil(t, got)
}

// warnLines returns the Warn records in a JSON log.
func warnLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		if m["level"] == "WARN" {
			lines = append(lines, m)
		}
	}
	return lines
}

// TestWebhookLogWarnsOnRejections: a wrong token in the PBX's settings is
// visible at Warn, one line per reason per minute, with a count.
func TestWebhookLogWarnsOnRejections(t *testing.T) {
	var buf syncBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l := NewWebhookLog(logger, "sipuni")
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	badToken := &VerificationError{Provider: "sipuni", Reason: ReasonBadToken}
	ctx := context.Background()

	for range 100 {
		l.Log(ctx, "event", http.StatusUnauthorized, now, badToken)
		now = now.Add(500 * time.Millisecond) // 100 in 50 s
	}
	warns := warnLines(t, buf.String())
	require.Len(t, warns, 1, "100 rejections in a minute give one Warn line")
	assert.Equal(t, "pbx webhook rejected", warns[0]["msg"])
	assert.Equal(t, "sipuni", warns[0]["provider"])
	assert.Equal(t, "event", warns[0]["operation"])
	assert.Equal(t, "bad token", warns[0]["reason"])
	assert.Equal(t, float64(1), warns[0]["count"])
	assert.Equal(t, 100, strings.Count(buf.String(), `"msg":"pbx webhook"`), "every request is in the debug journal")

	now = now.Add(61 * time.Second)
	l.Log(ctx, "event", http.StatusUnauthorized, now, badToken)
	warns = warnLines(t, buf.String())
	require.Len(t, warns, 2, "a minute later the next rejection is logged again")
	assert.Equal(t, float64(100), warns[1]["count"], "99 not logged and this one")

	l.Log(ctx, "route", http.StatusUnauthorized, now, &VerificationError{Provider: "sipuni", Reason: ReasonBadSignature})
	l.Log(ctx, "event", http.StatusForbidden, now, nil)
	l.Log(ctx, "event", http.StatusUnauthorized, now, &VerificationError{Provider: "rostelecom", Reason: ReasonMissingHeader, Header: "X-Client-Sign"})
	l.Log(ctx, "event", http.StatusOK, now, nil)
	l.Log(ctx, "event", http.StatusBadRequest, now, errors.New("malformed JSON"))
	l.Log(ctx, "event", http.StatusUnauthorized, now, badToken) // still within the minute
	warns = warnLines(t, buf.String())
	require.Len(t, warns, 5, "other reasons are logged separately; other failures not at all")
	assert.Equal(t, "bad signature", warns[2]["reason"])
	assert.Equal(t, "forbidden", warns[3]["reason"])
	assert.Equal(t, "missing header X-Client-Sign", warns[4]["reason"])
	for _, w := range warns[2:] {
		assert.Equal(t, float64(1), w["count"])
	}
}

// TestWebhookLogWithoutLogger: with no logger the journal is silent but
// rejections still reach slog.Default(); a nil *WebhookLog does nothing.
func TestWebhookLogWithoutLogger(t *testing.T) {
	var buf syncBuffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer slog.SetDefault(old)

	l := NewWebhookLog(nil, "prostiezvonki")
	l.Log(context.Background(), "event", http.StatusOK, time.Now(), nil)
	assert.Empty(t, buf.String(), "no debug journal without a logger")
	l.Log(context.Background(), "event", http.StatusUnauthorized, time.Now(), &VerificationError{Provider: "prostiezvonki", Reason: ReasonBadToken})
	warns := warnLines(t, buf.String())
	require.Len(t, warns, 1)
	assert.Equal(t, "prostiezvonki", warns[0]["provider"])

	var nilLog *WebhookLog
	assert.NotPanics(t, func() {
		nilLog.Log(context.Background(), "event", http.StatusUnauthorized, time.Now(), &VerificationError{Reason: ReasonBadToken})
	})
	assert.Len(t, warnLines(t, buf.String()), 1)
}

func TestWebhookLogConcurrent(t *testing.T) {
	var buf syncBuffer
	l := NewWebhookLog(slog.New(slog.NewJSONHandler(&buf, nil)), "rostelecom")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				l.Log(context.Background(), "event", http.StatusUnauthorized, time.Now(), &VerificationError{Reason: ReasonBadSignature})
			}
		})
	}
	wg.Wait()
	assert.Len(t, warnLines(t, buf.String()), 1)
}

func TestHandOver(t *testing.T) {
	ctx := context.Background()
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	e := pbx.CallEvent{Provider: "sipuni", Type: pbx.EventCallEnded, CallID: "c1"}

	require.NoError(t, HandOver(ctx, nil, logger, e), "no handler accepts everything")
	var got []pbx.CallEvent
	ok := pbx.EventHandlerFunc(func(_ context.Context, e pbx.CallEvent) error { got = append(got, e); return nil })
	require.NoError(t, HandOver(ctx, ok, logger, e))
	assert.Len(t, got, 1)
	assert.Empty(t, buf.String(), "success logs nothing")

	failing := pbx.EventHandlerFunc(func(context.Context, pbx.CallEvent) error { return errors.New("disk full") })
	err := HandOver(ctx, failing, logger, e)
	require.EqualError(t, err, "disk full")
	out := buf.String()
	assert.Equal(t, 1, strings.Count(out, "\n"), "one line")
	for _, want := range []string{"level=ERROR", "pbx event handler failed", "provider=sipuni", "type=call_ended", "call_id=c1", "disk full"} {
		assert.Contains(t, out, want)
	}
	assert.Error(t, HandOver(ctx, failing, nil, e), "a nil logger is allowed")
}
