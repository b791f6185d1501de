package main

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx/outbox"
	"github.com/pbxkit/pbxkit/pbx/outbox/outboxtest"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
)

// oneCArgs are the flags of a bridge delivering to rec with basic auth,
// routing every call to 102 (Mango's fake waits half a second for a
// routing decision that does not come).
func oneCArgs(t *testing.T, fakes []pbxtest.Fake, rec *outboxtest.Receiver, journalDSN string) []string {
	t.Helper()
	if journalDSN == "" {
		journalDSN = filepath.Join(t.TempDir(), "bridge.db")
	}
	return append(providerArgs(fakes),
		"-journal", journalDSN,
		"-1c-calls", rec.URL()+"/base/hs/pbx/calls",
		"-1c-user", test1CUser, "-1c-password", test1CPass,
		"-1c-secret", testSecret,
		"-default", "102")
}

// journalLastSeq returns the journal's final version of a call.
func journalLastSeq(t *testing.T, tb *testBridge) func(provider, callID string) int64 {
	return func(provider, callID string) int64 {
		c, err := tb.b.j.Call(context.Background(), provider, callID)
		require.NoError(t, err)
		return c.LastSeq
	}
}

// TestOneCDownForAllCallsThenBack: 1C is down (connection refused) while
// 500 calls are played through every vendor fake, then answers 503 for a
// night (eight hours of the real retry schedule, on the outbox's fake
// clock), then comes back. Every call reaches 1C, each document under one
// webhook-id, in version order per call, the latest one matching the
// journal; the night cost only the down-target probes, not a retry per
// call.
func TestOneCDownForAllCallsThenBack(t *testing.T) {
	const n = 500
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	fakes := startFakes(t)
	rec := outboxtest.NewReceiver(t, []byte(testSecret))
	rec.RequireBasicAuth(test1CUser, test1CPass)
	rec.Set(outboxtest.Behavior{Mode: outboxtest.Down})
	clock := outboxtest.NewClock(time.Now())
	tb := startBridge(t, oneCArgs(t, fakes, rec, ""), seams{outbox: []outbox.Option{outbox.WithClock(clock)}})

	began := time.Now()
	calls := playCalls(ctx, t, fakes, n, func(_ int, f pbxtest.Fake) string { return hook(tb.addr, f) })
	t.Logf("%d calls played through %d vendor fakes in %v", n, len(fakes), time.Since(began).Round(time.Millisecond))
	require.Zero(t, rec.AppliedCount())

	rec.Set(outboxtest.Behavior{Mode: outboxtest.Fail, Status: http.StatusServiceUnavailable})
	before := rec.Requests()
	night := clock.Now().Add(8 * time.Hour)
	until(t, time.Minute, "eight hours of retries", func() { clock.AdvanceToNext() },
		func() bool { return !clock.Now().Before(night) })
	nightRequests := rec.Requests() - before
	st := tb.b.outbox.Stats()
	t.Logf("a night of 1C answering 503: %d requests; then pending %d, down %v", nightRequests, st.Pending, st.Down)
	assert.True(t, st.Down, "the target counts as down")
	assert.LessOrEqual(t, nightRequests, 40, "a down 1C is probed on the schedule, not sent every call")
	assert.Zero(t, rec.AppliedCount())
	assert.Equal(t, 0, rec.Rejected(), "credentials and signatures accepted")

	rec.Set(outboxtest.Behavior{Mode: outboxtest.Up})
	began = time.Now()
	until(t, 2*time.Minute, "the backlog to reach 1C", func() { clock.AdvanceToNext() }, func() bool {
		s := tb.b.outbox.Stats()
		return s.Pending == 0 && s.Unread == 0 && rec.AppliedCount() >= n
	})
	t.Logf("backlog of %d calls delivered in %v after 1C came back (%d documents, %d requests)",
		n, time.Since(began).Round(time.Millisecond), rec.AppliedCount(), rec.Requests())
	checkEachCallOnce(t, rec, calls, journalLastSeq(t, tb))
	assert.Zero(t, tb.b.outbox.Stats().Dead)
	s := bridgeStatus(t, tb.addr)
	assert.False(t, s.Outbox.Down)
	assert.Equal(t, 0, s.Outbox.Pending)
}

