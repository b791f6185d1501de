package pbxtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
)

func TestMP3StreamShape(t *testing.T) {
	const size = 20 * MP3FrameLen
	b, err := io.ReadAll(NewMP3Reader(size))
	require.NoError(t, err)
	require.Len(t, b, size)
	assert.Equal(t, "ID3", string(b[:3]))
	for off := MP3TagLen; off+4 <= size; off += MP3FrameLen {
		assert.Equal(t, []byte{0xFF, 0xFB, 0x90, 0x64}, b[off:off+4], "frame header at %d", off)
	}
	assert.Equal(t, b[:1000], MP3Bytes(1000), "MP3Bytes is a prefix of the same stream")
	odd, err := io.ReadAll(iotest.OneByteReader(NewMP3Reader(size)))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(b, odd), "chunking does not change the stream")
	for _, n := range []int64{-5, 0, 1, MP3TagLen, MP3TagLen + 1, 1 << 20} {
		got, err := io.Copy(io.Discard, NewMP3Reader(n))
		require.NoError(t, err)
		assert.Equal(t, max(n, 0), got, "size %d", n)
	}
}

func TestMP3StreamsWithoutAllocating(t *testing.T) {
	buf := make([]byte, 32<<10)
	allocs := testing.AllocsPerRun(3, func() {
		r := NewMP3Reader(64 << 20)
		for {
			if _, err := r.Read(buf); err != nil {
				break
			}
		}
	})
	assert.LessOrEqual(t, allocs, 2.0, "64 MiB streamed with a constant number of allocations")
}

func TestScenarioWords(t *testing.T) {
	for _, tc := range []struct {
		s                  Scenario
		name               string
		incoming, answered bool
	}{
		{AnsweredIncoming, "AnsweredIncoming", true, true},
		{MissedIncoming, "MissedIncoming", true, false},
		{OutboundCallback, "OutboundCallback", false, true},
		{GroupRing, "GroupRing", true, true},
		{Transfer, "Transfer", true, true},
		{Scenario(0), "Scenario(0)", false, false},
		{Scenario(42), "Scenario(42)", false, false},
	} {
		assert.Equal(t, tc.name, tc.s.String())
		assert.Equal(t, tc.incoming, tc.s.Incoming(), tc.name)
		assert.Equal(t, tc.answered, tc.s.Answered(), tc.name)
	}
}

func TestCallWithDefaults(t *testing.T) {
	c := Call{Scenario: MissedIncoming}.WithDefaults()
	assert.Equal(t, DefaultCaller, c.Caller)
	assert.Equal(t, DefaultLine, c.Line)
	assert.Equal(t, []string{"101"}, c.Extensions)
	assert.Equal(t, DefaultMissedRing, c.Ring)
	assert.Equal(t, DefaultTalk, c.Talk)
	assert.False(t, c.Start.IsZero())
	assert.Empty(t, c.CallID, "only the vendor generates call ids")

	assert.Equal(t, []string{"101", "102", "103"}, Call{Scenario: GroupRing}.WithDefaults().Extensions)
	assert.Equal(t, []string{"101", "102"}, Call{Scenario: Transfer}.WithDefaults().Extensions)
	assert.Equal(t, DefaultRing, Call{Scenario: AnsweredIncoming}.WithDefaults().Ring)

	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	given := Call{Scenario: AnsweredIncoming, Caller: "7999", Line: "7495", Extensions: []string{"103"},
		Start: start, Ring: time.Second, Talk: time.Minute}
	assert.Equal(t, given, given.WithDefaults(), "set fields are kept")
}

func TestStaff(t *testing.T) {
	emps := Employees()
	require.Len(t, emps, 3)
	emps[0].Extension = "999"
	assert.Equal(t, "101", Employees()[0].Extension, "Employees returns a fresh copy")
	assert.True(t, HasExtension(Extensions(), "102"))
	assert.False(t, HasExtension(Extensions(), "104"))
	assert.False(t, HasExtension(nil, ""))
}

func TestRecorder(t *testing.T) {
	ctx := context.Background()
	var r Recorder
	route, err := r.Route(ctx, pbx.RouteQuery{Phone: "7999"})
	require.NoError(t, err)
	assert.True(t, route.IsZero(), "no Router: no decision")

	r.Router = pbx.RouterFunc(func(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) {
		return pbx.Route{Extension: "102"}, nil
	})
	route, err = r.Route(ctx, pbx.RouteQuery{Phone: "7888"})
	require.NoError(t, err)
	assert.Equal(t, "102", route.Extension)
	assert.Len(t, r.Queries(), 2)

	require.NoError(t, r.HandleEvent(ctx, pbx.CallEvent{CallID: "a", Type: pbx.EventCallStarted}))
	require.NoError(t, r.HandleEvent(ctx, pbx.CallEvent{CallID: "b", Type: pbx.EventCallStarted}))
	require.NoError(t, r.HandleEvent(ctx, pbx.CallEvent{CallID: "a", Type: pbx.EventCallEnded}))
	assert.Len(t, r.Events(), 3)
	assert.Len(t, r.EventsOf("a"), 2)

	r.Err = errors.New("disk full")
	assert.Error(t, r.HandleEvent(ctx, pbx.CallEvent{CallID: "c"}))
	assert.Len(t, r.Events(), 4, "a failing recorder still records")

	r.Reset()
	assert.Empty(t, r.Events())
	assert.Empty(t, r.Queries())
}

func TestRecorderWaitFor(t *testing.T) {
	ctx := context.Background()
	var r Recorder
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 5 {
			time.Sleep(5 * time.Millisecond)
			_ = r.HandleEvent(ctx, pbx.CallEvent{CallID: "x", Type: pbx.EventType(i)})
		}
	}()
	ok := r.WaitFor(ctx, 5*time.Second, func(es []pbx.CallEvent) bool { return len(es) == 5 })
	assert.True(t, ok)
	wg.Wait()
	assert.False(t, r.WaitFor(ctx, 20*time.Millisecond, func(es []pbx.CallEvent) bool { return len(es) > 5 }),
		"a condition that never holds times out")
}

func TestRegistry(t *testing.T) {
	name := "registry-test-vendor"
	started := 0
	Register(Vendor{Name: name, Start: func(o Options) (Fake, error) {
		started++
		return nil, errors.New("not a real fake")
	}})
	t.Cleanup(func() {
		registryMu.Lock()
		delete(registry, name)
		registryMu.Unlock()
	})
	found := false
	for _, v := range Vendors() {
		found = found || v.Name == name
	}
	assert.True(t, found)
	_, err := Start(name, Options{})
	assert.EqualError(t, err, "not a real fake")
	assert.Equal(t, 1, started)
	_, err = Start("no-such-vendor", Options{})
	assert.ErrorContains(t, err, `no fake registered for "no-such-vendor"`)
	assert.Panics(t, func() { Register(Vendor{Name: name, Start: func(Options) (Fake, error) { return nil, nil }}) })
	assert.Panics(t, func() { Register(Vendor{Name: "nil-start"}) })
}

func TestExtensionsOf(t *testing.T) {
	assert.Equal(t, []string{"101", "102", "103"}, ExtensionsOf(Employees()))
	assert.Equal(t, []string{"7"}, ExtensionsOf([]Employee{{Extension: "7", Name: "x"}}))
	assert.Empty(t, ExtensionsOf(nil))
}
