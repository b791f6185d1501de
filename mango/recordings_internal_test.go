package mango

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRecordingIndexBound: the index keeps at most maxRecordedCalls calls
// (10,000), forgetting the least recently heard of first; a call heard of
// again stays.
func TestRecordingIndexBound(t *testing.T) {
	require.Equal(t, 10000, maxRecordedCalls)
	require.Equal(t, 24*time.Hour, recordingMemory)
	x := newRecordingIndex(maxRecordedCalls, recordingMemory)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const over = 500
	for i := range maxRecordedCalls + over {
		now = now.Add(time.Millisecond)
		entry := fmt.Sprintf("E%d", i)
		x.announce(entry, "R"+entry, now, now, true, false, false)
		if i == 100 {
			continue
		}
		if i > 100 && i%1000 == 0 {
			// E100 is heard of again now and then: it stays.
			x.seen("E100", now)
		}
	}
	assert.Equal(t, maxRecordedCalls, x.len())
	assert.Equal(t, x.len(), x.order.Len(), "the list and the map agree")
	for _, tc := range []struct {
		entry string
		state recordingState
	}{
		{"E0", unknownCall},
		{fmt.Sprint("E", over), unknownCall},
		{"E100", readyRecording},
		{fmt.Sprint("E", over+2), readyRecording},
		{fmt.Sprint("E", maxRecordedCalls+over-1), readyRecording},
	} {
		id, state := x.lookup(tc.entry, now)
		assert.Equal(t, tc.state, state, tc.entry)
		if state == readyRecording {
			assert.Equal(t, "R"+tc.entry, id)
		}
	}
}

// TestRecordingIndexTTL: a call not heard of for recordingMemory is
// forgotten, on lookup and when others arrive.
func TestRecordingIndexTTL(t *testing.T) {
	x := newRecordingIndex(100, time.Hour)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x.announce("old", "R1", t0, t0, true, false, false)
	x.seen("kept", t0)
	x.seen("kept", t0.Add(50*time.Minute))
	_, state := x.lookup("old", t0.Add(59*time.Minute))
	assert.Equal(t, readyRecording, state)
	_, state = x.lookup("old", t0.Add(61*time.Minute))
	assert.Equal(t, unknownCall, state)
	assert.Equal(t, 1, x.len(), "forgotten on lookup")
	x.seen("new", t0.Add(111*time.Minute))
	assert.Equal(t, 1, x.len(), "kept expired when new arrived")
	_, state = x.lookup("kept", t0.Add(111*time.Minute))
	assert.Equal(t, unknownCall, state)
}

// TestRecordingIndexPerCall: at most maxRecordingsPerCall ids per call,
// the oldest forgotten; ids too long to be remembered are not.
func TestRecordingIndexPerCall(t *testing.T) {
	x := newRecordingIndex(100, time.Hour)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 * maxRecordingsPerCall {
		x.announce("E", fmt.Sprint("R", i), t0.Add(time.Duration(i)*time.Second), t0, true, false, false)
	}
	c := x.byEntry["E"].Value.(*indexedCall)
	assert.Len(t, c.recs, maxRecordingsPerCall)
	id, _ := x.lookup("E", t0)
	assert.Equal(t, fmt.Sprint("R", 3*maxRecordingsPerCall-1), id)
	for _, r := range c.recs {
		assert.NotEqual(t, "R0", r.id, "the oldest went")
	}

	long := strings.Repeat("x", maxIndexedID+1)
	x.announce(long, "R", t0, t0, true, false, false)
	x.announce("F", long, t0, t0, true, false, false)
	_, state := x.lookup(long, t0)
	assert.Equal(t, unknownCall, state)
	_, state = x.lookup("F", t0)
	assert.Equal(t, pendingRecording, state, "the call is known, its recording id was not kept")
}

// TestRecordingIndexConcurrent: announcements and lookups from many
// goroutines (run with -race) keep the bound.
func TestRecordingIndexConcurrent(t *testing.T) {
	x := newRecordingIndex(50, time.Hour)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				now := time.Now()
				entry := fmt.Sprintf("E%d-%d", g, i)
				x.announce(entry, "R", now, now, i%2 == 0, i%2 == 1, true)
				x.lookup(entry, now)
				x.seen(fmt.Sprintf("E%d-%d", g, i/2), now)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 50, x.len())
	assert.Equal(t, 50, x.order.Len())
}
