package mango_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/mango"
	"github.com/pbxkit/pbxkit/mango/mangotest"
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider"
)

// TestParseDSN: the DSN forms and their errors, which never show the salt.
func TestParseDSN(t *testing.T) {
	cfg, err := mango.ParseDSN("mango://" + key + ":" + salt + "@/")
	require.NoError(t, err)
	assert.Equal(t, key, cfg.APIKey)
	assert.Equal(t, salt, cfg.APISalt)
	assert.Empty(t, cfg.BaseURL, "the default API")

	cfg, err = mango.ParseDSN("mango://k:s%2Bx@app.mango-office.ru/vpbx/?route_timeout=3s&timeout=10s&location=Asia%2FIrkutsk")
	require.NoError(t, err)
	assert.Equal(t, "s+x", cfg.APISalt)
	assert.Equal(t, "https://app.mango-office.ru/vpbx", cfg.BaseURL)
	assert.Equal(t, 3*time.Second, cfg.RouteTimeout)
	assert.Equal(t, 10*time.Second, cfg.Timeout)
	assert.Equal(t, "Asia/Irkutsk", cfg.Location.String())

	cfg, err = mango.ParseDSN("mango://k:s@/?base_url=http%3A%2F%2F127.0.0.1%3A9%2Fvpbx")
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:9/vpbx", cfg.BaseURL)
	assert.Zero(t, cfg.RouteInterval, "Mango's 2 s unless the DSN says")

	for in, want := range map[string]time.Duration{"10ms": 10 * time.Millisecond, "2s": 2 * time.Second, "-1ns": -1} {
		cfg, err = mango.ParseDSN("mango://k:s@/?route_interval=" + in)
		require.NoError(t, err, in)
		assert.Equal(t, want, cfg.RouteInterval, in)
	}

	for _, bad := range []string{
		"sipuni://k:s@/",
		"mango://k@/",
		"mango://:" + salt + "@/",
		"mango://k:" + salt + "@/?route_timeout=soon",
		"mango://k:" + salt + "@/?route_interval=often",
		"mango://k:" + salt + "@/?timeout=-1s",
		"mango://k:" + salt + "@/?location=Mars%2FOlympus",
		"mango://k:" + salt + "@/?webhook_token=x",
		"mango://k:" + salt + "%zz@/",
	} {
		_, err := mango.ParseDSN(bad)
		require.Error(t, err, bad)
		assert.ErrorIs(t, err, provider.ErrBadDSN, bad)
		assert.NotContains(t, err.Error(), salt, bad)
	}
}

// TestOpenFakeDSN: provider.Open with the fake's DSN gives a provider
// that talks to the fake; bad Config values are DSN errors.
func TestOpenFakeDSN(t *testing.T) {
	fake := mangotest.NewServer(mangotest.Options{})
	t.Cleanup(fake.Close)
	p, err := provider.Open(fake.DSN())
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.(*mango.Client).Close() })
	assert.Equal(t, "mango", p.Name())
	subs, err := p.(pbx.SubscriberLister).Subscribers(ctx(t))
	require.NoError(t, err)
	assert.Len(t, subs, len(pbxtest.Employees()))

	// The fake's DSN carries its route limit and its IVR's deadline.
	cfg, err := mango.ParseDSN(fake.DSN())
	require.NoError(t, err)
	assert.Equal(t, mangotest.DefaultRouteEvery, cfg.RouteInterval)
	assert.Equal(t, mangotest.DefaultIVRSilence/2, cfg.RouteTimeout)
	assert.Equal(t, fake.Config().RouteInterval, cfg.RouteInterval)

	_, err = provider.Open("mango://k:s@/?base_url=ftp%3A%2F%2Fx")
	assert.ErrorIs(t, err, provider.ErrBadDSN)
}

// TestNewChecks: New refuses missing or padded credentials and a BaseURL
// it cannot use, without quoting either.
func TestNewChecks(t *testing.T) {
	for _, cfg := range []mango.Config{
		{APISalt: salt},
		{APIKey: key},
		{APIKey: " " + key, APISalt: salt},
		{APIKey: key, APISalt: salt + "\n"},
		{APIKey: key, APISalt: salt, BaseURL: "app.mango-office.ru/vpbx"},
		{APIKey: key, APISalt: salt, BaseURL: "https://u:" + salt + "@app.mango-office.ru/vpbx"},
		{APIKey: key, APISalt: salt, BaseURL: "https://app.mango-office.ru/vpbx?k=" + salt},
		{APIKey: key, APISalt: salt, BaseURL: "https://app.mango-office.ru/%zz" + salt},
	} {
		_, err := mango.New(cfg)
		require.Error(t, err)
		assert.NotContains(t, err.Error(), salt)
	}
}

// TestPrintedWithoutSecrets: a Config and a Client print, log and
// marshal without the key or the salt.
func TestPrintedWithoutSecrets(t *testing.T) {
	cfg := mango.Config{APIKey: key, APISalt: salt, BaseURL: "https://app.mango-office.ru/vpbx"}
	c, err := mango.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	for _, v := range []any{cfg, &cfg, c, *c, struct{ C *mango.Client }{c}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			out := fmt.Sprintf(verb, v)
			assert.NotContains(t, out, salt, verb)
			assert.NotContains(t, out, key, verb)
		}
	}
	assert.Contains(t, cfg.String(), "xxxxx")
	assert.Contains(t, mango.Config{}.String(), `APISalt:""`)
}
