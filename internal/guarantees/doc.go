// Package guarantees holds no code, only tests: each test proves one of the
// guarantees issue 8 promises users, by measuring it against the real
// webhook handlers and API clients of every provider and their fakes
// (rostelecomtest, sipunitest, pztest), on 127.0.0.1 only.
//
//   - Routing deadline (deadline_test.go): with a router slower than
//     RouteTimeout, 200 concurrent routing questions to each provider's
//     webhook handler are all answered "no decision", in the vendor's shape,
//     within RouteTimeout + 100 ms, and every goroutine started for them
//     ends once the slow routers return.
//   - Streaming (streaming_test.go): a 200 MiB recording fetched through
//     pbx.RecordingFetcher from each fake that has recordings grows the heap
//     by less than 8 MiB.
//   - Retry policy under faults (retry_test.go): behind a proxy that resets
//     connections, stalls past the client's response-header timeout, or
//     answers 500, 502 or 429 with Retry-After, reads succeed when the fault
//     is transient and give up after MaxRetries+1 attempts, within their
//     backoff bound, when it persists; pbx.Caller.MakeCall reaches the
//     server exactly once whatever the fault.
//
// The fourth guarantee, no panic on any input, is the fuzz targets of the
// provider packages, run by CI.
package guarantees
