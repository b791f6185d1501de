package sipuni_test

import (
	"context"
	"crypto/md5"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/sipuni"
	"github.com/pbxkit/pbxkit/sipuni/sipunitest"
)

const (
	e2eToken = "hook-token-5d1"
	e2eUser  = "sipuni"
	e2ePass  = "123-secret"
)

type collector struct {
	mu     sync.Mutex
	events []pbx.CallEvent
	done   chan struct{} // closed on the first EventCallEnded
	once   sync.Once
}

func newCollector() *collector { return &collector{done: make(chan struct{})} }

func (c *collector) HandleEvent(_ context.Context, e pbx.CallEvent) error {
	c.mu.Lock()
	c.events = append(c.events, e)
	c.mu.Unlock()
	if e.Type == pbx.EventCallEnded {
		c.once.Do(func() { close(c.done) })
	}
	return nil
}

func (c *collector) types() []pbx.EventType {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ts []pbx.EventType
	for _, e := range c.events {
		ts = append(ts, e.Type)
	}
	return ts
}

func (c *collector) all() []pbx.CallEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]pbx.CallEvent(nil), c.events...)
}

// setup starts the fake, a client pointed at it, and the client's webhook
// behind an httptest server.
func setup(t *testing.T, opts sipunitest.Options, cfg sipuni.Config, router pbx.Router) (*sipunitest.Server, *sipuni.Client, *collector, string) {
	t.Helper()
	srv := sipunitest.NewServer(opts)
	t.Cleanup(srv.Close)
	cfg.Account, cfg.Secret, cfg.BaseURL = srv.Account(), srv.Secret(), srv.URL()
	c, err := sipuni.New(cfg)
	require.NoError(t, err)
	col := newCollector()
	hook := httptest.NewServer(c.WebhookHandler(col, router))
	t.Cleanup(hook.Close)
	return srv, c, col, hook.URL + "/sipuni"
}

