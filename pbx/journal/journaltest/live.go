package journaltest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
)

// Sizes of the concurrent-writers test.
const (
	writers         = 4
	eventsPerWriter = 60
)

// collect runs a subscriber from after until it has seen want entries or
// ctx ends, and returns the Seqs seen.
func collect(ctx context.Context, j *journal.Journal, after int64, want int) ([]int64, error) {
	var seen []int64
	for e, err := range j.Subscribe(ctx, after) {
		if err != nil {
			return seen, err
		}
		seen = append(seen, e.Seq)
		if len(seen) == want {
			return seen, nil
		}
	}
	return seen, ctx.Err()
}

func (s *suite) testSubscribe(t *testing.T) {
	t.Run("ConcurrentWritersNothingSkipped", func(t *testing.T) {
		j, _ := s.newJournal(t)
		c, cancel := context.WithTimeout(ctx(t), time.Minute)
		defer cancel()

		total := writers * eventsPerWriter
		type result struct {
			seen []int64
			err  error
		}
		// Two subscribers: one from the start, one that joins halfway.
		early := make(chan result, 1)
		go func() {
			seen, err := collect(c, j, 0, total)
			early <- result{seen, err}
		}()

		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range eventsPerWriter {
					// Writers share calls, so appends to one call race too.
					e := ev("sipuni", fmt.Sprintf("call-%d", i%7), pbx.EventRinging, at(sec(i)), fmt.Sprintf("w%d-%d", w, i))
					e.Extension = fmt.Sprint(100 + w)
					if err := j.HandleEvent(c, e); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}

		var want []int64
		for _, e := range allEntries(t, j) {
			want = append(want, e.Seq)
		}
		require.Len(t, want, total)

		r := <-early
		require.NoError(t, r.err)
		assert.Equal(t, want, r.seen, "the subscriber sees every entry once, in Seq order")

		mid := want[total/2-1]
		late, err := collect(c, j, mid, total-total/2)
		require.NoError(t, err)
		assert.Equal(t, want[total/2:], late, "a subscriber from a Seq gets exactly what follows it")
	})

	t.Run("StoredThenLive", func(t *testing.T) {
		j, _ := s.newJournal(t)
		c, cancel := context.WithTimeout(ctx(t), time.Minute)
		defer cancel()
		handleAll(t, j, ev("sipuni", "a", pbx.EventRinging, at(0), "1"), ev("sipuni", "a", pbx.EventRinging, at(0), "2"))
		got := make(chan []int64, 1)
		go func() {
			seen, _ := collect(c, j, 0, 4)
			got <- seen
		}()
		// The subscriber is waiting for the third entry by now, or will
		// find it stored: either way it must arrive.
		time.Sleep(20 * time.Millisecond)
		handleAll(t, j, ev("sipuni", "a", pbx.EventRinging, at(0), "3"), ev("sipuni", "b", pbx.EventRinging, at(0), "4"))
		select {
		case seen := <-got:
			assert.Len(t, seen, 4)
		case <-c.Done():
			t.Fatal("the subscriber did not see live entries")
		}
	})

	t.Run("EndsWithContext", func(t *testing.T) {
		j, _ := s.newJournal(t)
		handleAll(t, j, ev("sipuni", "a", pbx.EventRinging, at(0), "1"))
		c, cancel := context.WithCancel(ctx(t))
		done := make(chan error, 1)
		go func() {
			var err error
			n := 0
			for _, e := range j.Subscribe(c, 0) {
				if e != nil {
					err = e
				}
				n++
				if n == 1 {
					cancel()
				}
			}
			done <- err
		}()
		select {
		case err := <-done:
			assert.NoError(t, err, "a cancelled subscription ends without an error")
		case <-time.After(30 * time.Second):
			t.Fatal("Subscribe did not end when its context ended")
		}
	})

	t.Run("Store/Wait", func(t *testing.T) {
		j, st := s.newJournal(t)
		handleAll(t, j, ev("sipuni", "a", pbx.EventRinging, at(0), "1"))
		last, err := st.LastSeq(ctx(t))
		require.NoError(t, err)

		// An entry after `after` is visible: no waiting.
		c, cancel := context.WithTimeout(ctx(t), 30*time.Second)
		defer cancel()
		require.NoError(t, st.Wait(c, last-1))

		// Nothing new: Wait ends with the context (spurious wake-ups are
		// allowed, so loop while nothing new is visible).
		short, cancelShort := context.WithTimeout(ctx(t), 200*time.Millisecond)
		defer cancelShort()
		for {
			err := st.Wait(short, last)
			if err != nil {
				assert.True(t, errors.Is(err, context.DeadlineExceeded), "got %v", err)
				break
			}
			n, err := st.LastSeq(ctx(t))
			require.NoError(t, err)
			require.Equal(t, last, n, "Wait woke for an entry nobody appended")
		}

		// An append wakes a waiter.
		woke := make(chan error, 1)
		go func() {
			for {
				if err := st.Wait(c, last); err != nil {
					woke <- err
					return
				}
				if n, _ := st.LastSeq(c); n > last {
					woke <- nil
					return
				}
			}
		}()
		time.Sleep(20 * time.Millisecond)
		handleAll(t, j, ev("sipuni", "a", pbx.EventRinging, at(0), "2"))
		require.NoError(t, <-woke)
	})
}

