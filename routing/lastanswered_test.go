package routing

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func answered(phone, ext string, dir pbx.Direction) pbx.CallEvent {
	return pbx.CallEvent{Type: pbx.EventAnswered, Phone: phone, Extension: ext, Direction: dir}
}

func routeOf(t *testing.T, r pbx.Router, phone string) string {
	t.Helper()
	got, err := r.Route(context.Background(), pbx.RouteQuery{Phone: phone})
	require.NoError(t, err)
	assert.Empty(t, got.DisplayName)
	return got.Extension
}

func TestLastAnsweredEvents(t *testing.T) {
	tests := []struct {
		name   string
		events []pbx.CallEvent
		phone  string
		want   string
	}{
		{"inbound answer", []pbx.CallEvent{answered("79991234567", "101", pbx.Inbound)}, "79991234567", "101"},
		{"any written form", []pbx.CallEvent{answered("+7 999 123-45-67", "101", pbx.Inbound)}, "89991234567", "101"},
		{"outbound answer", []pbx.CallEvent{answered("79991234567", "102", pbx.Outbound)}, "79991234567", "102"},
		{"unknown direction", []pbx.CallEvent{answered("79991234567", "103", pbx.DirectionUnknown)}, "79991234567", "103"},
		{"latest answer wins", []pbx.CallEvent{
			answered("79991234567", "101", pbx.Inbound),
			answered("79991234567", "102", pbx.Inbound),
		}, "79991234567", "102"},
		{"internal call ignored", []pbx.CallEvent{answered("102", "101", pbx.Internal)}, "102", ""},
		{"ringing ignored", []pbx.CallEvent{{Type: pbx.EventRinging, Phone: "79991234567", Extension: "101"}}, "79991234567", ""},
		{"ended ignored", []pbx.CallEvent{{Type: pbx.EventCallEnded, Phone: "79991234567", Extension: "101"}}, "79991234567", ""},
		{"no extension", []pbx.CallEvent{answered("79991234567", "", pbx.Inbound)}, "79991234567", ""},
		{"no phone", []pbx.CallEvent{answered("", "101", pbx.Inbound)}, "", ""},
		{"other client", []pbx.CallEvent{answered("79991234567", "101", pbx.Inbound)}, "79991234568", ""},
		// Exact normalised number, not the last-digits rule.
		{"exact key", []pbx.CallEvent{answered("79991234567", "101", pbx.Inbound)}, "1234567", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLastAnswered()
			for _, e := range tt.events {
				require.NoError(t, l.HandleEvent(context.Background(), e))
			}
			assert.Equal(t, tt.want, routeOf(t, l, tt.phone))
		})
	}
}

func TestLastAnsweredTTL(t *testing.T) {
	clock := &fakeClock{t: time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)}
	l := NewLastAnswered(WithTTL(time.Hour), WithClock(clock.Now))
	l.Remember("79991234567", "101")
	clock.Advance(30 * time.Minute)
	l.Remember("79990000000", "102")
	clock.Advance(30 * time.Minute)
	assert.Equal(t, "101", routeOf(t, l, "79991234567"), "exactly TTL old still counts")

	clock.Advance(time.Second)
	assert.Equal(t, "", routeOf(t, l, "79991234567"), "older than TTL")
	assert.Equal(t, 1, l.Len(), "the expired entry was dropped when met")
	assert.Equal(t, "102", routeOf(t, l, "79990000000"))

	// Routing does not refresh an entry; a new answer does.
	clock.Advance(20 * time.Minute)
	assert.Equal(t, "102", routeOf(t, l, "79990000000"))
	clock.Advance(20 * time.Minute)
	assert.Equal(t, "", routeOf(t, l, "79990000000"))
	l.Remember("79990000000", "103")
	clock.Advance(50 * time.Minute)
	assert.Equal(t, "103", routeOf(t, l, "79990000000"))

	// Expired entries at the old end are dropped when a new number comes.
	l.Remember("79995555555", "104")
	clock.Advance(2 * time.Hour)
	l.Remember("79996666666", "105")
	assert.Equal(t, 1, l.Len())
}

