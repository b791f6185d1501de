package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/prostiezvonki/prostiezvonkitest"
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
	dsn := "sipuni://" + srv.Account() + ":" + url.QueryEscape(srv.Secret()) + "@/?webhook_token=T&base_url=" + url.QueryEscape(srv.URL())
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
		{"-provider", dsn, "history", "-to", "2024-05-01"},
		{"-provider", dsn, "history", "-from", "2999-01-01"}, // -to is now: before -from
		{"-provider", dsn, "record", "1.1", "-o", "x", "extra"},
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
	for _, r := range srv.APIRequests() {
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
	fake := prostiezvonkitest.NewServer(prostiezvonkitest.Options{})
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

	// A provider with no outbound capability at all.
	hist := &historyFake{}
	env := environment{stdout: io.Discard, stderr: io.Discard, open: func(string) (pbx.Provider, error) { return hist, nil }}
	for _, cmd := range [][]string{{"call", "101", "79991234567"}, {"record", "x", "-o", filepath.Join(t.TempDir(), "x.mp3")}, {"webhook-test", "http://127.0.0.1:1/"}} {
		err := run(context.Background(), append([]string{"-provider", "fake://"}, cmd...), env)
		assert.ErrorIs(t, err, pbx.ErrNotSupported, cmd)
	}
}

