package mango_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/mango"
	"github.com/pbxkit/pbxkit/mango/mangotest"
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
)

// recJSON marshals a notification's json value.
func recJSON(v map[string]any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// note is a notification: Mango's path and the json value.
type note struct{ path, js string }

// recordAdded is events/record/added of recording id for the call entry,
// at Unix time ts.
func recordAdded(entry, id string, ts int64) note {
	return note{mango.NotifyRecordAdded, recJSON(map[string]any{"entry_id": entry, "product_id": 400100100,
		"user_id": "101", "timestamp": ts, "recording_id": id})}
}

// recording is events/recording of recording id for the call entry.
func recording(entry, id, state string, ts int64, extra map[string]any) note {
	v := map[string]any{"recording_id": id, "recording_state": state, "seq": 1, "entry_id": entry,
		"call_id": "leg-" + entry, "extension": "101", "timestamp": ts}
	for k, x := range extra {
		v[k] = x
	}
	return note{mango.NotifyRecording, recJSON(v)}
}

// recordingPosts counts the queries/recording/post requests the fake got.
func recordingPosts(fake *mangotest.Server) int {
	n := 0
	for _, r := range fake.Requests() {
		if r.Operation == mango.OpRecordingPost {
			n++
		}
	}
	return n
}

// TestFetchRecordingByCallID: after the notifications that announce a
// recording, FetchRecording takes the call id the events carry (entry_id)
// and streams the newest recording announced for it. On the old code,
// FetchRecording sent the entry_id as a recording_id and Mango answered
// 3320.
func TestFetchRecordingByCallID(t *testing.T) {
	const t0 = 1700000000
	completed := map[string]any{"completion_code": 1000, "recipient": "Cloud"}
	for _, tc := range []struct {
		name  string
		notes []note
		want  string
	}{
		{"events/record/added", []note{recordAdded("E", "rec-a", t0)}, "rec-a"},
		{"events/recording Completed into the cloud", []note{
			recording("E", "rec-a", "Started", t0, nil),
			recording("E", "rec-a", "Completed", t0+60, completed),
		}, "rec-a"},
		{"events/record/tagged", []note{{mango.NotifyRecordTagged, recJSON(map[string]any{"entry_id": "E", "recording_id": "rec-a", "timestamp": t0})}}, "rec-a"},
		{"the newest of two, delivered out of order", []note{
			recordAdded("E", "rec-b", t0+120),
			recordAdded("E", "rec-a", t0+60),
		}, "rec-b"},
		{"the stored one, not the newer one still recording", []note{
			recordAdded("E", "rec-a", t0+60),
			recording("E", "rec-b", "Started", t0+90, nil),
		}, "rec-a"},
		{"not the newer one too short to keep", []note{
			recordAdded("E", "rec-a", t0+60),
			recording("E", "rec-b", "Completed", t0+90, map[string]any{"completion_code": 4002, "recipient": "Cloud"}),
		}, "rec-a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := mangotest.NewServer(mangotest.Options{})
			t.Cleanup(fake.Close)
			fake.AddRecording("rec-a", 1000)
			fake.AddRecording("rec-b", 2000)
			c := newClient(t, fake.URL(), nil)
			h := c.WebhookHandler(nil, nil)
			for _, x := range tc.notes {
				require.Equal(t, http.StatusOK, notify(h, x.path, x.js).Code, x.path)
			}
			r, err := c.FetchRecording(ctx(t), "E")
			require.NoError(t, err)
			got, err := io.ReadAll(r.Body)
			require.NoError(t, err)
			require.NoError(t, r.Body.Close())
			want, _ := fake.Recording(tc.want)
			assert.True(t, bytes.Equal(want, got), "the recording of %s", tc.want)
			reqs := fake.APIRequests()
			require.NotEmpty(t, reqs)
			assert.Contains(t, reqs[0].JSON, `"recording_id":"`+tc.want+`"`)
		})
	}
}

