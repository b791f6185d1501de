package providertest

import (
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
)

const (
	// recordingSize is the size of the recording streamed: 200 MiB (about
	// 0.2 s over loopback, 1.3 s under the race detector).
	recordingSize = 200 << 20
	// maxHeapGrowth is the bound on heap growth while streaming it.
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

// heapGrowth copies r into a heapSampler (keeping the bytes in keep when
// set) and returns how many bytes passed and how much the heap grew above
// what it was after a GC before the copy started; open is called after the
// baseline is taken and returns the reader.
func heapGrowth(keep io.Writer, open func() (io.ReadCloser, error)) (n, growth int64, s *heapSampler, err error) {
	runtime.GC()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	r, err := open()
	if err != nil {
		return 0, 0, nil, err
	}
	s = &heapSampler{keep: keep}
	s.sample()
	n, err = io.Copy(s, r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	s.sample()
	return n, int64(s.max) - int64(before.HeapAlloc), s, err
}

// testStreaming: fetching a 200 MiB recording from the fake through
// pbx.RecordingFetcher into io.Discard grows the heap by less than 8 MiB.
func (s *suite) testStreaming(t *testing.T) {
	if !s.fetcher {
		t.Skip("the provider is not a pbx.RecordingFetcher")
	}
	fake := s.requireFake(t, recordingSize, "streaming a recording")
	if fake.Recording == "" {
		t.Fatal("Fake.Recording is empty, but the provider is a pbx.RecordingFetcher")
	}
	st := s.settings(t)
	st.BaseURL = fake.URL
	st.HTTPClient = loopbackClient(t, 0)
	p := s.newProvider(t, st).(pbx.RecordingFetcher)
	ctx := opContext(t)

	start := time.Now()
	var rec *pbx.Recording
	n, growth, sampler, err := heapGrowth(nil, func() (io.ReadCloser, error) {
		var err error
		rec, err = p.FetchRecording(ctx, fake.Recording)
		if err != nil {
			return nil, err
		}
		return rec.Body, nil
	})
	took := time.Since(start)
	if err != nil {
		s.noSecretErr(t, "FetchRecording's error", err)
		t.Fatalf("FetchRecording: %s", s.scrub(err.Error()))
	}
	if n != recordingSize {
		t.Fatalf("%d bytes arrived, want the whole recording of %d", n, recordingSize)
	}
	if rec.Size >= 0 && rec.Size != recordingSize {
		t.Errorf("Recording.Size = %d, want %d or -1", rec.Size, recordingSize)
	}
	t.Logf("%d MiB in %v (%.0f MiB/s): heap grew by at most %.2f MiB (%d samples; bound %d MiB)",
		n>>20, took.Round(time.Millisecond), float64(n)/(1<<20)/took.Seconds(),
		float64(growth)/(1<<20), sampler.samples, maxHeapGrowth>>20)
	if growth >= maxHeapGrowth {
		t.Errorf("the heap grew by %.1f MiB while streaming %d MiB: want < %d MiB", float64(growth)/(1<<20), n>>20, maxHeapGrowth>>20)
	}
}