func TestE2EClickToCall(t *testing.T) {
	srv, c, col, hook := setup(t, sipunitest.Options{WebhookToken: e2eToken}, sipuni.Config{WebhookToken: e2eToken}, nil)
	srv.SetWebhook(hook)
	ordered := time.Now()
	res, err := c.MakeCall(context.Background(), pbx.CallRequest{Extension: "102", Phone: "8 (916) 555-12-34"})
	require.NoError(t, err)
	assert.Empty(t, res.CallID, "Sipuni returns no id the events carry")
	assert.Len(t, res.OrderID, 32, "the order id")

	select {
	case <-col.done:
	case <-time.After(5 * time.Second):
		t.Fatal("no call_ended event")
	}
	assert.Equal(t, []pbx.EventType{pbx.EventRinging, pbx.EventRinging, pbx.EventAnswered, pbx.EventCallEnded}, col.types())
	evs := col.all()
	assert.Equal(t, evs[0].DedupeKey, evs[1].DedupeKey, "Sipuni's repeated event 1")
	assert.NotEqual(t, evs[0].At, evs[1].At)

	// The correlation MakeCall documents: the first ringing after the order
	// with its extension and number gives the call id; every event of the
	// call, the final one without any party included, carries it.
	var callID string
	for _, e := range evs {
		if e.Type == pbx.EventRinging && e.Extension == "102" && e.Phone == "79165551234" {
			callID = e.CallID
			break
		}
	}
	require.NotEmpty(t, callID)
	for _, e := range evs {
		assert.Equal(t, callID, e.CallID)
		assert.Equal(t, pbx.Outbound, e.Direction)
		assert.Equal(t, "102", e.Extension)
		if e.Type != pbx.EventCallEnded {
			assert.Equal(t, "79165551234", e.Phone)
		}
	}
	end := evs[3]
	assert.Empty(t, end.Phone, "event 2 of a click-to-call names no party")
	assert.Equal(t, pbx.OutcomeAnswered, end.Outcome)
	assert.Equal(t, pbxtest.DefaultTalk, end.TalkDuration)
	assert.Equal(t, end.EndedAt.Sub(end.AnsweredAt), end.TalkDuration)
	assert.Equal(t, pbxtest.DefaultRing+pbxtest.DefaultTalk, end.CallDuration, "the default ringing and talk")
	assert.True(t, end.HasRecording)

	// Afterwards, the export's "ID заказа звонка" ties the order to the call.
	var matched int
	for rec, err := range c.History(context.Background(), pbx.HistoryQuery{From: ordered.Add(-time.Minute), To: time.Now().Add(time.Minute)}) {
		require.NoError(t, err)
		if rec.Raw.(*sipuni.StatisticsRow).OrderID == res.OrderID {
			matched++
			assert.Equal(t, callID, rec.CallID)
			assert.Equal(t, pbxtest.DefaultTalk, rec.TalkDuration)
			assert.Equal(t, pbxtest.DefaultRing+pbxtest.DefaultTalk, rec.CallDuration)
		}
	}
	assert.Equal(t, 1, matched)

	// The request the fake received, and the recording of the call.
	reqs := srv.APIRequests()
	require.NotEmpty(t, reqs)
	calls := 0
	for _, r := range reqs {
		if r.Operation == "callback/call_number" {
			calls++
		}
	}
	assert.Equal(t, 1, calls, "sent once")
	assert.Equal(t, "callback/call_number", reqs[0].Operation)
	assert.True(t, reqs[0].HashOK)
	assert.Equal(t, "79165551234", reqs[0].Params.Get("phone"))
	rec, err := c.FetchRecording(context.Background(), end.CallID)
	require.NoError(t, err)
	n, err := io.Copy(io.Discard, rec.Body)
	require.NoError(t, err)
	require.NoError(t, rec.Body.Close())
	assert.Equal(t, int64(sipunitest.DefaultRecordingSize), n)
	assert.Equal(t, "audio/mpeg", rec.ContentType)

	require.Eventually(t, func() bool { return len(srv.Plays()) == 1 }, 5*time.Second, 5*time.Millisecond)
	plays := srv.Plays()
	assert.NoError(t, plays[0].Err)
	assert.False(t, plays[0].Asked, "no routing question on a callback")
}

