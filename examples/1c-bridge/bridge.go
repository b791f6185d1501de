package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pbxkit/pbxkit/examples/internal/keeper"
	"github.com/pbxkit/pbxkit/examples/internal/operator"
	_ "github.com/pbxkit/pbxkit/examples/internal/vendors" // every vendor's provider
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/outbox"
	"github.com/pbxkit/pbxkit/pbx/screenpop"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/routing"
)

// targetName keys the outbox's cursor, lease and dead letters in the
// journal's store: every replica and every restart must use the same one.
const targetName = "1c"

// operatorPrefix is where the operator's page is mounted.
const operatorPrefix = "/operator"

// seams are what tests change: extra outbox options (a fake clock, a short
// schedule) and a look at the bridge once it is built.
type seams struct {
	outbox  []outbox.Option
	started func(*bridge)
}

// bridge is the whole program, built from a config.
type bridge struct {
	cfg    config
	logger *slog.Logger

	j     *journal.Journal
	store journalStore

	providers []pbx.Provider
	mounted   []string
	dir       *routing.HTTPDirectory // nil without -1c-lookup
	router    pbx.Router
	outbox    *outbox.Outbox
	hub       *screenpop.Hub // nil without -screenpop-secret

	handler http.Handler
}

// newBridge opens the journal and the providers and wires everything. On
// error nothing stays open.
func newBridge(ctx context.Context, c config, logger *slog.Logger, s seams) (_ *bridge, err error) {
	b := &bridge{cfg: c, logger: logger}
	b.j, b.store, err = openJournal(ctx, c, logger)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	for _, dsn := range c.dsns {
		p, err := provider.Open(dsn, provider.WithLogger(logger))
		if err != nil {
			return nil, err // provider.Open never puts a secret in its errors
		}
		for _, q := range b.providers {
			if q.Name() == p.Name() {
				return nil, fmt.Errorf("provider %s given twice; run one bridge per account", p.Name())
			}
		}
		b.providers = append(b.providers, p)
	}
	dirs, err := b.newRouting()
	if err != nil {
		return nil, err
	}
	if err := b.newOutbox(s.outbox); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /status", b.serveStatus)
	events := eventHandler(b.j, logger)
	for _, p := range b.providers {
		prefix := "/pbx/" + p.Name() + "/"
		mux.Handle(prefix, p.WebhookHandler(events, b.router))
		b.mounted = append(b.mounted, prefix)
	}
	if err := b.newOperatorPage(ctx, mux, cardLookup(dirs)); err != nil {
		return nil, err
	}
	b.handler = mux
	if s.started != nil {
		s.started(b)
	}
	return b, nil
}

// newRouting builds the router the PBXs ask: the client's main manager
// from 1C (-1c-lookup), else from the CSV file (-contacts), else the
// default extension. It returns the directories it asks, for the
// screen-pop cards.
func (b *bridge) newRouting() (dirs []routing.Directory, err error) {
	c := b.cfg
	if c.lookupURL != "" {
		var opts []routing.HTTPDirectoryOption
		if u, _ := checkURL("-1c-lookup", c.lookupURL); u != nil && u.User == nil && c.user != "" {
			opts = append(opts, routing.WithBasicAuth(c.user, c.password))
		}
		opts = append(opts, routing.WithCacheTTL(c.lookupTTL), routing.WithLogger(b.logger))
		b.dir, err = routing.NewHTTPDirectory(c.lookupURL, opts...)
		if err != nil {
			return nil, err
		}
		dirs = append(dirs, b.dir)
		b.logger.Info("routing: 1C lookup", "url", provider.RedactURL(c.lookupURL), "ttl", c.lookupTTL.String())
	}
	if c.contacts != "" {
		f, err := os.Open(c.contacts)
		if err != nil {
			return nil, err
		}
		contacts, err := routing.ReadCSV(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.contacts, err)
		}
		csv, err := routing.NewMemoryDirectory(contacts, c.digits)
		if err != nil {
			return nil, err
		}
		dirs = append(dirs, csv)
		b.logger.Info("routing: contacts loaded", "file", c.contacts, "contacts", len(contacts))
	}
	var routers []pbx.Router
	for _, d := range dirs {
		// 1C first: when it answers, even "nobody", its answer stands
		// (with the default extension); when it cannot answer, the
		// chain asks the CSV file.
		opts := []routing.ResponsibleOption{routing.WithLogger(b.logger)}
		if c.defaultExt != "" {
			opts = append(opts, routing.WithDefault(c.defaultExt))
		}
		if c.translit {
			opts = append(opts, routing.WithTranslit())
		}
		routers = append(routers, routing.Responsible(d, opts...))
	}
	if c.defaultExt != "" && len(dirs) == 0 {
		ext := c.defaultExt
		routers = append(routers, pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
			return pbx.Route{Extension: ext}, nil
		}))
	}
	if len(routers) == 0 {
		b.logger.Info("routing: no -1c-lookup, -contacts or -default: the PBXs route every call by their own rules")
	}
	b.router = loggingRouter(routing.Chain(routers...), b.logger)
	return dirs, nil
}

