// Command pbxctl is a command-line client for any pbxkit provider.
//
// Give the provider as a DSN with -provider or in PBXKIT_PROVIDER:
//
//	export PBXKIT_PROVIDER='sipuni://012345:SECRET@/'
//	go run ./examples/pbxctl call 101 '+7 999 123-45-67'
//	go run ./examples/pbxctl record CALLID -o call.mp3
//	go run ./examples/pbxctl subscribers
//	go run ./examples/pbxctl history -from 2024-05-01 -to 2024-05-02 > calls.csv
//	go run ./examples/pbxctl reconcile -journal pbxkit.db -from 2024-05-01
//	go run ./examples/pbxctl check
//	go run ./examples/pbxctl webhook-test https://crm.example.ru/pbx/sipuni/
//
// call places a click-to-call; record downloads a recording (with a progress
// bar when stderr is a terminal; an existing file is kept unless -f is
// given); subscribers lists the PBX's employees; history writes the call log
// as CSV; reconcile catches a call journal (webhook-server's) up with the
// call log; check verifies the credentials with the vendor's cheapest read
// call, and says what it could not check when the vendor has none;
// webhook-test sends one correctly authenticated, vendor-shaped test
// notification to your deployed receiver and reports what it answered. A
// command the provider cannot do says so (an error matching
// pbx.ErrNotSupported).
//
// pbxctl -h prints the commands, pbxctl COMMAND -h one command's help; both
// exit with status 0. A usage error exits with 2, any other failure with 1.
// No secret of the DSN is printed, in output or in errors.
package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"

	_ "github.com/pbxkit/pbxkit/examples/internal/vendors" // every vendor's provider
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	env := environment{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, open: openDSN, isTerminal: isTerminal(os.Stderr)}
	code := cli(ctx, os.Args[1:], env)
	stop()
	os.Exit(code)
}

// environment is what run needs from the outside world, so tests can fake it.
type environment struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	open           func(dsn string) (pbx.Provider, error)
	isTerminal     bool
	// now is the clock; nil means time.Now.
	now func() time.Time
}

func (e environment) clock() time.Time {
	if e.now != nil {
		return e.now()
	}
	return time.Now()
}

func openDSN(dsn string) (pbx.Provider, error) { return provider.Open(dsn) }

// usageError is a mistake on the command line. usage is the help text to
// print after it: the command's, or pbxctl's when empty.
type usageError struct{ msg, usage string }

func (e usageError) Error() string { return e.msg }

// cli runs pbxctl with args and returns its exit status: 0 on success and
// after printing help, 2 for a usage error, 1 for any other failure.
func cli(ctx context.Context, args []string, env environment) int {
	err := run(ctx, args, env)
	if err == nil {
		return 0
	}
	fmt.Fprintln(env.stderr, "pbxctl:", err)
	var ue usageError
	if errors.As(err, &ue) {
		if ue.usage == "" {
			ue.usage = mainUsage()
		}
		fmt.Fprint(env.stderr, "\n"+ue.usage)
		return 2
	}
	return 1
}

// action is a parsed command, ready to run against a provider opened from
// dsn.
type action func(ctx context.Context, p pbx.Provider, dsn string) error

// command is one pbxctl command.
type command struct {
	name     string
	synopsis string // arguments after the name, as in the usage line
	summary  string // one line for pbxctl -h
	details  string // paragraph for pbxctl COMMAND -h
	// noProvider marks a command that works without -provider: its action
	// gets a nil provider.
	noProvider bool
	// parse defines the command's flags on fs, parses args with it and
	// returns the action to run.
	parse func(fs *flag.FlagSet, args []string, env environment) (action, error)
}

