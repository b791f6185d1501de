package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	pztest "github.com/pbxkit/pbxkit/prostiezvonki/prostiezvonkitest"
	"github.com/pbxkit/pbxkit/sipuni/sipunitest"
)

func noEnv(string) string { return "" }

func TestParseConfig(t *testing.T) {
	c, err := parseConfig([]string{"-provider", "a://", "-provider", "b://", "-addr", ":9000", "-default", "100", "-digits", "7"}, noEnv, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{"a://", "b://"}, c.dsns)
	assert.Equal(t, ":9000", c.addr)
	assert.Equal(t, "100", c.defaultExt)
	assert.Equal(t, 7, c.digits)

	env := func(k string) string {
		if k == "PBXKIT_PROVIDERS" {
			return "sipuni://x:y@/?webhook_token=t\n  prostiezvonki://:k@/?crm_token=t"
		}
		return ""
	}
	assert.Equal(t, "pbxkit.db", c.journal, "the journal is on by default")
	assert.Empty(t, c.journalToken, "no token: the journal API is off")

	c, err = parseConfig(nil, env, io.Discard)
	require.NoError(t, err)
	assert.Len(t, c.dsns, 2)
	assert.Equal(t, 10, c.digits)

	env = func(k string) string {
		return map[string]string{"PBXKIT_PROVIDERS": "a://", "PBXKIT_JOURNAL": "postgres://db/x", "PBXKIT_JOURNAL_TOKEN": "envtok"}[k]
	}
	c, err = parseConfig(nil, env, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "postgres://db/x", c.journal)
	assert.Equal(t, "envtok", c.journalToken)
	c, err = parseConfig([]string{"-journal", "off", "-journal-token", "flagtok"}, env, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "off", c.journal, "the flag wins over the environment")
	assert.Equal(t, "flagtok", c.journalToken)

	for _, args := range [][]string{
		nil,
		{"-provider", "a://", "-digits", "0"},
		{"-provider", "a://", "-digits", "21"},
		{"-provider", "a://", "extra"},
		{"-bogus"},
	} {
		_, err := parseConfig(args, noEnv, io.Discard)
		assert.Error(t, err, args)
	}
}

