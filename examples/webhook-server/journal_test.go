package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/examples/internal/keeper"
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/journal/sqlitestore"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	pztest "github.com/pbxkit/pbxkit/prostiezvonki/prostiezvonkitest"
	"github.com/pbxkit/pbxkit/sipuni/sipunitest"
)

const testToken = "s3cret-journal-token"

// sipuniDSN is the DSN of a client of the fake (with its webhook token).
func sipuniDSN(sip *sipunitest.Server) string { return sip.DSN() }

// journalServer is webhook-server's handler with a SQLite journal and a
// Sipuni fake playing calls at it.
type journalServer struct {
	URL   string
	sip   *sipunitest.Server
	j     *journal.Journal
	store *sqlitestore.Store
	logs  *syncBuffer
}

func startJournalServer(t *testing.T, token string) *journalServer {
	t.Helper()
	sip := sipunitest.NewServer(sipunitest.Options{WebhookToken: "T"})
	t.Cleanup(sip.Close)
	store, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "journal.db"))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	j := journal.New(store)
	logs := &syncBuffer{}
	s, err := newHandler(config{dsns: []string{sipuniDSN(sip)}, digits: 10, journalToken: token}, j, slog.New(slog.NewJSONHandler(logs, nil)))
	require.NoError(t, err)
	srv := httptest.NewServer(s.handler)
	t.Cleanup(srv.Close)
	return &journalServer{URL: srv.URL, sip: sip, j: j, store: store, logs: logs}
}

// play plays call at the server's Sipuni webhook.
func (s *journalServer) play(t *testing.T, call pbxtest.Call) pbxtest.Played {
	t.Helper()
	res, err := s.sip.Play(context.Background(), s.URL+"/pbx/sipuni/", call)
	require.NoError(t, err)
	return res
}

