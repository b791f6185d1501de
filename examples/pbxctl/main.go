// Command pbxctl is a command-line client for any pbxkit provider.
//
// Give the provider as a DSN with -provider or in PBXKIT_PROVIDER:
//
//	export PBXKIT_PROVIDER='sipuni://012345:SECRET@/'
//	go run ./examples/pbxctl call 101 '+7 999 123-45-67'
//	go run ./examples/pbxctl record CALLID -o call.mp3
//	go run ./examples/pbxctl subscribers
//	go run ./examples/pbxctl history -from 2024-05-01 -to 2024-05-02 > calls.csv
//	go run ./examples/pbxctl check
//	go run ./examples/pbxctl webhook-test https://crm.example.ru/pbx/sipuni/
//
// call places a click-to-call; record downloads a recording (with a progress
// bar when stderr is a terminal); subscribers lists the PBX's employees;
// history writes the call log as CSV; check verifies the credentials with the
// vendor's cheapest read call; webhook-test sends one correctly
// authenticated, vendor-shaped test notification to your deployed receiver
// and reports what it answered. A command the provider cannot do says so.
package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"

	_ "github.com/pbxkit/pbxkit/prostiezvonki"
	_ "github.com/pbxkit/pbxkit/rostelecom"
	_ "github.com/pbxkit/pbxkit/sipuni"
)