func TestE2EIncoming(t *testing.T) {
	responsible := pbx.RouterFunc(func(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) {
		if q.Phone == "79031234567" {
			return pbx.Route{Extension: "103", DisplayName: "ООО Ромашка"}, nil
		}
		return pbx.Route{}, nil
	})
	ring, talk := 8*time.Second, 95*time.Second
	tests := []struct {
		name       string
		call       pbxtest.Call
		wantTypes  []pbx.EventType
		wantChoice int
		wantRung   []string
		wantExt    string // extension of the final event
		outcome    pbx.Outcome
		wantTalk   time.Duration
		wantCall   time.Duration
	}{
		{
			name:       "known caller routed to the responsible manager",
			call:       pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, Caller: "79031234567", Ring: ring, Talk: talk},
			wantTypes:  []pbx.EventType{pbx.EventRinging, pbx.EventAnswered, pbx.EventCallEnded},
			wantChoice: 1, wantRung: []string{"103"}, wantExt: "103", outcome: pbx.OutcomeAnswered,
			wantTalk: 95 * time.Second, wantCall: 103 * time.Second,
		},
		{
			name: "unknown caller: group ring, first answers",
			call: pbxtest.Call{Scenario: pbxtest.GroupRing, Caller: "79160000000", Extensions: []string{"101", "102", "103"}, Ring: ring, Talk: talk},
			wantTypes: []pbx.EventType{pbx.EventRinging, pbx.EventRinging, pbx.EventRinging, pbx.EventRinging,
				pbx.EventAnswered, pbx.EventLegEnded, pbx.EventLegEnded, pbx.EventCallEnded},
			wantChoice: 0, wantRung: []string{"101", "102", "103"}, wantExt: "101", outcome: pbx.OutcomeAnswered,
			wantTalk: 95 * time.Second, wantCall: 103 * time.Second,
		},
		{
			name:       "missed group call",
			call:       pbxtest.Call{Scenario: pbxtest.MissedIncoming, Caller: "79160000000", Extensions: []string{"101", "102"}},
			wantTypes:  []pbx.EventType{pbx.EventRinging, pbx.EventRinging, pbx.EventCallEnded},
			wantChoice: 0, wantRung: []string{"101", "102"}, outcome: pbx.OutcomeMissed,
			wantCall: 20 * time.Second, // the default ringing of a missed call
		},
		{
			name: "transferred from the first to the second",
			call: pbxtest.Call{Scenario: pbxtest.Transfer, Caller: "79160000000", Extensions: []string{"101", "102"}, Ring: ring, Talk: talk},
			wantTypes: []pbx.EventType{pbx.EventRinging, pbx.EventAnswered, pbx.EventLegEnded, pbx.EventRinging,
				pbx.EventAnswered, pbx.EventCallEnded},
			wantChoice: 0, wantRung: []string{"101", "102"}, wantExt: "102", outcome: pbx.OutcomeAnswered,
			// From the first answer to the end: the talk and the second
			// phone's ringing; the call adds the first ringing.
			wantTalk: talk + ring, wantCall: talk + 2*ring,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _, col, hook := setup(t,
				sipunitest.Options{WebhookToken: e2eToken, WebhookUser: e2eUser, WebhookPassword: e2ePass},
				sipuni.Config{WebhookToken: e2eToken, WebhookUser: e2eUser, WebhookPassword: e2ePass}, responsible)
			res, err := srv.PlayWith(context.Background(), hook, tt.call, sipunitest.Extras{})
			require.NoError(t, err)
			assert.True(t, res.Asked)
			assert.Equal(t, tt.wantChoice, res.Choice)
			assert.Equal(t, tt.wantRung, res.Rang)
			assert.Equal(t, tt.wantTypes, col.types())
			evs := col.all()
			seen := map[string]bool{}
			for _, e := range evs {
				assert.Equal(t, pbx.Inbound, e.Direction)
				assert.Equal(t, tt.call.Caller, e.Phone)
				assert.Equal(t, res.CallID, e.CallID)
				if e.Type == pbx.EventRinging {
					seen[e.Extension] = true
				}
			}
			assert.Len(t, seen, len(tt.wantRung), "one ringing per rung phone, repeats aside")
			end := evs[len(evs)-1]
			assert.Equal(t, tt.outcome, end.Outcome)
			assert.Equal(t, tt.wantExt, end.Extension)
			assert.Equal(t, tt.wantTalk, end.TalkDuration)
			assert.Equal(t, tt.wantCall, end.CallDuration)
			if tt.outcome == pbx.OutcomeMissed {
				assert.Equal(t, sipunitest.DefaultLine, end.Line)
				assert.Zero(t, end.AnsweredAt)
				assert.Equal(t, tt.wantRung, end.Raw.(*sipuni.Event).LastCalled)
			} else {
				assert.Equal(t, srv.RecordLink(res.CallID), end.RecordingURL)
				assert.True(t, end.HasRecording)
			}
			if tt.call.Scenario == pbxtest.Transfer {
				assert.Equal(t, "101", end.Raw.(*sipuni.Event).TransferFrom)
				assert.Equal(t, "101", res.AnsweredBy, "who answered first")
			}
			if tt.wantChoice == 1 {
				assert.Equal(t, "ООО Ромашка", res.Route.DisplayName)
				assert.Equal(t, "103", res.Route.Extension)
			}
		})
	}
}

func TestE2EWebhookRejectsFakeWithoutCredentials(t *testing.T) {
	srv, _, col, hook := setup(t, sipunitest.Options{}, sipuni.Config{WebhookToken: e2eToken}, nil)
	_, err := srv.Play(context.Background(), hook, pbxtest.Call{Scenario: pbxtest.MissedIncoming})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "401")
	assert.Empty(t, col.types())
}

