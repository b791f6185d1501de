package rostelecomtest_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/rostelecom"
	"github.com/pbxkit/pbxkit/rostelecom/rostelecomtest"
)

// TestRegistered: importing the package registers the fake with pbxtest,
// and pbxtest.Start passes its Options on.
func TestRegistered(t *testing.T) {
	assert.True(t, slices.ContainsFunc(pbxtest.Vendors(), func(v pbxtest.Vendor) bool { return v.Name == rostelecom.Name }))
	staff := []pbxtest.Employee{{Extension: "555", Login: "petrov", Name: "Петров Пётр"}}
	fake, err := pbxtest.Start(rostelecom.Name, pbxtest.Options{Employees: staff, RecordingSize: 1000})
	require.NoError(t, err)
	defer fake.Close()
	assert.Equal(t, rostelecom.Name, fake.Name())
	p, err := provider.Open(fake.DSN())
	require.NoError(t, err)
	subs, err := p.(pbx.SubscriberLister).Subscribers(context.Background())
	require.NoError(t, err)
	require.Len(t, subs, 1)
	assert.Equal(t, "555", subs[0].Extension)
	assert.Equal(t, "petrov", subs[0].Login)
	assert.Equal(t, "Петров Пётр", subs[0].Name)
	assert.Equal(t, map[string]int64{}, fake.(*rostelecomtest.Server).Recordings())
}

// TestDefaultStaff: the fake's users are the staff every pbxkit fake has.
func TestDefaultStaff(t *testing.T) {
	srv := rostelecomtest.NewServer(rostelecomtest.Options{})
	defer srv.Close()
	assert.Equal(t, pbxtest.Employees(), srv.Employees())
	c, err := rostelecom.New(srv.Config())
	require.NoError(t, err)
	subs, err := c.Subscribers(context.Background())
	require.NoError(t, err)
	var got []pbxtest.Employee
	for _, s := range subs {
		got = append(got, pbxtest.Employee{Extension: s.Extension, Login: s.Login, Name: s.Name})
	}
	assert.Equal(t, pbxtest.Employees(), got)

	// call_back accepts the seeded staff, by PIN or by login.
	_, err = c.MakeCall(context.Background(), pbx.CallRequest{Extension: "103", Phone: "79991234567"})
	require.NoError(t, err)
	_, err = c.CallBack(context.Background(), rostelecom.CallBackRequest{RequestNumber: "+79991234567", FromSIPURI: "kuznetsov@" + srv.Domain()})
	require.NoError(t, err)
	_, err = c.MakeCall(context.Background(), pbx.CallRequest{Extension: "201", Phone: "79991234567"})
	var ae *provider.APIError
	require.ErrorAs(t, err, &ae, "201 is not a user of the default domain")
	assert.Equal(t, "-20", ae.Code)
}

// TestHistoryAgainstTheFakeIsFast: a provider built from the fake's Config
// or opened from its DSN exports the call log in milliseconds (the client's
// own first wait is 10 s), through one "being prepared" answer. The bound
// only proves it did not take the real client's waits.
func TestHistoryAgainstTheFakeIsFast(t *testing.T) {
	srv := rostelecomtest.NewServer(rostelecomtest.Options{})
	defer srv.Close()
	now := time.Now()
	srv.AddHistory(rostelecomtest.HistoryEntry{CallID: "c1", Caller: "79991234567", Extension: "101", Answered: true,
		Talk: time.Minute, Start: now.Add(-time.Hour)})
	cfg := srv.Config()
	assert.Equal(t, rostelecomtest.DefaultHistoryPoll, cfg.HistoryPoll)
	byConfig, err := rostelecom.New(cfg)
	require.NoError(t, err)
	byDSN, err := provider.Open(srv.DSN())
	require.NoError(t, err)
	for name, p := range map[string]pbx.Provider{"Config": byConfig, "DSN": byDSN} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
			defer cancel()
			start := time.Now()
			var ids []string
			for rec, err := range p.(pbx.HistoryExporter).History(ctx, pbx.HistoryQuery{From: now.Add(-2 * time.Hour), To: now}) {
				require.NoError(t, err)
				ids = append(ids, rec.CallID)
			}
			assert.Equal(t, []string{"c1"}, ids)
			assert.Less(t, time.Since(start), 5*time.Second, "the fake's settings poll every %v", rostelecomtest.DefaultHistoryPoll)
		})
	}
	assert.Len(t, srv.RequestsFor(rostelecom.MethodDownloadCallHistory), 4, "per export: one 'being prepared', then the file")
}

// TestDSNReachesTheFake: the DSN carries the fake's settings.
func TestDSNReachesTheFake(t *testing.T) {
	srv := rostelecomtest.NewServer(rostelecomtest.Options{Location: time.FixedZone("X", 3600)})
	defer srv.Close()
	cfg, err := rostelecom.ParseDSN(srv.DSN())
	require.NoError(t, err, "a made-up zone is left out of the DSN")
	assert.Equal(t, srv.URL(), cfg.BaseURL)
	assert.Equal(t, srv.Domain(), cfg.Domain)
	assert.Equal(t, rostelecomtest.DefaultHistoryPoll, cfg.HistoryPoll)

	irk, err := time.LoadLocation("Asia/Irkutsk")
	require.NoError(t, err)
	srv2 := rostelecomtest.NewServer(rostelecomtest.Options{Location: irk})
	defer srv2.Close()
	cfg, err = rostelecom.ParseDSN(srv2.DSN())
	require.NoError(t, err)
	assert.Equal(t, "Asia/Irkutsk", cfg.Location.String())
}

// TestRequests: Requests gives pbxtest's form, APIRequests the fake's
// verdict on each.
func TestRequests(t *testing.T) {
	srv := rostelecomtest.NewServer(rostelecomtest.Options{})
	defer srv.Close()
	status, _ := post(t, srv, "users_info", `{"domain":"`+srv.Domain()+`"}`)
	require.Equal(t, http.StatusOK, status)
	reqs := srv.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "users_info", reqs[0].Operation)
	assert.Equal(t, http.MethodPost, reqs[0].Method)
	assert.Equal(t, "/users_info", reqs[0].Path)
	assert.Equal(t, srv.ClientID(), reqs[0].Header.Get("X-Client-ID"))
	assert.JSONEq(t, `{"domain":"`+srv.Domain()+`"}`, string(reqs[0].Body))
	assert.WithinDuration(t, time.Now(), reqs[0].At, time.Minute)
	api := srv.APIRequests()
	require.Len(t, api, 1)
	assert.Equal(t, reqs[0], api[0].Request)
	assert.True(t, api[0].SignatureOK)
	assert.Equal(t, http.StatusOK, api[0].Status)
	assert.Equal(t, map[string]string{"domain": srv.Domain()}, api[0].Params)
}
