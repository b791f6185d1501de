package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/provider"
)

// Limits of the journal API.
const (
	defaultLimit = 100
	maxLimit     = 1000
	maxParamLen  = 200
)

// journalAPI serves the read-only journal endpoints:
//
//	GET /journal/calls   calls, newest first
//	GET /journal/missed  inbound missed calls, newest first
//	GET /journal/stats   per-employee figures
//
// Every request needs the token (Authorization: Bearer TOKEN, or
// ?token=TOKEN), compared in constant time. Without a token configured
// the endpoints are not mounted at all (404): they are never open.
type journalAPI struct {
	j      *journal.Journal
	token  string
	loc    *time.Location // the zone of bare dates
	logger *slog.Logger

	lastWarn atomic.Int64 // Unix nanoseconds of the last rejected-token warning
}

// register mounts the endpoints on mux, or nothing when the journal is off
// or no token is configured. It reports whether it mounted them.
func (a *journalAPI) register(mux *http.ServeMux) bool {
	if a.j == nil || a.token == "" {
		return false
	}
	mux.Handle("GET /journal/calls", a.authorized(a.serveCalls))
	mux.Handle("GET /journal/missed", a.authorized(a.serveMissed))
	mux.Handle("GET /journal/stats", a.authorized(a.serveStats))
	return true
}

// authorized wraps h with the token check.
func (a *journalAPI) authorized(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if !provider.SecretEqual(requestToken(r), a.token) {
			a.warnRejected(r)
			w.Header().Set("WWW-Authenticate", `Bearer realm="pbxkit journal"`)
			writeError(w, http.StatusUnauthorized, "unauthorized: give the journal token as Authorization: Bearer TOKEN or ?token=TOKEN")
			return
		}
		h(w, r)
	})
}

// requestToken is the token of r: the Authorization Bearer credentials when
// the header is present, else the token query parameter.
func requestToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return ""
		}
		return strings.TrimSpace(tok)
	}
	return r.URL.Query().Get("token")
}

// warnRejected logs a rejected request at most once every 10 seconds,
// without the token.
func (a *journalAPI) warnRejected(r *http.Request) {
	now := time.Now().UnixNano()
	last := a.lastWarn.Load()
	if now-last < int64(10*time.Second) || !a.lastWarn.CompareAndSwap(last, now) {
		return
	}
	a.logger.Warn("journal API: request with a missing or wrong token rejected",
		"path", r.URL.Path, "remote", r.RemoteAddr)
}

// callsAnswer is the JSON of /journal/calls and /journal/missed. More
// reports that more calls match than Limit allowed.
type callsAnswer struct {
	Calls []journal.Call `json:"calls"`
	More  bool           `json:"more"`
}

// statsAnswer is the JSON of /journal/stats.
type statsAnswer struct {
	Employees []journal.EmployeeStats `json:"employees"`
}

func (a *journalAPI) serveCalls(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r.URL.Query(), a.loc, callsParams)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	a.writeCalls(w, r, q)
}

func (a *journalAPI) serveMissed(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r.URL.Query(), a.loc, missedParams)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	q.Missed = true
	a.writeCalls(w, r, q)
}

func (a *journalAPI) writeCalls(w http.ResponseWriter, r *http.Request, q journal.Query) {
	limit := q.Limit
	q.Limit = limit + 1 // one more tells whether there are more
	ans := callsAnswer{Calls: make([]journal.Call, 0, min(limit, 64))}
	for c, err := range a.j.Calls(r.Context(), q) {
		if err != nil {
			a.storeFailed(w, r, err)
			return
		}
		if len(ans.Calls) == limit {
			ans.More = true
			break
		}
		ans.Calls = append(ans.Calls, c)
	}
	writeJSON(w, http.StatusOK, ans)
}

func (a *journalAPI) serveStats(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r.URL.Query(), a.loc, statsParams)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	stats, err := a.j.Stats(r.Context(), q)
	if err != nil {
		a.storeFailed(w, r, err)
		return
	}
	if stats == nil {
		stats = []journal.EmployeeStats{}
	}
	writeJSON(w, http.StatusOK, statsAnswer{Employees: stats})
}

