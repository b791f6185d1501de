// Command webhook-server is a real receiver for cloud PBX notifications: it
// mounts one or more providers' webhook handlers, keeps a call journal of
// every call event (and logs each as a JSON line), and answers the PBXs'
// routing questions from a CSV directory of clients and their responsible
// managers.
//
// Run it with one or more provider DSNs:
//
//	go run ./examples/webhook-server \
//	    -provider 'sipuni://012345:SECRET@/?webhook_token=T' \
//	    -provider 'rostelecom://ID:KEY@api.cloudpbx.rt.ru/?domain=example.rt.ru' \
//	    -directory contacts.csv -default 100
//
// or with the DSNs in PBXKIT_PROVIDERS, separated by spaces or newlines.
// Each provider is served under /pbx/<name>/ (point the PBX's webhook or
// "external system" address there), GET /healthz answers "ok", and SIGINT
// or SIGTERM shut the server down gracefully.
//
// The journal (package pbx/journal) is kept in the SQLite file pbxkit.db by
// default; -journal FILE names another file, -journal postgres://... uses
// PostgreSQL (for several replicas), -journal off turns it off. Every event
// is stored in the journal before the PBX is answered; when the journal
// cannot store it, the PBX gets a 5xx and redelivers. The server closes
// idle calls every minute and reconciles the journal with the call log of
// every provider that exports one, on start (the last 24 hours) and every
// hour (the last 2 hours).
//
// With a token (-journal-token, or PBXKIT_JOURNAL_TOKEN) it serves the
// journal as read-only JSON: GET /journal/calls, /journal/missed and
// /journal/stats, with the parameters from, to (RFC 3339, or a date
// 2006-01-02 in the server's time zone meaning that whole day), provider,
// extension, phone, direction, outcome, limit (default 100, at most 1000;
// not for stats), and not_called_back=1 for the missed calls nobody called
// back yet. Send the token as "Authorization: Bearer TOKEN" or ?token=TOKEN.
// Without a token these endpoints do not exist (404):
//
//	curl -H "Authorization: Bearer $PBXKIT_JOURNAL_TOKEN" \
//	    'http://localhost:8080/journal/missed?from=2024-05-01&not_called_back=1'
//
// The directory is a CSV file with the header id,name,phones,responsible
// (phones separated by ";" or "," inside the field), for example:
//
//	id,name,phones,responsible
//	1,ООО Альфа,+7 495 123-45-67;8 999 000-11-22,101
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pbxkit/pbxkit/examples/internal/keeper"
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/screenpop"
	"github.com/pbxkit/pbxkit/phone"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/routing"

	_ "github.com/pbxkit/pbxkit/examples/internal/vendors" // every vendor's provider
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "webhook-server:", err)
		os.Exit(1)
	}
}

// config is what the flags and the environment say.
type config struct {
	addr       string
	dsns       []string
	directory  string
	defaultExt string
	digits     int
	translit   bool
	debug      bool
	// journal is the -journal value: a SQLite file, a postgres:// DSN or
	// "off"; journalToken guards the journal API (empty: API off).
	journal      string
	journalToken string
	// operator configures the operator's page (operator.go).
	operator operatorConfig
}

// dsnList is a repeatable -provider flag.
type dsnList []string