// TestFetchRecordingInHandler: an event handler can fetch the recording
// by the CallID of the event that announces it: the Client remembers the
// id before the handler runs.
func TestFetchRecordingInHandler(t *testing.T) {
	fake := mangotest.NewServer(mangotest.Options{})
	t.Cleanup(fake.Close)
	fake.AddRecording("rec-a", 1000)
	c := newClient(t, fake.URL(), nil)
	var size int64
	var ferr error
	h := c.WebhookHandler(pbx.EventHandlerFunc(func(hctx context.Context, e pbx.CallEvent) error {
		if !e.HasRecording {
			return nil
		}
		r, err := c.FetchRecording(hctx, e.CallID)
		if err != nil {
			ferr = err
			return nil
		}
		defer r.Body.Close()
		size, ferr = io.Copy(io.Discard, r.Body)
		return nil
	}), nil)
	added := recordAdded("E", "rec-a", 1700000000)
	require.Equal(t, http.StatusOK, notify(h, added.path, added.js).Code)
	require.NoError(t, ferr)
	assert.Equal(t, int64(1000), size)
}

// TestFetchRecordingNotReady: a call the webhook heard of whose recording
// is not stored yet (none announced, or only started) is not ready, and
// Mango is not asked (an unknown recording_id is a 3xxx, and a second one
// in 2 minutes locks the key out); a call whose every recording was lost
// is an error that is not "not ready". On the old code Mango was asked
// each time.
func TestFetchRecordingNotReady(t *testing.T) {
	const t0 = 1700000000
	for _, tc := range []struct {
		name     string
		note     note
		notReady bool
	}{
		{"events/call only", note{mango.NotifyCall, callJSON(map[string]any{"entry_id": "E", "call_state": "Appeared", "location": "ivr",
			"from": map[string]any{"number": "79161234567"}})}, true},
		{"events/summary only", note{mango.NotifySummary, recJSON(map[string]any{"entry_id": "E", "call_direction": 1, "talk_time": 0, "end_time": t0})}, true},
		{"recording started", recording("E", "rec-a", "Started", t0, nil), true},
		{"sent by mail only", recording("E", "rec-a", "Completed", t0, map[string]any{"completion_code": 1000, "recipient": "Mail"}), false},
		{"too short, not kept", recording("E", "rec-a", "Completed", t0, map[string]any{"completion_code": 4002, "recipient": "Cloud"}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := mangotest.NewServer(mangotest.Options{})
			t.Cleanup(fake.Close)
			fake.AddRecording("rec-a", 1000) // served, were it asked
			c := newClient(t, fake.URL(), nil)
			require.Equal(t, http.StatusOK, notify(c.WebhookHandler(nil, nil), tc.note.path, tc.note.js).Code)
			for range 3 {
				_, err := c.FetchRecording(ctx(t), "E")
				require.Error(t, err)
				assert.Equal(t, tc.notReady, errors.Is(err, pbx.ErrNotReady), "%v", err)
				assert.Contains(t, err.Error(), `"E"`)
			}
			assert.Zero(t, recordingPosts(fake), "Mango is not asked")
		})
	}
}

