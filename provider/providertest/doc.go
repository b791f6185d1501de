// Package providertest is the conformance suite every pbxkit vendor package
// runs from its own conformance_test.go, the way database/sql drivers or
// gocloud's blob drivers (drivertest) run theirs:
//
//	func TestConformance(t *testing.T) {
//		providertest.Run(t, acmetest.Harness())
//	}
//
// A vendor describes itself once in a [Harness], in its fake package: how
// to build its provider from [Settings], how to start its fake, how to send
// its webhook an authenticated routing question and call event and which
// forged requests it must refuse, and which secrets it was given. The
// harness is a plain value, so programs use it too: the load program takes
// its webhook requests from the same harnesses.
//
// [Run] checks, each as a subtest, on 127.0.0.1 only:
//
//   - RoutingDeadline: with a slow router and RouteTimeout 200 ms, 200
//     simultaneous routing questions are all answered with the vendor's
//     "no decision", each after RouteTimeout, and the goroutine count
//     returns to its baseline once the routers return; once with a router
//     that ignores its context, once with one that honours it. With
//     PBXKIT_STRICT_TIMING=1 (CI runs the conformance tests so, alone on
//     the machine) the router takes 2 s and every answer must come within
//     RouteTimeout + 100 ms (150 ms more under the race detector); without
//     it the router takes 5 s and the bound is RouteTimeout + 2.5 s, still
//     long before the router answers: on a loaded machine the exact bound
//     measures the scheduler, not the provider.
//   - Streaming: a 200 MiB recording fetched through pbx.RecordingFetcher
//     grows the heap by less than 8 MiB.
//   - Webhook: an authenticated call event reaches the EventHandler and is
//     answered 2xx, an EventHandler error is answered 5xx; an authenticated
//     routing question reaches the Router and its decision reaches the PBX,
//     a router error gives "no decision"; every forged request (the
//     harness's, and requests with no credentials at all) gets a 4xx and
//     reaches neither the EventHandler nor the Router.
//   - Secrets: the provider printed with %v, %+v, %#v and %s, logged through
//     slog or marshalled to JSON shows no secret; a BaseURL carrying a
//     password shows it nowhere. Every other check also looks for the
//     secrets in each error it gets, each line the provider logs (captured
//     at debug level) and each webhook answer.
//   - MakeCall: behind a server that resets the connection after the
//     request arrived, never answers, answers 500, 502, 503 or 429 (with a
//     sane or an absurd Retry-After), or redirects to a refused port, to
//     another host or to itself, pbx.Caller.MakeCall reaches the server
//     exactly once, nothing reaches a redirect's target, and the error comes
//     at once and says what happened (a redirect error names the host it
//     pointed to); without a fault it reaches the fake once and succeeds.
//   - Reads: pbx.SubscriberLister, pbx.HistoryExporter and
//     pbx.RecordingFetcher, behind the same faults, send the same request
//     again, once, and succeed after one transient fault (waiting for
//     Retry-After): exactly two requests to the read's path, one of them
//     answered by the fake, nothing sent again after the success (a resend
//     of a request whose answer reached the client after its header
//     timeout, on a loaded machine, is counted in); they give
//     up after MaxRetries+1 attempts within their backoff bound when the
//     fault persists, and give up at once, after one request, on a
//     redirect or an absurd Retry-After. When the harness says the
//     vendor's Config has OnRetry (Harness.OnRetry), it is called exactly
//     once per retry: once, MaxRetries times and never in these cases.
//   - Timeout: with Config.Timeout of 500 ms, every operation fails with an
//     error matching context.DeadlineExceeded in time when the server holds
//     the headers or stops in the middle of the body (MakeCall still sent
//     once); a recording that arrives slowly but steadily is not cut.
//
// A capability the provider lacks is skipped, with a message naming it. The
// suite expects the retry policy of provider.Options' defaults (3 retries,
// backoff from 250 ms): a harness must not change it.
//
// The fourth guarantee of the README, no panic on any input, is each vendor
// package's fuzz targets.
package providertest