func TestE2EBasicAuthInURL(t *testing.T) {
	// The seed's setup: credentials written into the URL given to Sipuni.
	srv, _, col, hook := setup(t, sipunitest.Options{}, sipuni.Config{WebhookUser: e2eUser, WebhookPassword: e2ePass}, nil)
	u, err := url.Parse(hook)
	require.NoError(t, err)
	u.User = url.UserPassword(e2eUser, e2ePass)
	_, err = srv.Play(context.Background(), u.String(), pbxtest.Call{Scenario: pbxtest.MissedIncoming, Extensions: []string{"101"}})
	require.NoError(t, err)
	assert.Equal(t, []pbx.EventType{pbx.EventRinging, pbx.EventCallEnded}, col.types())
}

func TestE2EHistoryOperatorsAndErrors(t *testing.T) {
	loc := provider.DefaultLocation()
	now := time.Date(2026, 3, 24, 15, 0, 0, 0, loc)
	srv, c, _, _ := setup(t, sipunitest.Options{Clock: func() time.Time { return now }}, sipuni.Config{WebhookToken: e2eToken}, nil)
	ctx := context.Background()

	var recs []pbx.CallRecord
	for rec, err := range c.History(ctx, pbx.HistoryQuery{From: now.Add(-24 * time.Hour), To: now}) {
		require.NoError(t, err)
		recs = append(recs, rec)
	}
	require.Len(t, recs, 4)
	assert.Equal(t, pbx.Inbound, recs[0].Direction)
	assert.Equal(t, "79031234567", recs[0].Phone)
	assert.Equal(t, "101", recs[0].Extension)
	assert.Equal(t, now.Add(-3*time.Hour), recs[0].StartedAt)
	assert.True(t, recs[0].HasRecording)
	assert.Equal(t, pbx.OutcomeMissed, recs[1].Outcome)
	assert.Equal(t, pbx.Outbound, recs[2].Direction)
	assert.Equal(t, "102", recs[2].Extension)
	assert.Equal(t, pbx.Internal, recs[3].Direction)

	var inbound int
	for rec, err := range c.History(ctx, pbx.HistoryQuery{From: now.Add(-24 * time.Hour), To: now, Direction: pbx.Inbound}) {
		require.NoError(t, err)
		assert.Equal(t, pbx.Inbound, rec.Direction)
		inbound++
	}
	assert.Equal(t, 2, inbound)

	// Every request the fake got was correctly signed, History's included.
	for _, r := range srv.APIRequests() {
		assert.True(t, r.HashOK, r.Operation)
		assert.Equal(t, "1", r.Params.Get("ignoreSpecChar"))
	}

	rows, err := c.ExportStatistics(ctx, sipuni.ExportRequest{From: now, To: now, Names: true, NumbersRinged: true, State: sipuni.MissedCalls})
	require.NoError(t, err)
	require.Len(t, rows, 1)
	assert.Equal(t, "101,102", rows[0].Ringed)

	subs, err := c.Subscribers(ctx)
	require.NoError(t, err)
	require.Len(t, subs, len(pbxtest.Employees()))
	assert.Equal(t, pbx.Subscriber{Extension: "101", Login: "101", Name: pbxtest.Employees()[0].Name, Raw: subs[0].Raw}, subs[0])

	// A recording not written yet, and one that does not exist.
	srv.SetRecordingPending("1.1")
	_, err = c.Record(ctx, "1.1")
	assert.ErrorIs(t, err, pbx.ErrNotReady)
	_, err = c.Record(ctx, "9.9")
	var ae *provider.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusNotFound, ae.StatusCode)
	assert.False(t, errors.Is(err, pbx.ErrNotReady))
}

func TestE2ELegacyCSV(t *testing.T) {
	now := time.Date(2026, 3, 24, 15, 0, 0, 0, provider.DefaultLocation())
	_, c, _, _ := setup(t, sipunitest.Options{LegacyCSV: true, Clock: func() time.Time { return now }}, sipuni.Config{WebhookToken: e2eToken}, nil)
	rows, err := c.ExportStatistics(context.Background(), sipuni.ExportRequest{From: now, To: now})
	require.NoError(t, err)
	require.Len(t, rows, 4)
	assert.Equal(t, 103*time.Second, rows[0].CallDuration, "Продолжительность звонка")
	assert.Equal(t, 95*time.Second, rows[0].TalkDuration)
	assert.False(t, rows[0].HasRecordColumn)
	assert.True(t, rows[0].CallRecord().HasRecording, "an id without the column means a recording")
}