// cardLookup returns the screen-pop's Lookup over dirs: the client's name
// and main manager from the first directory that knows the number (1C,
// then the CSV file), or nil when there is no directory.
func cardLookup(dirs []routing.Directory) func(context.Context, string) (string, string, error) {
	if len(dirs) == 0 {
		return nil
	}
	return func(ctx context.Context, number string) (string, string, error) {
		var errs []error
		for _, d := range dirs {
			cs, err := d.Lookup(ctx, number)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if len(cs) > 0 {
				name, resp := cardOf(cs)
				return name, resp, nil
			}
		}
		return "", "", errors.Join(errs...)
	}
}

// cardOf names the client behind contacts: the first name, and the
// responsible they all share ("" when they name different ones).
func cardOf(cs []routing.Contact) (name, responsible string) {
	for _, c := range cs {
		if name == "" {
			name = c.Name
		}
		switch {
		case c.Responsible == "":
		case responsible == "":
			responsible = c.Responsible
		case responsible != c.Responsible:
			return name, ""
		}
	}
	return name, responsible
}

// newOutbox builds the delivery of the journal's calls to -1c-calls.
func (b *bridge) newOutbox(extra []outbox.Option) error {
	c := b.cfg
	t := outbox.Target{Name: targetName, URL: c.callsURL, Secret: c.secret}
	if u, _ := checkURL("-1c-calls", c.callsURL); u != nil && u.User == nil && c.user != "" {
		t.Header = http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(c.user+":"+c.password))}}
	}
	opts := []outbox.Option{outbox.WithLogger(b.logger), outbox.WithTimeout(c.callsTimeout)}
	if c.replicaID != "" {
		opts = append(opts, outbox.WithReplicaID(c.replicaID))
	}
	ob, err := outbox.New(b.j, t, append(opts, extra...)...)
	if err != nil {
		return fmt.Errorf("1C delivery: %w", err)
	}
	b.outbox = ob
	b.logger.Info("1C delivery", "url", provider.RedactURL(c.callsURL))
	return nil
}

// newOperatorPage mounts the operator's page (examples/internal/operator,
// the page examples/webhook-server serves too) at /operator/, fed by a
// screen-pop hub, when -screenpop-secret is set.
func (b *bridge) newOperatorPage(ctx context.Context, mux *http.ServeMux, lookup func(context.Context, string) (string, string, error)) error {
	c := b.cfg
	if len(c.screenpopSecret) == 0 {
		b.logger.Info("operator's page off: no -screenpop-secret or " + envScreenpopSecret)
		return nil
	}
	hub, err := screenpop.New(b.j, screenpop.Config{
		Secret:   c.screenpopSecret,
		MissedTo: c.missedTo,
		Lookup:   lookup, // the same sources as routing, without the default
		Logger:   b.logger,
	})
	if err != nil {
		return fmt.Errorf("screen-pop: %w", err)
	}
	b.hub = hub
	page, err := operator.New(operator.Config{
		Hub:      hub,
		Journal:  b.j,
		Callers:  operator.CallersOf(b.providers...),
		MissedTo: c.missedTo,
		Names:    employeeNames(ctx, b.providers, b.logger),
		Logger:   b.logger,
	})
	if err != nil {
		return fmt.Errorf("operator's page: %w", err)
	}
	mux.Handle(operatorPrefix+"/", http.StripPrefix(operatorPrefix, page))
	mux.Handle("GET "+operatorPrefix, http.RedirectHandler(operatorPrefix+"/", http.StatusMovedPermanently))
	return nil
}

