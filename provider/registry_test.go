package provider

import (
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
)

type fakeProvider struct {
	name, user, pass, token string
	opts                    OpenOptions
}

func (f *fakeProvider) Name() string { return f.name }
func (f *fakeProvider) WebhookHandler(pbx.EventHandler, pbx.Router) http.Handler {
	return http.NotFoundHandler()
}

func init() {
	Register("faketest", func(u *url.URL, o OpenOptions) (pbx.Provider, error) {
		pass, _ := u.User.Password()
		if pass == "" {
			return nil, &DSNError{Scheme: "faketest", Problem: "no secret"}
		}
		return &fakeProvider{name: "faketest", user: u.User.Username(), pass: pass, token: u.Query().Get("webhook_token"), opts: o}, nil
	})
}

func TestOpen(t *testing.T) {
	p, err := Open("faketest://012345:s3cr3t@/?webhook_token=T", WithLocation(nil))
	require.NoError(t, err)
	f := p.(*fakeProvider)
	assert.Equal(t, "012345", f.user, "account stays a string with its leading zero")
	assert.Equal(t, "s3cr3t", f.pass)
	assert.Equal(t, "T", f.token)
	assert.Contains(t, Providers(), "faketest")
}

func TestOpenErrorsNeverShowTheSecret(t *testing.T) {
	const secret = "s3cr3t%zz"
	for _, dsn := range []string{
		"",
		"no-scheme",
		"unknown://a:" + secret + "@/",
		"faketest://a:" + secret + "@/",
		"faketest://a:" + secret + "@host:port/",
		"faketest://a@/",
	} {
		_, err := Open(dsn)
		require.Error(t, err, dsn)
		assert.True(t, errors.Is(err, ErrBadDSN), "%q: %v", dsn, err)
		assert.NotContains(t, err.Error(), "s3cr3t", dsn)
	}
	_, err := Open("unknown://x")
	assert.ErrorContains(t, err, `unknown provider "unknown"`)
}

func TestRegisterTwicePanics(t *testing.T) {
	assert.Panics(t, func() { Register("faketest", func(*url.URL, OpenOptions) (pbx.Provider, error) { return nil, nil }) })
	assert.Panics(t, func() { Register("nilfunc", nil) })
}

func TestRedactDSN(t *testing.T) {
	got := RedactDSN("sipuni://012345:SECRET@/?webhook_token=TOKEN")
	assert.NotContains(t, got, "SECRET")
	assert.NotContains(t, got, "TOKEN")
	assert.Contains(t, got, "012345")
}