// TestWebhookTestReachesEachProvidersOwnHandler sends the test notification
// to a receiver built by pbxkit itself from the same DSN: it must pass the
// vendor's authentication and arrive as an event.
func TestWebhookTestReachesEachProvidersOwnHandler(t *testing.T) {
	rt := rostelecomtest.NewServer(rostelecomtest.Options{})
	t.Cleanup(rt.Close)
	pz := prostiezvonkitest.NewServer(prostiezvonkitest.Options{})
	t.Cleanup(pz.Close)
	_, sip := sipuniFake(t)
	for _, dsn := range []string{rt.DSN(), sip, pz.DSN()} {
		p, err := provider.Open(dsn)
		require.NoError(t, err)
		t.Run(p.Name(), func(t *testing.T) {
			rec := &pbxtest.Recorder{}
			hook := httptest.NewServer(p.WebhookHandler(rec, nil))
			t.Cleanup(hook.Close)
			out, err := pbxctl(t, "-provider", dsn, "webhook-test", hook.URL+"/pbx/"+p.Name()+"/")
			require.NoError(t, err)
			assert.Contains(t, out, "answered HTTP 200")
			events := rec.Events()
			require.Len(t, events, 1)
			assert.Equal(t, "79990000000", events[0].Phone) // the made-up caller of every vendor's WebhookTestRequest
			assert.Equal(t, pbx.Inbound, events[0].Direction)

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

// cliRun runs the command line as main does and returns the exit status and
// what went to stdout and stderr.
func cliRun(t *testing.T, env environment, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env.stdout, env.stderr = &out, &errOut
	if env.getenv == nil {
		env.getenv = func(string) string { return "" }
	}
	if env.open == nil {
		env.open = openDSN
	}
	code = cli(context.Background(), args, env)
	return code, out.String(), errOut.String()
}

// TestHelp: -h, --help and help print usage to stdout and exit 0, without a
// DSN; each command has its own help.
func TestHelp(t *testing.T) {
	tests := []struct {
		args []string
		want string // in stdout
	}{
		{[]string{"-h"}, "commands:"},
		{[]string{"--help"}, "commands:"},
		{[]string{"-help"}, "commands:"},
		{[]string{"help"}, "commands:"},
		{[]string{"-timeout", "5s", "-h"}, "commands:"},
		{[]string{"call", "-h"}, "call EXT PHONE"},
		{[]string{"call", "101", "--help"}, "call EXT PHONE"},
		{[]string{"help", "call"}, "call EXT PHONE"},
		{[]string{"record", "-h"}, "overwrite FILE if it exists"},
		{[]string{"record", "CALLID", "-o", "x.mp3", "-h"}, "record CALLID -o FILE"},
		{[]string{"subscribers", "-h"}, "usage: pbxctl [-provider DSN] [-timeout D] subscribers"},
		{[]string{"history", "--help"}, "-to DATE"},
		{[]string{"check", "-h"}, "could not"},
		{[]string{"webhook-test", "-h"}, "redirect"},
		{[]string{"-provider", "sipuni://x:y@/", "history", "-h"}, "-from"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := cliRun(t, environment{}, tt.args...)
			assert.Equal(t, 0, code)
			assert.Contains(t, out, "usage: pbxctl")
			assert.Contains(t, out, tt.want)
			assert.Empty(t, errOut)
		})
	}
}

func TestExitCodes(t *testing.T) {
	fake := prostiezvonkitest.NewServer(prostiezvonkitest.Options{})
	t.Cleanup(fake.Close)
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{nil, 2, "commands:"},
		{[]string{"dance"}, 2, `unknown command "dance"`},
		{[]string{"help", "dance"}, 2, `unknown command "dance"`},
		{[]string{"call", "101"}, 2, "usage: pbxctl [-provider DSN] [-timeout D] call EXT PHONE"},
		{[]string{"record", "x", "-nosuchflag"}, 2, "record CALLID -o FILE"},
		{[]string{"check"}, 2, "no provider"},
		{[]string{"-provider", fake.DSN(), "subscribers"}, 1, "cannot list subscribers"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := cliRun(t, environment{}, tt.args...)
			assert.Equal(t, tt.code, code)
			assert.Contains(t, errOut, tt.stderr)
		})
	}
}

// historyFake is a provider that exports a fixed call log and keeps the
// query it was given.
type historyFake struct {
	query   pbx.HistoryQuery
	records []pbx.CallRecord
}

func (h *historyFake) Name() string { return "fake" }
func (h *historyFake) WebhookHandler(pbx.EventHandler, pbx.Router) http.Handler {
	return http.NotFoundHandler()
}
func (h *historyFake) History(_ context.Context, q pbx.HistoryQuery) iter.Seq2[pbx.CallRecord, error] {
	h.query = q
	return func(yield func(pbx.CallRecord, error) bool) {
		for _, r := range h.records {
			if !yield(r, nil) {
				return
			}
		}
	}
}

// TestHistoryToDefaultsToNow: without -to the period ends now; the CSV
// carries talk and call seconds, empty when unknown.
func TestHistoryToDefaultsToNow(t *testing.T) {
	msk := provider.DefaultLocation()
	now := time.Date(2024, 5, 1, 15, 30, 0, 0, msk)
	fake := &historyFake{records: []pbx.CallRecord{
		{CallID: "a", StartedAt: now.Add(-time.Hour), TalkDuration: 7 * time.Second, CallDuration: 19500 * time.Millisecond, Outcome: pbx.OutcomeAnswered},
		{CallID: "b", StartedAt: now.Add(-time.Minute), Outcome: pbx.OutcomeMissed},
	}}
	env := environment{now: func() time.Time { return now }, open: func(string) (pbx.Provider, error) { return fake, nil }}

	code, out, errOut := cliRun(t, env, "-provider", "fake://", "history", "-from", "2024-05-01")
	require.Equal(t, 0, code, errOut)
	assert.True(t, fake.query.From.Equal(time.Date(2024, 5, 1, 0, 0, 0, 0, msk)), "%v", fake.query.From)
	assert.True(t, fake.query.To.Equal(now), "-to defaults to now, got %v", fake.query.To)

	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 3)
	header := rows[0]
	col := func(row []string, name string) string {
		i := slices.Index(header, name)
		require.GreaterOrEqual(t, i, 0, name)
		return row[i]
	}
	assert.Equal(t, "7", col(rows[1], "talk_seconds"))
	assert.Equal(t, "19.5", col(rows[1], "call_seconds"))
	assert.Equal(t, "", col(rows[2], "talk_seconds"))
	assert.Equal(t, "", col(rows[2], "call_seconds"))
	assert.NotContains(t, header, "duration_sec")

	// An explicit -to still works, a bare date meaning the end of that day.
	code, _, errOut = cliRun(t, env, "-provider", "fake://", "history", "-from", "2024-04-01", "-to", "2024-04-02")
	require.Equal(t, 0, code, errOut)
	assert.True(t, fake.query.To.Equal(time.Date(2024, 4, 2, 23, 59, 59, 0, msk)), "%v", fake.query.To)
}

// TestCheckWithoutReadAPI: check on Prostie Zvonki, which has no read call,
// says what it checked and what it could not, and fails when the API host
// does not answer.
func TestCheckWithoutReadAPI(t *testing.T) {
	fake := prostiezvonkitest.NewServer(prostiezvonkitest.Options{})
	t.Cleanup(fake.Close)
	code, out, errOut := cliRun(t, environment{}, "-provider", fake.DSN(), "check")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "prostiezvonki: DSN OK; the provider can place calls; cannot fetch recordings, list subscribers, export call history")
	assert.Contains(t, out, "checked: the API host "+provider.RedactURL(fake.URL()))
	assert.Contains(t, out, "NOT checked: the credentials")
	assert.Contains(t, out, "prostiezvonki has no read-only API call")

	// The same DSN with the fake gone: the host check fails.
	dsn := fake.DSN()
	fake.Close()
	code, _, errOut = cliRun(t, environment{}, "-provider", dsn, "check")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "the API host does not answer")
}