// get sends GET path with the token as a Bearer header (when not empty)
// and returns the status and body.
func (s *journalServer) get(t *testing.T, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// wireCall is what the API's JSON says of a call.
type wireCall struct {
	Provider     string  `json:"provider"`
	CallID       string  `json:"call_id"`
	Direction    string  `json:"direction"`
	Phone        string  `json:"phone"`
	Outcome      string  `json:"outcome"`
	Missed       bool    `json:"missed"`
	AnsweredBy   string  `json:"answered_by"`
	TalkSeconds  float64 `json:"talk_seconds"`
	StartedAt    string  `json:"started_at"`
	CalledBackBy string  `json:"called_back_by"`
	Legs         []struct {
		Extension string `json:"extension"`
	} `json:"legs"`
}

// calls GETs a call list and decodes it, requiring 200.
func (s *journalServer) calls(t *testing.T, path string) ([]wireCall, bool) {
	t.Helper()
	status, body := s.get(t, path, testToken)
	require.Equal(t, http.StatusOK, status, body)
	var ans struct {
		Calls []wireCall `json:"calls"`
		More  *bool      `json:"more"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &ans), body)
	require.NotNil(t, ans.Calls, "an empty list is [], not null: %s", body)
	require.NotNil(t, ans.More, body)
	return ans.Calls, *ans.More
}

func callIDs(calls []wireCall) []string {
	ids := make([]string, len(calls))
	for i, c := range calls {
		ids[i] = c.CallID
	}
	return ids
}

// TestJournalAPIOffWithoutToken: with no token configured (or no journal)
// the endpoints do not exist, whatever token a request brings.
func TestJournalAPIOffWithoutToken(t *testing.T) {
	s := startJournalServer(t, "")
	s.play(t, pbxtest.Call{Scenario: pbxtest.MissedIncoming})
	for _, path := range []string{"/journal/calls", "/journal/missed", "/journal/stats", "/journal/calls?token=", "/journal/calls?token=x"} {
		for _, tok := range []string{"", "x"} {
			status, body := s.get(t, path, tok)
			assert.Equal(t, http.StatusNotFound, status, "%s: %s", path, body)
			assert.NotContains(t, body, pbxtest.DefaultCaller)
		}
	}

	// A token but no journal: off as well.
	sip := sipunitest.NewServer(sipunitest.Options{WebhookToken: "T"})
	t.Cleanup(sip.Close)
	h, err := newHandler(config{dsns: []string{sipuniDSN(sip)}, digits: 10, journalToken: testToken}, nil, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	assert.False(t, h.journalAPI)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/journal/calls", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	h.handler.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusNotFound, rec.Code)
}

// TestJournalAPIToken: a missing or wrong token gets 401 and no data; the
// right one, in the header or the query, gets JSON.
func TestJournalAPIToken(t *testing.T) {
	s := startJournalServer(t, testToken)
	s.play(t, pbxtest.Call{Scenario: pbxtest.MissedIncoming})

	for _, path := range []string{"/journal/calls", "/journal/missed", "/journal/stats"} {
		for name, req := range map[string]func(*http.Request){
			"none":         func(*http.Request) {},
			"wrong bearer": func(r *http.Request) { r.Header.Set("Authorization", "Bearer wrong") },
			"prefix":       func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testToken[:5]) },
			"longer":       func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testToken+"x") },
			"basic scheme": func(r *http.Request) { r.Header.Set("Authorization", "Basic "+testToken) },
			"wrong query":  func(r *http.Request) { r.URL.RawQuery = "token=wrong" },
			"empty query":  func(r *http.Request) { r.URL.RawQuery = "token=" },
			"header wins": func(r *http.Request) {
				r.Header.Set("Authorization", "Bearer wrong")
				r.URL.RawQuery = "token=" + testToken
			},
			"other header":  func(r *http.Request) { r.Header.Set("X-Token", testToken) },
			"token in path": func(r *http.Request) { r.URL.Path += "/" + testToken },
		} {
			r, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
			require.NoError(t, err)
			req(r)
			resp, err := http.DefaultClient.Do(r)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if name == "token in path" {
				assert.Equal(t, http.StatusNotFound, resp.StatusCode, path)
				continue
			}
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s %s", path, name)
			assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer", name)
			assert.NotContains(t, string(body), pbxtest.DefaultCaller, name)
			assert.NotContains(t, string(body), testToken, name)
		}

		status, body := s.get(t, path, testToken)
		assert.Equal(t, http.StatusOK, status, body)
		assert.True(t, json.Valid([]byte(body)), body)
		status, body = s.get(t, path+"?token="+testToken, "")
		assert.Equal(t, http.StatusOK, status, body)
	}
	assert.NotContains(t, s.logs.String(), testToken, "the token is never logged")
	assert.Contains(t, s.logs.String(), "journal API: request with a missing or wrong token rejected")

	// Only GET.
	resp, err := http.Post(s.URL+"/journal/calls?token="+testToken, "text/plain", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

// day returns noon of 2024-05-01 + n days in the server's zone.
func day(n int) time.Time { return time.Date(2024, 5, 1+n, 12, 0, 0, 0, time.Local) }

// TestJournalAPICallsAndFilters plays calls through the Sipuni fake and
// checks each filter of /journal/calls and /journal/stats.
func TestJournalAPICallsAndFilters(t *testing.T) {
	s := startJournalServer(t, testToken)
	const (
		alpha = "79031111111"
		beta  = "79032222222"
		gamma = "79033333333"
	)
	answered := s.play(t, pbxtest.Call{Scenario: pbxtest.GroupRing, Caller: alpha, Extensions: []string{"101", "102"}, Start: day(0), Talk: 95 * time.Second})
	missed := s.play(t, pbxtest.Call{Scenario: pbxtest.MissedIncoming, Caller: beta, Extensions: []string{"102"}, Start: day(0).Add(time.Hour)})
	outbound := s.play(t, pbxtest.Call{Scenario: pbxtest.OutboundCallback, Caller: gamma, Extensions: []string{"103"}, Start: day(1)})
	require.Equal(t, "101", answered.AnsweredBy)

	all, more := s.calls(t, "/journal/calls")
	assert.Equal(t, []string{outbound.CallID, missed.CallID, answered.CallID}, callIDs(all), "newest first")
	assert.False(t, more)
	c := all[2]
	assert.Equal(t, "sipuni", c.Provider)
	assert.Equal(t, "inbound", c.Direction)
	assert.Equal(t, alpha, c.Phone)
	assert.Equal(t, "answered", c.Outcome)
	assert.Equal(t, "101", c.AnsweredBy)
	assert.Equal(t, 95.0, c.TalkSeconds, "journal.Call's own JSON: durations in seconds")
	assert.Len(t, c.Legs, 2)
	st, err := time.Parse(time.RFC3339, c.StartedAt)
	require.NoError(t, err)
	assert.True(t, st.Equal(day(0)), c.StartedAt)

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"direction=inbound", []string{missed.CallID, answered.CallID}},
		{"direction=outbound", []string{outbound.CallID}},
		{"direction=internal", nil},
		{"outcome=missed", []string{missed.CallID}},
		{"outcome=answered", []string{outbound.CallID, answered.CallID}},
		{"missed=1", []string{missed.CallID}},
		{"missed=0", []string{outbound.CallID, missed.CallID, answered.CallID}},
		{"open=1", nil},
		{"provider=sipuni", []string{outbound.CallID, missed.CallID, answered.CallID}},
		{"provider=rostelecom", nil},
		{"extension=102", []string{missed.CallID, answered.CallID}},
		{"extension=103", []string{outbound.CallID}},
		{"extension=109", nil},
		{"phone=" + url.QueryEscape("+7 (903) 222-22-22"), []string{missed.CallID}},
		{"phone=8" + gamma[1:], []string{outbound.CallID}},
		{"from=2024-05-01&to=2024-05-01", []string{missed.CallID, answered.CallID}},
		{"from=2024-05-02", []string{outbound.CallID}},
		{"to=2024-05-01", []string{missed.CallID, answered.CallID}},
		{"from=2024-05-03", nil},
		{"from=" + url.QueryEscape(day(0).Add(30*time.Minute).Format(time.RFC3339)), []string{outbound.CallID, missed.CallID}},
		{"to=" + url.QueryEscape(day(0).Add(time.Hour).Format(time.RFC3339)), []string{answered.CallID}},
		{"from=" + day(0).Add(30*time.Minute).UTC().Format(time.RFC3339) + "&to=" + day(1).UTC().Format(time.RFC3339), []string{missed.CallID}},
		{"extension=102&outcome=answered", []string{answered.CallID}},
		{"limit=2", []string{outbound.CallID, missed.CallID}},
		{"limit=3", []string{outbound.CallID, missed.CallID, answered.CallID}},
		{"direction=", []string{outbound.CallID, missed.CallID, answered.CallID}},
	} {
		got, more := s.calls(t, "/journal/calls?"+tc.query)
		assert.Equal(t, tc.want, nilIfEmpty(callIDs(got)), tc.query)
		assert.Equal(t, tc.query == "limit=2", more, "more: %s", tc.query)
	}

	// A + in an offset sent unescaped arrives as a space: still read.
	plus := day(0).Add(30 * time.Minute).In(time.FixedZone("", 3*3600)).Format(time.RFC3339)
	require.Contains(t, plus, "+03:00")
	got, _ := s.calls(t, "/journal/calls?from="+plus)
	assert.Equal(t, []string{outbound.CallID, missed.CallID}, callIDs(got))

	// Stats.
	status, body := s.get(t, "/journal/stats?from=2024-05-01&to=2024-05-01", testToken)
	require.Equal(t, http.StatusOK, status, body)
	var stats struct {
		Employees []struct {
			Extension   string  `json:"extension"`
			Offered     int     `json:"offered"`
			Answered    int     `json:"answered"`
			Missed      int     `json:"missed"`
			TalkSeconds float64 `json:"talk_seconds"`
		} `json:"employees"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &stats), body)
	byExt := map[string][4]float64{}
	for _, e := range stats.Employees {
		byExt[e.Extension] = [4]float64{float64(e.Offered), float64(e.Answered), float64(e.Missed), e.TalkSeconds}
	}
	assert.Equal(t, map[string][4]float64{
		"101": {1, 1, 0, 95},
		"102": {2, 0, 1, 0},
	}, byExt, body)

	status, body = s.get(t, "/journal/stats?extension=103", testToken)
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `"extension":"103"`)
	assert.NotContains(t, body, `"extension":"101"`)
	status, body = s.get(t, "/journal/stats?from=2024-06-01", testToken)
	require.Equal(t, http.StatusOK, status, body)
	assert.JSONEq(t, `{"employees":[]}`, body)
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// TestJournalAPIMissedCalls: a missed call played through the fake shows
// in /journal/missed (answered ones do not), and once an employee called
// the number back, not_called_back=1 leaves it out.
func TestJournalAPIMissedCalls(t *testing.T) {
	s := startJournalServer(t, testToken)
	const caller = "79035555555"
	now := time.Now().Add(-time.Hour).Truncate(time.Second)
	missed := s.play(t, pbxtest.Call{Scenario: pbxtest.MissedIncoming, Caller: caller, Extensions: []string{"101", "102"}, Start: now})
	s.play(t, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, Caller: "79036666666", Start: now.Add(time.Minute)})

	today := time.Now().Format(time.DateOnly)
	list, _ := s.calls(t, "/journal/missed?from="+today+"&to="+today)
	require.Equal(t, []string{missed.CallID}, callIDs(list))
	assert.True(t, list[0].Missed)
	assert.Equal(t, "inbound", list[0].Direction)
	assert.Equal(t, caller, list[0].Phone)
	assert.Equal(t, "missed", list[0].Outcome)
	assert.Len(t, list[0].Legs, 2, "both phones that rang")
	list, _ = s.calls(t, "/journal/missed?not_called_back=1")
	assert.Equal(t, []string{missed.CallID}, callIDs(list))
	list, _ = s.calls(t, "/journal/missed?extension=102")
	assert.Equal(t, []string{missed.CallID}, callIDs(list))
	list, _ = s.calls(t, "/journal/missed?extension=103")
	assert.Empty(t, list)

	// Employee 103 calls the client back, and the client answers.
	s.play(t, pbxtest.Call{Scenario: pbxtest.OutboundCallback, Caller: caller, Extensions: []string{"103"}, Start: now.Add(10 * time.Minute)})
	list, _ = s.calls(t, "/journal/missed?not_called_back=1")
	assert.Empty(t, list, "called back")
	list, _ = s.calls(t, "/journal/missed")
	require.Equal(t, []string{missed.CallID}, callIDs(list))
	assert.Equal(t, "103", list[0].CalledBackBy)
}