func writeCSV(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "contacts.csv")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func TestRouterFromCSV(t *testing.T) {
	path := writeCSV(t, "\ufeffid,name,phones,responsible\n1,ООО Альфа,+7 903 123-45-67;8 495 000-11-22,101\n2,ИП Гладилина,79160000000,\n")
	r, _, err := newRouter(config{directory: path, defaultExt: "100", digits: 10}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	for phone, want := range map[string]pbx.Route{
		"89031234567": {Extension: "101", DisplayName: "ООО Альфа"},
		"74950001122": {Extension: "101", DisplayName: "ООО Альфа"},
		"79160000000": {Extension: "100", DisplayName: "ИП Гладилина"},
		"70000000000": {Extension: "100"},
	} {
		got, err := r.Route(context.Background(), pbx.RouteQuery{Phone: phone})
		require.NoError(t, err)
		assert.Equal(t, want, got, phone)
	}

	_, _, err = newRouter(config{directory: writeCSV(t, "id,name,phones,responsible\n1,x\n"), digits: 10}, slog.New(slog.DiscardHandler))
	assert.ErrorContains(t, err, "contacts.csv")
	_, _, err = newRouter(config{directory: "/nonexistent.csv", digits: 10}, slog.New(slog.DiscardHandler))
	assert.Error(t, err)

	r, _, err = newRouter(config{digits: 10}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	assert.Nil(t, r, "no directory and no default: no decisions")
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServerMountsProvidersAndLogsEvents(t *testing.T) {
	sip := sipunitest.NewServer(sipunitest.Options{WebhookToken: "T"})
	t.Cleanup(sip.Close)
	pz := pztest.NewServer(pztest.Options{})
	t.Cleanup(pz.Close)
	sipDSN := sip.DSN()
	path := writeCSV(t, "id,name,phones,responsible\n1,ООО Альфа,"+pbxtest.DefaultCaller+",102\n")

	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	s, err := newHandler(config{dsns: []string{sipDSN, pz.DSN()}, directory: path, digits: 10}, nil, logger)
	require.NoError(t, err)
	assert.Equal(t, []string{"/pbx/sipuni/", "/pbx/prostiezvonki/"}, s.mounted)
	srv := httptest.NewServer(s.handler)
	t.Cleanup(srv.Close)

	resp, err := http.Get(srv.URL + "/healthz")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "ok\n", string(body))

	res, err := sip.Play(context.Background(), srv.URL+"/pbx/sipuni/", pbxtest.Call{Scenario: pbxtest.AnsweredIncoming})
	require.NoError(t, err)
	assert.Equal(t, "102", res.Route.Extension, "routed to the responsible manager from the CSV")

	_, err = pz.Play(context.Background(), srv.URL+"/pbx/prostiezvonki/", pbxtest.Call{Scenario: pbxtest.MissedIncoming})
	require.NoError(t, err)

	var events, routes int
	var talked bool
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		switch rec["msg"] {
		case "call event":
			events++
			assert.NotEmpty(t, rec["provider"])
			assert.NotEmpty(t, rec["type"])
			assert.Contains(t, rec, "talk_seconds")
			assert.Contains(t, rec, "call_seconds")
			assert.NotContains(t, rec, "duration")
			if rec["type"] == "call_ended" && rec["talk_seconds"] != 0.0 {
				talked = true
			}
		case "route":
			routes++
		}
	}
	assert.GreaterOrEqual(t, events, 5)
	assert.True(t, talked, "the answered call's talk time is logged in seconds")
	assert.Equal(t, 2, routes)
	assert.Contains(t, logs.String(), `"provider":"prostiezvonki"`)
	assert.Contains(t, logs.String(), `"extension":"102"`)

	resp, err = http.Get(srv.URL + "/pbx/sipuni/?event=1&token=wrong")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 401, resp.StatusCode)
}

func TestServerRejectsDuplicateAndBadProviders(t *testing.T) {
	pz := pztest.NewServer(pztest.Options{})
	t.Cleanup(pz.Close)
	logger := slog.New(slog.DiscardHandler)
	_, err := newHandler(config{dsns: []string{pz.DSN(), pz.DSN()}, digits: 10}, nil, logger)
	assert.ErrorContains(t, err, "given twice")
	_, err = newHandler(config{dsns: []string{"nosuch://x"}, digits: 10}, nil, logger)
	assert.ErrorContains(t, err, "unknown provider")
}

// TestRunPortInUse: when the address is taken, run fails and never logs
// "listening" (it used to log it before the bind failed).
func TestRunPortInUse(t *testing.T) {
	pz := pztest.NewServer(pztest.Options{})
	t.Cleanup(pz.Close)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { taken.Close() })

	var logs syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = run(ctx, []string{"-addr", taken.Addr().String(), "-provider", pz.DSN(), "-journal", filepath.Join(t.TempDir(), "j.db")}, noEnv, &logs, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "address already in use")
	assert.NotContains(t, logs.String(), `"msg":"listening"`)
	assert.NoError(t, ctx.Err(), "failed at once, not at the deadline")
}

// TestRunServesAndShutsDown: run logs "listening" with the address it got,
// serves, and returns nil when its context ends.
func TestRunServesAndShutsDown(t *testing.T) {
	pz := pztest.NewServer(pztest.Options{})
	t.Cleanup(pz.Close)
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-provider", pz.DSN(), "-journal", "off"}, noEnv, &logs, io.Discard)
	}()

	var addr string
	deadline := time.Now().Add(10 * time.Second)
	for addr == "" && time.Now().Before(deadline) {
		for _, line := range strings.Split(logs.String(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				addr = rec.Addr
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.NotEmpty(t, addr, "no listening line")
	assert.NotEqual(t, "127.0.0.1:0", addr, "the real address is logged")

	resp, err := http.Get("http://" + addr + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}