// TestFetchRecordingByRecordingID: an id the Client knows no call for is
// a recording_id (from Raw, the call log, or a process such as pbxctl that
// received no notification), also when other calls are known; an unknown
// one is not ready, as Mango answers it.
func TestFetchRecordingByRecordingID(t *testing.T) {
	fake := mangotest.NewServer(mangotest.Options{})
	t.Cleanup(fake.Close)
	fake.AddRecording("rec-a", 1000)
	fake.AddRecording("rec-b", 2000)
	c := newClient(t, fake.URL(), nil)
	added := recordAdded("E", "rec-b", 1700000000)
	require.Equal(t, http.StatusOK, notify(c.WebhookHandler(nil, nil), added.path, added.js).Code)
	for id, size := range map[string]int64{"rec-a": 1000, "rec-b": 2000} {
		r, err := c.FetchRecording(ctx(t), id)
		require.NoError(t, err, id)
		n, err := io.Copy(io.Discard, r.Body)
		require.NoError(t, err)
		require.NoError(t, r.Body.Close())
		assert.Equal(t, size, n, id)
	}
	_, err := c.FetchRecording(ctx(t), "no-such-id")
	assert.ErrorIs(t, err, pbx.ErrNotReady)
	assert.Equal(t, 3, recordingPosts(fake))

	// A second Client, which received nothing, maps nothing: the
	// recording id works, the call id does not.
	other := newClient(t, fake.URL(), nil)
	_, err = other.FetchRecording(ctx(t), "E")
	assert.ErrorIs(t, err, pbx.ErrNotReady)
	r, err := other.FetchRecording(ctx(t), "rec-b")
	require.NoError(t, err)
	require.NoError(t, r.Body.Close())
}

// TestFetchRecordingOfPlayedCallByID: a call the fake plays, in Mango's
// order or shuffled, is fetched by its call id once the webhook received
// its notifications.
func TestFetchRecordingOfPlayedCallByID(t *testing.T) {
	fake := mangotest.NewServer(mangotest.Options{RecordingSize: 4096})
	t.Cleanup(fake.Close)
	c := newClient(t, fake.URL(), nil)
	srv := httptest.NewServer(c.WebhookHandler(nil, nil))
	t.Cleanup(srv.Close)
	for _, x := range []mangotest.Extras{{}, {OutOfOrder: true, Seed: 3}, {OutOfOrder: true, Seed: 11}} {
		for _, sc := range []pbxtest.Scenario{pbxtest.AnsweredIncoming, pbxtest.Transfer, pbxtest.OutboundCallback} {
			res, err := fake.PlayWith(ctx(t), srv.URL, pbxtest.Call{Scenario: sc, SkipRouting: true}, x)
			require.NoError(t, err)
			require.Len(t, res.Recordings, 1)
			r, err := c.FetchRecording(ctx(t), res.CallID)
			require.NoError(t, err, "%v %+v", sc, x)
			got, err := io.ReadAll(r.Body)
			require.NoError(t, err)
			require.NoError(t, r.Body.Close())
			want, _ := fake.Recording(res.Recordings[0])
			assert.True(t, bytes.Equal(want, got))
		}
	}
	// A missed call has no recording: not ready, Mango not asked.
	before := recordingPosts(fake)
	res, err := fake.Play(ctx(t), srv.URL, pbxtest.Call{Scenario: pbxtest.MissedIncoming, SkipRouting: true})
	require.NoError(t, err)
	_, err = c.FetchRecording(ctx(t), res.CallID)
	assert.ErrorIs(t, err, pbx.ErrNotReady)
	assert.Equal(t, before, recordingPosts(fake))
}

// TestFetchRecordingConcurrent: notifications and fetches of many calls
// at once (run with -race).
func TestFetchRecordingConcurrent(t *testing.T) {
	fake := mangotest.NewServer(mangotest.Options{})
	t.Cleanup(fake.Close)
	fake.AddRecording("rec", 100)
	c := newClient(t, fake.URL(), func(cfg *mango.Config) {
		cfg.Limits = map[string]mango.Limit{mango.OpRecordingPost: {}, mango.AllOperations: {}}
	})
	h := c.WebhookHandler(nil, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			entry := "E" + string(rune('a'+i))
			added := recordAdded(entry, "rec", time.Now().Unix())
			if w := notify(h, added.path, added.js); w.Code != http.StatusOK {
				errs <- assert.AnError
				return
			}
			r, err := c.FetchRecording(ctx(t), entry)
			if err != nil {
				errs <- err
				return
			}
			_, err = io.Copy(io.Discard, r.Body)
			r.Body.Close()
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}
