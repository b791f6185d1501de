package prostiezvonki

import (
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/provider"
)

func TestOpen(t *testing.T) {
	tests := []struct {
		dsn          string
		key, token   string
		base         string
		routeTimeout time.Duration
		timeout      time.Duration
	}{
		{"prostiezvonki://:APIKEY@/?crm_token=T", "APIKEY", "T", DefaultBaseURL, DefaultRouteTimeout, provider.DefaultTimeout},
		{"prostiezvonki://:APIKEY@interaction.prostiezvonki.ru/?crm_token=T", "APIKEY", "T", "https://interaction.prostiezvonki.ru/httpapiinteg", DefaultRouteTimeout, provider.DefaultTimeout},
		{"prostiezvonki://:APIKEY@vats.megapbx.ru/?crm_token=T", "APIKEY", "T", "https://vats.megapbx.ru/httpapiinteg", DefaultRouteTimeout, provider.DefaultTimeout},
		{"prostiezvonki://:APIKEY@vats.megapbx.ru", "APIKEY", "", "https://vats.megapbx.ru/httpapiinteg", DefaultRouteTimeout, provider.DefaultTimeout},
		{"prostiezvonki://:K@h.example:8443/custom/root/?crm_token=T", "K", "T", "https://h.example:8443/custom/root", DefaultRouteTimeout, provider.DefaultTimeout},
		{"prostiezvonki://:K@h.example/?crm_token=T&base_url=http%3A%2F%2F127.0.0.1%3A9%2Fhttpapiinteg&route_timeout=1500ms&timeout=10s", "K", "T", "http://127.0.0.1:9/httpapiinteg", 1500 * time.Millisecond, 10 * time.Second},
		{"prostiezvonki:///?crm_token=only-token", "", "only-token", DefaultBaseURL, DefaultRouteTimeout, provider.DefaultTimeout},
		{"prostiezvonki://:p%40ss%2Fword@/?crm_token=t%26k", "p@ss/word", "t&k", DefaultBaseURL, DefaultRouteTimeout, provider.DefaultTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			p, err := provider.Open(tt.dsn)
			require.NoError(t, err)
			c, ok := p.(*Client)
			require.True(t, ok)
			assert.Equal(t, Name, c.Name())
			assert.Equal(t, tt.key, c.cfg.APIKey)
			assert.Equal(t, tt.token, c.cfg.CRMToken)
			assert.Equal(t, tt.base, c.BaseURL())
			assert.Equal(t, tt.routeTimeout, c.cfg.RouteTimeout)
			assert.Equal(t, tt.timeout, c.cfg.Timeout)
		})
	}
}

func TestOpenOptions(t *testing.T) {
	hc := &http.Client{}
	logger := slog.New(slog.DiscardHandler)
	loc := time.FixedZone("X", 5*3600)
	p, err := provider.Open("prostiezvonki://:K@/?crm_token=T",
		provider.WithHTTPClient(hc), provider.WithLogger(logger), provider.WithLocation(loc))
	require.NoError(t, err)
	c := p.(*Client)
	assert.Same(t, hc, c.api.HTTPClient())
	assert.Same(t, logger, c.logger)
	assert.Same(t, loc, c.cfg.Location)
}

// TestOpenErrors: each bad DSN is an ErrBadDSN that shows no secret.
func TestOpenErrors(t *testing.T) {
	const secret = "s3cr3t"
	tests := []struct{ dsn, problem string }{
		{"prostiezvonki://", "no API key"},
		{"prostiezvonki://:@/", "no API key"},
		{"prostiezvonki://" + secret + "@/?crm_token=T", "password part"},
		{"prostiezvonki://user:" + secret + "@/?crm_token=T", "password part"},
		{"prostiezvonki://:" + secret + "@/?crmtoken=" + secret, "unknown parameter crmtoken"},
		{"prostiezvonki://:" + secret + "@/?crm_token=a&crm_token=" + secret, "more than once"},
		{"prostiezvonki://:" + secret + "@/?route_timeout=" + secret, "route_timeout"},
		{"prostiezvonki://:" + secret + "@/?route_timeout=-1s", "route_timeout"},
		{"prostiezvonki://:" + secret + "@/?timeout=" + secret, "timeout must be"},
		{"prostiezvonki://:" + secret + "@/?timeout=0s", "timeout must be"},
		{"prostiezvonki://:" + secret + "@/?base_url=ftp%3A%2F%2F" + secret, "base_url"},
		{"prostiezvonki://:" + secret + "@/?crm_token=%zz" + secret, ""},
		{"prostiezvonki://:" + secret + "%zz@/", ""},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			_, err := provider.Open(tt.dsn)
			require.Error(t, err)
			assert.True(t, errors.Is(err, provider.ErrBadDSN), err.Error())
			assert.NotContains(t, err.Error(), secret)
			assert.Contains(t, err.Error(), tt.problem)
		})
	}
}