// commands lists the commands in the order pbxctl -h shows them.
var commands = []*command{
	{name: "call", synopsis: "EXT PHONE", summary: "ring employee EXT, then connect PHONE",
		details: "Places a click-to-call: the PBX rings the employee's extension EXT, and when\nthey answer, dials PHONE.",
		parse:   parseCall},
	{name: "record", synopsis: "CALLID -o FILE [-f]", summary: `download a call recording ("-o -" for stdout)`,
		details: "Downloads the recording of call CALLID to FILE, with a progress bar when\nstderr is a terminal. An existing FILE is kept unless -f is given.",
		parse:   parseRecord},
	{name: "subscribers", summary: "list the PBX's employees as CSV",
		details: "Writes the PBX's employees as CSV: extension, login, name.",
		parse:   parseSubscribers},
	{name: "history", synopsis: "-from DATE [-to DATE] [-direction DIR]", summary: "export the call log as CSV",
		details: "Writes the PBX's call log between -from and -to (default: now) as CSV.\n" +
			"DATE is 2006-01-02, 2006-01-02T15:04 or RFC 3339, in Moscow time unless it\n" +
			"has a zone; a bare -to date means the end of that day. Durations are in\n" +
			"seconds: talk_seconds from the answer to the end, call_seconds from the\n" +
			"start (ringing included); a cell is empty when the PBX does not say.",
		parse: parseHistory},
	reconcileCommand,
	outboxCommand,
	{name: "check", summary: "verify the DSN and, where the API allows, the credentials",
		details: "Opens the provider and verifies the credentials with the vendor's cheapest\n" +
			"read call (the subscriber list). For a vendor without a read call it says\n" +
			"what it checked (the DSN, that the API host answers) and what it could not.",
		parse: parseCheck},
	{name: "webhook-test", synopsis: "URL", summary: "send a test notification to your receiver",
		details: "Sends one correctly authenticated, vendor-shaped test notification to the\n" +
			"receiver at URL, as the PBX would, and reports its answer. A redirect is a\n" +
			"failure (a PBX may not follow it): the error names the URL to configure\n" +
			"the PBX with instead.",
		parse: parseWebhookTest},
	{name: "help", synopsis: "[COMMAND]", summary: "show this help, or a command's",
		parse: nil},
}

func findCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

const globalSynopsis = "pbxctl [-provider DSN] [-timeout D]"

// mainUsage is the help pbxctl -h prints.
func mainUsage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: %s COMMAND [ARGS]\n\ncommands:\n", globalSynopsis)
	width := 0
	for _, c := range commands {
		width = max(width, len(c.name)+1+len(c.synopsis))
	}
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, strings.TrimSpace(c.name+" "+c.synopsis), c.summary)
	}
	b.WriteString(`
flags:
  -provider DSN   the PBX account (default $PBXKIT_PROVIDER), e.g. sipuni://ACCOUNT:SECRET@/
  -timeout D      give up after this long (default 2m)

Run "pbxctl COMMAND -h" for a command's help.
`)
	return b.String()
}

// usage is the help pbxctl c -h prints.
func (c *command) usage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: %s %s\n", globalSynopsis, strings.TrimSpace(c.name+" "+c.synopsis))
	if c.details != "" {
		fmt.Fprintf(&b, "\n%s\n", c.details)
	}
	if c.parse != nil {
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		_, _ = c.parse(fs, []string{"-h"}, environment{}) // defines the flags
		var flags bytes.Buffer
		fs.SetOutput(&flags)
		fs.PrintDefaults()
		if flags.Len() > 0 {
			fmt.Fprintf(&b, "\nflags:\n%s", flags.String())
		}
	}
	return b.String()
}

