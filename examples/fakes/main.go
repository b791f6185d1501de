// Command fakes runs every vendor's fake PBX on loopback, so that pbxctl,
// webhook-server or your own code can be tried without a PBX account and
// without writing a launcher:
//
//	go run ./examples/fakes
//	go run ./examples/fakes -play http://127.0.0.1:8080/pbx/
//
// It starts the fake of every registered vendor (pbxtest.Vendors; package
// examples/internal/vendors imports them all) on a free 127.0.0.1 port and
// prints, per vendor, the fake's API address, the DSN that opens a provider
// against it (provider.Open), and commands that use that DSN; then it waits
// for Ctrl-C (or SIGTERM) and shuts the fakes down. The DSNs hold the
// fakes' own made-up credentials, valid for these fakes only: printing them
// is the point.
//
// With -play URL, where URL is the address under which a webhook server
// serves each vendor at URL<vendor>/ (webhook-server's /pbx/<vendor>/), each
// fake plays an answered incoming call there at once and then every -every
// (10 s by default), and every click-to-call placed through a fake (pbxctl
// call) is played there too, as the PBX would send its notifications. A
// play that fails (no server there yet) is reported on stderr and tried
// again next time, so the webhook server can be started after the fakes,
// with the DSNs they printed:
//
//	go run ./examples/fakes -play http://127.0.0.1:8080/pbx/
//	go run ./examples/webhook-server -journal off -provider '...' -provider '...'
//
// Ports change on every run; the credentials in the DSNs do not.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	_ "github.com/pbxkit/pbxkit/examples/internal/vendors" // every vendor's provider and fake
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintln(os.Stderr, "fakes:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "fakes:", err)
		os.Exit(1)
	}
}

// usageError is a bad command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// running is one vendor's fake and what it can do.
type running struct {
	name string
	fake pbxtest.Fake
	// can lists the provider's capabilities, as pbxctl commands.
	can []string
}

// run starts every registered fake, prints how to reach each, plays the
// -play calls, and waits until ctx ends; then it closes the fakes. Play
// failures are written to stderr and do not stop the fakes.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fakes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	play := fs.String("play", "", "webhook server `URL` serving each vendor at URL<vendor>/: play an answered incoming call there now and every -every, and there play the calls placed through the fakes")
	every := fs.Duration("every", 10*time.Second, "with -play, how often each fake plays its call")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected arguments: %q", fs.Args())}
	}
	hookBase, err := webhookBase(*play)
	if err != nil {
		return usageError{err.Error()}
	}
	if *every <= 0 {
		return usageError{fmt.Sprintf("-every %s: want a positive duration", *every)}
	}

	vendors := pbxtest.Vendors()
	if len(vendors) == 0 {
		return errors.New("no vendor fake is registered (examples/internal/vendors imports them)")
	}
	var fakes []*running
	defer func() {
		for _, f := range fakes {
			f.fake.Close()
		}
	}()
	for _, v := range vendors {
		fake, err := pbxtest.Start(v.Name, pbxtest.Options{})
		if err != nil {
			return fmt.Errorf("%s: starting the fake: %w", v.Name, err)
		}
		f := &running{name: v.Name, fake: fake}
		fakes = append(fakes, f)
		// Opened only to list its capabilities: its warnings are not news.
		p, err := provider.Open(fake.DSN(), provider.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			return fmt.Errorf("%s: the fake's DSN does not open: %w", v.Name, err)
		}
		f.can = capabilities(p)
	}

	if err := describe(stdout, fakes, hookBase); err != nil {
		return err
	}
	if hookBase == "" {
		if _, err := fmt.Fprintf(stdout, "\nThe fakes run until Ctrl-C.\n"); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	}
	for _, f := range fakes {
		f.fake.SetWebhook(hookBase + f.name + "/")
	}
	if _, err := fmt.Fprintf(stdout, "\nThe fakes play a call at %s<vendor>/ every %s, until Ctrl-C.\n", hookBase, *every); err != nil {
		return err
	}
	tick := time.NewTicker(*every)
	defer tick.Stop()
	for {
		playAll(ctx, fakes, hookBase, stdout, stderr)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// playAll has each fake play an answered incoming call at its webhook
// and writes what happened: a line on stdout per call played, a line on
// stderr per call that failed.
func playAll(ctx context.Context, fakes []*running, hookBase string, stdout, stderr io.Writer) {
	for _, f := range fakes {
		hook := hookBase + f.name + "/"
		res, err := f.fake.Play(ctx, hook, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming})
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			fmt.Fprintf(stderr, "fakes: %s: the answered incoming call at %s failed (is the webhook server running with this fake's DSN?): %v\n", f.name, hook, err)
		default:
			fmt.Fprintf(stdout, "%s %s: played an answered incoming call from %s: %s\n", time.Now().Format(time.TimeOnly), f.name, res.Call.Caller, played(res))
		}
	}
}