// TestRecordDoesNotOverwrite: record -o FILE keeps an existing file unless
// -f is given; a failed download leaves no partial file.
func TestRecordDoesNotOverwrite(t *testing.T) {
	srv, dsn := sipuniFake(t)
	srv.AddRecording("rec-1", 1000)
	file := filepath.Join(t.TempDir(), "call.mp3")
	require.NoError(t, os.WriteFile(file, []byte("keep me"), 0o600))

	_, err := pbxctl(t, "-provider", dsn, "record", "rec-1", "-o", file)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exists; use -f")
	got, _ := os.ReadFile(file)
	assert.Equal(t, "keep me", string(got), "not overwritten")

	// -f overwrites, in either order of the arguments.
	out, err := pbxctl(t, "-provider", dsn, "record", "-f", "-o", file, "rec-1")
	require.NoError(t, err)
	assert.Contains(t, out, "(1000 bytes")
	st, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, int64(1000), st.Size())

	// A failed download keeps the old file with -f, and leaves nothing
	// without it.
	_, err = pbxctl(t, "-provider", dsn, "record", "no-such-call", "-o", file, "-f")
	require.Error(t, err)
	st, err = os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, int64(1000), st.Size())
	fresh := filepath.Join(filepath.Dir(file), "fresh.mp3")
	_, err = pbxctl(t, "-provider", dsn, "record", "no-such-call", "-o", fresh)
	require.Error(t, err)
	assert.NoFileExists(t, fresh)
	entries, err := os.ReadDir(filepath.Dir(file))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left behind")
}

// TestIsTerminal: /dev/null is a character device but not a terminal, so
// no progress bar is drawn into it.
func TestIsTerminal(t *testing.T) {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	require.NoError(t, err)
	defer f.Close()
	assert.False(t, isTerminal(f))
	g, err := os.Create(filepath.Join(t.TempDir(), "plain"))
	require.NoError(t, err)
	defer g.Close()
	assert.False(t, isTerminal(g))
}

// TestWebhookTestRedirect: a receiver mounted at /pbx/sipuni/ answers
// /pbx/sipuni with a redirect; webhook-test does not follow it, fails, and
// names the URL the PBX should be given, without the token.
func TestWebhookTestRedirect(t *testing.T) {
	pz := prostiezvonkitest.NewServer(prostiezvonkitest.Options{})
	t.Cleanup(pz.Close)
	_, sip := sipuniFake(t)
	sip = strings.Replace(sip, "webhook_token=T", "webhook_token=T0PS3CRET", 1)
	for _, dsn := range []string{sip, pz.DSN()} {
		p, err := provider.Open(dsn)
		require.NoError(t, err)
		t.Run(p.Name(), func(t *testing.T) {
			rec := &pbxtest.Recorder{}
			mux := http.NewServeMux()
			mux.Handle("/pbx/"+p.Name()+"/", p.WebhookHandler(rec, nil))
			hook := httptest.NewServer(mux)
			t.Cleanup(hook.Close)

			out, err := pbxctl(t, "-provider", dsn, "webhook-test", hook.URL+"/pbx/"+p.Name())
			require.Error(t, err)
			assert.Regexp(t, `got 30\d redirect to `+regexp.QuoteMeta(hook.URL+"/pbx/"+p.Name()+"/")+`; configure the PBX with that URL$`, err.Error())
			assert.Empty(t, rec.Events(), "the redirect was not followed")
			for _, secret := range []string{"T0PS3CRET", "token=", "crm_token"} {
				assert.NotContains(t, err.Error(), secret)
				assert.NotContains(t, out, secret)
			}

			// The URL it names works.
			_, err = pbxctl(t, "-provider", dsn, "webhook-test", hook.URL+"/pbx/"+p.Name()+"/")
			require.NoError(t, err)
			assert.Len(t, rec.Events(), 1)
		})
	}
}