func TestLastAnsweredBound(t *testing.T) {
	clock := &fakeClock{t: time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)}
	l := NewLastAnswered(WithMaxEntries(3), WithClock(clock.Now))
	for i := range 3 {
		l.Remember("7999000000"+strconv.Itoa(i), "10"+strconv.Itoa(i))
		clock.Advance(time.Minute)
	}
	// Answering the oldest again makes it the newest.
	l.Remember("79990000000", "100")
	l.Remember("79990000003", "103")
	assert.Equal(t, 3, l.Len())
	assert.Equal(t, "100", l.Lookup("79990000000"))
	assert.Equal(t, "", l.Lookup("79990000001"), "the least recently answered is forgotten")
	assert.Equal(t, "102", l.Lookup("79990000002"))
	assert.Equal(t, "103", l.Lookup("79990000003"))

	for i := range 1000 {
		l.Remember("7998"+strconv.Itoa(1000000+i), "101")
	}
	assert.Equal(t, 3, l.Len(), "memory does not grow beyond MaxEntries")

	l.Forget("+7 998 100 09 99")
	assert.Equal(t, 2, l.Len())
	assert.Equal(t, "", l.Lookup("79981000999"))
}

func TestLastAnsweredZeroValueAndContext(t *testing.T) {
	var l LastAnswered
	assert.Equal(t, "", l.Lookup("79991234567"))
	l.Forget("79991234567")
	assert.Zero(t, l.Len())
	require.NoError(t, l.HandleEvent(context.Background(), answered("79991234567", "101", pbx.Inbound)))
	assert.Equal(t, "101", routeOf(t, &l, "79991234567"))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := l.Route(ctx, pbx.RouteQuery{Phone: "79991234567"})
	assert.ErrorIs(t, err, context.Canceled)
	assert.True(t, got.IsZero())
}

func TestLastAnsweredConcurrent(t *testing.T) {
	l := NewLastAnswered(WithMaxEntries(50))
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				num := "7999" + strconv.Itoa(1000000+(i*7+w)%120)
				_ = l.HandleEvent(context.Background(), answered(num, strconv.Itoa(100+w), pbx.Inbound))
				_, _ = l.Route(context.Background(), pbx.RouteQuery{Phone: num})
				if i%50 == 0 {
					l.Forget(num)
				}
			}
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, l.Len(), 50)
	// The list and the map agree.
	n := 0
	for en := l.head.next; en != &l.head; en = en.next {
		n++
		assert.Same(t, en, l.entries[en.phone])
	}
	assert.Equal(t, l.Len(), n)
}

func TestLastAnsweredRouteDoesNotAllocate(t *testing.T) {
	l := NewLastAnswered()
	l.Remember("79991234567", "101")
	ctx := context.Background()
	q := pbx.RouteQuery{Phone: "79991234567"}
	allocs := testing.AllocsPerRun(100, func() { _, _ = l.Route(ctx, q) })
	assert.Zero(t, allocs)
}

// TestLastAnsweredIgnoresAbsurdNumbers: 500 Answered events whose Phone is
// a distinct 900,000-character "number" leave nothing behind (each used to
// be kept: +450 MB), and neither do huge logins or extensions; numbers of
// up to phone.MaxDigits digits are still learnt.
func TestLastAnsweredIgnoresAbsurdNumbers(t *testing.T) {
	l := NewLastAnswered()
	ctx := context.Background()
	digits := strings.Repeat("9", 900_000+500)
	letters := strings.Repeat("x", 900_000+500)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 500 {
		// Distinct values (different lengths) without allocating each one.
		require.NoError(t, l.HandleEvent(ctx, answered(digits[i:], "101", pbx.Inbound)))
		require.NoError(t, l.HandleEvent(ctx, answered(letters[i:], "101", pbx.Inbound)))
		require.NoError(t, l.HandleEvent(ctx, answered("7999"+strconv.Itoa(1000000+i), letters[i:], pbx.Inbound)))
	}
	l.Remember(digits, "101")
	l.Remember("+7 (999) "+digits, "101")
	runtime.GC()
	runtime.ReadMemStats(&after)
	assert.Zero(t, l.Len(), "nothing remembered")
	assert.Less(t, int64(after.HeapAlloc)-int64(before.HeapAlloc), int64(8<<20), "memory did not grow")
	assert.Equal(t, "", l.Lookup(digits))
	runtime.KeepAlive(l)

	tooMany := strings.Repeat("1", phone.MaxDigits+1)
	require.NoError(t, l.HandleEvent(ctx, answered(tooMany, "101", pbx.Inbound)))
	assert.Zero(t, l.Len(), "one digit more than phone.MaxDigits")

	longest := strings.Repeat("1", phone.MaxDigits)
	require.NoError(t, l.HandleEvent(ctx, answered(longest, "101", pbx.Inbound)))
	require.NoError(t, l.HandleEvent(ctx, answered("sip:ivan.petrov@example.ru", "102", pbx.Inbound)))
	assert.Equal(t, 2, l.Len())
	assert.Equal(t, "101", l.Lookup(longest))
	assert.Equal(t, "102", l.Lookup("sip:ivan.petrov@example.ru"), "a login of normal length is still learnt")
}