// parseArgs parses flags and positional arguments in any order ("record
// CALLID -o FILE" as well as "record -o FILE CALLID"); after "--" every
// argument is positional. It returns flag.ErrHelp for -h, -help or --help.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func run(ctx context.Context, args []string, env environment) error {
	fs := flag.NewFlagSet("pbxctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dsn := fs.String("provider", "", "provider DSN (default $PBXKIT_PROVIDER)")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(env.stdout, mainUsage())
			return nil
		}
		return usageError{msg: err.Error()}
	}
	if fs.NArg() == 0 {
		return usageError{msg: "no command"}
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	cmd := findCommand(name)
	if cmd == nil {
		return usageError{msg: fmt.Sprintf("unknown command %q", name)}
	}
	if cmd.name == "help" {
		return help(rest, env)
	}
	cfs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	act, err := cmd.parse(cfs, rest, env)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(env.stdout, cmd.usage())
		return nil
	}
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			ue.usage = cmd.usage()
			return ue
		}
		return usageError{msg: cmd.name + ": " + err.Error(), usage: cmd.usage()}
	}
	if cmd.noProvider {
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		return act(ctx, nil, "")
	}
	if *dsn == "" {
		*dsn = env.getenv("PBXKIT_PROVIDER")
	}
	if *dsn == "" {
		return usageError{msg: "no provider: give -provider DSN or set PBXKIT_PROVIDER"}
	}
	p, err := env.open(*dsn)
	if err != nil {
		return provider.ScrubError(err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	return act(ctx, p, *dsn)
}

// help prints pbxctl's help, or one command's.
func help(args []string, env environment) error {
	switch {
	case len(args) == 0:
		fmt.Fprint(env.stdout, mainUsage())
		return nil
	case len(args) > 1:
		return usageError{msg: "help takes at most one COMMAND"}
	}
	cmd := findCommand(args[0])
	if cmd == nil {
		return usageError{msg: fmt.Sprintf("unknown command %q", args[0])}
	}
	fmt.Fprint(env.stdout, cmd.usage())
	return nil
}

// lacks is the error for a capability the provider does not have; it
// matches pbx.ErrNotSupported.
func lacks(p pbx.Provider, what string) error {
	return fmt.Errorf("provider %s cannot %s: %w", p.Name(), what, pbx.ErrNotSupported)
}

func parseCall(fs *flag.FlagSet, args []string, env environment) (action, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != 2 {
		return nil, usageError{msg: "call wants EXT PHONE"}
	}
	ext, phone := pos[0], pos[1]
	return func(ctx context.Context, p pbx.Provider, _ string) error {
		c, ok := p.(pbx.Caller)
		if !ok {
			return lacks(p, "place calls")
		}
		res, err := c.MakeCall(ctx, pbx.CallRequest{Extension: ext, Phone: phone})
		if err != nil {
			return provider.ScrubError(err)
		}
		switch {
		case res.CallID != "":
			fmt.Fprintf(env.stdout, "call placed: %s\n", res.CallID)
		case res.OrderID != "":
			fmt.Fprintf(env.stdout, "call placed: order %s (the call's events carry another id)\n", res.OrderID)
		default:
			fmt.Fprintln(env.stdout, "call placed")
		}
		return nil
	}, nil
}

func parseRecord(fs *flag.FlagSet, args []string, env environment) (action, error) {
	out := fs.String("o", "", "output `FILE` (- for stdout)")
	force := fs.Bool("f", false, "overwrite FILE if it exists")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != 1 || pos[0] == "" || *out == "" {
		return nil, usageError{msg: "record wants CALLID -o FILE"}
	}
	callID, file := pos[0], *out
	return func(ctx context.Context, p pbx.Provider, _ string) error {
		f, ok := p.(pbx.RecordingFetcher)
		if !ok {
			return lacks(p, "fetch recordings")
		}
		if file == "-" {
			_, err := download(ctx, f, callID, env.stdout, nil)
			return err
		}
		return saveRecording(ctx, f, callID, file, *force, env)
	}, nil
}

// download copies the recording of callID to w, drawing bar when it is not
// nil.
func download(ctx context.Context, f pbx.RecordingFetcher, callID string, w io.Writer, bar *progress) (*pbx.Recording, error) {
	rec, err := f.FetchRecording(ctx, callID)
	if err != nil {
		return nil, provider.ScrubError(err)
	}
	defer rec.Body.Close()
	var src io.Reader = rec.Body
	if bar != nil {
		bar.total = rec.Size
		src = io.TeeReader(rec.Body, bar)
	}
	_, err = io.Copy(w, src)
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		return nil, provider.ScrubError(err)
	}
	return rec, nil
}

