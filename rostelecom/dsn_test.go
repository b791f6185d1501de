package rostelecom_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/rostelecom"
	"github.com/pbxkit/pbxkit/rostelecom/rostelecomtest"
)

func TestOpenDSN(t *testing.T) {
	p, err := provider.Open("rostelecom://000003C405E6525C64C184258C44EC99:00000716ABDA6D4DFF10F82BCBBFC532@api.cloudpbx.rt.ru/?domain=example.20.rt.ru")
	require.NoError(t, err)
	assert.Equal(t, "rostelecom", p.Name())
	_, ok := p.(pbx.HistoryExporter)
	assert.True(t, ok)

	cfg, err := rostelecom.ParseDSN("rostelecom://ID:KEY@api-test.cloudpbx.rt.ru/?domain=d&route_timeout=700ms&resolve_ended=true&location=Asia/Irkutsk&timeout=12s&history_poll=250ms")
	require.NoError(t, err)
	assert.Equal(t, 12*time.Second, cfg.Timeout)
	assert.Equal(t, 250*time.Millisecond, cfg.HistoryPoll)
	assert.Equal(t, rostelecom.TestBaseURL, cfg.BaseURL)
	assert.Equal(t, 700*time.Millisecond, cfg.RouteTimeout)
	assert.True(t, cfg.ResolveEnded)
	assert.Equal(t, "Asia/Irkutsk", cfg.Location.String())
	assert.Equal(t, "ID", cfg.ClientID)
	assert.Equal(t, "KEY", cfg.SignKey)

	// The fake's DSN reaches the fake.
	srv, _ := newFake(t, rostelecomtest.Options{})
	p, err = provider.Open(srv.DSN())
	require.NoError(t, err)
	subs, err := p.(pbx.SubscriberLister).Subscribers(context.Background())
	require.NoError(t, err)
	assert.Len(t, subs, len(srv.Employees()))

	for _, dsn := range []string{
		"rostelecom://api.cloudpbx.rt.ru/?domain=d",
		"rostelecom://ID@api.cloudpbx.rt.ru/?domain=d",
		"rostelecom://ID:s3cr3t@api.cloudpbx.rt.ru/",
		"rostelecom://ID:s3cr3t@api.cloudpbx.rt.ru/?domain=d&route_timout=1s",
		"rostelecom://ID:s3cr3t@api.cloudpbx.rt.ru/?domain=d&route_timeout=soon",
		"rostelecom://ID:s3cr3t@api.cloudpbx.rt.ru/?domain=d&resolve_ended=perhaps",
		"rostelecom://ID:s3cr3t@api.cloudpbx.rt.ru/?domain=d&timeout=-1s",
		"rostelecom://ID:s3cr3t@api.cloudpbx.rt.ru/?domain=d&history_poll=0s",
		"rostelecom://ID:s3cr3t@api.cloudpbx.rt.ru/?domain=d&history_poll=often",
		"rostelecom://ID:s3cr3t@api.cloudpbx.rt.ru/?domain=d&location=Mars/Base",
		"rostelecom://ID:s3cr3t@api.cloudpbx.rt.ru/?domain=d&base_url=ftp://x",
		"rostelecom://ID:%zzs3cr3t@api.cloudpbx.rt.ru/?domain=d",
	} {
		_, err := provider.Open(dsn)
		require.Error(t, err, dsn)
		assert.ErrorIs(t, err, provider.ErrBadDSN, dsn)
		assert.NotContains(t, err.Error(), "s3cr3t", dsn)
	}
}