func (l *dsnList) String() string { return strings.Join(*l, " ") }
func (l *dsnList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	var dsns dsnList
	fs := flag.NewFlagSet("webhook-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", ":8080", "address to listen on")
	fs.Var(&dsns, "provider", "provider DSN, repeatable (default: $PBXKIT_PROVIDERS, space-separated)")
	fs.StringVar(&c.directory, "directory", "", "CSV file of clients: id,name,phones,responsible")
	fs.StringVar(&c.defaultExt, "default", "", "extension for callers with no responsible manager")
	fs.IntVar(&c.digits, "digits", phone.DefaultLastDigits, fmt.Sprintf("number of last digits compared when looking up a caller (%d-%d)", phone.MinLastDigits, phone.MaxLastDigits))
	fs.BoolVar(&c.translit, "translit", false, "transliterate display names to Latin (for phones without Cyrillic)")
	fs.BoolVar(&c.debug, "debug", false, "log the request journal at debug level")
	fs.StringVar(&c.journal, "journal", "", "call journal: a SQLite `FILE`, a postgres:// DSN, or \"off\" (default $PBXKIT_JOURNAL, else pbxkit.db)")
	fs.StringVar(&c.journalToken, "journal-token", "", "`TOKEN` of the read-only /journal/ API (default $PBXKIT_JOURNAL_TOKEN; none: the API is off)")
	fs.StringVar(&c.operator.secret, "screenpop-secret", "", "`SECRET` that signs the employees' links to the operator's page at / (default $PBXKIT_SCREENPOP_SECRET; none: the page is off)")
	fs.StringVar(&c.operator.missedTo, "missed-to", "", "`EXT` told about missed calls of clients without a responsible manager")
	fs.StringVar(&c.operator.printLink, "print-link", "", "print the operator page's link for extension `EXT` and exit")
	fs.StringVar(&c.operator.publicURL, "public-url", "", "`URL` employees open the page at, for -print-link (default http://localhost:PORT/)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if c.operator.secret == "" {
		c.operator.secret = getenv("PBXKIT_SCREENPOP_SECRET")
	}
	if c.operator.printLink != "" {
		return c, nil // no provider needed to print a link
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	c.dsns = dsns
	if len(c.dsns) == 0 {
		c.dsns = strings.Fields(getenv("PBXKIT_PROVIDERS"))
	}
	if len(c.dsns) == 0 {
		return config{}, errors.New("no provider: give -provider DSN or set PBXKIT_PROVIDERS")
	}
	if c.digits < phone.MinLastDigits || c.digits > phone.MaxLastDigits {
		return config{}, fmt.Errorf("-digits must be %d to %d", phone.MinLastDigits, phone.MaxLastDigits)
	}
	if c.journal == "" {
		c.journal = getenv("PBXKIT_JOURNAL")
	}
	if c.journal == "" {
		c.journal = "pbxkit.db"
	}
	if c.journalToken == "" {
		c.journalToken = getenv("PBXKIT_JOURNAL_TOKEN")
	}
	return c, nil
}

// newRouter builds the routing.Responsible router over the CSV directory,
// or returns nil (no decisions) when there is none.
func newRouter(c config, logger *slog.Logger) (pbx.Router, routing.Directory, error) {
	if c.directory == "" {
		if c.defaultExt == "" {
			return nil, nil, nil
		}
		return pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
			return pbx.Route{Extension: c.defaultExt}, nil
		}), nil, nil
	}
	f, err := os.Open(c.directory)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	contacts, err := routing.ReadCSV(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", c.directory, err)
	}
	dir, err := routing.NewMemoryDirectory(contacts, c.digits)
	if err != nil {
		return nil, nil, err
	}
	opts := []routing.ResponsibleOption{routing.WithLogger(logger)}
	if c.defaultExt != "" {
		opts = append(opts, routing.WithDefault(c.defaultExt))
	}
	if c.translit {
		opts = append(opts, routing.WithTranslit())
	}
	logger.Info("directory loaded", "file", c.directory, "contacts", len(contacts))
	return routing.Responsible(dir, opts...), dir, nil
}

// eventLogger logs each call event as one JSON line.
func eventLogger(logger *slog.Logger) pbx.EventHandler {
	return pbx.EventHandlerFunc(func(ctx context.Context, e pbx.CallEvent) error {
		logger.LogAttrs(ctx, slog.LevelInfo, "call event",
			slog.String("provider", e.Provider),
			slog.String("type", e.Type.String()),
			slog.String("call_id", e.CallID),
			slog.String("direction", e.Direction.String()),
			slog.String("phone", e.Phone),
			slog.String("extension", e.Extension),
			slog.String("line", e.Line),
			slog.String("outcome", e.Outcome.String()),
			slog.Any("talk_seconds", pbx.Seconds(e.TalkDuration)),
			slog.Any("call_seconds", pbx.Seconds(e.CallDuration)),
			slog.Bool("has_recording", e.HasRecording),
			slog.String("recording_url", provider.RedactURL(e.RecordingURL)),
			slog.String("dedupe_key", e.DedupeKey),
		)
		return nil
	})
}