// TestOneCTimesOutAfterApplying: 1C is down while 500 calls are played,
// then comes back but, for a quarter of the documents, applies the
// document and does not answer in time (-1c-timeout): the bridge cannot
// know it was applied and sends it again, with the same webhook-id. Each
// document is still applied once in effect.
func TestOneCTimesOutAfterApplying(t *testing.T) {
	const n = 500
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	fakes := startFakes(t)
	rec := outboxtest.NewReceiver(t, []byte(testSecret))
	rec.RequireBasicAuth(test1CUser, test1CPass)
	rec.KeepBodies(true)
	rec.Set(outboxtest.Behavior{Mode: outboxtest.Down})
	args := append(oneCArgs(t, fakes, rec, ""), "-1c-timeout", "300ms")
	tb := startBridge(t, args, seams{outbox: []outbox.Option{outbox.WithSchedule([]time.Duration{20 * time.Millisecond})}})

	calls := playCalls(ctx, t, fakes, n, func(_ int, f pbxtest.Fake) string { return hook(tb.addr, f) })
	var hung atomic.Int64
	rec.SetFunc(func(r outboxtest.Request) outboxtest.Behavior {
		h := fnv.New32a()
		_, _ = io.WriteString(h, r.ID)
		if r.Attempt == 1 && h.Sum32()%4 == 0 {
			hung.Add(1)
			return outboxtest.Behavior{Mode: outboxtest.HangAfterApply}
		}
		return outboxtest.Behavior{Mode: outboxtest.Up}
	})
	began := time.Now()
	until(t, 3*time.Minute, "the backlog to reach 1C", nil, func() bool {
		s := tb.b.outbox.Stats()
		return s.Pending == 0 && s.Unread == 0 && rec.AppliedCount() >= n
	})
	t.Logf("backlog delivered in %v; %d documents applied then not acknowledged in time", time.Since(began).Round(time.Millisecond), hung.Load())
	d := checkEachCallOnce(t, rec, calls, journalLastSeq(t, tb))
	resent := 0
	for _, docs := range d.docs {
		for _, ad := range docs {
			if rec.Received(ad.id) > 1 {
				resent++
			}
		}
	}
	assert.Positive(t, hung.Load())
	assert.GreaterOrEqual(t, int64(resent), hung.Load(), "every document applied without an answer was sent again")
	assert.Zero(t, tb.b.outbox.Stats().Dead)
}

// slowLookup is a fake 1C lookup method that can turn slow.
type slowLookup struct {
	srv     *httptest.Server
	delay   atomic.Int64 // nanoseconds
	release chan struct{}
	asked   atomic.Int64
}

func newSlowLookup(t *testing.T, contacts map[string]string) *slowLookup {
	l := &slowLookup{release: make(chan struct{})}
	l.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.asked.Add(1)
		if user, pw, ok := r.BasicAuth(); !ok || user != test1CUser || pw != test1CPass {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		select {
		case <-time.After(time.Duration(l.delay.Load())):
		case <-l.release:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		var out []map[string]string
		if resp, ok := contacts[r.URL.Query().Get("phone")]; ok {
			out = append(out, map[string]string{"id": "ЦУ-1", "name": "Альфа", "responsible": resp})
		}
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(func() {
		close(l.release)
		l.srv.Close()
	})
	return l
}

// TestSlowLookupNeverFailsACall: the 1C lookup method is slower than the
// PBXs' routing deadline. Every incoming call is still answered in time
// and played to the end: a client 1C named before goes to their manager
// from the cache, a client in the CSV file to theirs, anyone else to the
// default extension.
func TestSlowLookupNeverFailsACall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const (
		known    = "79160000001" // 1C says: manager 102
		inCSV    = "79160000002" // the CSV file says: manager 103
		stranger = "79160000003"
	)
	lookup := newSlowLookup(t, map[string]string{known: "102"})
	csv := writeFile(t, "contacts.csv", "id,name,phones,responsible\nc2,Орлов,"+inCSV+",103\n")
	fakes := startFakes(t)
	rec := outboxtest.NewReceiver(t, []byte(testSecret))
	args := append(oneCArgs(t, fakes, rec, ""),
		"-1c-lookup", lookup.srv.URL+"/base/hs/pbx/lookup", "-lookup-ttl", "1ms",
		"-contacts", csv, "-default", "101")
	tb := startBridge(t, args, seams{})

	play := func(f pbxtest.Fake, caller string) pbxtest.Played {
		p, err := f.Play(ctx, hook(tb.addr, f), pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, Caller: caller})
		require.NoError(t, err, "%s: the call failed", f.Name())
		require.NoError(t, p.Err, "%s: the call failed", f.Name())
		return p
	}
	// 1C answers fast once: the bridge learns the client's manager.
	warm := play(fakes[0], known)
	if warm.Asked {
		require.Equal(t, "102", warm.Route.Extension)
	}

	lookup.delay.Store(int64(5 * time.Second))
	var asked atomic.Int64
	var wg sync.WaitGroup
	for _, f := range fakes {
		wg.Go(func() {
			for _, tc := range []struct{ caller, ext string }{{known, "102"}, {inCSV, "103"}, {stranger, "101"}} {
				p := play(f, tc.caller)
				if !p.Asked {
					continue // this PBX does not ask (or asks otherwise)
				}
				asked.Add(1)
				assert.Equal(t, tc.ext, p.Route.Extension, "%s: call from %s", f.Name(), tc.caller)
				assert.Equal(t, tc.ext, p.AnsweredBy, "%s: call from %s", f.Name(), tc.caller)
			}
		})
	}
	wg.Wait()
	assert.Positive(t, asked.Load(), "some PBX asked where to route")
	st := tb.b.dir.Stats()
	t.Logf("lookup: %+v", st)
	assert.Positive(t, st.Stale, "answers from the cache while 1C was slow")
	assert.Positive(t, st.Unavailable, "no answer from 1C in time: the CSV file and the default answered")
}