// TestJournalAPIBadParameters: every bad parameter is a 400 whose error
// names it; nothing is half-answered.
func TestJournalAPIBadParameters(t *testing.T) {
	s := startJournalServer(t, testToken)
	for _, tc := range []struct{ path, mention string }{
		{"/journal/calls?from=yesterday", "from"},
		{"/journal/calls?to=2024-13-01", "to"},
		{"/journal/calls?from=2024-05-01T10:00:00", "from"},
		{"/journal/calls?from=2024-05-02&to=2024-05-01", "must be after"},
		{"/journal/calls?from=2024-05-01T10:00:00Z&to=2024-05-01T10:00:00Z", "must be after"},
		{"/journal/calls?direction=sideways", "direction"},
		{"/journal/calls?direction=unknown", "direction"},
		{"/journal/calls?outcome=great", "outcome"},
		{"/journal/calls?outcome=unknown", "outcome"},
		{"/journal/calls?limit=0", "limit"},
		{"/journal/calls?limit=1001", "limit"},
		{"/journal/calls?limit=-5", "limit"},
		{"/journal/calls?limit=ten", "limit"},
		{"/journal/calls?missed=maybe", "missed"},
		{"/journal/calls?not_called_back=2", "not_called_back"},
		{"/journal/calls?phone=anna", "phone"},
		{"/journal/calls?limt=5", "limt"},
		{"/journal/calls?provider=sipuni&provider=mango", "provider"},
		{"/journal/calls?extension=" + strings.Repeat("1", 201), "extension"},
		{"/journal/stats?limit=10", "limit"},
		{"/journal/missed?direction=outbound", "direction"},
		{"/journal/missed?limit=5000", "limit"},
	} {
		status, body := s.get(t, tc.path, testToken)
		assert.Equal(t, http.StatusBadRequest, status, tc.path)
		var e struct{ Error string }
		require.NoError(t, json.Unmarshal([]byte(body), &e), body)
		assert.Contains(t, e.Error, tc.mention, tc.path)
	}
	got, _ := s.calls(t, "/journal/calls?limit=1000")
	assert.Empty(t, got, "the maximum is allowed")
}

