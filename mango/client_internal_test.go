package mango

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/provider"
)

// TestLimiterSchedule: a burst passes at once, then one request per
// interval; a slot past maxWait books nothing; the all-operations limit
// counts every method.
func TestLimiterSchedule(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(map[string]Limit{
		"op":          {Every: time.Second, Burst: 2},
		AllOperations: {Every: 100 * time.Millisecond, Burst: 3},
		"free":        {},
	})
	l.now = func() time.Time { return now }
	for i, want := range []time.Duration{0, 0, time.Second} {
		w, ok := l.reserve("op", time.Hour)
		require.True(t, ok, "request %d", i)
		assert.Equal(t, want, w, "request %d", i)
	}
	// The next "op" slot is 2 s away: not within 1 s, and nothing booked.
	w, ok := l.reserve("op", time.Second)
	assert.False(t, ok)
	assert.Equal(t, 2*time.Second, w)
	w, ok = l.reserve("op", time.Hour)
	assert.True(t, ok)
	assert.Equal(t, 2*time.Second, w, "the refused request took no slot")

	// "free" has no limit of its own, but the all-operations one (3 at
	// once, one per 100 ms) has been used by the four "op" bookings.
	w, ok = l.reserve("free", time.Hour)
	assert.True(t, ok)
	assert.Equal(t, 200*time.Millisecond, w)

	now = now.Add(10 * time.Second)
	w, ok = l.reserve("op", 0)
	assert.True(t, ok)
	assert.Zero(t, w, "the schedule refills with time")
}

// TestDefaultLimits: Mango's published per-product limits.
func TestDefaultLimits(t *testing.T) {
	d := DefaultLimits()
	assert.Equal(t, Limit{Every: 2 * time.Second, Burst: 1}, d[OpRoute])
	assert.Equal(t, Limit{Every: 2 * time.Second, Burst: 1}, d[OpUsers])
	assert.Equal(t, Limit{Every: 2 * time.Second, Burst: 1}, d[OpStatsRequest])
	assert.Equal(t, Limit{Every: 250 * time.Millisecond, Burst: 4}, d[OpCallback])
	assert.Equal(t, Limit{Every: 100 * time.Millisecond, Burst: 10}, d[AllOperations])
	_, limited := d[OpStatsResult]
	assert.False(t, limited, "stats/result has no per-product limit")
}

// TestFileLink: the recording link is followed only to BaseURL's host or,
// over https, to a recording host; only from a 302 or 303.
func TestFileLink(t *testing.T) {
	c, err := New(Config{APIKey: "key-000000", APISalt: "salt-000000", BaseURL: "http://127.0.0.1:8080/vpbx"})
	require.NoError(t, err)
	defer c.Close()
	for _, tc := range []struct {
		status int
		loc    string
		want   string
	}{
		{http.StatusFound, "/vpbx/_files/t?x=1", "http://127.0.0.1:8080/vpbx/_files/t?x=1"},
		{http.StatusFound, "_files/t", "http://127.0.0.1:8080/vpbx/queries/recording/_files/t"},
		{http.StatusSeeOther, "https://files.mango-office.ru/rec/1?sig=abc", "https://files.mango-office.ru/rec/1?sig=abc"},
		{http.StatusFound, "https://mango-office.ru/rec/1", "https://mango-office.ru/rec/1"},
		{http.StatusFound, "http://files.mango-office.ru/rec/1", ""},
		{http.StatusFound, "https://evil-mango-office.ru/rec/1", ""},
		{http.StatusFound, "https://mango-office.ru.evil.example/rec/1", ""},
		{http.StatusFound, "http://127.0.0.1:8081/vpbx/_files/t", ""},
		{http.StatusFound, "https://user:pw@files.mango-office.ru/rec/1", ""},
		{http.StatusTemporaryRedirect, "/vpbx/_files/t", ""},
		{http.StatusFound, "", ""},
	} {
		re := &provider.RedirectError{Provider: Name, Operation: OpRecordingPost, StatusCode: tc.status}
		got, err := c.fileLink(re, tc.loc)
		if tc.want == "" {
			assert.Same(t, re, err, "%d %s", tc.status, tc.loc)
			continue
		}
		require.NoError(t, err, "%d %s", tc.status, tc.loc)
		assert.Equal(t, tc.want, got)
	}

	other, err := New(Config{APIKey: "key-000000", APISalt: "salt-000000", RecordingHosts: []string{" Files.Example.RU. "}})
	require.NoError(t, err)
	defer other.Close()
	re := &provider.RedirectError{StatusCode: http.StatusFound}
	got, err := other.fileLink(re, "https://cdn.files.example.ru/r")
	require.NoError(t, err)
	assert.Equal(t, "https://cdn.files.example.ru/r", got)
	_, err = other.fileLink(re, "https://files.mango-office.ru/r")
	assert.Error(t, err, "RecordingHosts replaces the default")
}

// TestHoldTrackerBounded: the memory of holds stays bounded.
func TestHoldTrackerBounded(t *testing.T) {
	h := newHoldTracker()
	now := time.Now()
	for i := range maxHeldLegs + 10 {
		n := &CallNotification{CallID: provider.String("L" + string(rune('a'+i%26)) + time.Duration(i).String()), Seq: "1", CallState: "OnHold"}
		h.observe(n, now.Add(time.Duration(i)*time.Millisecond))
	}
	assert.LessOrEqual(t, len(h.legs), maxHeldLegs)
	assert.Greater(t, len(h.legs), maxHeldLegs/4, "only the older ones went")
}