func TestE2EWrongSecret(t *testing.T) {
	srv := sipunitest.NewServer(sipunitest.Options{BadHashStatus: http.StatusOK})
	t.Cleanup(srv.Close)
	c, err := sipuni.New(sipuni.Config{Account: srv.Account(), Secret: "0.wrong-secret", BaseURL: srv.URL(), WebhookToken: "t"})
	require.NoError(t, err)
	ctx := context.Background()
	_, err = c.MakeCall(ctx, pbx.CallRequest{Extension: "101", Phone: "79031234567"})
	assert.ErrorIs(t, err, provider.ErrUnauthorized)
	_, err = c.Subscribers(ctx)
	assert.ErrorIs(t, err, provider.ErrUnauthorized)
	_, err = c.FetchRecording(ctx, "1.1")
	assert.ErrorIs(t, err, provider.ErrUnauthorized)
	for _, err := range c.History(ctx, pbx.HistoryQuery{From: time.Now().Add(-time.Hour)}) {
		assert.ErrorIs(t, err, provider.ErrUnauthorized)
		assert.NotContains(t, err.Error(), "wrong-secret")
	}
	for _, r := range srv.APIRequests() {
		assert.False(t, r.HashOK)
	}

	// The default: an HTML page with HTTP 500; a call is still sent once.
	srv500 := sipunitest.NewServer(sipunitest.Options{})
	t.Cleanup(srv500.Close)
	c, err = sipuni.New(sipuni.Config{Account: srv500.Account(), Secret: "0.wrong-secret", BaseURL: srv500.URL(), WebhookToken: "t"})
	require.NoError(t, err)
	_, err = c.MakeCall(ctx, pbx.CallRequest{Extension: "101", Phone: "79031234567"})
	var ae *provider.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 500, ae.StatusCode)
	assert.ErrorIs(t, err, provider.ErrUnauthorized)
	assert.Len(t, srv500.Requests(), 1)

	// A read rejected the same way is not retried either: resending cannot
	// fix a bad hash.
	_, err = c.Subscribers(ctx)
	assert.ErrorIs(t, err, provider.ErrUnauthorized)
	assert.Len(t, srv500.Requests(), 2)
}

func TestOpenDSN(t *testing.T) {
	srv := sipunitest.NewServer(sipunitest.Options{})
	t.Cleanup(srv.Close)
	dsn := "sipuni://" + srv.Account() + ":" + url.QueryEscape(srv.Secret()) + "@/?webhook_token=T&route_timeout=800ms&base_url=" + url.QueryEscape(srv.URL())
	p, err := provider.Open(dsn)
	require.NoError(t, err)
	assert.Equal(t, "sipuni", p.Name())
	c, ok := p.(*sipuni.Client)
	require.True(t, ok)
	assert.Equal(t, srv.Account(), c.Account())
	_, isCaller := p.(pbx.Caller)
	_, isFetcher := p.(pbx.RecordingFetcher)
	_, isLister := p.(pbx.SubscriberLister)
	_, isExporter := p.(pbx.HistoryExporter)
	assert.True(t, isCaller && isFetcher && isLister && isExporter)
	subs, err := p.(pbx.SubscriberLister).Subscribers(context.Background())
	require.NoError(t, err)
	assert.Len(t, subs, len(pbxtest.Employees()))

	// The documented form opens too (no network is touched).
	p, err = provider.Open("sipuni://012345:SECRET@/?webhook_token=T", provider.WithLocation(time.UTC))
	require.NoError(t, err)
	assert.Equal(t, time.UTC, p.(*sipuni.Client).Location())
	assert.Equal(t, "012345", p.(*sipuni.Client).Account())
	// The DSN's own zone (the account's schemes') wins over WithLocation.
	p2, err := provider.Open("sipuni://012345:SECRET@/?webhook_token=T&location=Asia%2FAlmaty", provider.WithLocation(time.UTC))
	require.NoError(t, err)
	assert.Equal(t, "Asia/Almaty", p2.(*sipuni.Client).Location().String())

	w := httptest.NewRecorder()
	p.WebhookHandler(nil, nil).ServeHTTP(w, httptest.NewRequest("GET", "/?token=T", nil))
	assert.Equal(t, 200, w.Code)
	w = httptest.NewRecorder()
	p.WebhookHandler(nil, nil).ServeHTTP(w, httptest.NewRequest("GET", "/?token=X", nil))
	assert.Equal(t, 401, w.Code)
}

