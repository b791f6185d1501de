package rostelecom_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/rostelecom"
)

// stall writes the status, the headers and the first part of a body, then
// holds the connection until the client gives up (or 10 s, so a broken
// client cannot hang the test).
func stall(w http.ResponseWriter, r *http.Request, contentType, part string, size int) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(size))
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, part)
	w.(http.Flusher).Flush()
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}

// timeoutClient is a client of base with Config.Timeout limit.
func timeoutClient(t *testing.T, base string, limit time.Duration) *rostelecom.Client {
	t.Helper()
	c, err := rostelecom.New(rostelecom.Config{ClientID: "ID", SignKey: "KEY", Domain: "d", BaseURL: base,
		Timeout: limit, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	return c
}

// TestStalledAnswerTimesOut: a server that sends the headers and half the
// answer, then nothing, cannot block an operation whose context has no
// deadline: Config.Timeout ends it. call_back is still sent only once.
func TestStalledAnswerTimesOut(t *testing.T) {
	var hits atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		hits.Add(1)
		stall(w, r, "application/json", `{"result":"0","resultMessage":"Операция`, 200)
	}))
	defer ts.Close()
	c := timeoutClient(t, ts.URL, 200*time.Millisecond)
	ops := map[string]func(ctx context.Context) error{
		"MakeCall": func(ctx context.Context) error {
			_, err := c.MakeCall(ctx, pbx.CallRequest{Extension: "201", Phone: "79991234567"})
			return err
		},
		"Subscribers": func(ctx context.Context) error { _, err := c.Subscribers(ctx); return err },
		"CallInfo":    func(ctx context.Context) error { _, err := c.CallInfo(ctx, "s1"); return err },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			hits.Store(0)
			done := make(chan error, 1)
			start := time.Now()
			go func() { done <- op(context.Background()) }()
			select {
			case err := <-done:
				require.Error(t, err)
				assert.ErrorIs(t, err, context.DeadlineExceeded)
				assert.Less(t, time.Since(start), 5*time.Second)
			case <-time.After(10 * time.Second):
				t.Fatal("the operation did not give up")
			}
			if name == "MakeCall" {
				assert.EqualValues(t, 1, hits.Load(), "call_back is never resent")
			}
		})
	}
}

// TestDownloadsAreBoundedBySilence: a recording or a call-log file that
// keeps arriving, slowly, for longer than Config.Timeout is not cut; one
// that stops arriving fails after Timeout of silence.
func TestDownloadsAreBoundedBySilence(t *testing.T) {
	const limit = 200 * time.Millisecond
	const chunks = 8 // one every limit/4: 2*limit in all
	csvFile := "s1;1;1;1;sip:79991234567@d;;sip:74951234567@d;sip:u@d;201;2024-03-05 10:00:00;42;false;true;false;0;\n"
	var stalled atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/get_record", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"result":"0","resultMessage":"ok","url":"http://`+r.Host+`/rec/1"}`)
	})
	slow := func(w http.ResponseWriter, r *http.Request, ctype string, body []byte) {
		if stalled.Load() {
			stall(w, r, ctype, string(body[:len(body)/2]), len(body))
			return
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		step := (len(body) + chunks - 1) / chunks
		for i := 0; i < len(body); i += step {
			_, _ = w.Write(body[i:min(i+step, len(body))])
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(limit / 4):
			}
		}
	}
	mux.HandleFunc("/rec/1", func(w http.ResponseWriter, r *http.Request) {
		slow(w, r, "audio/mpeg", []byte(strings.Repeat("ID3-bytes-", 100)))
	})
	mux.HandleFunc("/download_call_history", func(w http.ResponseWriter, r *http.Request) {
		slow(w, r, "text/csv", []byte(csvFile))
	})
	ts := httptest.NewServer(mux)
	defer ts.Close()
	c := timeoutClient(t, ts.URL, limit)
	ctx := context.Background()

	rec, err := c.FetchRecording(ctx, "s1")
	require.NoError(t, err)
	n, err := io.Copy(io.Discard, rec.Body)
	require.NoError(t, err, "a steady download longer than Timeout is not cut")
	assert.EqualValues(t, 1000, n)
	require.NoError(t, rec.Body.Close())
	rows, err := c.DownloadCallHistory(ctx, "o1")
	require.NoError(t, err, "a steady call-log download longer than Timeout is not cut")
	require.Len(t, rows, 1)
	assert.Equal(t, 42*time.Second, rows[0].Duration)

	stalled.Store(true)
	rec, err = c.FetchRecording(ctx, "s1")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, rec.Body)
		done <- err
	}()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("a stalled recording never failed")
	}
	require.NoError(t, rec.Body.Close())
	_, err = c.DownloadCallHistory(ctx, "o1")
	assert.ErrorIs(t, err, context.DeadlineExceeded, "a stalled call-log file fails")
}
