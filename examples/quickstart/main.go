// Command quickstart shows pbxkit working end to end, offline, in a few
// seconds and without any PBX account:
//
//	go run ./examples/quickstart          # readable output
//	go run ./examples/quickstart -json    # call events as JSON lines
//
// It starts, in one process and on loopback ports only, the fake PBXs of
// the three vendors (rostelecomtest, sipunitest and pztest) and one webhook
// server that mounts the three providers' handlers under /pbx/rostelecom/,
// /pbx/sipuni/ and /pbx/prostiezvonki/. Incoming calls are routed by one
// routing.Responsible router over a small built-in directory of clients,
// each with a responsible manager; callers it does not know, and clients
// without a manager, go to the reception desk (routing.WithDefault).
//
// For each vendor it then plays an answered incoming call from a client
// (the fake must ring that client's manager), a missed incoming call,
// and a click-to-call placed through pbx.Caller (the fake must ring the
// employee and send the outbound call's notifications to the webhook); it
// downloads one recording where the vendor has a recording API
// (pbx.RecordingFetcher) and lists the employees where it has that
// (pbx.SubscriberLister).
//
// # Output
//
// Each step starts with a "---" line. Then, as they happen:
//
//   - a "route" line per routing question the PBX asked the webhook: the
//     caller's number, the extension chosen and the name shown on the
//     employee's phone (or "no decision");
//   - one line per normalised pbx.CallEvent: the time since the start, the
//     vendor, the event type, the direction, the external number, the
//     employee's extension and, on call_ended, the outcome;
//   - "ok" or "FAIL" lines for what the demo checked after the step.
//
// A summary per vendor follows: the events by type, the routing decisions,
// the calls placed, the recording downloaded and the employees listed.
//
// With -json only the call events are written, one json.Marshal'ed
// pbx.CallEvent per line (without its Raw vendor payload), for jq and
// friends; the checks still decide the exit status.
//
// The program exits 0 when every check passed, and 1 with a message naming
// what did not happen otherwise. The whole run is bounded by -timeout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/pbxkit/pbxkit/routing"
)

func main() {
	jsonOut := flag.Bool("json", false, "print the call events as JSON lines instead of the readable lines")
	timeout := flag.Duration("timeout", 20*time.Second, "give up when the whole demonstration takes longer")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "quickstart: unexpected arguments:", flag.Args())
		flag.Usage()
		os.Exit(2)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	err := run(ctx, os.Stdout, *jsonOut)
	late := errors.Is(ctx.Err(), context.DeadlineExceeded)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		if late {
			fmt.Fprintf(os.Stderr, "quickstart: gave up after %s (-timeout)\n", *timeout)
		}
		os.Exit(1)
	}
}

// run starts the fakes and the webhook server, plays every vendor's script
// and writes what happens to stdout: readable lines and a summary, or the
// call events as JSON lines when jsonOut is set. It returns an error naming
// every check that failed, nil when the whole flow happened.
func run(ctx context.Context, stdout io.Writer, jsonOut bool) (err error) {
	dir, err := routing.NewMemoryDirectory(clients, 0)
	if err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	// One router for the three vendors. Softphones that cannot show
	// Cyrillic (Rostelecom's manual mentions them) would add
	// routing.WithTranslit() here.
	router := routing.Responsible(dir, routing.WithDefault(receptionExt))
	out := newConsole(stdout, jsonOut)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("webhook server: %w", err)
	}
	base := "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	// Deferred first, so it runs last: the fakes stop (and finish their
	// asynchronous flows) before the webhook they talk to goes away.
	defer func() {
		if cerr := srv.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("webhook server: %w", cerr)
		}
	}()

	var fakes []*fakePBX
	defer func() {
		for _, f := range fakes {
			f.close()
		}
	}()
	for _, start := range []func() (*fakePBX, error){startRostelecom, startSipuni, startProstieZvonki} {
		f, err := start()
		if err != nil {
			ln.Close()
			return err
		}
		fakes = append(fakes, f)
		f.hookURL = base + "/pbx/" + f.name + "/"
		mux.Handle("/pbx/"+f.name+"/", f.provider.WebhookHandler(out, out.watch(router)))
	}
	go func() { _ = srv.Serve(ln) }()

	out.begin(base)
	reports := make([]*report, 0, len(fakes))
	for _, f := range fakes {
		reports = append(reports, play(ctx, out, f, scripts[f.name]))
	}
	out.summary(reports)

	var failed []error
	for _, r := range reports {
		failed = append(failed, r.failures()...)
	}
	if werr := out.err(); werr != nil {
		failed = append(failed, fmt.Errorf("writing the output: %w", werr))
	}
	return errors.Join(failed...)
}
