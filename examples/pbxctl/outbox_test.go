package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/journal/sqlitestore"
	"github.com/pbxkit/pbxkit/pbx/outbox"
)

// TestOutboxDeadLetters: a call document the target refused with a 4xx is a
// dead letter; pbxctl outbox lists it, retry delivers it once the target
// accepts it (same webhook-id), and the list is then empty.
func TestOutboxDeadLetters(t *testing.T) {
	ctx := context.Background()
	path := newJournalFile(t)
	const secret = "outbox-secret-value"

	var accept atomic.Bool
	var mu sync.Mutex
	var ids []string
	lastID := func(first bool) string {
		mu.Lock()
		defer mu.Unlock()
		if first {
			return ids[0]
		}
		return ids[len(ids)-1]
	}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ids = append(ids, r.Header.Get("webhook-id"))
		mu.Unlock()
		if !accept.Load() {
			http.Error(w, "no such document type", http.StatusUnprocessableEntity)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	// One closed call in the journal, and an outbox run until the refusal
	// made it a dead letter.
	store, err := sqlitestore.Open(ctx, path)
	require.NoError(t, err)
	j := journal.New(store)
	start := time.Now().Add(-time.Minute)
	for _, e := range []pbx.CallEvent{
		{Provider: "sipuni", CallID: "c1", Type: pbx.EventRinging, Direction: pbx.Inbound, Phone: "79161234567", Extension: "101", At: start},
		{Provider: "sipuni", CallID: "c1", Type: pbx.EventCallEnded, Direction: pbx.Inbound, Phone: "79161234567", Outcome: pbx.OutcomeMissed, At: start.Add(20 * time.Second)},
	} {
		require.NoError(t, j.HandleEvent(ctx, e))
	}
	ob, err := outbox.New(j, outbox.Target{Name: "1c", URL: receiver.URL, Secret: []byte(secret)})
	require.NoError(t, err)
	runCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	done := make(chan error, 1)
	go func() { done <- ob.Run(runCtx) }()
	for ob.Stats().Dead == 0 && runCtx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, 1, ob.Stats().Dead, "the 422 made a dead letter")
	require.NoError(t, store.Close())

	code, out, errOut := cliRun(t, environment{}, "outbox", "-journal", path, "-target", "1c", "list")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "sipuni c1")
	assert.Contains(t, out, "HTTP 422")
	assert.Contains(t, out, "1 dead letters for target 1c")
	id := strings.Fields(out)[0]
	assert.Equal(t, lastID(true), id, "listed by its webhook-id")

	code, _, errOut = cliRun(t, environment{}, "outbox", "-journal", path, "-target", "1c", "retry", id)
	assert.Equal(t, 2, code, "retry without -url and secret is a usage error")
	assert.Contains(t, errOut, "PBXKIT_OUTBOX_SECRET")

	accept.Store(true)
	env := environment{getenv: func(k string) string {
		if k == "PBXKIT_OUTBOX_SECRET" {
			return secret
		}
		return ""
	}}
	code, out, errOut = cliRun(t, env, "outbox", "-journal", path, "-target", "1c", "-url", receiver.URL, "retry", id)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, id+" delivered\n", out)
	assert.Equal(t, id, lastID(false), "replayed with the same webhook-id")
	assert.NotContains(t, out+errOut, secret)

	code, out, _ = cliRun(t, environment{}, "outbox", "-journal", path, "-target", "1c", "list")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "0 dead letters")

	code, _, errOut = cliRun(t, environment{}, "outbox", "-journal", path, "-target", "1c", "explode")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "want list, retry ID or discard ID")
}
