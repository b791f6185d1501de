package main

import (
	"context"
	"flag"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx/outbox"
)

// required are the flags every bridge needs.
var required = []string{"-provider", "sipuni://a:b@/?webhook_token=t", "-1c-calls", "https://1c.example.ru/base/hs/pbx/calls", "-1c-secret", "s"}

func TestParseConfig(t *testing.T) {
	c, err := parseConfig(append([]string{"-provider", "rostelecom://x:y@z/?domain=d", "-addr", ":9000", "-default", "100",
		"-digits", "7", "-1c-lookup", "https://1c.example.ru/base/hs/pbx/lookup", "-1c-user", "bridge", "-1c-password", "pw",
		"-contacts", "c.csv", "-missed-to", "103", "-screenpop-secret", "pop", "-translit", "-replica-id", "r1",
		"-1c-timeout", "5s", "-lookup-ttl", "30s"}, required...), noEnv, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{"rostelecom://x:y@z/?domain=d", "sipuni://a:b@/?webhook_token=t"}, c.dsns)
	assert.Equal(t, ":9000", c.addr)
	assert.Equal(t, "bridge.db", c.journal, "SQLite by default")
	assert.Equal(t, "https://1c.example.ru/base/hs/pbx/calls", c.callsURL)
	assert.Equal(t, "https://1c.example.ru/base/hs/pbx/lookup", c.lookupURL)
	assert.Equal(t, "bridge", c.user)
	assert.Equal(t, "pw", c.password)
	assert.Equal(t, []byte("s"), c.secret)
	assert.Equal(t, "100", c.defaultExt)
	assert.Equal(t, 7, c.digits)
	assert.Equal(t, "103", c.missedTo)
	assert.Equal(t, []byte("pop"), c.screenpopSecret)
	assert.True(t, c.translit)
	assert.Equal(t, "r1", c.replicaID)
	assert.Equal(t, "5s", c.callsTimeout.String())
	assert.Equal(t, "30s", c.lookupTTL.String())

	// The environment, and the flags winning over it.
	envs := map[string]string{
		envProviders: "sipuni://a:b@/?webhook_token=t\n  prostiezvonki://:k@/?crm_token=t",
		envJournal:   "postgres://u:p@db/x", envCalls: "https://1c/calls", envLookup: "https://1c/lookup",
		envUser: "u", envPassword: "envpw", envSecret: "whsec_c2VjcmV0", envMissedTo: "104",
		envScreenpopSecret: "envpop", envContacts: "env.csv", envDefault: "105", envAddr: "127.0.0.1:1",
		envReplicaID: "r2", envPublicURL: "https://bridge.example.ru",
	}
	env := func(k string) string { return envs[k] }
	c, err = parseConfig(nil, env, io.Discard)
	require.NoError(t, err)
	assert.Len(t, c.dsns, 2)
	assert.Equal(t, "postgres://u:p@db/x", c.journal)
	assert.Equal(t, "https://1c/calls", c.callsURL)
	assert.Equal(t, "https://1c/lookup", c.lookupURL)
	assert.Equal(t, "envpw", c.password)
	assert.Equal(t, []byte("secret"), c.secret, "a whsec_ secret is base64")
	assert.Equal(t, "104", c.missedTo)
	assert.Equal(t, []byte("envpop"), c.screenpopSecret)
	assert.Equal(t, "env.csv", c.contacts)
	assert.Equal(t, "105", c.defaultExt)
	assert.Equal(t, "127.0.0.1:1", c.addr)
	assert.Equal(t, "r2", c.replicaID)
	assert.Equal(t, "https://bridge.example.ru", c.publicURL)
	c, err = parseConfig([]string{"-journal", "other.db", "-missed-to", "101", "-1c-secret", "flag"}, env, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "other.db", c.journal, "the flag wins over the environment")
	assert.Equal(t, "101", c.missedTo)
	assert.Equal(t, []byte("flag"), c.secret)
	assert.Equal(t, outbox.DefaultTimeout, c.callsTimeout)
}

