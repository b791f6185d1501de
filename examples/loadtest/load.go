package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// target is one handler under load: a handler to serve and a request to
// send.
type target struct {
	name    string
	handler http.Handler
	// newRequest builds request i for the server at baseURL (the body may
	// differ per request, as signatures and call ids do).
	newRequest func(baseURL string, i int) (*http.Request, error)
	// check validates an answer; nil accepts any 2xx.
	check func(status int, body []byte) error
}

// result is what one run measured.
type result struct {
	name     string
	requests int // measured, answered 2xx and accepted by check
	errors   int // measured, failed
	// acked counts every request answered 2xx and accepted by check,
	// the warm-up's included: what the handler must have taken.
	acked    int
	elapsed  time.Duration
	p50, p99 time.Duration
	max      time.Duration
	firstErr error
}

func (r result) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

// serve starts h on a loopback port and returns its base URL and a stop
// function.
func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// drive sends requests to t from concurrency workers for duration, after a
// warm-up that is sent but not measured, and measures every request's
// latency.
func drive(t target, concurrency int, duration, warmup time.Duration) (result, error) {
	base, stop, err := serve(t.handler)
	if err != nil {
		return result{}, err
	}
	defer stop()
	client := &http.Client{
		Transport: &http.Transport{
			Proxy:               nil, // loopback only
			MaxIdleConns:        concurrency,
			MaxIdleConnsPerHost: concurrency,
			DisableCompression:  true,
		},
		Timeout: 10 * time.Second,
	}
	defer client.CloseIdleConnections()

	var (
		seq      atomic.Int64
		mu       sync.Mutex
		lat      []time.Duration
		errs     int
		acked    int
		firstErr error
		measured atomic.Bool
	)
	deadline := time.Now().Add(warmup + duration)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 1<<14)
			localErrs, localAcked := 0, 0
			var localFirst error
			var buf bytes.Buffer
			for time.Now().Before(deadline) {
				i := int(seq.Add(1))
				req, err := t.newRequest(base, i)
				if err != nil {
					localErrs++
					localFirst = cmp.Or(localFirst, err)
					continue
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					buf.Reset()
					_, err = io.Copy(&buf, resp.Body)
					resp.Body.Close()
					if err == nil && (resp.StatusCode < 200 || resp.StatusCode > 299) {
						err = fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, buf.String())
					}
					if err == nil && t.check != nil {
						err = t.check(resp.StatusCode, buf.Bytes())
					}
				}
				d := time.Since(t0)
				if err == nil {
					localAcked++
				}
				if !measured.Load() {
					continue
				}
				if err != nil {
					localErrs++
					localFirst = cmp.Or(localFirst, err)
					continue
				}
				local = append(local, d)
			}
			mu.Lock()
			lat = append(lat, local...)
			errs += localErrs
			acked += localAcked
			firstErr = cmp.Or(firstErr, localFirst)
			mu.Unlock()
		}()
	}
	time.Sleep(warmup)
	measured.Store(true)
	start := time.Now()
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	r := result{name: t.name, requests: len(lat), errors: errs, acked: acked, elapsed: elapsed, firstErr: firstErr}
	if len(lat) > 0 {
		r.p50 = lat[len(lat)/2]
		r.p99 = lat[len(lat)*99/100]
		r.max = lat[len(lat)-1]
	}
	return r, nil
}

// bare is the machine's limit: read the body, answer 200 {}.
func bare() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	})
}

// median returns the run with the median requests/s.
func median(rs []result) result {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b result) int { return cmp.Compare(a.rps(), b.rps()) })
	return s[len(s)/2]
}
