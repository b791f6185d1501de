package megafon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/megafon"
	"github.com/pbxkit/pbxkit/megafon/megafontest"
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider"
)

func startFake(t *testing.T, o megafontest.Options) (*megafontest.Server, *megafon.Client) {
	t.Helper()
	fake := megafontest.NewServer(o)
	t.Cleanup(fake.Close)
	cfg := fake.Config()
	cfg.Logger = slog.New(slog.DiscardHandler)
	c, err := megafon.New(cfg)
	require.NoError(t, err)
	return fake, c
}

// TestMakeCall: makecall is a JSON POST with the key, the extension as
// user and the number as digits; its callid is the result.
func TestMakeCall(t *testing.T) {
	fake, c := startFake(t, megafontest.Options{})
	res, err := c.MakeCall(t.Context(), pbx.CallRequest{Extension: "101", Phone: "+7 (916) 123-45-67"})
	require.NoError(t, err)
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-`, res.CallID)
	reqs := fake.APIRequests()
	require.Len(t, reqs, 1)
	r := reqs[0]
	assert.Equal(t, "makecall", r.Operation)
	assert.Equal(t, http.MethodPost, r.Method)
	assert.Equal(t, "/crmapi/v1/makecall", r.Path)
	assert.True(t, r.APIKeyOK)
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.JSONEq(t, `{"user":"101","phone":"79161234567"}`, string(r.Body))

	_, err = c.MakeCall(t.Context(), pbx.CallRequest{Extension: "101", Phone: "not a number"})
	assert.ErrorContains(t, err, "not a telephone number")
	_, err = c.MakeCall(t.Context(), pbx.CallRequest{Phone: "79161234567"})
	assert.ErrorContains(t, err, "no extension")
	assert.Len(t, fake.APIRequests(), 1, "refused calls send nothing")
}

// TestMakeCallErrors: rejections are APIErrors with MegaFon's text, sent
// once, never again.
func TestMakeCallErrors(t *testing.T) {
	for _, tt := range []struct {
		status int
		text   string
		auth   bool
	}{
		{400, "Пользователь не найден", false},
		{200, "Звонок не может быть совершён", false},
		{500, "internal", false},
		{503, "maintenance", false},
		{401, "Unauthorized: invalid API key", true},
	} {
		fake, c := startFake(t, megafontest.Options{})
		fake.SetMakeCallError(tt.status, tt.text)
		_, err := c.MakeCall(t.Context(), pbx.CallRequest{Extension: "101", Phone: "79161234567"})
		var ae *provider.APIError
		require.ErrorAs(t, err, &ae, "%d", tt.status)
		assert.Equal(t, tt.text, ae.Message)
		assert.Equal(t, tt.status, ae.StatusCode)
		assert.Equal(t, tt.auth, errors.Is(err, provider.ErrUnauthorized))
		assert.Len(t, fake.Requests(), 1, "makecall is never sent twice (HTTP %d)", tt.status)
	}
	// A wrong key is the fake's own 401.
	fake := megafontest.NewServer(megafontest.Options{})
	defer fake.Close()
	cfg := fake.Config()
	cfg.APIKey, cfg.Logger = "wrong", slog.New(slog.DiscardHandler)
	c, err := megafon.New(cfg)
	require.NoError(t, err)
	_, err = c.MakeCall(t.Context(), pbx.CallRequest{Extension: "101", Phone: "79161234567"})
	assert.ErrorIs(t, err, provider.ErrUnauthorized)
}

// TestSubscribersPages: the employee list is read page after page.
func TestSubscribersPages(t *testing.T) {
	staff := []pbxtest.Employee{
		{Extension: "101", Login: "a", Name: "А"}, {Extension: "102", Login: "b", Name: "Б"},
		{Extension: "103", Login: "c", Name: "В"}, {Extension: "104", Login: "d", Name: "Г"}, {Extension: "105", Login: "e", Name: "Д"},
	}
	fake, c := startFake(t, megafontest.Options{Employees: staff, UsersPageSize: 2})
	subs, err := c.Subscribers(t.Context())
	require.NoError(t, err)
	require.Len(t, subs, 5)
	for i, s := range subs {
		assert.Equal(t, staff[i].Extension, s.Extension)
		assert.Equal(t, staff[i].Login, s.Login)
		assert.Equal(t, staff[i].Name, s.Name)
		u, ok := s.Raw.(*megafon.User)
		require.True(t, ok)
		assert.Equal(t, staff[i].Login+"@example.ru", string(u.Email))
	}
	assert.Len(t, fake.Requests(), 3, "three pages of two")
}

// TestUsersShapes: a bare list, and pages whose info lacks next or total,
// against a scripted server.
func TestUsersShapes(t *testing.T) {
	for name, tt := range map[string]struct {
		pages []string
		want  int
	}{
		"bare list":        {[]string{`[{"login":"a","ext":101},{"login":"b","ext":"102"}]`}, 2},
		"next only":        {[]string{`{"items":[{"login":"a"}],"info":{"start":0,"next":1}}`, `{"items":[{"login":"b"}],"info":{"start":1}}`}, 2},
		"total only":       {[]string{`{"items":[{"login":"a"}],"info":{"total":2}}`, `{"items":[{"login":"b"}],"info":{"total":2}}`}, 2},
		"no info":          {[]string{`{"items":[{"login":"a"}]}`}, 1},
		"empty page stops": {[]string{`{"items":[{"login":"a"}],"info":{"total":5,"next":1}}`, `{"items":[],"info":{"total":5}}`}, 1},
	} {
		t.Run(name, func(t *testing.T) {
			n := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if n >= len(tt.pages) {
					t.Errorf("page %d asked for", n)
					w.WriteHeader(500)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, tt.pages[n])
				n++
			}))
			defer srv.Close()
			c, err := megafon.New(megafon.Config{APIKey: "k", CRMToken: "t", BaseURL: srv.URL, Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			users, err := c.Users(t.Context())
			require.NoError(t, err)
			assert.Len(t, users, tt.want)
		})
	}
}

// TestHistory: the export of the seeded log, with extensions from the
// employee list, the direction filter, and the durations the export
// supports (talk time = duration; the whole call = wait + duration).
func TestHistory(t *testing.T) {
	now := time.Now()
	fake, c := startFake(t, megafontest.Options{})
	var recs []pbx.CallRecord
	for rec, err := range c.History(t.Context(), pbx.HistoryQuery{From: now.Add(-4 * time.Hour), To: now.Add(time.Minute)}) {
		require.NoError(t, err)
		recs = append(recs, rec)
	}
	log := fake.History()
	require.Len(t, recs, len(log))
	for i, rec := range recs {
		e := log[i]
		assert.Equal(t, e.UID, rec.CallID)
		assert.Equal(t, map[string]string{"ivanova": "101", "kuznetsov": "102", "smirnov": "103"}[e.User], rec.Extension, "extension from the login")
		assert.True(t, e.Start.Equal(rec.StartedAt))
		assert.Equal(t, e.Wait+e.Talk, rec.CallDuration)
		if e.Status == "success" {
			assert.Equal(t, pbx.OutcomeAnswered, rec.Outcome)
			assert.Equal(t, e.Talk, rec.TalkDuration)
		} else {
			assert.Equal(t, pbx.OutcomeMissed, rec.Outcome)
			assert.Zero(t, rec.TalkDuration)
		}
		assert.Equal(t, e.RecordingSize > 0, rec.HasRecording)
		assert.IsType(t, &megafon.HistoryRow{}, rec.Raw)
	}
	ops := []string{}
	for _, r := range fake.APIRequests() {
		ops = append(ops, r.Operation)
	}
	assert.Equal(t, []string{"users", "history/json"}, ops)
	q := fake.APIRequests()[1].Query
	assert.Contains(t, q, "start="+now.Add(-4*time.Hour).UTC().Format("20060102T150405Z"))
	assert.Contains(t, q, "type=all")

	n := 0
	for rec, err := range c.History(t.Context(), pbx.HistoryQuery{From: now.Add(-4 * time.Hour), Direction: pbx.Outbound}) {
		require.NoError(t, err)
		assert.Equal(t, pbx.Outbound, rec.Direction)
		n++
	}
	assert.Equal(t, 1, n)
	for range c.History(t.Context(), pbx.HistoryQuery{From: now.Add(-4 * time.Hour), Direction: pbx.Internal}) {
		t.Fatal("MegaFon's log has no internal calls")
	}
	for _, err := range c.History(t.Context(), pbx.HistoryQuery{}) {
		assert.ErrorContains(t, err, "From is required")
	}
}

// TestCallHistoryErrors: an answer that is not a list is an error with the
// vendor's text.
func TestCallHistoryErrors(t *testing.T) {
	for body, want := range map[string]string{
		`{"message":"Not Implemented"}`:   "Not Implemented",
		`{"items":[]}`:                    "not a list of calls",
		`<html><body>login</body></html>`: "HTML",
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, body)
		}))
		c, err := megafon.New(megafon.Config{APIKey: "k", CRMToken: "t", BaseURL: srv.URL, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		n := 0
		for row, err := range c.CallHistory(t.Context(), megafon.HistoryRequest{Period: "today"}) {
			n++
			assert.Nil(t, row)
			var ae *provider.APIError
			require.ErrorAs(t, err, &ae, body)
			assert.Contains(t, ae.Message, want)
		}
		assert.Equal(t, 1, n, "the error ends the sequence")
		srv.Close()
	}
}

// TestFetchRecording: by call id (looked up in the log) and by link, the
// stream is the fake's recording, downloaded with the key.
func TestFetchRecording(t *testing.T) {
	fake, c := startFake(t, megafontest.Options{RecordingSize: 100 << 10})
	var withRec, without megafontest.HistoryEntry
	for _, e := range fake.History() {
		if e.RecordingSize > 0 && withRec.UID == "" {
			withRec = e
		}
		if e.RecordingSize == 0 {
			without = e
		}
	}
	want := pbxtest.MP3Bytes(100 << 10)
	for _, id := range []string{withRec.UID, fake.RecordLink(withRec)} {
		rec, err := c.FetchRecording(t.Context(), id)
		require.NoError(t, err, id)
		got, err := io.ReadAll(rec.Body)
		require.NoError(t, err)
		require.NoError(t, rec.Body.Close())
		assert.True(t, bytes.Equal(want, got), "the recording's bytes")
		assert.Equal(t, "audio/mpeg", rec.ContentType)
		assert.Equal(t, int64(len(want)), rec.Size)
	}
	last := fake.APIRequests()[len(fake.APIRequests())-1]
	assert.Equal(t, "record", last.Operation)
	assert.True(t, last.APIKeyOK, "the download carries the key")

	_, err := c.FetchRecording(t.Context(), without.UID)
	assert.ErrorContains(t, err, "no recording")
	assert.False(t, errors.Is(err, pbx.ErrNotReady))
	_, err = c.FetchRecording(t.Context(), "no-such-call")
	assert.ErrorIs(t, err, pbx.ErrNotReady)
	_, err = c.FetchRecording(t.Context(), "")
	assert.Error(t, err)
}

// TestRecordNotAudio: a page or JSON instead of audio is an error, and a
// link elsewhere gets no key.
func TestRecordNotAudio(t *testing.T) {
	var gotKey []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotKey = append(gotKey, r.Header.Get("X-API-KEY"))
		switch r.URL.Path {
		case "/page":
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<html>login</html>")
		case "/json":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"message":"expired"}`)
		case "/gone":
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"message":"Not found"}`)
		default:
			_, _ = w.Write(pbxtest.MP3Bytes(1000))
		}
	}))
	defer srv.Close()
	c, err := megafon.New(megafon.Config{APIKey: "the-key", CRMToken: "t", Domain: "vats1", Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	for _, p := range []string{"/page", "/json", "/gone"} {
		_, err := c.Record(t.Context(), srv.URL+p)
		var ae *provider.APIError
		require.ErrorAs(t, err, &ae, p)
	}
	rec, err := c.Record(t.Context(), srv.URL+"/ok.mp3")
	require.NoError(t, err)
	rec.Body.Close()
	assert.Equal(t, "audio/mpeg", rec.ContentType, "no type is MP3")
	for _, k := range gotKey {
		assert.Empty(t, k, "the key goes to MegaFon's hosts only")
	}
	_, err = c.Record(t.Context(), "/relative.mp3")
	assert.Error(t, err)
}

// TestOperationsHonourContext: a cancelled context ends every operation at
// once, with nothing sent for makecall.
func TestOperationsHonourContext(t *testing.T) {
	fake, c := startFake(t, megafontest.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.MakeCall(ctx, pbx.CallRequest{Extension: "101", Phone: "79161234567"})
	assert.ErrorIs(t, err, context.Canceled)
	_, err = c.Subscribers(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	for _, err := range c.History(ctx, pbx.HistoryQuery{From: time.Now().Add(-time.Hour)}) {
		assert.ErrorIs(t, err, context.Canceled)
	}
	assert.Empty(t, fake.Requests())
}

// TestClientJSONHasNoSecret: a Client marshalled to JSON (inside a logged
// value) shows nothing.
func TestClientJSONHasNoSecret(t *testing.T) {
	fake, c := startFake(t, megafontest.Options{})
	b, err := json.Marshal(struct{ C *megafon.Client }{c})
	require.NoError(t, err)
	assert.NotContains(t, string(b), fake.APIKey())
	assert.NotContains(t, string(b), fake.CRMToken())
	assert.False(t, strings.Contains(c.String(), fake.APIKey()))
}
