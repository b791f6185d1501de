package main

import (
	"bytes"
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

// target is one path under load: a handler to serve and a request to send.
type target struct {
	name    string
	handler http.Handler
	// newRequest builds request i (the body may differ per request, as
	// signatures and call ids do).
	newRequest func(baseURL string, i int) (*http.Request, error)
	// check validates a response body; nil accepts any 200.
	check func(body []byte) error
}

// result is what one run measured.
type result struct {
	name     string
	requests int
	errors   int
	elapsed  time.Duration
	p50, p99 time.Duration
	max      time.Duration
	firstErr error
}

func (r result) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

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
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// drive sends requests to t from concurrency workers for duration, after a
// short warm-up, and measures every request's latency.
func drive(t target, concurrency int, duration, warmup time.Duration) (result, error) {
	base, stop, err := serve(t.handler)
	if err != nil {
		return result{}, err
	}
	defer stop()
	client := &http.Client{
		Transport: &http.Transport{
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
		firstErr error
		measured atomic.Bool
	)
	deadline := time.Now().Add(warmup + duration)
	var start time.Time
	time.AfterFunc(warmup, func() { measured.Store(true) })
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 1<<14)
			localErrs := 0
			var localFirst error
			var buf bytes.Buffer
			for time.Now().Before(deadline) {
				i := int(seq.Add(1))
				req, err := t.newRequest(base, i)
				if err != nil {
					localErrs++
					localFirst = firstNonNil(localFirst, err)
					continue
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					buf.Reset()
					_, err = io.Copy(&buf, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, buf.String())
					}
					if err == nil && t.check != nil {
						err = t.check(buf.Bytes())
					}
				}
				d := time.Since(t0)
				if !measured.Load() {
					continue
				}
				if err != nil {
					localErrs++
					localFirst = firstNonNil(localFirst, err)
					continue
				}
				local = append(local, d)
			}
			mu.Lock()
			lat = append(lat, local...)
			errs += localErrs
			firstErr = firstNonNil(firstErr, localFirst)
			mu.Unlock()
		}()
	}
	time.Sleep(warmup)
	start = time.Now()
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	r := result{name: t.name, requests: len(lat), errors: errs, elapsed: elapsed, firstErr: firstErr}
	if len(lat) > 0 {
		r.p50 = lat[len(lat)/2]
		r.p99 = lat[len(lat)*99/100]
		r.max = lat[len(lat)-1]
	}
	return r, nil
}

func firstNonNil(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// bare is the physical limit: read the body, answer 200 {}.
func bare() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	})
}