// failingStore is a journal store whose Append fails, like a full disk.
type failingStore struct{ *journal.MemoryStore }

func (failingStore) Append(context.Context, journal.Entry, journal.FoldFunc) (journal.Entry, bool, error) {
	return journal.Entry{}, false, errors.New("disk full")
}

// TestFailingStoreGivesThePBX5xx: when the journal cannot store an event
// the PBX gets a 5xx, never a 200, so that it redelivers; the event is not
// logged as taken. The journal API reports the failure as a 500 too.
func TestFailingStoreGivesThePBX5xx(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) journal.Store{
		"closed sqlite": func(t *testing.T) journal.Store {
			store, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "journal.db"))
			require.NoError(t, err)
			require.NoError(t, store.Close()) // closed underneath the journal
			return store
		},
		"append fails": func(*testing.T) journal.Store { return failingStore{journal.NewMemoryStore()} },
	} {
		t.Run(name, func(t *testing.T) {
			sip := sipunitest.NewServer(sipunitest.Options{WebhookToken: "T"})
			t.Cleanup(sip.Close)
			logs := &syncBuffer{}
			h, err := newHandler(config{dsns: []string{sipuniDSN(sip)}, digits: 10, journalToken: testToken},
				journal.New(open(t)), slog.New(slog.NewJSONHandler(logs, nil)))
			require.NoError(t, err)
			srv := httptest.NewServer(h.handler)
			t.Cleanup(srv.Close)

			// A whole call played by the fake: it stops at the first non-2xx.
			_, err = sip.Play(context.Background(), srv.URL+"/pbx/sipuni/", pbxtest.Call{Scenario: pbxtest.MissedIncoming, SkipRouting: true})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "500")

			// Each event type, sent alone.
			for _, ev := range []string{"1", "2", "3", "4"} {
				resp, err := http.Get(srv.URL + "/pbx/sipuni/?token=T&event=" + ev + "&call_id=c1&src_num=79031234567&src_type=1&dst_num=012345101&dst_type=2&short_dst_num=101&status=NOANSWER&timestamp=1714554000")
				require.NoError(t, err)
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				assert.GreaterOrEqual(t, resp.StatusCode, 500, "event %s: %s", ev, body)
				assert.NotContains(t, string(body), `"success":true`)
			}
			assert.NotContains(t, logs.String(), `"msg":"call event"`, "an event the journal did not take is not logged as taken")

			status, body := (&journalServer{URL: srv.URL}).get(t, "/journal/calls", testToken)
			if name == "closed sqlite" {
				assert.Equal(t, http.StatusInternalServerError, status, body)
				assert.NotContains(t, body, "sqlite", "no internals in the answer")
			}
		})
	}
}

