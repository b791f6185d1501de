package zadarma_test

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/zadarma"
)

func TestOpenDSN(t *testing.T) {
	p, err := provider.Open("zadarma://KEYabc:s%2Fecret%40x@/?base_url=" + url.QueryEscape("http://127.0.0.1:1/") +
		"&route_timeout=800ms&return_timeout=20s&timeout=5s&location=Asia/Almaty")
	require.NoError(t, err)
	c, ok := p.(*zadarma.Client)
	require.True(t, ok)
	assert.Equal(t, "zadarma", c.Name())
	assert.Equal(t, "http://127.0.0.1:1", c.BaseURL())
	assert.Equal(t, "Asia/Almaty", c.Location().String())

	loc := time.FixedZone("X", 7200)
	p, err = provider.Open("zadarma://k:s@/", provider.WithLocation(loc))
	require.NoError(t, err)
	assert.Equal(t, loc, p.(*zadarma.Client).Location())
	p, err = provider.Open("zadarma://k:s@/?location=Europe/Moscow", provider.WithLocation(loc))
	require.NoError(t, err)
	assert.Equal(t, "Europe/Moscow", p.(*zadarma.Client).Location().String(), "the DSN's zone wins")
}

func TestOpenDSNErrors(t *testing.T) {
	const secret = "SuperSecret42"
	for _, dsn := range []string{
		"zadarma:opaque",
		"zadarma://host/",
		"zadarma://MyKey987@/",
		"zadarma://:" + secret + "@/",
		"zadarma://MyKey987:" + secret + "@api.zadarma.com/",
		"zadarma://MyKey987:" + secret + "@/path",
		"zadarma://MyKey987:" + secret + "@/?token=" + secret,
		"zadarma://MyKey987:" + secret + "@/?" + secret + "=1",
		"zadarma://MyKey987:" + secret + "@/?timeout=1s&timeout=2s",
		"zadarma://MyKey987:" + secret + "@/?timeout=soon",
		"zadarma://MyKey987:" + secret + "@/?route_timeout=-1s",
		"zadarma://MyKey987:" + secret + "@/?return_timeout=0s",
		"zadarma://MyKey987:" + secret + "@/?location=Local",
		"zadarma://MyKey987:" + secret + "@/?location=Nowhere/" + secret,
		"zadarma://MyKey987:" + secret + "@/?base_url=ftp%3A%2F%2F" + secret,
		"zadarma://MyKey987:" + secret + "@/?base_url=http%3A%2F%2Fu%3A" + secret + "%40h",
		"zadarma://MyKey987:" + secret + "@/?%zz",
	} {
		_, err := provider.Open(dsn)
		require.Error(t, err, dsn)
		assert.True(t, errors.Is(err, provider.ErrBadDSN), dsn)
		assert.NotContains(t, err.Error(), secret, dsn)
		assert.NotContains(t, err.Error(), "MyKey987", dsn)
	}
}