// TestOperatorPageAndStatus: the operator's page is mounted at /operator/
// (the shared examples/internal/operator handler) behind the screen-pop
// tokens, and /healthz and /status answer.
func TestOperatorPageAndStatus(t *testing.T) {
	fakes := startFakes(t)
	rec := outboxtest.NewReceiver(t, []byte(testSecret))
	args := append(oneCArgs(t, fakes, rec, ""), "-screenpop-secret", testPopSecret, "-missed-to", "103")
	tb := startBridge(t, args, seams{})
	base := "http://" + tb.addr

	get := func(path, token string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/healthz", "")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)
	code, body = get("/operator/", "")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "<html")
	code, _ = get("/operator", "")
	assert.Equal(t, http.StatusMovedPermanently, code)
	code, _ = get("/operator/api/me", "")
	assert.Equal(t, http.StatusUnauthorized, code)

	// The link -print-link prints opens the page as extension 102 (the
	// -default the played call is routed to).
	var out strings.Builder
	require.NoError(t, run(context.Background(), []string{"-print-link", "102", "-screenpop-secret", testPopSecret, "-public-url", base}, noEnv, &out, io.Discard))
	link := strings.TrimSpace(out.String())
	require.True(t, strings.HasPrefix(link, base+"/operator/?token="), link)
	token := link[len(base+"/operator/?token="):]
	code, body = get("/operator/api/me", unescape(t, token))
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, `"102"`)

	// A call played through a fake shows up in the page's list.
	p, err := fakes[0].Play(context.Background(), hook(tb.addr, fakes[0]), pbxtest.Call{Scenario: pbxtest.AnsweredIncoming})
	require.NoError(t, err)
	require.Equal(t, "102", p.AnsweredBy)
	code, body = get("/operator/api/calls", unescape(t, token))
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, p.CallID)

	s := bridgeStatus(t, tb.addr)
	assert.Nil(t, s.Lookup, "no -1c-lookup")
	require.NotNil(t, s.Screen)
	assert.True(t, s.Outbox.Active)
	until(t, 30*time.Second, "the call to reach 1C", nil, func() bool { return rec.AppliedCount() >= 1 })
}

func unescape(t *testing.T, s string) string {
	t.Helper()
	v, err := url.QueryUnescape(s)
	require.NoError(t, err)
	return v
}

// dsnPassword is the password in a DSN's user information, if any.
func dsnPassword(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return ""
	}
	pw, _ := u.User.Password()
	return pw
}

// TestNoSecretInLogs: the 1C password, the signing secret, the screen-pop
// secret and the PBX DSNs' secrets never reach the log, even when 1C
// refuses the credentials (every document a dead letter).
func TestNoSecretInLogs(t *testing.T) {
	fakes := startFakes(t)
	rec := outboxtest.NewReceiver(t, []byte(testSecret))
	rec.RequireBasicAuth(test1CUser, "another password")
	lookup := newSlowLookup(t, nil)
	args := append(oneCArgs(t, fakes, rec, ""), "-screenpop-secret", testPopSecret,
		"-1c-lookup", lookup.srv.URL+"/lookup?token=LOOKUPTOKEN")
	tb := startBridge(t, args, seams{})
	for _, f := range fakes {
		_, err := f.Play(context.Background(), hook(tb.addr, f), pbxtest.Call{Scenario: pbxtest.MissedIncoming})
		require.NoError(t, err)
	}
	until(t, 30*time.Second, "the refused documents to become dead letters", nil, func() bool {
		return tb.b.outbox.Stats().Dead >= len(fakes)
	})
	tb.stop(t)
	logs := tb.logs.String()
	require.Contains(t, logs, "dead letter")
	for _, s := range []string{test1CPass, testSecret, testPopSecret, "LOOKUPTOKEN"} {
		assert.NotContains(t, logs, s)
	}
	for _, f := range fakes {
		if u := dsnPassword(f.DSN()); u != "" {
			assert.NotContains(t, logs, u, "%s DSN's secret", f.Name())
		}
	}
}
