package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/provider/providertest"
)

// TestRunSmoke runs every path briefly over a small directory, in short
// mode too: every request must be accepted (run fails on any error answer,
// on a routing question left without a decision, and on a journal that did
// not store what it acknowledged), and the report names every registered
// harness's paths and the SQLite journal path (and the PostgreSQL one when
// PBXKIT_TEST_POSTGRES is set), each with a pbxkit and a bare row and a
// ratio.
func TestRunSmoke(t *testing.T) {
	hs := providertest.Harnesses()
	require.GreaterOrEqual(t, len(hs), 3, "the vendors' fake packages register their harnesses (examples/internal/vendors imports them)")
	pg := os.Getenv("PBXKIT_TEST_POSTGRES")
	var out bytes.Buffer
	err := run(context.Background(), &out, config{
		duration: 150 * time.Millisecond, warmup: 20 * time.Millisecond,
		concurrency: 4, rounds: 1, contacts: 2000,
		journalVendor: "sipuni", sqliteDir: t.TempDir(), postgres: pg,
	})
	report := out.String()
	require.NoError(t, err, report)

	want := 0
	for _, h := range hs {
		assert.Contains(t, report, h.Name+" event ")
		want++
		if h.RouteQuestion != nil {
			assert.Contains(t, report, h.Name+" routing (2000 contacts)")
			want++
		}
	}
	assert.Contains(t, report, "sipuni event → journal (SQLite, synchronous=FULL)")
	assert.Contains(t, report, "SQLite journal: ")
	want++
	if pg != "" {
		assert.Contains(t, report, "sipuni event → journal (PostgreSQL, synchronous_commit=")
		want++
	} else {
		assert.NotContains(t, report, "PostgreSQL")
	}
	assert.Equal(t, want, strings.Count(report, " pbxkit "), report)
	assert.Equal(t, want, strings.Count(report, " bare "), report)
	for _, line := range strings.Split(report, "\n") {
		if strings.Contains(line, " pbxkit ") {
			assert.Regexp(t, ` \d+\.\d\d\s*$`, line, "a ratio on every pbxkit row")
		}
	}
	for _, w := range missingHarnesses(hs) {
		// A fake without a registered harness is named, not measured.
		assert.Contains(t, report, "warning: "+w)
		t.Log(w)
	}
	if pg != "" {
		assert.NotContains(t, report, pg, "the DSN, with its password, is never printed")
	}
}

// TestRunRefusesUnknownJournalVendor: a -journal-vendor no harness has is
// an error naming the registered ones, before anything is measured.
func TestRunRefusesUnknownJournalVendor(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), &out, config{
		duration: 10 * time.Millisecond, concurrency: 1, rounds: 1, contacts: 10,
		journalVendor: "nosuch", sqliteDir: t.TempDir(),
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"nosuch"`)
	assert.Contains(t, err.Error(), "sipuni")
	assert.Empty(t, out.String())
}

// TestDriveReportsErrors: answers that are not 2xx, or that the check
// refuses, are counted as errors with the first one kept, and are neither
// measured nor acknowledged; a good handler's answers are.
func TestDriveReportsErrors(t *testing.T) {
	get := func(base string, _ int) (*http.Request, error) { return http.NewRequest(http.MethodGet, base+"/", nil) }
	for _, tc := range []struct {
		name    string
		handler http.Handler
		check   func(int, []byte) error
		wantErr string
	}{
		{"500", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", 500) }), nil, "HTTP 500"},
		{"check refuses", bare(), func(int, []byte) error { return assert.AnError }, assert.AnError.Error()},
		{"good", bare(), nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := drive(target{name: tc.name, handler: tc.handler, newRequest: get, check: tc.check}, 2, 100*time.Millisecond, 10*time.Millisecond)
			require.NoError(t, err)
			if tc.wantErr == "" {
				assert.NoError(t, r.firstErr)
				assert.Zero(t, r.errors)
				assert.Positive(t, r.requests)
				assert.GreaterOrEqual(t, r.acked, r.requests)
				assert.Positive(t, r.rps())
				return
			}
			require.Error(t, r.firstErr)
			assert.Contains(t, r.firstErr.Error(), tc.wantErr)
			assert.Positive(t, r.errors)
			assert.Zero(t, r.requests)
			assert.Zero(t, r.acked)
		})
	}
}

// TestJournalPathVerifies: the journal path's check passes when the
// journal holds exactly the events it acknowledged, and fails when fewer
// events reached the journal than requests were acknowledged, or when the
// journal holds events it did not acknowledge during the run.
func TestJournalPathVerifies(t *testing.T) {
	var sip providertest.Harness
	for _, h := range providertest.Harnesses() {
		if h.Name == "sipuni" {
			sip = h
		}
	}
	require.NotEmpty(t, sip.Name)
	b := &journalBackend{label: "memory", store: journal.NewMemoryStore(), close: func() error { return nil }}
	var next atomic.Int64
	p, err := journalPath(sip, b, &next)
	require.NoError(t, err)
	r, err := drive(target{name: p.name, handler: p.handler, newRequest: p.newRequest}, 2, 100*time.Millisecond, 10*time.Millisecond)
	require.NoError(t, err)
	require.NoError(t, r.firstErr)
	require.Positive(t, r.acked)
	assert.NoError(t, p.verify(r.acked), "the journal holds every event it acknowledged")
	assert.Error(t, p.verify(r.acked+1), "more acknowledged requests than events is caught")

	// An event stored behind the path's back: the counts differ.
	require.NoError(t, journal.New(b.store).HandleEvent(context.Background(),
		pbx.CallEvent{Provider: "sipuni", CallID: "elsewhere", Type: pbx.EventCallStarted, At: time.Now()}))
	assert.ErrorContains(t, p.verify(r.acked), "holds")
}
