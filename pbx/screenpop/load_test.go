package screenpop_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/journal/sqlitestore"
	"github.com/pbxkit/pbxkit/pbx/screenpop"
)

// The load measurement. It is a test that runs only when asked:
//
//	PBXKIT_SCREENPOP_LOAD=1 go test -run TestLoad -v ./pbx/screenpop/
//
// The test process is the server: a webhook endpoint (JSON pbx.CallEvent
// in, the journal's HandleEvent, 200 out; the event's time is its arrival),
// the journal (SQLite in a temporary directory; PBXKIT_SCREENPOP_LOAD_STORE=memory
// for the in-memory store), and the hub. It also sends the load: calls of
// three events each (ringing, answered, call_ended) from 8 concurrent
// senders, over 100 extensions and 500 client numbers. The 1,000 browsers
// (10 streams per extension) run in a second process (this test binary
// again), so that the server's memory per stream is measured alone; they
// take the latency of each card as its arrival time minus the card's at,
// which the webhook set on arrival.
//
// Rounds alternate: the webhook path alone (no hub), then with the hub and
// the 1,000 streams, the senders as fast as they can (saturation); the
// requests/s of each kind of round are the median, and their ratio is the
// hub's cost. The latency at saturation includes the queue of a machine
// running flat out; the latency the employees see is measured in a last
// round paced at loadPacedCalls calls per second (300 webhook requests/s,
// far more than a company's PBX sends).
const (
	envLoad        = "PBXKIT_SCREENPOP_LOAD"
	envLoadStore   = "PBXKIT_SCREENPOP_LOAD_STORE"
	envLoadClient  = "PBXKIT_SCREENPOP_LOAD_CLIENT"  // set in the browsers' process
	envLoadProfile = "PBXKIT_SCREENPOP_LOAD_PROFILE" // a CPU profile of the server in rounds with the hub, to PATH.N

	loadStreams    = 1000
	loadExtensions = 100
	loadSenders    = 8
	loadCalls      = 1500 // per round: 4,500 webhook requests
	loadPacedCalls = 100  // calls per second in the paced round
	loadPacedTime  = 10 * time.Second
	loadRounds     = 5
)

func loadExtension(i int) string { return strconv.Itoa(1000 + i%loadExtensions) }