func TestParseConfigErrors(t *testing.T) {
	const pw = "Sup3r-secret"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no provider", []string{"-1c-calls", "https://1c/x", "-1c-secret", "s"}, "no PBX"},
		{"no 1C", []string{"-provider", "a://", "-1c-secret", "s"}, "no 1C"},
		{"no secret", []string{"-provider", "a://", "-1c-calls", "https://1c/x"}, "signing secret"},
		{"bad calls URL", []string{"-provider", "a://", "-1c-calls", "ftp://u:" + pw + "@1c/x", "-1c-secret", "s"}, "-1c-calls"},
		{"relative calls URL", []string{"-provider", "a://", "-1c-calls", "1c/hs/pbx/calls", "-1c-secret", "s"}, "absolute"},
		{"bad lookup URL", append([]string{"-1c-lookup", "//u:" + pw + "@host/x"}, required...), "-1c-lookup"},
		{"password without user", append([]string{"-1c-password", pw}, required...), "-1c-user"},
		{"bad whsec", []string{"-provider", "a://", "-1c-calls", "https://1c/x", "-1c-secret", "whsec_!!" + pw}, "base64"},
		{"digits", append([]string{"-digits", "0"}, required...), "-digits"},
		{"timeout", append([]string{"-1c-timeout", "0s"}, required...), "positive"},
		{"extra argument", append([]string{"extra"}, required...), "unexpected"},
		{"unknown flag", []string{"-bogus"}, "bogus"},
		{"print-link without secret", []string{"-print-link", "101"}, "-screenpop-secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig(tc.args, noEnv, io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), pw)
		})
	}
}

// TestUsageExplainsEveryFlag: -h prints what the bridge does, every flag
// with what it is for (and its environment variable where it has one),
// and an example, and exits 0.
func TestUsageExplainsEveryFlag(t *testing.T) {
	var stderr strings.Builder
	require.NoError(t, run(context.Background(), []string{"-h"}, noEnv, io.Discard, &stderr))
	out := stderr.String()
	for _, s := range []string{"Usage: 1c-bridge", "/pbx/<vendor>/", "/operator/", "5 s, 30 s, 2 min, 10 min, 30 min", "docs/1c-bridge.md", "Example:"} {
		assert.Contains(t, out, s)
	}
	var c config
	var r rawFlags
	fs := newFlagSet(&c, &r, io.Discard)
	count := 0
	fs.VisitAll(func(f *flag.Flag) {
		count++
		assert.Regexp(t, `(?m)^  -`+regexp.QuoteMeta(f.Name)+`( |$)`, out, "flag -%s listed", f.Name)
		assert.GreaterOrEqual(t, len(f.Usage), 15, "flag -%s explained", f.Name)
	})
	assert.GreaterOrEqual(t, count, 20)
	for _, e := range []string{envProviders, envJournal, envCalls, envLookup, envUser, envPassword, envSecret, envMissedTo, envScreenpopSecret, envContacts} {
		assert.Contains(t, out, "["+e, "environment variable %s named", e)
	}
}

func TestPrintLink(t *testing.T) {
	var out strings.Builder
	require.NoError(t, run(context.Background(), []string{"-print-link", "102", "-screenpop-secret", testPopSecret, "-public-url", "https://bridge.example.ru/"}, noEnv, &out, io.Discard))
	link := strings.TrimSpace(out.String())
	assert.True(t, strings.HasPrefix(link, "https://bridge.example.ru/operator/?token="), link)
	assert.NotContains(t, link, testPopSecret)
}

// TestRunFailsCleanly: a bad provider DSN, a missing contacts file or an
// address in use stop the bridge with an error that names the problem
// and no secret.
func TestRunFailsCleanly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	dir := t.TempDir()
	base := []string{"-journal", dir + "/b.db", "-1c-calls", "https://u:" + test1CPass + "@1c.example.ru/calls", "-1c-secret", testSecret}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown provider", append([]string{"-provider", "nosuchpbx://k:" + test1CPass + "@/"}, base...), "nosuchpbx"},
		{"missing contacts", append([]string{"-provider", "sipuni://012345:" + test1CPass + "@/?webhook_token=t", "-contacts", dir + "/none.csv"}, base...), "none.csv"},
		{"address in use", append([]string{"-provider", "sipuni://012345:" + test1CPass + "@/?webhook_token=t", "-addr", ln.Addr().String()}, base...), "address already in use"},
		{"same provider twice", append([]string{"-provider", "sipuni://012345:b@/?webhook_token=t", "-provider", "sipuni://054321:d@/?webhook_token=u"}, base...), "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs strings.Builder
			err := run(context.Background(), tc.args, noEnv, &logs, io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), test1CPass)
			assert.NotContains(t, logs.String(), test1CPass)
			assert.NotContains(t, logs.String(), testSecret)
		})
	}
}