// saveRecording downloads the recording of callID into file. Without force
// an existing file is an error and is left alone; the name is claimed
// before the download (O_EXCL), and the partial file removed on failure.
// With force the download goes to a temporary file beside it, renamed over
// file only once complete, so a failed download keeps the old file.
func saveRecording(ctx context.Context, f pbx.RecordingFetcher, callID, file string, force bool, env environment) error {
	var out *os.File
	var err error
	if force {
		out, err = os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*.part")
	} else {
		out, err = os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists; use -f to overwrite it", file)
		}
	}
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			out.Close()
			os.Remove(out.Name())
		}
	}()
	var bar *progress
	if env.isTerminal {
		bar = &progress{w: env.stderr}
	}
	cw := &countingWriter{w: out}
	rec, err := download(ctx, f, callID, cw, bar)
	if err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if force {
		if err := os.Rename(out.Name(), file); err != nil {
			return err
		}
	}
	committed = true
	fmt.Fprintf(env.stdout, "saved %s (%d bytes, %s)\n", file, cw.n, rec.ContentType)
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

func parseSubscribers(fs *flag.FlagSet, args []string, env environment) (action, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != 0 {
		return nil, usageError{msg: "subscribers takes no arguments"}
	}
	return func(ctx context.Context, p pbx.Provider, _ string) error {
		l, ok := p.(pbx.SubscriberLister)
		if !ok {
			return lacks(p, "list subscribers")
		}
		subs, err := l.Subscribers(ctx)
		if err != nil {
			return provider.ScrubError(err)
		}
		w := csv.NewWriter(env.stdout)
		_ = w.Write([]string{"extension", "login", "name"})
		for _, s := range subs {
			_ = w.Write([]string{s.Extension, s.Login, s.Name})
		}
		w.Flush()
		return w.Error()
	}, nil
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

func parseHistory(fs *flag.FlagSet, args []string, env environment) (action, error) {
	from := fs.String("from", "", "start `DATE` (required)")
	to := fs.String("to", "", "end `DATE` (default now; a bare date means the end of that day)")
	dir := fs.String("direction", "", "only calls of direction `DIR`: inbound, outbound or internal (default all)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if *from == "" || len(pos) != 0 {
		return nil, usageError{msg: "history wants -from DATE [-to DATE]"}
	}
	loc := provider.DefaultLocation()
	q := pbx.HistoryQuery{}
	if q.From, err = parseDate(*from, loc); err != nil {
		return nil, usageError{msg: err.Error()}
	}
	if *to == "" {
		q.To = env.clock().In(loc)
	} else {
		if q.To, err = parseDate(*to, loc); err != nil {
			return nil, usageError{msg: err.Error()}
		}
		if len(*to) == len("2006-01-02") {
			q.To = q.To.AddDate(0, 0, 1).Add(-time.Second)
		}
	}
	if !q.To.After(q.From) {
		if *to == "" {
			return nil, usageError{msg: "-from is in the future (-to defaults to now)"}
		}
		return nil, usageError{msg: "-to must be after -from"}
	}
	if *dir != "" {
		if err := q.Direction.UnmarshalText([]byte(*dir)); err != nil {
			return nil, usageError{msg: err.Error()}
		}
	}
	return func(ctx context.Context, p pbx.Provider, _ string) error {
		h, ok := p.(pbx.HistoryExporter)
		if !ok {
			return lacks(p, "export call history")
		}
		w := csv.NewWriter(env.stdout)
		_ = w.Write([]string{"call_id", "started_at", "direction", "phone", "line", "extension",
			"talk_seconds", "call_seconds", "outcome", "has_recording"})
		for rec, err := range h.History(ctx, q) {
			if err != nil {
				w.Flush()
				return provider.ScrubError(err)
			}
			_ = w.Write([]string{
				rec.CallID, rec.StartedAt.Format(time.RFC3339), rec.Direction.String(), rec.Phone, rec.Line, rec.Extension,
				seconds(rec.TalkDuration), seconds(rec.CallDuration), rec.Outcome.String(), strconv.FormatBool(rec.HasRecording),
			})
		}
		w.Flush()
		return w.Error()
	}, nil
}

// seconds writes d as seconds, with a fraction only when d has one, and
// zero (not answered, or not said) as an empty cell.
func seconds(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

func parseCheck(fs *flag.FlagSet, args []string, env environment) (action, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != 0 {
		return nil, usageError{msg: "check takes no arguments"}
	}
	return func(ctx context.Context, p pbx.Provider, _ string) error {
		return check(ctx, p, env)
	}, nil
}

// capabilities returns what p can and cannot do, in words.
func capabilities(p pbx.Provider) (can, cannot []string) {
	for _, c := range []struct {
		ok   bool
		what string
	}{
		{is[pbx.Caller](p), "place calls"},
		{is[pbx.RecordingFetcher](p), "fetch recordings"},
		{is[pbx.SubscriberLister](p), "list subscribers"},
		{is[pbx.HistoryExporter](p), "export call history"},
	} {
		if c.ok {
			can = append(can, c.what)
		} else {
			cannot = append(cannot, c.what)
		}
	}
	return can, cannot
}

func is[T any](p pbx.Provider) bool {
	_, ok := p.(T)
	return ok
}

// check verifies the credentials with the vendor's cheapest read call: the
// subscriber list (Rostelecom users_info, Sipuni operators). For a vendor
// without one it checks that the API host answers, sending no credentials,
// and says that the credentials were not checked.
func check(ctx context.Context, p pbx.Provider, env environment) error {
	name := p.Name()
	can, cannot := capabilities(p)
	fmt.Fprintf(env.stdout, "%s: DSN OK; the provider can %s", name, strings.Join(can, ", "))
	if len(cannot) > 0 {
		fmt.Fprintf(env.stdout, "; cannot %s", strings.Join(cannot, ", "))
	}
	fmt.Fprintln(env.stdout)

	if l, ok := p.(pbx.SubscriberLister); ok {
		start := time.Now()
		subs, err := l.Subscribers(ctx)
		if err != nil {
			err = provider.ScrubError(err)
			if errors.Is(err, provider.ErrUnauthorized) {
				return fmt.Errorf("%s rejected the credentials: %w", name, err)
			}
			return err
		}
		fmt.Fprintf(env.stdout, "%s: credentials OK (%d subscribers, %s)\n", name, len(subs), time.Since(start).Round(time.Millisecond))
		return nil
	}

	if b, ok := p.(interface{ BaseURL() string }); ok && b.BaseURL() != "" {
		base := b.BaseURL()
		status, err := probe(ctx, base)
		if err != nil {
			return fmt.Errorf("%s: the API host does not answer: %w", name, err)
		}
		fmt.Fprintf(env.stdout, "%s: checked: the API host %s answers (HTTP %d to a request without credentials)\n",
			name, provider.RedactURL(base), status)
	}
	fmt.Fprintf(env.stdout, "%s: NOT checked: the credentials. %s has no read-only API call to check them with; "+
		"`pbxctl call EXT PHONE` with a test number uses them, and `pbxctl webhook-test URL` checks your receiver\n", name, name)
	return nil
}

// probe sends a HEAD request without credentials to url and returns the
// status it got: any answer means the host is up. Redirects are not
// followed; errors carry no secret of url.
func probe(ctx context.Context, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return 0, fmt.Errorf("bad API URL %s", provider.RedactURL(url))
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		return 0, provider.ScrubError(err)
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// noRedirects is the HTTP client of check and webhook-test: it returns a
// redirect as the response instead of following it.
var noRedirects = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
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

// isTerminal reports whether f is a terminal. A character device is not
// enough: /dev/null is one too.
func isTerminal(f *os.File) bool {
	return term.IsTerminal(int(f.Fd()))
}
