// Package operator is the operator's page that examples/webhook-server and
// examples/1c-bridge both serve: the caller's card popping up (pushed by a
// screenpop.Hub), a "call back" button, today's calls, the missed calls and
// a per-employee chart for today, read from the call journal.
//
// The page is static HTML, CSS and plain JavaScript embedded in the binary
// (no build step, no CDN), in Russian, since its users are Russian. An
// employee opens it with a link carrying a token for their extension
// (Link; webhook-server -print-link 101 prints one). The page keeps the
// token in the tab's sessionStorage and removes it from the address bar.
//
// Routes, relative to where the handler is mounted:
//
//	GET  /                 the page
//	GET  /static/...       its script and style sheet
//	GET  /screenpop        the hub's event stream (token in ?token=)
//	GET  /api/me           {"extension","name","can_call"}
//	GET  /api/calls        today's calls of the extension
//	GET  /api/missed       today's missed calls of the extension (all of them
//	                       for Config.MissedTo), and the earlier ones of the
//	                       last 7 days not called back yet
//	GET  /api/stats        today's figures of every employee
//	POST /api/callback     {"provider","call_id","request_id"}: call the
//	                       call's client back from the extension's phone
//
// Every /api request needs "Authorization: Bearer TOKEN", the hub's token
// (a header, never the query: a page of another site cannot set it, so
// the POST is safe from cross-site request forgery without a cookie or a
// CSRF token). The call-back also needs a JSON body; it places at most one
// call per request_id, and refuses a second call-back of the same call by
// the same extension within 30 seconds.
package operator

import (
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/screenpop"
)

//go:embed static
var static embed.FS

// LinkTTL is a reasonable lifetime for an employee's link: a month.
const LinkTTL = 30 * 24 * time.Hour

// Config configures the page. Hub and Journal are required.
type Config struct {
	// Hub pushes the cards; its tokens also guard the JSON endpoints.
	Hub *screenpop.Hub
	// Journal is what the lists and the chart are read from: the journal
	// the hub follows.
	Journal *journal.Journal
	// Callers place the call-backs, by provider name (Call.Provider). A
	// call whose provider has none cannot be called back from the page
	// (its button is not shown). CallersOf builds it from providers.
	Callers map[string]pbx.Caller
	// MissedTo is the extension that sees every missed call in its list
	// (the hub's Config.MissedTo, usually).
	MissedTo string
	// Names are the employees' names by extension, for the chart and the
	// header (optional).
	Names map[string]string
	// Location is the zone of "today" (default Europe/Moscow).
	Location *time.Location
	// Logger receives what an operator should see (a failed call-back, a
	// failing journal); the default discards everything.
	Logger *slog.Logger
	// Now is the clock (default time.Now), for tests.
	Now func() time.Time
}

// CallersOf returns the providers that can place calls, by name.
func CallersOf(ps ...pbx.Provider) map[string]pbx.Caller {
	m := map[string]pbx.Caller{}
	for _, p := range ps {
		if c, ok := p.(pbx.Caller); ok {
			m[p.Name()] = c
		}
	}
	return m
}

// Link returns the address of the page for extension, with a token signed
// by secret that expires at expires. base is where the page is served,
// such as "https://pbx.example.ru" or "http://127.0.0.1:8080/operator".
// The link is a credential: give it to that employee only.
func Link(base string, secret []byte, extension string, expires time.Time) string {
	return strings.TrimRight(base, "/") + "/?token=" + url.QueryEscape(screenpop.Token(secret, extension, expires))
}

// Handler serves the page; see the package doc for its routes.
type Handler struct {
	cfg    Config
	log    *slog.Logger
	mux    *http.ServeMux
	recent recentCallbacks
}

// New returns the page's handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Hub == nil || cfg.Journal == nil {
		return nil, errors.New("operator: Config.Hub and Config.Journal are required")
	}
	if cfg.Location == nil {
		cfg.Location = moscow()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.recent.init()
	files, err := fs.Sub(static, "static")
	if err != nil {
		return nil, err
	}
	h.mux.HandleFunc("GET /{$}", h.page)
	fileServer := http.StripPrefix("/static/", http.FileServerFS(files))
	h.mux.HandleFunc("GET /static/", func(w http.ResponseWriter, r *http.Request) {
		// Embedded files have no modification time to revalidate with:
		// ask every time, so a new version of the program is seen at once.
		w.Header().Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	})
	h.mux.Handle("GET /screenpop", cfg.Hub)
	h.mux.HandleFunc("GET /api/me", h.api(h.me))
	h.mux.HandleFunc("GET /api/calls", h.api(h.calls))
	h.mux.HandleFunc("GET /api/missed", h.api(h.missed))
	h.mux.HandleFunc("GET /api/stats", h.api(h.stats))
	h.mux.HandleFunc("POST /api/callback", h.api(h.callback))
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	b, err := static.ReadFile("static/index.html")
	if err != nil {
		http.Error(w, "page missing", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

// today returns the bounds of the current day in the configured zone.
func (h *Handler) today() (from, to time.Time) {
	now := h.cfg.Now().In(h.cfg.Location)
	from = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, h.cfg.Location)
	return from, from.AddDate(0, 0, 1)
}

// moscow is Europe/Moscow, or UTC+3 where the system has no zone data.
func moscow() *time.Location {
	if l, err := time.LoadLocation("Europe/Moscow"); err == nil {
		return l
	}
	return time.FixedZone("MSK", 3*3600)
}

// recentCallbacks remembers the call-backs placed lately: by request id
// (a repeated request places nothing) and by extension and call (a second
// click, from another tab, within callbackGap is refused).
type recentCallbacks struct {
	mu      sync.Mutex
	byReq   map[string]callbackDone
	byCall  map[string]time.Time
	inFlght map[string]bool
}

// callbackDone is what a call-back request got.
type callbackDone struct {
	at     time.Time
	status int
	body   any
}

const (
	callbackGap    = 30 * time.Second
	callbackMemory = 10 * time.Minute
	callbackMax    = 10000
)

func (rc *recentCallbacks) init() {
	rc.byReq = map[string]callbackDone{}
	rc.byCall = map[string]time.Time{}
	rc.inFlght = map[string]bool{}
}

// forget drops what is older than callbackMemory; it runs under rc.mu.
func (rc *recentCallbacks) forget(now time.Time) {
	if len(rc.byReq)+len(rc.byCall) < callbackMax {
		return
	}
	for k, d := range rc.byReq {
		if now.Sub(d.at) > callbackMemory {
			delete(rc.byReq, k)
		}
	}
	for k, t := range rc.byCall {
		if now.Sub(t) > callbackGap {
			delete(rc.byCall, k)
		}
	}
	if len(rc.byReq) >= callbackMax {
		clear(rc.byReq)
	}
}