// TestEventHandlerJournalFirst: the journal takes the event before it is
// logged, and a journal without error lets the event log see it.
func TestEventHandlerJournalFirst(t *testing.T) {
	logs := &syncBuffer{}
	j := journal.New(journal.NewMemoryStore())
	h := eventHandler(j, slog.New(slog.NewJSONHandler(logs, nil)))
	e := pbx.CallEvent{Provider: "sipuni", Type: pbx.EventRinging, CallID: "c1", Direction: pbx.Inbound, Phone: "79031234567", Extension: "101", At: time.Now()}
	require.NoError(t, h.HandleEvent(context.Background(), e))
	require.NoError(t, h.HandleEvent(context.Background(), e), "a redelivery is acknowledged")
	entries := 0
	for _, err := range j.Entries(context.Background(), 0) {
		require.NoError(t, err)
		entries++
	}
	assert.Equal(t, 1, entries, "stored once")
	assert.Equal(t, 2, strings.Count(logs.String(), `"msg":"call event"`))

	// No journal: the event log alone.
	require.NoError(t, eventHandler(nil, slog.New(slog.NewJSONHandler(logs, nil))).HandleEvent(context.Background(), e))
	assert.Equal(t, 3, strings.Count(logs.String(), `"msg":"call event"`))
}

