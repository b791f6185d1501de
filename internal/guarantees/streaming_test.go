package guarantees

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/rostelecom"
	"github.com/pbxkit/pbxkit/rostelecom/rostelecomtest"
	"github.com/pbxkit/pbxkit/sipuni"
	"github.com/pbxkit/pbxkit/sipuni/sipunitest"
)

const (
	// recordingSize is the size of the recording fetched: the 200
	// MiB (about 0.2 s over loopback, 1.3 s under the race detector).
	recordingSize = 200 << 20
	// maxHeapGrowth is the bound on heap growth while streaming.
	maxHeapGrowth = 8 << 20
	// sampleEvery is how many bytes pass between two heap samples.
	sampleEvery = 4 << 20
)

// heapSampler is an io.Writer that reads the heap size every sampleEvery
// bytes and discards what it is given, or keeps it in keep when set.
type heapSampler struct {
	keep     io.Writer
	n, next  int64
	max      uint64
	samples  int
	memstats runtime.MemStats
}

func (s *heapSampler) Write(p []byte) (int, error) {
	s.n += int64(len(p))
	if s.keep != nil {
		if _, err := s.keep.Write(p); err != nil {
			return 0, err
		}
	}
	if s.n >= s.next {
		s.sample()
		s.next = s.n + sampleEvery
	}
	return len(p), nil
}

func (s *heapSampler) sample() {
	runtime.ReadMemStats(&s.memstats)
	s.max = max(s.max, s.memstats.HeapAlloc)
	s.samples++
}

// TestRecordingStreams: fetching a 200 MiB recording from each fake PBX
// that has recordings, through pbx.RecordingFetcher into io.Discard, grows
// the heap by less than 8 MiB.
func TestRecordingStreams(t *testing.T) {
	tests := []struct {
		name string
		// open starts the fake with a recording of size bytes and returns
		// a RecordingFetcher talking to it and the recording's call id.
		open func(t *testing.T, size int64) (pbx.RecordingFetcher, string)
	}{
		{"rostelecom", func(t *testing.T, size int64) (pbx.RecordingFetcher, string) {
			fake := rostelecomtest.NewServer(rostelecomtest.Options{RecordingSize: size})
			t.Cleanup(fake.Close)
			id := fake.AddHistory(rostelecomtest.HistoryEntry{Caller: rostelecomtest.DefaultCaller, Line: rostelecomtest.DefaultLine,
				Extension: "201", Answered: true, Talk: time.Minute, Record: true})
			c, err := rostelecom.New(fake.Config())
			require.NoError(t, err)
			return c, id
		}},
		{"sipuni", func(t *testing.T, size int64) (pbx.RecordingFetcher, string) {
			fake := sipunitest.NewServer(sipunitest.Options{})
			t.Cleanup(fake.Close)
			const id = "1774372146.200200"
			fake.AddRecording(id, size)
			c, err := sipuni.New(sipuni.Config{Account: fake.Account(), Secret: fake.Secret(), BaseURL: fake.URL, WebhookToken: sipuniToken})
			require.NoError(t, err)
			return c, id
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fetcher, id := tt.open(t, recordingSize)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()

			runtime.GC()
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()

			rec, err := fetcher.FetchRecording(ctx, id)
			require.NoError(t, err)
			s := &heapSampler{}
			s.sample()
			n, err := io.Copy(s, rec.Body)
			require.NoError(t, err)
			require.NoError(t, rec.Body.Close())
			s.sample()
			took := time.Since(start)

			require.EqualValues(t, recordingSize, n, "the whole recording arrived")
			if rec.Size >= 0 {
				assert.EqualValues(t, recordingSize, rec.Size)
			}
			growth := int64(s.max) - int64(before.HeapAlloc)
			allocated := s.memstats.TotalAlloc - before.TotalAlloc
			t.Logf("%d MiB in %v (%.0f MiB/s): heap %.1f MiB before, at most %.1f MiB during (%d samples), growth %.2f MiB (bound %d MiB); %.2f MiB allocated in all, %d GC cycles",
				n>>20, took.Round(time.Millisecond), float64(n)/(1<<20)/took.Seconds(),
				mib(before.HeapAlloc), mib(s.max), s.samples, float64(growth)/(1<<20), maxHeapGrowth>>20,
				mib(allocated), s.memstats.NumGC-before.NumGC)
			assert.Less(t, growth, int64(maxHeapGrowth), "heap growth while streaming %d MiB", n>>20)
		})
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// TestHeapSamplerSeesBuffering is the control of TestRecordingStreams: the
// same measurement, around a copy that keeps 32 MiB in memory, reports the
// growth.
func TestHeapSamplerSeesBuffering(t *testing.T) {
	const size = 32 << 20
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var buf bytes.Buffer
	s := &heapSampler{keep: &buf}
	n, err := io.Copy(s, sipunitest.RecordingReader(size))
	require.NoError(t, err)
	require.EqualValues(t, size, n)
	s.sample()
	growth := int64(s.max) - int64(before.HeapAlloc)
	t.Logf("buffering %d MiB: growth %.1f MiB", size>>20, float64(growth)/(1<<20))
	assert.Greater(t, growth, int64(maxHeapGrowth), "a buffered copy exceeds the bound")
	runtime.KeepAlive(buf.Bytes())
}