// webhookBase checks the -play URL and returns it ending with "/"; "" for
// none.
func webhookBase(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("-play %q: want an http:// or https:// URL such as http://127.0.0.1:8080/pbx/", s)
	}
	if !strings.HasSuffix(s, "/") {
		s += "/"
	}
	return s, nil
}

// capabilities lists what p can do beyond receiving webhooks, as the
// pbxctl commands that do it.
func capabilities(p pbx.Provider) []string {
	var can []string
	if _, ok := p.(pbx.Caller); ok {
		can = append(can, "call")
	}
	if _, ok := p.(pbx.RecordingFetcher); ok {
		can = append(can, "record")
	}
	if _, ok := p.(pbx.SubscriberLister); ok {
		can = append(can, "subscribers")
	}
	if _, ok := p.(pbx.HistoryExporter); ok {
		can = append(can, "history")
	}
	return can
}

// describe writes, per fake, its API address, its DSN and commands that
// use the DSN, then one webhook-server command for all of them.
func describe(w io.Writer, fakes []*running, hookBase string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "pbxkit fakes: %d fake PBXs on loopback, staff %s\n", len(fakes), strings.Join(pbxtest.Extensions(), ", "))
	var all []string
	for _, f := range fakes {
		dsn := f.fake.DSN()
		all = append(all, "-provider "+quote(dsn))
		fmt.Fprintf(&b, "\n%s\n", f.name)
		fmt.Fprintf(&b, "  API   %s\n", f.fake.URL())
		fmt.Fprintf(&b, "  DSN   %s\n", dsn)
		fmt.Fprintf(&b, "  can   %s\n", dash(strings.Join(f.can, ", ")))
		if hookBase != "" {
			fmt.Fprintf(&b, "  hook  %s%s/\n", hookBase, f.name)
		}
		cmd := "check"
		switch {
		case slices.Contains(f.can, "call"):
			cmd = "call 101 '+7 916 123-45-67'"
		case slices.Contains(f.can, "subscribers"):
			cmd = "subscribers"
		}
		fmt.Fprintf(&b, "  try   go run ./examples/pbxctl -provider %s %s\n", quote(dsn), cmd)
	}
	fmt.Fprintf(&b, "\nOne webhook server for every fake (each vendor at http://127.0.0.1:8080/pbx/<vendor>/):\n")
	fmt.Fprintf(&b, "  go run ./examples/webhook-server -journal off %s\n", strings.Join(all, " "))
	if hookBase == "" {
		fmt.Fprintf(&b, "To have the fakes call it, run them with -play http://127.0.0.1:8080/pbx/\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// played says in a few words what a fake did.
func played(p pbxtest.Played) string {
	var parts []string
	switch {
	case !p.Asked:
	case p.Route.IsZero():
		parts = append(parts, "the route answer was no decision")
	default:
		parts = append(parts, "routed to "+p.Route.Extension)
	}
	parts = append(parts, "rang "+dash(strings.Join(p.Rang, ",")), "answered by "+dash(p.AnsweredBy))
	parts = append(parts, fmt.Sprintf("%d notifications", p.Notifications))
	return strings.Join(parts, ", ")
}

// quote quotes s for a POSIX shell.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// dash returns s, or "-" when s is empty.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