func TestOpenDSNErrors(t *testing.T) {
	const secret = "S3CRET-v4lue"
	tests := []struct{ dsn, want string }{
		{"sipuni://012345@/?webhook_token=T", "no secret"},
		{"sipuni://012345:@/?webhook_token=T", "no secret"},
		{"sipuni://12345:" + secret + "@/?webhook_token=T", "6-digit"},
		{"sipuni://012345:" + secret + "@sipuni.com/?webhook_token=T", "unexpected host"},
		{"sipuni://012345:" + secret + "@/api?webhook_token=T", "unexpected path"},
		{"sipuni://012345:" + secret + "@/?webhook_tokn=" + secret, `"webhook_tokn" (did you mean webhook_token?)`},
		{"sipuni://012345:" + secret + "@/?" + secret + "=1", "unknown query parameter (known"},
		{"sipuni://012345:" + secret + "@/?webhook_token=a&webhook_token=b", "more than once"},
		{"sipuni://012345:" + secret + "@/?route_timeout=" + secret, "route_timeout"},
		{"sipuni://012345:" + secret + "@/?route_timeout=-1s", "route_timeout"},
		{"sipuni://012345:" + secret + "@/?webhook_user=" + secret, "together"},
		{"sipuni://012345:" + secret + "@/?base_url=ftp%3A%2F%2F" + secret, "BaseURL"},
		{"sipuni://012345:" + secret + "@/?webhook_token=%zz" + secret, "query"},
		{"sipuni://012345:" + secret + "@/?webhook_token=T&location=" + secret, "location must be an IANA zone"},
		{"sipuni://012345:" + secret + "@/?webhook_token=T&location=Local", "location must be an IANA zone"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := provider.Open(tt.dsn)
			require.Error(t, err)
			assert.ErrorIs(t, err, provider.ErrBadDSN)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), secret)
			assert.NotContains(t, strings.ToLower(err.Error()), strings.ToLower(secret))
		})
	}
}

// TestE2ERecordingStreams downloads a large recording through the fake and
// the client and checks that neither side held it in memory.
func TestE2ERecordingStreams(t *testing.T) {
	const size = 48 << 20
	srv := sipunitest.NewServer(sipunitest.Options{})
	t.Cleanup(srv.Close)
	srv.AddRecording("1774372584.533596", size)
	c, err := sipuni.New(sipuni.Config{Account: srv.Account(), Secret: srv.Secret(), BaseURL: srv.URL(), WebhookToken: "t"})
	require.NoError(t, err)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rec, err := c.FetchRecording(context.Background(), "1774372584.533596")
	require.NoError(t, err)
	h := md5.New()
	n, err := io.Copy(h, rec.Body)
	require.NoError(t, err)
	require.NoError(t, rec.Body.Close())
	runtime.ReadMemStats(&after)

	assert.Equal(t, int64(size), n)
	assert.Equal(t, int64(size), rec.Size)
	want := md5.New()
	_, _ = io.Copy(want, pbxtest.NewMP3Reader(size))
	assert.Equal(t, want.Sum(nil), h.Sum(nil), "the bytes the fake generated")
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(size/8), "allocated while streaming")
}