func (s *suite) testState(t *testing.T) {
	t.Run("CompareAndSet", func(t *testing.T) {
		st := s.open(t)
		c := ctx(t)
		v, ver, err := st.State(c, "outbox/1c/cursor")
		require.NoError(t, err)
		assert.Nil(t, v)
		assert.Zero(t, ver, "a missing key has version 0")

		ver, err = st.SetState(c, "outbox/1c/cursor", []byte("10"), 0)
		require.NoError(t, err)
		assert.Equal(t, int64(1), ver)
		_, err = st.SetState(c, "outbox/1c/cursor", []byte("11"), 0)
		assert.ErrorIs(t, err, journal.ErrConflict, "creating an existing key conflicts")
		ver, err = st.SetState(c, "outbox/1c/cursor", []byte("12"), 1)
		require.NoError(t, err)
		assert.Equal(t, int64(2), ver)
		_, err = st.SetState(c, "outbox/1c/cursor", []byte("13"), 1)
		assert.ErrorIs(t, err, journal.ErrConflict, "a stale version conflicts")

		v, ver, err = st.State(c, "outbox/1c/cursor")
		require.NoError(t, err)
		assert.Equal(t, "12", string(v))
		assert.Equal(t, int64(2), ver)

		_, err = st.SetState(c, "outbox/1c/cursor", nil, 1)
		assert.ErrorIs(t, err, journal.ErrConflict)
		ver, err = st.SetState(c, "outbox/1c/cursor", nil, 2)
		require.NoError(t, err)
		assert.Zero(t, ver)
		v, ver, err = st.State(c, "outbox/1c/cursor")
		require.NoError(t, err)
		assert.Nil(t, v, "deleted")
		assert.Zero(t, ver)

		// Binary values survive.
		bin := []byte{0, 1, 2, 0xff, '\n'}
		_, err = st.SetState(c, "bin", bin, 0)
		require.NoError(t, err)
		v, _, err = st.State(c, "bin")
		require.NoError(t, err)
		assert.Equal(t, bin, v)
	})

	t.Run("List", func(t *testing.T) {
		st := s.open(t)
		c := ctx(t)
		for _, k := range []string{"outbox/b", "outbox/a", "other/x", "outbox/c", "outbox"} {
			_, err := st.SetState(c, k, []byte(k), 0)
			require.NoError(t, err)
		}
		items, err := st.ListState(c, "outbox/", "", 2)
		require.NoError(t, err)
		require.Len(t, items, 2)
		assert.Equal(t, "outbox/a", items[0].Key)
		assert.Equal(t, "outbox/a", string(items[0].Value))
		assert.Equal(t, int64(1), items[0].Version)
		assert.Equal(t, "outbox/b", items[1].Key)
		items, err = st.ListState(c, "outbox/", "outbox/b", 10)
		require.NoError(t, err)
		require.Len(t, items, 1)
		assert.Equal(t, "outbox/c", items[0].Key)
		items, err = st.ListState(c, "none/", "", 10)
		require.NoError(t, err)
		assert.Empty(t, items)
	})

	t.Run("ConcurrentCompareAndSet", func(t *testing.T) {
		st := s.open(t)
		c := ctx(t)
		const workers, incs = 4, 15
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for done := 0; done < incs; {
					v, ver, err := st.State(c, "counter")
					if err != nil {
						errs <- err
						return
					}
					var n int
					if v != nil {
						if err := json.Unmarshal(v, &n); err != nil {
							errs <- err
							return
						}
					}
					b, _ := json.Marshal(n + 1)
					_, err = st.SetState(c, "counter", b, ver)
					switch {
					case errors.Is(err, journal.ErrConflict):
						// Lost the race: read again.
					case err != nil:
						errs <- err
						return
					default:
						done++
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		v, ver, err := st.State(c, "counter")
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprint(workers*incs), string(v), "every successful compare-and-set counted once")
		assert.Equal(t, int64(workers*incs), ver)
	})
}

func (s *suite) testReopen(t *testing.T) {
	if s.opts.Reopen == nil {
		t.Skip("the store does not reopen (journaltest.Options.Reopen is nil)")
	}
	j, st := s.newJournal(t)
	c := ctx(t)
	sc := Scenarios()[0]
	handleAll(t, j, sc.Events...)
	handleAll(t, j, rtEvent("open", pbx.EventCallStarted, 0, "", "o1"))
	n, err := j.CloseIdle(c, at(5*time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = st.SetState(c, "outbox/x", []byte("cursor"), 0)
	require.NoError(t, err)
	before := allEntries(t, j)
	call := mustCall(t, j, sc.Want.Provider, sc.Want.CallID)

	st2 := s.opts.Reopen(t, st)
	j2 := journal.New(st2, journal.WithClock((&clock{}).now))

	after := allEntries(t, j2)
	require.Len(t, after, len(before), "nothing lost")
	for i := range before {
		assert.Equal(t, before[i].Seq, after[i].Seq)
		assert.Equal(t, before[i].Source, after[i].Source)
		assert.True(t, before[i].ReceivedAt.Equal(after[i].ReceivedAt), "ReceivedAt of %d", before[i].Seq)
		b1, err := json.Marshal(before[i].Event)
		require.NoError(t, err)
		b2, err := json.Marshal(after[i].Event)
		require.NoError(t, err)
		assert.JSONEq(t, string(b1), string(b2), "event %d survives", before[i].Seq)
	}
	assert.Equal(t, Comparable(call), Comparable(mustCall(t, j2, sc.Want.Provider, sc.Want.CallID)))
	assert.Equal(t, journal.ClosedByTimeout, mustCall(t, j2, "rostelecom", "open").ClosedBy)
	v, ver, err := st2.State(c, "outbox/x")
	require.NoError(t, err)
	assert.Equal(t, "cursor", string(v))
	assert.Equal(t, int64(1), ver)

	// Dedupe survives the restart, and Seq keeps growing.
	handleAll(t, j2, sc.Events...)
	assert.Len(t, allEntries(t, j2), len(before), "a redelivery after a restart is still a redelivery")
	handleAll(t, j2, rtEvent("new", pbx.EventCallStarted, 0, "", "n1"))
	es := allEntries(t, j2)
	require.Len(t, es, len(before)+1)
	assert.Greater(t, es[len(es)-1].Seq, before[len(before)-1].Seq)
}