// TestWebhookTestRedirectElsewhere: a receiver that moved to another host
// and echoes the request's query in Location; for every vendor the error
// names the new URL without the query (nor Rostelecom's event name, which
// pbxctl added to the path) and the redirect is not followed.
func TestWebhookTestRedirectElsewhere(t *testing.T) {
	rt := rostelecomtest.NewServer(rostelecomtest.Options{})
	t.Cleanup(rt.Close)
	pz := prostiezvonkitest.NewServer(prostiezvonkitest.Options{})
	t.Cleanup(pz.Close)
	_, sip := sipuniFake(t)
	sip = strings.Replace(sip, "webhook_token=T", "webhook_token=T0PS3CRET", 1)
	var followed atomic.Int32
	newHome := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Add(1) }))
	t.Cleanup(newHome.Close)
	for _, dsn := range []string{rt.DSN(), sip, pz.DSN()} {
		p, err := provider.Open(dsn)
		require.NoError(t, err)
		t.Run(p.Name(), func(t *testing.T) {
			old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				u := newHome.URL + "/hooks" + r.URL.Path
				if r.URL.RawQuery != "" {
					u += "?" + r.URL.RawQuery
				}
				http.Redirect(w, r, u, http.StatusPermanentRedirect)
			}))
			t.Cleanup(old.Close)
			out, err := pbxctl(t, "-provider", dsn, "webhook-test", old.URL+"/pbx/"+p.Name()+"/")
			require.Error(t, err)
			assert.Equal(t, "got 308 redirect to "+newHome.URL+"/hooks/pbx/"+p.Name()+"/; configure the PBX with that URL", err.Error())
			assert.Contains(t, out, "answered HTTP 308")
			for _, secret := range append(secretsOf(t, dsn), "token=") {
				assert.NotContains(t, out, secret)
			}
		})
	}
	assert.Zero(t, followed.Load(), "no redirect was followed")
}

// TestWebhookTestErrorsCarryNoSecret: when the receiver does not answer,
// the error names the receiver without the Sipuni token the request
// carried in its query, or any other secret.
func TestWebhookTestErrorsCarryNoSecret(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := "http://" + ln.Addr().String() + "/pbx/sipuni/"
	require.NoError(t, ln.Close()) // nothing listens there now

	_, sip := sipuniFake(t)
	sip = strings.Replace(sip, "webhook_token=T", "webhook_token=T0PS3CRET&webhook_user=u&webhook_password=PA55W0RD", 1)
	rt := rostelecomtest.NewServer(rostelecomtest.Options{})
	t.Cleanup(rt.Close)
	pz := prostiezvonkitest.NewServer(prostiezvonkitest.Options{})
	t.Cleanup(pz.Close)
	for _, tc := range []struct {
		dsn     string
		secrets []string
	}{
		{sip, []string{"T0PS3CRET", "PA55W0RD", "token="}},
		{rt.DSN(), secretsOf(t, rt.DSN())},
		{pz.DSN(), secretsOf(t, pz.DSN())},
	} {
		for _, target := range []string{refused, refused + "?key=MYKEY", "http://user:MYPASS@" + ln.Addr().String() + "/x"} {
			out, err := pbxctl(t, "-provider", tc.dsn, "webhook-test", target)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "no answer from http://"+ln.Addr().String())
			for _, s := range append(tc.secrets, "MYKEY", "MYPASS") {
				assert.NotContains(t, err.Error(), s)
				assert.NotContains(t, out, s)
			}
		}
	}
}

// TestWebhookTestOutputCarriesNoSecret: a receiver that quotes the request
// in its answer does not make pbxctl print the token or the signature.
func TestWebhookTestOutputCarriesNoSecret(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, "%s %s %s %s", r.URL.RawQuery, r.Header.Get("X-Client-Sign"), r.Header.Get("Authorization"), body)
	}))
	t.Cleanup(echo.Close)
	rt := rostelecomtest.NewServer(rostelecomtest.Options{})
	t.Cleanup(rt.Close)
	pz := prostiezvonkitest.NewServer(prostiezvonkitest.Options{})
	t.Cleanup(pz.Close)
	_, sip := sipuniFake(t)
	sip = strings.Replace(sip, "webhook_token=T", "webhook_token=T0PS3CRET", 1)
	for _, dsn := range []string{rt.DSN(), sip, pz.DSN()} {
		out, err := pbxctl(t, "-provider", dsn, "webhook-test", echo.URL+"/pbx/")
		require.Error(t, err)
		assert.Contains(t, out, "answered HTTP 401")
		assert.Contains(t, out, "***", "the quoted secret was replaced")
		for _, s := range secretsOf(t, dsn) {
			assert.NotContains(t, out, s)
			assert.NotContains(t, err.Error(), s)
		}
	}
}

// secretsOf returns the password and the token-like query values of dsn.
func secretsOf(t *testing.T, dsn string) []string {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	var out []string
	if pw, ok := u.User.Password(); ok {
		out = append(out, pw)
	}
	for k, vs := range u.Query() {
		if strings.Contains(k, "token") || strings.Contains(k, "password") {
			out = append(out, vs...)
		}
	}
	require.NotEmpty(t, out)
	return out
}
