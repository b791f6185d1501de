package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/prostiezvonki/pztest"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/rostelecom/rostelecomtest"
	"github.com/pbxkit/pbxkit/sipuni/sipunitest"
)

// pbxctl runs the command line and returns what it printed.
func pbxctl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := environment{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }, open: openDSN}
	err := run(context.Background(), args, env)
	return out.String(), err
}

func sipuniFake(t *testing.T) (*sipunitest.Server, string) {
	t.Helper()
	srv := sipunitest.NewServer(sipunitest.Options{})
	t.Cleanup(srv.Close)
	dsn := "sipuni://" + srv.Account() + ":" + url.QueryEscape(srv.Secret()) + "@/?webhook_token=T&base_url=" + url.QueryEscape(srv.URL)
	return srv, dsn
}

func TestUsageErrors(t *testing.T) {
	_, dsn := sipuniFake(t)
	for _, args := range [][]string{
		{},
		{"-provider", dsn},
		{"-provider", dsn, "dance"},
		{"-provider", dsn, "call", "101"},
		{"-provider", dsn, "record", "1.1"},
		{"-provider", dsn, "history", "-from", "2024-05-01"},
		{"-provider", dsn, "history", "-from", "yesterday", "-to", "2024-05-01"},
		{"-provider", dsn, "history", "-from", "2024-05-02", "-to", "2024-05-01"},
		{"-provider", dsn, "webhook-test"},
		{"-nosuchflag"},
		{"check"}, // no DSN at all
	} {
		_, err := pbxctl(t, args...)
		var ue usageError
		assert.True(t, errors.As(err, &ue), "%q: want a usage error, got %v", args, err)
	}
}

func TestDSNFromEnvironmentAndBadDSN(t *testing.T) {
	_, dsn := sipuniFake(t)
	var out bytes.Buffer
	env := environment{stdout: &out, stderr: &out, open: openDSN, getenv: func(k string) string {
		if k == "PBXKIT_PROVIDER" {
			return dsn
		}
		return ""
	}}
	require.NoError(t, run(context.Background(), []string{"check"}, env))
	assert.Contains(t, out.String(), "sipuni: credentials OK")

	_, err := pbxctl(t, "-provider", "sipuni://012345:TOPSECRET@/?bogus=1", "check")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "TOPSECRET")
}

func TestCommandsAgainstSipuniFake(t *testing.T) {
	srv, dsn := sipuniFake(t)

	out, err := pbxctl(t, "-provider", dsn, "check")
	require.NoError(t, err)
	assert.Regexp(t, `sipuni: credentials OK \(\d+ subscribers`, out)

	out, err = pbxctl(t, "-provider", dsn, "subscribers")
	require.NoError(t, err)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, len(srv.Employees())+1)
	assert.Equal(t, []string{"extension", "login", "name"}, rows[0])

	out, err = pbxctl(t, "-provider", dsn, "call", "101", "+7 (903) 123-45-67")
	require.NoError(t, err)
	assert.Contains(t, out, "call placed")
	var sawCall bool
	for _, r := range srv.Requests() {
		if strings.Contains(r.Operation, "call_number") {
			sawCall = true
			assert.Equal(t, "79031234567", r.Params.Get("phone"))
			assert.Equal(t, "101", r.Params.Get("sipnumber"))
		}
	}
	assert.True(t, sawCall, "the fake received the call")

	srv.AddRecording("rec-1", 100_000)
	file := filepath.Join(t.TempDir(), "call.mp3")
	out, err = pbxctl(t, "-provider", dsn, "record", "rec-1", "-o", file)
	require.NoError(t, err)
	assert.Contains(t, out, "saved "+file+" (100000 bytes")
	st, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, int64(100_000), st.Size())

	today := time.Now().In(provider.DefaultLocation()).Format("2006-01-02")
	out, err = pbxctl(t, "-provider", dsn, "history", "-from", today, "-to", today)
	require.NoError(t, err)
	rows, err = csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	assert.Equal(t, "call_id", rows[0][0])
}

func TestMissingCapabilitiesNameTheProvider(t *testing.T) {
	fake := pztest.NewServer(pztest.Options{})
	t.Cleanup(fake.Close)
	for _, cmd := range [][]string{{"subscribers"}, {"record", "x", "-o", "-"}, {"history", "-from", "2024-01-01", "-to", "2024-01-02"}} {
		_, err := pbxctl(t, append([]string{"-provider", fake.DSN()}, cmd...)...)
		require.Error(t, err, cmd)
		assert.ErrorIs(t, err, pbx.ErrNotSupported)
		assert.Contains(t, err.Error(), "provider prostiezvonki cannot")
	}
	out, err := pbxctl(t, "-provider", fake.DSN(), "check")
	require.NoError(t, err)
	assert.Contains(t, out, "prostiezvonki has no read-only API call")
}

// recorder is an event handler that keeps what it was given.
type recorder struct {
	mu     sync.Mutex
	events []pbx.CallEvent
}

func (r *recorder) HandleEvent(_ context.Context, e pbx.CallEvent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

// TestWebhookTestReachesEachProvidersOwnHandler sends the test notification
// to a receiver built by pbxkit itself from the same DSN: it must pass the
// vendor's authentication and arrive as an event.
func TestWebhookTestReachesEachProvidersOwnHandler(t *testing.T) {
	rt := rostelecomtest.NewServer(rostelecomtest.Options{})
	t.Cleanup(rt.Close)
	pz := pztest.NewServer(pztest.Options{})
	t.Cleanup(pz.Close)
	_, sip := sipuniFake(t)
	for _, dsn := range []string{rt.DSN(), sip, pz.DSN()} {
		p, err := provider.Open(dsn)
		require.NoError(t, err)
		t.Run(p.Name(), func(t *testing.T) {
			rec := &recorder{}
			hook := httptest.NewServer(p.WebhookHandler(rec, nil))
			t.Cleanup(hook.Close)
			out, err := pbxctl(t, "-provider", dsn, "webhook-test", hook.URL+"/pbx/"+p.Name()+"/")
			require.NoError(t, err)
			assert.Contains(t, out, "answered HTTP 200")
			require.Len(t, rec.events, 1)
			assert.Equal(t, "79990000000", rec.events[0].Phone)
			assert.Equal(t, pbx.Inbound, rec.events[0].Direction)

			// A receiver with other credentials rejects it, and pbxctl says so.
			other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(401) }))
			t.Cleanup(other.Close)
			_, err = pbxctl(t, "-provider", dsn, "webhook-test", other.URL)
			assert.ErrorContains(t, err, "rejected")
		})
	}
}

func TestParseDate(t *testing.T) {
	loc := provider.DefaultLocation()
	for in, want := range map[string]time.Time{
		"2024-05-01":                time.Date(2024, 5, 1, 0, 0, 0, 0, loc),
		"2024-05-01T13:45":          time.Date(2024, 5, 1, 13, 45, 0, 0, loc),
		"2024-05-01 13:45":          time.Date(2024, 5, 1, 13, 45, 0, 0, loc),
		"2024-05-01T13:45:00+05:00": time.Date(2024, 5, 1, 13, 45, 0, 0, time.FixedZone("", 5*3600)),
	} {
		got, err := parseDate(in, loc)
		require.NoError(t, err, in)
		assert.True(t, want.Equal(got), "%s: %v", in, got)
	}
	_, err := parseDate("01.05.2024", loc)
	assert.Error(t, err)
}

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	p := &progress{w: &buf, total: 2 << 20}
	_, _ = p.Write(make([]byte, 1<<20))
	p.finish()
	assert.Contains(t, buf.String(), " 50% 1.0 MiB")
}