// storeFailed answers 500 for a journal that could not be read, and logs
// why (store errors carry no secret).
func (a *journalAPI) storeFailed(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away
	}
	a.logger.Error("journal API: query failed", "path", r.URL.Path, "error", err.Error())
	writeError(w, http.StatusInternalServerError, "the journal could not be read; see the server log")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "cannot encode the answer")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// The parameters each endpoint takes ("token" is always allowed).
var (
	callsParams  = []string{"from", "to", "provider", "extension", "phone", "direction", "outcome", "missed", "not_called_back", "open", "limit"}
	missedParams = []string{"from", "to", "provider", "extension", "phone", "outcome", "not_called_back", "limit"}
	statsParams  = []string{"from", "to", "provider", "extension", "phone", "direction", "outcome", "missed", "not_called_back", "open"}
)

// parseQuery reads a journal.Query from URL parameters, allowing only the
// names in allowed (and token). An empty value is the same as an absent
// parameter. Every error names the parameter and what it wants. Limit
// defaults to defaultLimit when limit is allowed.
func parseQuery(v url.Values, loc *time.Location, allowed []string) (journal.Query, error) {
	var q journal.Query
	get := func(name string) string { return v.Get(name) }
	for name, vals := range v {
		if name != "token" && !slices.Contains(allowed, name) {
			return q, fmt.Errorf("unknown parameter %q (known: %s)", name, strings.Join(allowed, ", "))
		}
		if len(vals) > 1 {
			return q, fmt.Errorf("parameter %s given more than once", name)
		}
		if len(vals[0]) > maxParamLen {
			return q, fmt.Errorf("parameter %s is longer than %d bytes", name, maxParamLen)
		}
	}
	var err error
	if s := get("from"); s != "" {
		if q.From, err = parseTime(s, loc, false); err != nil {
			return q, fmt.Errorf("from: %w", err)
		}
	}
	if s := get("to"); s != "" {
		if q.To, err = parseTime(s, loc, true); err != nil {
			return q, fmt.Errorf("to: %w", err)
		}
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.To.After(q.From) {
		return q, fmt.Errorf("to (%s) must be after from (%s)", q.To.Format(time.RFC3339), q.From.Format(time.RFC3339))
	}
	q.Provider = get("provider")
	q.Extension = get("extension")
	if s := get("phone"); s != "" {
		if !strings.ContainsAny(s, "0123456789") {
			return q, fmt.Errorf("phone %q has no digits", s)
		}
		q.Phone = s
	}
	if s := get("direction"); s != "" {
		if err := q.Direction.UnmarshalText([]byte(s)); err != nil || q.Direction == pbx.DirectionUnknown {
			return q, fmt.Errorf("direction %q: want inbound, outbound or internal", s)
		}
	}
	if s := get("outcome"); s != "" {
		if err := q.Outcome.UnmarshalText([]byte(s)); err != nil || q.Outcome == pbx.OutcomeUnknown {
			return q, fmt.Errorf("outcome %q: want answered, missed, busy, cancelled or failed", s)
		}
	}
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"missed", &q.Missed}, {"not_called_back", &q.NotCalledBack}, {"open", &q.Open}} {
		if s := get(b.name); s != "" {
			if *b.dst, err = strconv.ParseBool(s); err != nil {
				return q, fmt.Errorf("%s %q: want 1 or 0", b.name, s)
			}
		}
	}
	if slices.Contains(allowed, "limit") {
		q.Limit = defaultLimit
		if s := get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > maxLimit {
				return q, fmt.Errorf("limit %q: want a number from 1 to %d", s, maxLimit)
			}
			q.Limit = n
		}
	}
	return q, nil
}

// parseTime reads an RFC 3339 time or a date (2006-01-02) in loc. A date
// means that day: its start for from, the start of the next day for to (the
// query's To is exclusive).
func parseTime(s string, loc *time.Location, end bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	// Tolerant reading: a "+" of the zone offset sent unescaped in a query
	// arrives as a space ("2024-05-01T10:00:00 03:00").
	if i := strings.LastIndexByte(s, ' '); i > 0 {
		if t, err := time.Parse(time.RFC3339, s[:i]+"+"+s[i+1:]); err == nil {
			return t, nil
		}
	}
	d, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad time %q: want 2006-01-02 or RFC 3339 (2006-01-02T15:04:05+03:00)", s)
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}
