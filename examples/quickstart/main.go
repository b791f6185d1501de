// Command quickstart shows pbxkit working end to end, offline, in a second
// or two and without any PBX account:
//
//	go run ./examples/quickstart          # readable output
//	go run ./examples/quickstart -json    # call events as JSON lines
//
// It starts, in one process and on loopback ports only, the fake PBX of
// every vendor whose fake is registered (pbxtest.Vendors: the <vendor>test
// packages register themselves, and package examples/internal/vendors
// imports them all), opens a provider for each from the fake's DSN
// (provider.Open), and runs one webhook server that mounts every provider's
// handler under /pbx/<vendor>/. Incoming calls are routed by one
// routing.Responsible router over a small built-in directory of clients,
// each with a responsible manager among the fakes' seeded staff
// (pbxtest.Employees: 101, 102, 103); callers it does not know, and clients
// without a manager, go to the reception desk (routing.WithDefault).
//
// Every call event goes to a call journal (package pbx/journal, in memory
// here) and to the console. For each vendor the program plays an answered
// incoming call from a client (the fake must ring that client's manager),
// a missed incoming call, and, when the provider can place calls
// (pbx.Caller), a click-to-call that the fake then plays at the webhook;
// it downloads one recording when the provider has a recording API
// (pbx.RecordingFetcher) and lists the employees when it has that
// (pbx.SubscriberLister). Nothing here is written per vendor: the
// capabilities are found by type assertion.
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
//     employee's extension and, on call_ended, the outcome when the vendor
//     sends one (Rostelecom does not: the journal derives it from the legs);
//   - "ok" or "FAIL" lines for what the demo checked after the step,
//     including the call as the journal folded it.
//
// A summary per vendor follows (events by type, routing decisions, calls
// placed, the recording downloaded, the employees listed, or "no ... API"),
// then what the journal says: today's calls per employee (journal.Stats),
// today's missed calls, and the check that every call placed or received is
// in the journal exactly once with the right outcome.
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

	_ "github.com/pbxkit/pbxkit/examples/internal/vendors" // every vendor's provider and fake
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider"
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

// vendor is one registered vendor at work: its fake PBX, a provider
// pointed at it, and where the fake sends its notifications.
type vendor struct {
	name     string
	fake     pbxtest.Fake
	provider pbx.Provider
	hookURL  string
}

// run starts every registered fake and the webhook server, plays a script
// on each vendor and writes what happens to stdout: readable lines, a
// summary and the journal's report, or the call events as JSON lines when
// jsonOut is set. It returns an error naming every check that failed, nil
// when the whole flow happened.
func run(ctx context.Context, stdout io.Writer, jsonOut bool) (err error) {
	registered := pbxtest.Vendors()
	if len(registered) == 0 {
		return errors.New("no vendor fake is registered (examples/internal/vendors imports them)")
	}
	dir, err := routing.NewMemoryDirectory(clients, 0)
	if err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	// One router for every vendor. Softphones that cannot show Cyrillic
	// (Rostelecom's manual mentions them) would add routing.WithTranslit()
	// here.
	router := routing.Responsible(dir, routing.WithDefault(receptionExt))
	out := newConsole(stdout, jsonOut)
	// The journal takes every event first: when it cannot store one, the
	// provider answers the PBX 5xx and the PBX delivers it again.
	jr := journal.New(journal.NewMemoryStore())
	events := fanOut{jr, out}

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

	var vendors []*vendor
	defer func() {
		for _, v := range vendors {
			v.fake.Close()
		}
	}()
	for _, reg := range registered {
		fake, err := pbxtest.Start(reg.Name, pbxtest.Options{})
		if err != nil {
			ln.Close()
			return fmt.Errorf("%s: starting the fake: %w", reg.Name, err)
		}
		vendors = append(vendors, &vendor{name: reg.Name, fake: fake})
		p, err := provider.Open(fake.DSN())
		if err != nil {
			ln.Close()
			// The DSN holds the fake's credentials: name the vendor only.
			return fmt.Errorf("%s: opening the provider from the fake's DSN: %w", reg.Name, err)
		}
		v := vendors[len(vendors)-1]
		v.provider = p
		path := "/pbx/" + reg.Name + "/"
		v.hookURL = base + path
		mux.Handle(path, p.WebhookHandler(events, out.watch(router)))
	}
	go func() { _ = srv.Serve(ln) }()

	startOfDay := midnight(time.Now())
	out.begin(base, vendors)
	reports := make([]*report, 0, len(vendors))
	for i, v := range vendors {
		reports = append(reports, play(ctx, out, jr, v, scripts[i%len(scripts)]))
	}
	out.summary(reports)

	var failed []error
	for _, r := range reports {
		failed = append(failed, r.failures()...)
	}
	failed = append(failed, journalReport(ctx, out, jr, dir, reports, startOfDay)...)
	if werr := out.err(); werr != nil {
		failed = append(failed, fmt.Errorf("writing the output: %w", werr))
	}
	return errors.Join(failed...)
}

// fanOut hands every event to each of its handlers in turn and stops at
// the first that fails, so that an event the journal could not store gets
// the PBX a 5xx (and a redelivery) rather than a 200.
type fanOut []pbx.EventHandler

// HandleEvent implements pbx.EventHandler.
func (f fanOut) HandleEvent(ctx context.Context, e pbx.CallEvent) error {
	for _, h := range f {
		if err := h.HandleEvent(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// midnight returns the start of t's day in t's location.
func midnight(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}