// loggingRouter logs each routing decision.
func loggingRouter(next pbx.Router, logger *slog.Logger) pbx.Router {
	return pbx.RouterFunc(func(ctx context.Context, q pbx.RouteQuery) (pbx.Route, error) {
		var r pbx.Route
		var err error
		if next != nil {
			r, err = next.Route(ctx, q)
		}
		logger.LogAttrs(ctx, slog.LevelInfo, "route",
			slog.String("provider", q.Provider), slog.String("phone", q.Phone), slog.String("line", q.Line),
			slog.String("extension", r.Extension), slog.String("display_name", r.DisplayName), slog.Any("error", err))
		return r, err
	})
}

// server is what newHandler builds.
type server struct {
	handler http.Handler
	// mounted are the providers' paths, /pbx/<name>/, in -provider order.
	mounted   []string
	providers []pbx.Provider
	// journalAPI reports whether the /journal/ endpoints are served.
	journalAPI bool
	// hub pushes the operator page's cards; nil when the page is off.
	hub *screenpop.Hub
}

// newHandler opens every provider and mounts it under /pbx/<name>/, each
// with j (nil: no journal) as its event handler, and the journal API when
// a token is configured.
func newHandler(c config, j *journal.Journal, logger *slog.Logger) (*server, error) {
	router, dir, err := newRouter(c, logger)
	if err != nil {
		return nil, err
	}
	router = loggingRouter(router, logger)
	events := eventHandler(j, logger)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	s := &server{handler: mux}
	seen := map[string]bool{}
	for _, dsn := range c.dsns {
		p, err := provider.Open(dsn, provider.WithLogger(logger))
		if err != nil {
			return nil, err
		}
		name := p.Name()
		if seen[name] {
			return nil, fmt.Errorf("provider %s given twice; run one server per account", name)
		}
		seen[name] = true
		prefix := "/pbx/" + name + "/"
		mux.Handle(prefix, p.WebhookHandler(events, router))
		s.mounted = append(s.mounted, prefix)
		s.providers = append(s.providers, p)
	}
	api := &journalAPI{j: j, token: c.journalToken, loc: time.Local, logger: logger}
	s.journalAPI = api.register(mux)
	if s.hub, err = mountOperator(mux, c, j, dir, s.providers, logger); err != nil {
		return nil, err
	}
	return s, nil
}

// run serves until ctx is done, then shuts down gracefully: the server
// first (requests in flight finish), then the journal's background work,
// and the journal's store last. It binds the address before it logs
// "listening": a port in use is an error, returned before anything claims
// to be listening.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := parseConfig(args, getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if c.operator.printLink != "" {
		return printLinkTo(c, stdout)
	}
	level := slog.LevelInfo
	if c.debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: level}))
	j, store, err := openJournal(ctx, c, logger)
	if err != nil {
		return err
	}
	if store != nil {
		defer func() {
			if err := store.Close(); err != nil {
				logger.Error("journal: closing the store failed", "error", err.Error())
			}
		}()
	}
	s, err := newHandler(c, j, logger)
	if err != nil {
		return err
	}
	if j != nil && !s.journalAPI {
		logger.Info("journal API off: no -journal-token or PBXKIT_JOURNAL_TOKEN")
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String(), "paths", s.mounted)
	if j != nil {
		bg, stopBG := context.WithCancel(ctx)
		wait := keeper.New(j, s.providers, logger).Start(bg)
		defer func() { stopBG(); wait() }() // before the store is closed
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	if s.hub != nil {
		s.hub.Close() // ends the card streams, which Shutdown would wait for
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