// employeeNames asks each PBX that can list its employees for their names,
// for the operator's page; a PBX that does not answer in 5 s is skipped.
func employeeNames(ctx context.Context, providers []pbx.Provider, logger *slog.Logger) map[string]string {
	names := map[string]string{}
	for _, p := range providers {
		l, ok := p.(pbx.SubscriberLister)
		if !ok {
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		subs, err := l.Subscribers(lctx)
		cancel()
		if err != nil {
			logger.Warn("operator's page: cannot list the employees", "provider", p.Name(), "error", provider.ScrubError(err).Error())
			continue
		}
		for _, s := range subs {
			if s.Extension != "" && s.Name != "" && names[s.Extension] == "" {
				names[s.Extension] = s.Name
			}
		}
	}
	return names
}

// loggingRouter logs each routing decision.
func loggingRouter(next pbx.Router, logger *slog.Logger) pbx.Router {
	return pbx.RouterFunc(func(ctx context.Context, q pbx.RouteQuery) (pbx.Route, error) {
		r, err := next.Route(ctx, q)
		attrs := []slog.Attr{
			slog.String("provider", q.Provider), slog.String("call_id", q.CallID), slog.String("phone", q.Phone),
			slog.String("extension", r.Extension), slog.String("display_name", r.DisplayName),
		}
		if err != nil {
			attrs = append(attrs, slog.String("error", err.Error()))
		}
		logger.LogAttrs(ctx, slog.LevelInfo, "route", attrs...)
		return r, err
	})
}

// status is what GET /status answers: counters, no secret, no caller.
type status struct {
	Outbox struct {
		Active               bool    `json:"active"`
		Down                 bool    `json:"down"`
		Pending              int     `json:"pending"`
		OldestPendingSeconds float64 `json:"oldest_pending_seconds"`
		Unread               int64   `json:"unread"`
		Delivered            int     `json:"delivered"`
		Dead                 int     `json:"dead"`
	} `json:"outbox"`
	Lookup *lookupStatus    `json:"lookup,omitempty"`
	Screen *screenpopStatus `json:"screenpop,omitempty"`
}

// lookupStatus is routing.HTTPDirectoryStats in the JSON of /status.
type lookupStatus struct {
	Hits        int64 `json:"hits"`
	Misses      int64 `json:"misses"`
	Stale       int64 `json:"stale"`
	Unavailable int64 `json:"unavailable"`
	Requests    int64 `json:"requests"`
	Failed      int64 `json:"failed"`
	Entries     int   `json:"entries"`
	Down        bool  `json:"down"`
}

// screenpopStatus is screenpop.Stats in the JSON of /status.
type screenpopStatus struct {
	Streams  int   `json:"streams"`
	Dropped  int64 `json:"dropped"`
	Position int64 `json:"position"`
}

func (b *bridge) serveStatus(w http.ResponseWriter, _ *http.Request) {
	var s status
	st := b.outbox.Stats()
	s.Outbox.Active, s.Outbox.Down = st.Active, st.Down
	s.Outbox.Pending, s.Outbox.OldestPendingSeconds = st.Pending, st.OldestPending.Seconds()
	s.Outbox.Unread, s.Outbox.Delivered, s.Outbox.Dead = st.Unread, st.Delivered, st.Dead
	if b.dir != nil {
		ds := b.dir.Stats()
		s.Lookup = &lookupStatus{Hits: ds.Hits, Misses: ds.Misses, Stale: ds.Stale, Unavailable: ds.Unavailable,
			Requests: ds.Requests, Failed: ds.Failed, Entries: ds.Entries, Down: ds.Down}
	}
	if b.hub != nil {
		hs := b.hub.Stats()
		s.Screen = &screenpopStatus{Streams: hs.Streams, Dropped: hs.Dropped, Position: hs.Position}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(s)
}

// close releases what newBridge opened.
func (b *bridge) close() {
	if b.hub != nil {
		if err := b.hub.Close(); err != nil {
			b.logger.Warn("screen-pop: close failed", "error", err.Error())
		}
	}
	if b.store != nil {
		if err := b.store.Close(); err != nil {
			b.logger.Error("journal: closing the store failed", "error", err.Error())
		}
	}
}

// run serves until ctx is done, then shuts down gracefully: the operator's
// streams and the server first (webhooks in flight are stored and
// answered), then the outbox (it saves its cursor and gives up its lease)
// and the journal's background work, the store last.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runWith(ctx, args, getenv, stdout, stderr, seams{})
}

func runWith(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, s seams) error {
	c, err := parseConfig(args, getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w (-h lists every flag)", err)
	}
	if c.printLink != "" {
		_, err := fmt.Fprintln(stdout, operator.Link(strings.TrimRight(c.publicURL, "/")+operatorPrefix+"/", c.screenpopSecret, c.printLink, time.Now().Add(operator.LinkTTL)))
		return err
	}
	level := slog.LevelInfo
	if c.debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: level}))
	b, err := newBridge(ctx, c, logger, s)
	if err != nil {
		return err
	}
	defer b.close()

	srv := &http.Server{
		Handler:           b.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String(), "paths", b.mounted, "operator", b.hub != nil)

	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := b.outbox.Run(bg); err != nil {
			logger.Error("1C delivery stopped", "error", err.Error())
		}
	})
	waitKeeper := keeper.New(b.j, b.providers, logger).Start(bg)
	defer func() {
		stopBG()
		wg.Wait()
		waitKeeper()
	}()

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	if b.hub != nil {
		_ = b.hub.Close() // ends the operator's streams, so Shutdown does not wait for them
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
