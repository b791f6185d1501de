package megafontest_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/megafon"
	"github.com/pbxkit/pbxkit/megafon/megafontest"
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider/providertest"
)

// TestRegistered: importing the fake registers it with pbxtest and its
// harness with providertest.
func TestRegistered(t *testing.T) {
	fake, err := pbxtest.Start(megafon.Name, pbxtest.Options{RecordingSize: 1000})
	require.NoError(t, err)
	defer fake.Close()
	assert.Equal(t, megafon.Name, fake.Name())
	found := false
	for _, h := range providertest.Harnesses() {
		found = found || h.Name == megafon.Name
	}
	assert.True(t, found, "the harness is registered")
}

func get(t *testing.T, fake *megafontest.Server, path, key string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, path, nil)
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("X-API-KEY", key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// TestAPIShapes: the fake answers as the public clients read MegaFon: users
// in pages with info, history/json as an array with the documented fields,
// errors as {"message"}, and nothing without the key.
func TestAPIShapes(t *testing.T) {
	fake := megafontest.NewServer(megafontest.Options{UsersPageSize: 2})
	defer fake.Close()
	status, b := get(t, fake, fake.URL()+"/users?start=0&limit=100", fake.APIKey())
	require.Equal(t, http.StatusOK, status)
	var page struct {
		Items []map[string]any `json:"items"`
		Info  map[string]int   `json:"info"`
	}
	require.NoError(t, json.Unmarshal(b, &page))
	assert.Len(t, page.Items, 2)
	assert.Equal(t, map[string]int{"start": 0, "limit": 2, "total": 3, "next": 2}, page.Info)
	assert.Equal(t, "ivanova", page.Items[0]["login"])

	status, b = get(t, fake, fake.URL()+"/history/json?type=missed", fake.APIKey())
	require.Equal(t, http.StatusOK, status)
	var rows []map[string]any
	require.NoError(t, json.Unmarshal(b, &rows))
	require.Len(t, rows, 1)
	for _, k := range []string{"uid", "type", "status", "client", "user", "diversion", "start", "wait", "duration", "record"} {
		assert.Contains(t, rows[0], k)
	}
	assert.Equal(t, "missed", rows[0]["status"])

	for _, p := range []string{"/users", "/history/json", "/makecall"} {
		status, b = get(t, fake, fake.URL()+p, "")
		assert.Equal(t, http.StatusUnauthorized, status, p)
		assert.Contains(t, string(b), `"message"`)
	}
	status, _ = get(t, fake, fake.URL()+"/history/json?start=yesterday", fake.APIKey())
	assert.Equal(t, http.StatusBadRequest, status)

	// A recording needs the key too.
	var link string
	for _, e := range fake.History() {
		if l := fake.RecordLink(e); l != "" {
			link = l
			break
		}
	}
	require.NotEmpty(t, link)
	assert.True(t, strings.Contains(link, "/record/"+megafontest.DefaultDomain+"/"), link)
	status, _ = get(t, fake, link, "")
	assert.Equal(t, http.StatusUnauthorized, status)
	status, b = get(t, fake, link, fake.APIKey())
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, pbxtest.MP3Bytes(megafontest.DefaultRecordingSize), b)
}

// TestMakecallValidates: the fake accepts only its staff and digits.
func TestMakecallValidates(t *testing.T) {
	fake := megafontest.NewServer(megafontest.Options{})
	defer fake.Close()
	post := func(body string) int {
		req, _ := http.NewRequest(http.MethodPost, fake.URL()+"/makecall", strings.NewReader(body))
		req.Header.Set("X-API-KEY", fake.APIKey())
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, 200, post(`{"user":"101","phone":"79161234567"}`))
	assert.Equal(t, 200, post(`{"user":"smirnov","phone":79161234567}`), "a login, a number as a JSON number")
	assert.Equal(t, 400, post(`{"user":"999","phone":"79161234567"}`))
	assert.Equal(t, 400, post(`{"user":"101","phone":"+79161234567"}`))
	assert.Equal(t, 400, post(`{"user":"101"}`))
	assert.Equal(t, 400, post(`not json`))
}

// TestPlayUnknownScenario: a scenario the fake does not know is an error
// naming it, and nothing is sent.
func TestPlayUnknownScenario(t *testing.T) {
	fake := megafontest.NewServer(megafontest.Options{})
	defer fake.Close()
	res, err := fake.Play(t.Context(), "http://127.0.0.1:1/", pbxtest.Call{Scenario: pbxtest.Scenario(99)})
	require.ErrorContains(t, err, "unknown scenario")
	assert.Zero(t, res.Notifications)
	_, err = fake.Play(t.Context(), "ftp://x", pbxtest.Call{Scenario: pbxtest.AnsweredIncoming})
	assert.Error(t, err)
}

// TestPlayAgainstProvider: the fake and the provider agree on a played call
// and on the log that follows it, through the provider's own API.
func TestPlayAgainstProvider(t *testing.T) {
	fake := megafontest.NewServer(megafontest.Options{EmptyLog: true, RecordingSize: 4096})
	defer fake.Close()
	cfg := fake.Config()
	cfg.Logger = slog.New(slog.DiscardHandler)
	c, err := megafon.New(cfg)
	require.NoError(t, err)
	rec := &pbxtest.Recorder{}
	srv := newServer(t, c.WebhookHandler(rec, rec))
	start := time.Now().Add(-time.Minute).Truncate(time.Second)
	played, err := fake.Play(t.Context(), srv, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, Start: start})
	require.NoError(t, err)
	var got []pbx.CallRecord
	for r, err := range c.History(t.Context(), pbx.HistoryQuery{From: start.Add(-time.Minute)}) {
		require.NoError(t, err)
		got = append(got, r)
	}
	require.Len(t, got, 1)
	assert.Equal(t, played.CallID, got[0].CallID)
	assert.Equal(t, "101", got[0].Extension)
	assert.Equal(t, pbxtest.DefaultTalk, got[0].TalkDuration)
	evs := rec.EventsOf(played.CallID)
	end := evs[len(evs)-1]
	assert.Equal(t, end.CallDuration, got[0].CallDuration, "the notification and the log agree on the whole call")
	assert.Equal(t, end.TalkDuration, got[0].TalkDuration)
	r, err := c.FetchRecording(t.Context(), end.RecordingURL)
	require.NoError(t, err)
	b, err := io.ReadAll(r.Body)
	r.Body.Close()
	require.NoError(t, err)
	assert.Len(t, b, 4096)
	u, err := url.Parse(end.RecordingURL)
	require.NoError(t, err)
	assert.Contains(t, u.Path, "/"+played.CallID+"/", "MegaFon's links carry the callid")
}