// webhook is the stand-in for a provider's webhook handler: it reads a
// JSON event, stamps its arrival, and hands it to the journal.
func webhook(j *journal.Journal) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived := time.Now()
		var e pbx.CallEvent
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&e); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		e.At = arrived
		if err := j.HandleEvent(r.Context(), e); err != nil {
			http.Error(w, "store failed", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

type loadResult struct {
	Round       int
	WithHub     bool
	Requests    int
	PerSecond   float64
	Cards       int
	P50, P99    time.Duration
	Max         time.Duration
	BytesStream float64 // server memory per stream
	GoroStream  float64 // server goroutines per stream
	BrowsersCPU time.Duration
	Elapsed     time.Duration
}

func TestLoad(t *testing.T) {
	if os.Getenv(envLoadClient) != "" {
		t.Skip("in the browsers' process")
	}
	if os.Getenv(envLoad) == "" {
		t.Skip(envLoad + " not set: set it to 1 to run the screen-pop load measurement (1,000 streams, a minute or two)")
	}
	var results []loadResult
	for round := range loadRounds {
		for _, withHub := range []bool{false, true} {
			r := loadRound(t, round, withHub, 0)
			results = append(results, r)
			t.Logf("round %d hub=%v: %.0f requests/s (%v), %d cards, p50 %v, p99 %v, max %v, %.1f KiB and %.1f goroutines per stream, browsers' CPU %v",
				r.Round, r.WithHub, r.PerSecond, r.Elapsed.Round(time.Millisecond), r.Cards, r.P50, r.P99, r.Max, r.BytesStream/1024, r.GoroStream, r.BrowsersCPU.Round(time.Millisecond))
		}
	}
	med := func(hub bool, f func(loadResult) float64) float64 {
		var v []float64
		for _, r := range results {
			if r.WithHub == hub {
				v = append(v, f(r))
			}
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	rps := func(r loadResult) float64 { return r.PerSecond }
	without, with := med(false, rps), med(true, rps)
	t.Logf("machine: %d CPUs (GOMAXPROCS %d), %s/%s, %s; store %s", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version(), loadStore())
	t.Logf("webhook path: %.0f requests/s without the hub, %.0f with the hub and %d streams: ratio %.2f", without, with, loadStreams, with/without)
	t.Logf("at saturation, webhook arrival to card bytes on the stream (median of rounds): p50 %v, p99 %v",
		time.Duration(med(true, func(r loadResult) float64 { return float64(r.P50) })),
		time.Duration(med(true, func(r loadResult) float64 { return float64(r.P99) })))
	paced := loadRound(t, loadRounds, true, loadPacedCalls)
	t.Logf("paced round: %d calls/s (%.0f requests/s), %d cards: webhook arrival to card bytes p50 %v, p99 %v, max %v",
		loadPacedCalls, paced.PerSecond, paced.Cards, paced.P50, paced.P99, paced.Max)
	t.Logf("server memory per connected stream: %.1f KiB (%.1f goroutines)",
		med(true, func(r loadResult) float64 { return r.BytesStream })/1024,
		med(true, func(r loadResult) float64 { return r.GoroStream }))
}

func loadStore() string {
	if s := os.Getenv(envLoadStore); s != "" {
		return s
	}
	return "sqlite"
}

// loadRound runs one round; callsPerSecond 0 sends as fast as the senders
// can, else paces the calls for loadPacedTime.
func loadRound(t *testing.T, round int, withHub bool, callsPerSecond int) loadResult {
	ctx := context.Background()
	var store journal.Store
	switch loadStore() {
	case "memory":
		store = journal.NewMemoryStore()
	case "sqlite":
		s, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "journal.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		store = s
	default:
		t.Fatalf("%s: memory or sqlite", envLoadStore)
	}
	j := journal.New(store)
	mux := http.NewServeMux()
	mux.Handle("POST /webhook", webhook(j))
	var hub *screenpop.Hub
	if withHub {
		directory := map[string][2]string{}
		for i := range 500 {
			directory[loadPhone(i)] = [2]string{"Клиент " + strconv.Itoa(i), loadExtension(i)}
		}
		var err error
		hub, err = screenpop.New(j, screenpop.Config{
			Secret: secret,
			Lookup: func(_ context.Context, phone string) (string, string, error) {
				d := directory[phone]
				return d[0], d[1], nil
			},
			Buffer: 256,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer hub.Close()
		mux.Handle("GET /screenpop", hub)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()

	res := loadResult{Round: round, WithHub: withHub}
	var browsers *exec.Cmd
	var stdin io.WriteCloser
	var stdout *bufio.Reader
	if withHub {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		goroBefore := runtime.NumGoroutine()

		browsers = exec.Command(os.Args[0], "-test.run=^TestLoadBrowsers$", "-test.v")
		browsers.Env = append(os.Environ(), envLoadClient+"="+srv.URL)
		browsers.Stderr = os.Stderr
		var err error
		if stdin, err = browsers.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		out, err := browsers.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout = bufio.NewReader(out)
		if err := browsers.Start(); err != nil {
			t.Fatal(err)
		}
		defer browsers.Process.Kill()
		if !waitLine(stdout, "ready") {
			t.Fatal("the browsers did not connect")
		}
		if s := hub.Stats().Streams; s != loadStreams {
			t.Fatalf("%d streams connected", s)
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		used := func(m *runtime.MemStats) float64 { return float64(m.HeapInuse + m.StackInuse) }
		res.BytesStream = (used(&after) - used(&before)) / loadStreams
		res.GoroStream = float64(runtime.NumGoroutine()-goroBefore) / loadStreams
	}

	if path := os.Getenv(envLoadProfile); path != "" && withHub {
		f, err := os.Create(fmt.Sprintf("%s.%d", path, round))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}

	// The load: calls of three events, from loadSenders senders.
	calls := loadCalls
	var pace <-chan time.Time
	if callsPerSecond > 0 {
		calls = int(loadPacedTime.Seconds()) * callsPerSecond
		tick := time.NewTicker(time.Second / time.Duration(callsPerSecond))
		defer tick.Stop()
		pace = tick.C
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: loadSenders}}
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range loadSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := int(next.Add(1)) - 1
				if n >= calls {
					return
				}
				if pace != nil {
					<-pace
				}
				id := fmt.Sprintf("r%d-%d", round, n)
				ext, ph := loadExtension(n), loadPhone(n%500)
				for _, e := range []pbx.CallEvent{
					{Type: pbx.EventRinging, CallID: id, Direction: pbx.Inbound, Extension: ext, Phone: ph},
					{Type: pbx.EventAnswered, CallID: id, Direction: pbx.Inbound, Extension: ext, Phone: ph},
					{Type: pbx.EventCallEnded, CallID: id, Direction: pbx.Inbound, Extension: ext, Phone: ph, Outcome: pbx.OutcomeAnswered, TalkDuration: 30 * time.Second},
				} {
					e.Provider = "load"
					b, _ := json.Marshal(e)
					resp, err := client.Post(srv.URL+"/webhook", "application/json", bytes.NewReader(b))
					if err != nil {
						failed.Add(1)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						failed.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	client.CloseIdleConnections()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d webhook requests failed", n)
	}
	res.Requests = 3 * calls
	res.PerSecond = float64(res.Requests) / elapsed.Seconds()
	res.Elapsed = elapsed

	if withHub {
		waitPosition(t, hub, j)
		time.Sleep(200 * time.Millisecond) // the last bytes on their way
		stdin.Close()
		line, err := stdout.ReadString('\n')
		for err == nil && !strings.HasPrefix(line, "{") {
			line, err = stdout.ReadString('\n')
		}
		if err != nil {
			t.Fatalf("the browsers' report: %v", err)
		}
		var rep browsersReport
		if err := json.Unmarshal([]byte(line), &rep); err != nil {
			t.Fatal(err)
		}
		browsers.Wait()
		res.BrowsersCPU = browsers.ProcessState.UserTime() + browsers.ProcessState.SystemTime()
		if want := calls * loadStreams / loadExtensions; rep.Cards != want {
			t.Errorf("the browsers got %d cards, want %d", rep.Cards, want)
		}
		if d := hub.Stats().Dropped; d > 0 {
			t.Errorf("%d streams dropped", d)
		}
		res.Cards, res.P50, res.P99, res.Max = rep.Cards, rep.P50, rep.P99, rep.Max
	}
	return res
}

func loadPhone(i int) string { return fmt.Sprintf("7916%07d", i) }

func waitLine(r *bufio.Reader, want string) bool {
	for range 10000 {
		line, err := r.ReadString('\n')
		if err != nil {
			return false
		}
		if strings.TrimSpace(line) == want {
			return true
		}
	}
	return false
}

type browsersReport struct {
	Cards         int
	P50, P99, Max time.Duration
}

// TestLoadBrowsers is the browsers' process of TestLoad: it opens the
// streams, says "ready", reads cards until its stdin closes, and prints a
// JSON report.
func TestLoadBrowsers(t *testing.T) {
	base := os.Getenv(envLoadClient)
	if base == "" {
		t.Skip("run by TestLoad only")
	}
	tr := &http.Transport{MaxIdleConnsPerHost: loadStreams, MaxConnsPerHost: 0}
	client := &http.Client{Transport: tr}
	var mu sync.Mutex
	var lat []time.Duration
	ready := make(chan struct{}, loadStreams)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range loadStreams {
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/screenpop?token="+token(loadExtension(i)), nil)
			resp, err := client.Do(req)
			if err != nil || resp.StatusCode != http.StatusOK {
				fmt.Fprintln(os.Stderr, "connect:", err)
				return
			}
			defer resp.Body.Close()
			r := bufio.NewReaderSize(resp.Body, 64<<10)
			readyOnce := false
			for {
				line, err := r.ReadSlice('\n')
				if err != nil {
					return
				}
				if !readyOnce && bytes.HasPrefix(line, []byte("event: position")) {
					readyOnce = true
					ready <- struct{}{}
				}
				// The card's at: what the webhook stamped on arrival.
				if !bytes.HasPrefix(line, []byte("data: {")) {
					continue
				}
				now := time.Now()
				k := bytes.Index(line, []byte(`"at":"`))
				if k < 0 {
					continue
				}
				rest := line[k+6:]
				at, err := time.Parse(time.RFC3339Nano, string(rest[:bytes.IndexByte(rest, '"')]))
				if err != nil {
					continue
				}
				mu.Lock()
				lat = append(lat, now.Sub(at))
				mu.Unlock()
			}
		}()
	}
	for range loadStreams {
		select {
		case <-ready:
		case <-time.After(60 * time.Second):
			t.Fatal("streams did not open")
		}
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	rep := browsersReport{Cards: len(lat)}
	if len(lat) > 0 {
		rep.P50, rep.P99, rep.Max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	}
	b, _ := json.Marshal(rep)
	fmt.Println(string(b))
}