// TestKeeper: the background work reconciles every provider with a history
// export on start, closes idle calls periodically, logs a failing
// reconcile without stopping, skips providers without history, and stops
// when its context ends.
func TestKeeper(t *testing.T) {
	sip := sipunitest.NewServer(sipunitest.Options{WebhookToken: "T"})
	t.Cleanup(sip.Close)
	now := time.Now().Truncate(time.Second)
	sip.SetHistory([]sipunitest.HistoryEntry{
		{RecordID: "h1", Type: "Входящий", Status: "не отвечен", Time: now.Add(-3 * time.Hour), From: "79031234567", To: "101", Ringed: []string{"101"}, CallDuration: 20 * time.Second},
		{RecordID: "h2", Type: "Входящий", Status: "отвечен", Time: now.Add(-30 * time.Hour), From: "79037654321", To: "102", AnsweredBy: "102", CallDuration: 60 * time.Second, TalkDuration: 50 * time.Second},
	})
	pz := pztest.NewServer(pztest.Options{})
	t.Cleanup(pz.Close)
	broken := sipunitest.NewServer(sipunitest.Options{Account: "999999"})
	brokenDSN := sipuniDSN(broken)
	broken.Close() // its history export fails

	var providers []pbx.Provider
	for _, dsn := range []string{sipuniDSN(sip), pz.DSN(), brokenDSN} {
		h, err := newHandler(config{dsns: []string{dsn}, digits: 10}, nil, slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		providers = append(providers, h.providers...)
	}
	j := journal.New(journal.NewMemoryStore(), journal.WithIdleTimeout(time.Hour))
	// A call that rang two hours ago and never ended.
	require.NoError(t, j.HandleEvent(context.Background(), pbx.CallEvent{Provider: "sipuni", Type: pbx.EventRinging, CallID: "stuck",
		Direction: pbx.Inbound, Phone: "79030000000", Extension: "101", At: now.Add(-2 * time.Hour)}))

	logs := &syncBuffer{}
	k := keeper.New(j, providers, slog.New(slog.NewJSONHandler(logs, nil)))
	k.IdleEvery, k.ReconcileEvery = 20*time.Millisecond, 50*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	wait := k.Start(ctx)
	deadline := time.Now().Add(20 * time.Second)
	var stuck journal.Call
	for time.Now().Before(deadline) {
		stuck, _ = j.Call(context.Background(), "sipuni", "stuck")
		if stuck.ClosedBy == journal.ClosedByTimeout && strings.Count(logs.String(), `"msg":"journal: reconciled"`) >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	done := make(chan struct{})
	go func() { wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the keeper did not stop after its context ended")
	}

	assert.Equal(t, journal.ClosedByTimeout, stuck.ClosedBy, "closed as idle")
	h1, err := j.Call(context.Background(), "sipuni", "h1")
	require.NoError(t, err, "the start reconcile covers the last 24 hours")
	assert.Equal(t, journal.ClosedByHistory, h1.ClosedBy)
	_, err = j.Call(context.Background(), "sipuni", "h2")
	assert.ErrorIs(t, err, journal.ErrNotFound, "older than 24 hours")

	out := logs.String()
	assert.Contains(t, out, `"msg":"journal: reconciled","provider":"sipuni"`)
	assert.Contains(t, out, `"added":1`)
	assert.Contains(t, out, `"msg":"journal: reconcile failed"`, "the broken provider is logged, and the loop goes on")
	assert.Contains(t, out, `"msg":"journal: idle calls closed","calls":1`)
	assert.NotContains(t, out, "prostiezvonki", "no history export: skipped")
	assert.NotContains(t, out, broken.Secret())
}

// TestRunWithJournal: run opens the SQLite journal, reconciles on start,
// serves the journal API with the token from the environment, stores
// played calls, and on shutdown stops and closes the store, whose data is
// then readable by another opener.
func TestRunWithJournal(t *testing.T) {
	sip := sipunitest.NewServer(sipunitest.Options{WebhookToken: "T"})
	t.Cleanup(sip.Close)
	db := filepath.Join(t.TempDir(), "pbxkit.db")
	env := func(k string) string {
		return map[string]string{"PBXKIT_JOURNAL_TOKEN": testToken}[k]
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-provider", sipuniDSN(sip), "-journal", db}, env, logs, io.Discard)
	}()
	addr := waitListening(t, logs)
	history := len(sip.History())
	require.NotZero(t, history, "the fake has a call log")
	waitFor(t, logs, `"msg":"journal: reconciled"`)

	s := &journalServer{URL: "http://" + addr, sip: sip}
	played := s.play(t, pbxtest.Call{Scenario: pbxtest.MissedIncoming})
	calls, _ := s.calls(t, "/journal/missed?limit=1000")
	assert.Contains(t, callIDs(calls), played.CallID)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
	assert.NotContains(t, logs.String(), "closing the store failed")
	assert.NotContains(t, logs.String(), testToken)

	store, err := sqlitestore.Open(context.Background(), db)
	require.NoError(t, err)
	defer store.Close()
	c, err := journal.New(store).Call(context.Background(), "sipuni", played.CallID)
	require.NoError(t, err)
	assert.True(t, c.Missed)
	n := 0
	for _, err := range journal.New(store).Calls(context.Background(), journal.Query{}) {
		require.NoError(t, err)
		n++
	}
	assert.GreaterOrEqual(t, n, history, "the fake's call log was reconciled into the journal")
}

// waitListening waits for run's "listening" line and returns the address.
func waitListening(t *testing.T, logs *syncBuffer) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(logs.String(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				return rec.Addr
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no listening line in %s", logs.String())
	return ""
}

// waitFor waits until the logs contain s.
func waitFor(t *testing.T, logs *syncBuffer, s string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(logs.String(), s) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %s in the logs: %s", s, logs.String())
}

// TestOpenJournalErrors: a journal that cannot be opened stops run before
// it listens, with an error that names it and carries no password.
func TestOpenJournalErrors(t *testing.T) {
	sip := sipunitest.NewServer(sipunitest.Options{WebhookToken: "T"})
	t.Cleanup(sip.Close)
	for _, tc := range []struct{ journal, want string }{
		{"postgres://pbxkit:TOPSECRET@127.0.0.1:1/pbxkit?connect_timeout=2", "journal postgres://127.0.0.1:1/pbxkit"},
		{"postgresql://pbxkit:TOPSECRET@127.0.0.1:1/pbxkit?connect_timeout=2", "journal postgresql://127.0.0.1:1/pbxkit"},
		{filepath.Join(t.TempDir(), "no", "such", "dir", "j.db"), "journal "},
	} {
		logs := &syncBuffer{}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := run(ctx, []string{"-addr", "127.0.0.1:0", "-provider", sip.DSN(), "-journal", tc.journal}, noEnv, logs, io.Discard)
		cancel()
		require.Error(t, err, tc.journal)
		assert.True(t, strings.HasPrefix(err.Error(), tc.want), err.Error())
		assert.NotContains(t, err.Error()+logs.String(), "TOPSECRET")
		assert.NotContains(t, logs.String(), `"msg":"listening"`)
	}
}