const usage = `usage: pbxctl [-provider DSN] [-timeout D] COMMAND [ARGS]

commands:
  call EXT PHONE                 ring employee EXT, then connect PHONE
  record CALLID -o FILE          download a call recording ("-" for stdout)
  subscribers                    list the PBX's employees
  history -from DATE -to DATE    export the call log as CSV (DATE: 2006-01-02 or 2006-01-02T15:04)
  check                          verify the credentials with a cheap read call
  webhook-test URL               send a test notification to your receiver

The DSN comes from -provider or $PBXKIT_PROVIDER, e.g. sipuni://ACCOUNT:SECRET@/
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	env := environment{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, open: openDSN, isTerminal: isTerminal(os.Stderr)}
	if err := run(ctx, os.Args[1:], env); err != nil {
		fmt.Fprintln(os.Stderr, "pbxctl:", err)
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// environment is what run needs from the outside world, so tests can fake it.
type environment struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	open           func(dsn string) (pbx.Provider, error)
	isTerminal     bool
}

func openDSN(dsn string) (pbx.Provider, error) { return provider.Open(dsn) }

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, env environment) error {
	fs := flag.NewFlagSet("pbxctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dsn := fs.String("provider", "", "provider DSN (default $PBXKIT_PROVIDER)")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() == 0 {
		return usageError{"no command"}
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	if *dsn == "" {
		*dsn = env.getenv("PBXKIT_PROVIDER")
	}
	if *dsn == "" {
		return usageError{"no provider: give -provider DSN or set PBXKIT_PROVIDER"}
	}
	p, err := env.open(*dsn)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	switch cmd {
	case "call":
		return cmdCall(ctx, p, rest, env)
	case "record":
		return cmdRecord(ctx, p, rest, env)
	case "subscribers":
		return cmdSubscribers(ctx, p, rest, env)
	case "history":
		return cmdHistory(ctx, p, rest, env)
	case "check":
		return cmdCheck(ctx, p, rest, env)
	case "webhook-test":
		return cmdWebhookTest(ctx, p, *dsn, rest, env)
	}
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}

// lacks is the error for a capability the provider does not have.
func lacks(p pbx.Provider, what string) error {
	return fmt.Errorf("provider %s cannot %s: %w", p.Name(), what, pbx.ErrNotSupported)
}

func cmdCall(ctx context.Context, p pbx.Provider, args []string, env environment) error {
	if len(args) != 2 {
		return usageError{"call wants EXT PHONE"}
	}
	c, ok := p.(pbx.Caller)
	if !ok {
		return lacks(p, "place calls")
	}
	res, err := c.MakeCall(ctx, pbx.CallRequest{Extension: args[0], Phone: args[1]})
	if err != nil {
		return err
	}
	if res.CallID != "" {
		fmt.Fprintf(env.stdout, "call placed: %s\n", res.CallID)
	} else {
		fmt.Fprintln(env.stdout, "call placed")
	}
	return nil
}

func cmdRecord(ctx context.Context, p pbx.Provider, args []string, env environment) error {
	fs := flag.NewFlagSet("record", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("o", "", "output file (- for stdout)")
	// Accept "record CALLID -o FILE" as well as "record -o FILE CALLID".
	var callID string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		callID, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if callID == "" && fs.NArg() == 1 {
		callID = fs.Arg(0)
	} else if fs.NArg() != 0 {
		return usageError{"record wants CALLID -o FILE"}
	}
	if callID == "" || *out == "" {
		return usageError{"record wants CALLID -o FILE"}
	}
	f, ok := p.(pbx.RecordingFetcher)
	if !ok {
		return lacks(p, "fetch recordings")
	}
	rec, err := f.FetchRecording(ctx, callID)
	if err != nil {
		return err
	}
	defer rec.Body.Close()
	var w io.Writer = env.stdout
	if *out != "-" {
		file, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer file.Close()
		w = file
	}
	var src io.Reader = rec.Body
	var bar *progress
	if env.isTerminal && *out != "-" {
		bar = &progress{w: env.stderr, total: rec.Size}
		src = io.TeeReader(rec.Body, bar)
	}
	n, err := io.Copy(w, src)
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		return err
	}
	if *out != "-" {
		fmt.Fprintf(env.stdout, "saved %s (%d bytes, %s)\n", *out, n, rec.ContentType)
	}
	return nil
}

func cmdSubscribers(ctx context.Context, p pbx.Provider, args []string, env environment) error {
	if len(args) != 0 {
		return usageError{"subscribers takes no arguments"}
	}
	l, ok := p.(pbx.SubscriberLister)
	if !ok {
		return lacks(p, "list subscribers")
	}
	subs, err := l.Subscribers(ctx)
	if err != nil {
		return err
	}
	w := csv.NewWriter(env.stdout)
	_ = w.Write([]string{"extension", "login", "name"})
	for _, s := range subs {
		_ = w.Write([]string{s.Extension, s.Login, s.Name})
	}
	w.Flush()
	return w.Error()
}

// parseDate reads 2006-01-02, 2006-01-02T15:04 or RFC 3339, in loc.
func parseDate(s string, loc *time.Location) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad date %q: want 2006-01-02 or 2006-01-02T15:04", s)
}

func cmdHistory(ctx context.Context, p pbx.Provider, args []string, env environment) error {
	fs := flag.NewFlagSet("history", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	from := fs.String("from", "", "start date")
	to := fs.String("to", "", "end date (a bare date means the end of that day)")
	dir := fs.String("direction", "", "inbound, outbound or internal (default all)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *from == "" || *to == "" || fs.NArg() != 0 {
		return usageError{"history wants -from DATE -to DATE"}
	}
	loc := provider.DefaultLocation()
	q := pbx.HistoryQuery{}
	var err error
	if q.From, err = parseDate(*from, loc); err != nil {
		return usageError{err.Error()}
	}
	if q.To, err = parseDate(*to, loc); err != nil {
		return usageError{err.Error()}
	}
	if len(*to) == len("2006-01-02") {
		q.To = q.To.AddDate(0, 0, 1).Add(-time.Second)
	}
	if !q.To.After(q.From) {
		return usageError{"-to must be after -from"}
	}
	if *dir != "" {
		if err := q.Direction.UnmarshalText([]byte(*dir)); err != nil {
			return usageError{err.Error()}
		}
	}
	h, ok := p.(pbx.HistoryExporter)
	if !ok {
		return lacks(p, "export call history")
	}
	w := csv.NewWriter(env.stdout)
	_ = w.Write([]string{"call_id", "started_at", "direction", "phone", "line", "extension", "duration_sec", "outcome", "has_recording"})
	for rec, err := range h.History(ctx, q) {
		if err != nil {
			w.Flush()
			return err
		}
		_ = w.Write([]string{
			rec.CallID, rec.StartedAt.Format(time.RFC3339), rec.Direction.String(), rec.Phone, rec.Line, rec.Extension,
			strconv.FormatFloat(rec.Duration.Seconds(), 'f', -1, 64), rec.Outcome.String(), strconv.FormatBool(rec.HasRecording),
		})
	}
	w.Flush()
	return w.Error()
}

// cmdCheck verifies the credentials with the vendor's cheapest read call:
// the subscriber list (Rostelecom users_info, Sipuni operators).
func cmdCheck(ctx context.Context, p pbx.Provider, args []string, env environment) error {
	if len(args) != 0 {
		return usageError{"check takes no arguments"}
	}
	l, ok := p.(pbx.SubscriberLister)
	if !ok {
		fmt.Fprintf(env.stdout, "%s has no read-only API call to check the credentials with; try `call` with a test number, or `webhook-test`\n", p.Name())
		return nil
	}
	start := time.Now()
	subs, err := l.Subscribers(ctx)
	if err != nil {
		if errors.Is(err, provider.ErrUnauthorized) {
			return fmt.Errorf("%s rejected the credentials: %w", p.Name(), err)
		}
		return err
	}
	fmt.Fprintf(env.stdout, "%s: credentials OK (%d subscribers, %s)\n", p.Name(), len(subs), time.Since(start).Round(time.Millisecond))
	return nil
}

// progress draws a one-line progress bar on a terminal.
type progress struct {
	w     io.Writer
	total int64
	done  int64
	last  time.Time
}

func (p *progress) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	if time.Since(p.last) > 100*time.Millisecond {
		p.last = time.Now()
		p.draw()
	}
	return len(b), nil
}

func (p *progress) draw() {
	if p.total > 0 {
		const width = 30
		filled := int(p.done * width / p.total)
		if filled > width {
			filled = width
		}
		fmt.Fprintf(p.w, "\r[%s%s] %3d%% %s", strings.Repeat("#", filled), strings.Repeat(".", width-filled), p.done*100/p.total, bytesText(p.done))
		return
	}
	fmt.Fprintf(p.w, "\r%s", bytesText(p.done))
}

func (p *progress) finish() {
	p.draw()
	fmt.Fprintln(p.w)
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
