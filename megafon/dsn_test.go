package megafon_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/megafon"
	"github.com/pbxkit/pbxkit/megafon/megafontest"
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

const dsnKey = "dsn-key-0c9e"

func TestOpenDSN(t *testing.T) {
	for _, tt := range []struct {
		dsn, base string
	}{
		{"megafon://:" + dsnKey + "@vats123.megapbx.ru/?crm_token=T", "https://vats123.megapbx.ru/crmapi/v1"},
		{"megafon://:" + dsnKey + "@vats123/?crm_token=T&timeout=5s&route_timeout=800ms&location=Asia/Yekaterinburg", "https://vats123.megapbx.ru/crmapi/v1"},
		{"megafon://:" + dsnKey + "@/?base_url=http%3A%2F%2F127.0.0.1%3A9%2Fcrmapi%2Fv1", "http://127.0.0.1:9/crmapi/v1"},
		{"megafon://@/?crm_token=T", ""},
		{"megafon://vats1.megapbx.ru?crm_token=T", "https://vats1.megapbx.ru/crmapi/v1"},
	} {
		p, err := provider.Open(tt.dsn)
		require.NoError(t, err, provider.RedactDSN(tt.dsn))
		c, ok := p.(*megafon.Client)
		require.True(t, ok)
		assert.Equal(t, tt.base, c.BaseURL())
		assert.Equal(t, megafon.Name, c.Name())
	}
	p, err := provider.Open("megafon://:" + dsnKey + "@vats1/?crm_token=T&location=Asia/Yekaterinburg")
	require.NoError(t, err)
	assert.Equal(t, "Asia/Yekaterinburg", p.(*megafon.Client).Location().String(), "the DSN's zone wins")
	loc := time.FixedZone("X", 7200)
	p, err = provider.Open("megafon://:"+dsnKey+"@vats1/?crm_token=T", provider.WithLocation(loc))
	require.NoError(t, err)
	assert.Equal(t, loc, p.(*megafon.Client).Location())
}

func TestOpenDSNErrors(t *testing.T) {
	for _, dsn := range []string{
		"megafon://user:" + dsnKey + "@vats1/?crm_token=T",             // key in the user part
		"megafon://:" + dsnKey + "@/",                                  // a key without a domain
		"megafon://vats1/",                                             // nothing to call or accept with
		"megafon://:" + dsnKey + "@vats1/crmapi/v1?crm_token=T",        // a path
		"megafon://:" + dsnKey + "@vats1/?crm_token=T&token=" + dsnKey, // unknown parameter
		"megafon://:" + dsnKey + "@vats1/?crm_token=T&crm_token=U",
		"megafon://:" + dsnKey + "@vats1/?crm_token=T&timeout=soon",
		"megafon://:" + dsnKey + "@vats1/?crm_token=T&route_timeout=-1s",
		"megafon://:" + dsnKey + "@vats1/?crm_token=T&location=Mars/Olympus",
		"megafon://:" + dsnKey + "@vats1/?crm_token=T&location=Local",
		"megafon://:" + dsnKey + "@vats1/?crm_token=T&base_url=ftp%3A%2F%2Fx",
		"megafon:opaque",
	} {
		_, err := provider.Open(dsn)
		require.Error(t, err, provider.RedactDSN(dsn))
		assert.True(t, errors.Is(err, provider.ErrBadDSN), "%v", err)
		assert.NotContains(t, err.Error(), dsnKey)
	}
}

// TestFakeDSN: the fake's DSN opens a provider that reaches it.
func TestFakeDSN(t *testing.T) {
	fake := megafontest.NewServer(megafontest.Options{})
	defer fake.Close()
	p, err := provider.Open(fake.DSN())
	require.NoError(t, err)
	subs, err := p.(pbx.SubscriberLister).Subscribers(t.Context())
	require.NoError(t, err)
	assert.Len(t, subs, len(fake.Employees()))
}
