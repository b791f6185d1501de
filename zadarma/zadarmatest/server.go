package zadarmatest

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/provider/providertest"
	"github.com/pbxkit/pbxkit/zadarma"
)

// Defaults of Options.
const (
	// DefaultKey and DefaultSecret are the API key and secret the fake
	// accepts, and signs its notifications with, by default.
	DefaultKey    = "zadarmatest-key-7c1f"
	DefaultSecret = "zadarmatest-secret-9e4a2b"
	// DefaultPBXID is the fake PBX's id.
	DefaultPBXID = "12345"
	// DefaultRecordingSize is the size of generated recordings: 256 KiB.
	DefaultRecordingSize = 256 << 10
	// DefaultRateLimit is the fake's requests a minute, per bucket, by
	// default: generous, so tests do not wait. Zadarma allows 100 in
	// general and 3 for the statistics (Options.StatisticsRateLimit).
	DefaultRateLimit = 600
	// DefaultCaller and DefaultLine are the external number and the
	// company number of played calls, the same for every fake.
	DefaultCaller = pbxtest.DefaultCaller
	DefaultLine   = pbxtest.DefaultLine
)

// NotFoundMessage is the message of the fake's answer to a recording it
// does not have (yet). Zadarma's own wording is not documented.
const NotFoundMessage = "Record not found"

// maxRequestSize caps the API request bodies the fake reads.
const maxRequestSize = 1 << 20

// Options configures a Server. The zero value of each field picks its
// default.
type Options struct {
	// Key and Secret are the API credentials the fake accepts; the secret
	// also signs its notifications. Default DefaultKey, DefaultSecret.
	Key, Secret string
	// Employees are the PBX's extensions; default pbxtest.Employees()
	// (101, 102, 103). request/callback and a routing answer must name one
	// of them.
	Employees []pbxtest.Employee
	// RecordingSize is the size of the recordings of answered calls;
	// default DefaultRecordingSize.
	RecordingSize int64
	// RecordingDelay is the "not ready" phase: a recording can be fetched
	// only this long after its call ended (Zadarma advises 40 s); before,
	// pbx/record/request answers NotFoundMessage. Default 0: at once.
	RecordingDelay time.Duration
	// Location is the zone of call_start and of the statistics; default
	// Europe/Moscow.
	Location *time.Location
	// RateLimit and StatisticsRateLimit are the requests a minute the fake
	// allows, in general and for statistics/pbx; default DefaultRateLimit
	// each. Beyond them it answers 429 with the X-RateLimit-* headers and
	// no Retry-After. Set StatisticsRateLimit to 3 to behave as Zadarma.
	RateLimit, StatisticsRateLimit int
	// NotifyRecord makes a play send NOTIFY_RECORD after the end of a
	// recorded call, when its recording is ready at once (RecordingDelay
	// 0). Off by default: it is a separate notification in Zadarma's
	// settings, and arrives once the file is stored.
	NotifyRecord bool
	// RawSignature signs notifications with the Base64 of the raw HMAC
	// bytes (what Zadarma's TypeScript client checks) instead of the
	// Base64 of its hex digits (what the PHP client and the first
	// documented examples use).
	RawSignature bool
	// HTTPClient sends the notifications; default a client with a 10 s
	// timeout.
	HTTPClient *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Request is one API request the fake received: as it arrived (the
// embedded pbxtest.Request) and what the fake made of it.
type Request struct {
	pbxtest.Request
	// Params are the decoded query (or form) parameters.
	Params url.Values
	// AuthOK says whether the Authorization header was right.
	AuthOK bool
	// Status is the HTTP status the fake answered.
	Status int
}

// HistoryEntry is one row of the fake's statistics/pbx.
type HistoryEntry struct {
	// CallID is the recording's id (a number such as
	// "1774372146.1000001"); PBXCallID the call's ("in_…", "out_…").
	CallID, PBXCallID string
	// SIP, CLID and Destination are the row's sip, clid and destination.
	SIP, CLID, Destination string
	// Disposition is "answered", "no answer", ...
	Disposition string
	// Start is when the call started.
	Start time.Time
	// Duration is the row's seconds.
	Duration time.Duration
	// Recorded is is_recorded.
	Recorded bool
}

type recording struct {
	pbxCallID string
	size      int64
	readyAt   time.Time
	token     string
}

// Server is a fake Zadarma: the API methods request/callback,
// statistics/pbx, pbx/record/request (and its download links),
// pbx/internal and pbx/internal/<ext>/info with Zadarma's signature check
// and rate-limit headers, and a player of call notifications aimed at a
// webhook. It implements pbxtest.Fake and is safe for concurrent use.
type Server struct {
	ts     *httptest.Server
	url    string
	opts   Options
	hc     *http.Client
	ctx    context.Context // ended by Close, for asynchronous plays
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	requests   []Request
	history    []HistoryEntry
	recordings map[string]*recording // by recording id
	webhook    string
	plays      []PlayResult
	seq        int64
	windows    map[string]*window
}

// window counts one rate-limit bucket's requests in the current minute.
type window struct {
	start time.Time
	count int
}

var _ pbxtest.Fake = (*Server)(nil)

// init registers the fake with pbxtest, so that pbxtest.Start("zadarma",
// ...) and the programs that start every vendor's fake find it, and its
// Harness with providertest, for the programs that iterate over the
// vendors' harnesses.
func init() {
	pbxtest.Register(pbxtest.Vendor{
		Name: zadarma.Name,
		Start: func(o pbxtest.Options) (pbxtest.Fake, error) {
			return NewServer(Options{RecordingSize: o.RecordingSize, Employees: o.Employees}), nil
		},
	})
	providertest.Register(Harness())
}

// NewServer starts a fake Zadarma on 127.0.0.1 with the seeded staff
// (pbxtest.Employees() unless Options.Employees says otherwise) and a few
// calls of the last hours in its statistics, with their recordings. Close
// it when done.
func NewServer(o Options) *Server {
	if o.Key == "" {
		o.Key = DefaultKey
	}
	if o.Secret == "" {
		o.Secret = DefaultSecret
	}
	if len(o.Employees) == 0 {
		o.Employees = pbxtest.Employees()
	} else {
		o.Employees = slices.Clone(o.Employees)
	}
	if o.RecordingSize <= 0 {
		o.RecordingSize = DefaultRecordingSize
	}
	if o.Location == nil {
		o.Location = provider.DefaultLocation()
	}
	if o.RateLimit <= 0 {
		o.RateLimit = DefaultRateLimit
	}
	if o.StatisticsRateLimit <= 0 {
		o.StatisticsRateLimit = DefaultRateLimit
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{opts: o, hc: o.HTTPClient, recordings: map[string]*recording{}, windows: map[string]*window{}}
	if s.hc == nil {
		s.hc = &http.Client{Timeout: 10 * time.Second}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	s.url = s.ts.URL
	s.seedHistory()
	return s
}

// Close lets the plays started by request/callback finish for up to 5
// seconds, then cancels them, waits for them and shuts the server down.
func (s *Server) Close() {
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.cancel()
		<-done
	}
	s.cancel()
	s.ts.Close()
}

// Name returns "zadarma", the provider the fake imitates.
func (s *Server) Name() string { return zadarma.Name }

// URL returns the API root, such as "http://127.0.0.1:34567": put it into
// zadarma.Config.BaseURL (Config does).
func (s *Server) URL() string { return s.url }

// Key returns the API key the fake accepts.
func (s *Server) Key() string { return s.opts.Key }

// Secret returns the API secret the fake accepts and signs with.
func (s *Server) Secret() string { return s.opts.Secret }

// Config returns a zadarma.Config that talks to the fake: its key, secret,
// URL and Location.
func (s *Server) Config() zadarma.Config {
	return zadarma.Config{Key: s.opts.Key, Secret: s.opts.Secret, BaseURL: s.url, Location: s.opts.Location}
}

// DSN returns a DSN that opens a zadarma provider against the fake:
// zadarma://KEY:SECRET@/?base_url=URL (and location, when Options.Location
// is a zone the DSN can name).
func (s *Server) DSN() string {
	q := url.Values{"base_url": {s.url}}
	if l := s.opts.Location; l != nil && l.String() != "Local" {
		if _, err := time.LoadLocation(l.String()); err == nil {
			q.Set("location", l.String())
		}
	}
	u := url.URL{Scheme: zadarma.Name, User: url.UserPassword(s.opts.Key, s.opts.Secret), Path: "/", RawQuery: q.Encode()}
	return u.String()
}

// Employees returns the PBX's staff.
func (s *Server) Employees() []pbxtest.Employee { return slices.Clone(s.opts.Employees) }

func (s *Server) extensions() []string {
	return pbxtest.ExtensionsOf(s.opts.Employees)
}

// Requests returns the API requests received so far, oldest first, as
// they arrived.
func (s *Server) Requests() []pbxtest.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]pbxtest.Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = cloneRequest(r).Request
	}
	return out
}

// APIRequests returns the API requests received so far, oldest first,
// with their parameters, whether their signature was right and the status
// answered.
func (s *Server) APIRequests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = cloneRequest(r)
	}
	return out
}

func cloneRequest(r Request) Request {
	p := url.Values{}
	for k, v := range r.Params {
		p[k] = slices.Clone(v)
	}
	r.Params = p
	r.Header = r.Header.Clone()
	r.Body = slices.Clone(r.Body)
	return r
}

// History returns the statistics rows, oldest first.
func (s *Server) History() []HistoryEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.history)
}

// SetHistory replaces the statistics rows.
func (s *Server) SetHistory(h []HistoryEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.history = slices.Clone(h)
}

// AddRecording makes a recording of size bytes available under the
// recording id id, for the call pbxCallID (may be ""), ready at readyAt
// (zero: at once).
func (s *Server) AddRecording(id, pbxCallID string, size int64, readyAt time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recordings[id] = &recording{pbxCallID: pbxCallID, size: size, readyAt: readyAt, token: s.tokenLocked()}
}

// tokenLocked makes a download link's token.
func (s *Server) tokenLocked() string {
	s.seq++
	sum := sha1.Sum([]byte(fmt.Sprintf("%s/%d/%d", s.url, s.seq, s.opts.Now().UnixNano())))
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// SetWebhook makes every accepted request/callback from a staff extension
// play a pbxtest.OutboundCallback to url, in the background, once the API
// has answered; "" turns that off. The results are in Plays.
func (s *Server) SetWebhook(url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhook = url
}

// Plays returns what the calls played so far did, in the order they
// finished.
func (s *Server) Plays() []pbxtest.Played {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]pbxtest.Played, len(s.plays))
	for i, p := range s.plays {
		out[i] = p.Played
	}
	return out
}

// PlayResults returns the same as Plays with Zadarma's details.
func (s *Server) PlayResults() []PlayResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.plays)
}

// CheckURL does what Zadarma does when a notification URL is saved: a GET
// of url with ?zd_echo=<random>, which must be answered 200 with exactly
// that value.
func (s *Server) CheckURL(ctx context.Context, webhookURL string) error {
	u, err := url.Parse(webhookURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("zadarmatest: CheckURL: the URL must be http(s)")
	}
	s.mu.Lock()
	echo := s.tokenLocked()
	s.mu.Unlock()
	q := u.Query()
	q.Set("zd_echo", echo)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("zadarmatest: CheckURL: %w", err)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return fmt.Errorf("zadarmatest: CheckURL: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK || string(b) != echo {
		return fmt.Errorf("zadarmatest: CheckURL: answered HTTP %d %.80q, want 200 and exactly %q", resp.StatusCode, b, echo)
	}
	return nil
}

// The fake's API.

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/v1/pbx/record/download/") {
		s.serveDownload(w, r)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxRequestSize))
	raw := r.URL.RawQuery
	if r.Method != http.MethodGet {
		raw = string(body)
	}
	params, _ := url.ParseQuery(raw)
	rec := Request{Request: pbxtest.Request{Operation: operation(r.URL.Path), Method: r.Method, Path: r.URL.Path,
		Header: r.Header.Clone(), Query: r.URL.RawQuery, Body: body, At: s.opts.Now()}, Params: params}
	rec.AuthOK = s.authOK(r.Header.Get("Authorization"), r.URL.Path, params)
	status := s.answer(w, r, rec)
	rec.Status = status
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
}

// operation names an API path as the vendor does ("request/callback").
func operation(path string) string {
	p := strings.Trim(strings.TrimPrefix(path, "/v1/"), "/")
	if strings.HasPrefix(p, "pbx/internal/") && strings.HasSuffix(p, "/info") {
		return "pbx/internal/info"
	}
	return p
}

// authOK checks "Authorization: KEY:SIGNATURE" the way Zadarma does: the
// parameters received, sorted and encoded by RFC 1738, signed with the
// method path. It is written apart from package zadarma's signer, so that
// each checks the other.
func (s *Server) authOK(header, path string, params url.Values) bool {
	key, sig, ok := strings.Cut(header, ":")
	if !ok || subtle.ConstantTimeCompare([]byte(key), []byte(s.opts.Key)) != 1 {
		return false
	}
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	var q strings.Builder
	for _, k := range names {
		for _, v := range params[k] {
			if q.Len() > 0 {
				q.WriteByte('&')
			}
			q.WriteString(phpURLEncode(k) + "=" + phpURLEncode(v))
		}
	}
	md := md5.Sum([]byte(q.String()))
	mac := hmac.New(sha1.New, []byte(s.opts.Secret))
	io.WriteString(mac, path+q.String()+hex.EncodeToString(md[:]))
	want := base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString(mac.Sum(nil))))
	return subtle.ConstantTimeCompare([]byte(sig), []byte(want)) == 1
}

// phpURLEncode is PHP's urlencode: alphanumerics and "-_." kept, space as
// "+", the rest %XX.
func phpURLEncode(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// limit counts a request against its bucket, sets the rate-limit headers
// and reports whether it is within the limit.
func (s *Server) limit(w http.ResponseWriter, path string) bool {
	bucket, allowed := "general", s.opts.RateLimit
	if strings.Contains(path, "/statistics") {
		bucket, allowed = "statistics", s.opts.StatisticsRateLimit
	}
	now := s.opts.Now()
	s.mu.Lock()
	win := s.windows[bucket]
	if win == nil || now.Sub(win.start) >= time.Minute {
		win = &window{start: now}
		s.windows[bucket] = win
	}
	win.count++
	count, reset := win.count, win.start.Add(time.Minute)
	s.mu.Unlock()
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(allowed))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(0, allowed-count)))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	return count <= allowed
}

func writeJSON(w http.ResponseWriter, status int, v any) int {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return status
}

func apiError(w http.ResponseWriter, status int, msg string) int {
	return writeJSON(w, status, map[string]string{"status": "error", "message": msg})
}

// answer serves one API request and returns the status answered.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, rec Request) int {
	if !s.limit(w, r.URL.Path) {
		return apiError(w, http.StatusTooManyRequests, "Too many requests")
	}
	if !rec.AuthOK {
		return apiError(w, http.StatusUnauthorized, "Not authorized")
	}
	p := rec.Params
	path := r.URL.Path
	switch {
	case path == "/v1/request/callback/" && r.Method == http.MethodGet:
		return s.callback(w, p)
	case path == "/v1/statistics/pbx/" && r.Method == http.MethodGet:
		return s.statistics(w, p)
	case path == "/v1/pbx/record/request/" && r.Method == http.MethodGet:
		return s.recordRequest(w, p)
	case path == "/v1/pbx/internal/" && r.Method == http.MethodGet:
		nums := make([]json.RawMessage, 0, len(s.opts.Employees))
		for _, e := range s.opts.Employees {
			nums = append(nums, number(e.Extension))
		}
		return writeJSON(w, http.StatusOK, map[string]any{"status": "success", "pbx_id": number(DefaultPBXID), "numbers": nums})
	case strings.HasPrefix(path, "/v1/pbx/internal/") && strings.HasSuffix(path, "/info/") && r.Method == http.MethodGet:
		ext := strings.TrimSuffix(strings.TrimPrefix(path, "/v1/pbx/internal/"), "/info/")
		for _, e := range s.opts.Employees {
			if e.Extension == ext {
				return writeJSON(w, http.StatusOK, map[string]any{"status": "success", "pbx_id": number(DefaultPBXID),
					"number": number(e.Extension), "name": e.Name, "caller_id": DefaultLine, "caller_id_app_change": "false",
					"caller_id_by_direction": "false", "lines": "3", "ip_restriction": "false",
					"record_store": "Without recognition", "record_email": "false"})
			}
		}
		return apiError(w, http.StatusOK, "Wrong pbx number")
	}
	return apiError(w, http.StatusNotFound, "Method not found")
}

// number writes s as a JSON number when it is one, else as a string.
func number(s string) json.RawMessage {
	if _, err := strconv.ParseFloat(s, 64); err == nil && strings.Trim(s, "0123456789.") == "" && s != "" {
		return json.RawMessage(s)
	}
	b, _ := json.Marshal(s)
	return b
}

func (s *Server) callback(w http.ResponseWriter, p url.Values) int {
	from, to := p.Get("from"), p.Get("to")
	if from == "" || to == "" {
		return apiError(w, http.StatusOK, "from and to are required")
	}
	if !pbxtest.HasExtension(s.extensions(), from) {
		return apiError(w, http.StatusOK, "Wrong parameter from")
	}
	if len(to) < 5 || len(to) > 15 || strings.Trim(to, "0123456789") != "" {
		return apiError(w, http.StatusOK, "Wrong parameter to")
	}
	if sip := p.Get("sip"); sip != "" && !pbxtest.HasExtension(s.extensions(), sip) {
		return apiError(w, http.StatusOK, "Wrong parameter sip")
	}
	status := writeJSON(w, http.StatusOK, map[string]any{"status": "success", "from": number(from), "to": number(to),
		"time": s.opts.Now().Unix()})
	s.mu.Lock()
	hook := s.webhook
	if hook != "" {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if hook != "" {
		go func() {
			defer s.wg.Done()
			_, _ = s.Play(s.ctx, hook, pbxtest.Call{Scenario: pbxtest.OutboundCallback, Extensions: []string{from}, Caller: to})
		}()
	}
	return status
}

func (s *Server) statistics(w http.ResponseWriter, p url.Values) int {
	loc := s.opts.Location
	start, err1 := time.ParseInLocation("2006-01-02 15:04:05", p.Get("start"), loc)
	end, err2 := time.ParseInLocation("2006-01-02 15:04:05", p.Get("end"), loc)
	if err1 != nil || err2 != nil {
		return apiError(w, http.StatusOK, "Wrong start or end")
	}
	if p.Get("version") != "2" {
		return apiError(w, http.StatusOK, "zadarmatest serves version 2 only")
	}
	// Zadarma shortens a period longer than a month to 30 days.
	if end.After(start.AddDate(0, 1, 0)) {
		end = start.Add(30 * 24 * time.Hour)
	}
	skip, _ := strconv.Atoi(p.Get("skip"))
	limit, err := strconv.Atoi(p.Get("limit"))
	if err != nil || limit <= 0 || limit > zadarma.MaxStatisticsRows {
		limit = zadarma.MaxStatisticsRows
	}
	callType := p.Get("call_type")
	s.mu.Lock()
	rows := slices.Clone(s.history)
	s.mu.Unlock()
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Start.Before(rows[j].Start) })
	type row struct {
		CallID      json.RawMessage `json:"call_id"`
		SIP         json.RawMessage `json:"sip"`
		CallStart   string          `json:"callstart"`
		CLID        json.RawMessage `json:"clid"`
		Destination json.RawMessage `json:"destination"`
		Disposition string          `json:"disposition"`
		Seconds     int64           `json:"seconds"`
		IsRecorded  bool            `json:"is_recorded"`
		PBXCallID   string          `json:"pbx_call_id"`
	}
	stats := []row{}
	n := 0
	for _, e := range rows {
		if e.Start.Before(start) || e.Start.After(end) {
			continue
		}
		if (callType == "in" && !strings.HasPrefix(e.PBXCallID, "in_")) || (callType == "out" && !strings.HasPrefix(e.PBXCallID, "out_")) {
			continue
		}
		n++
		if n <= skip {
			continue
		}
		if len(stats) == limit {
			break
		}
		stats = append(stats, row{CallID: number(e.CallID), SIP: number(e.SIP), CallStart: e.Start.In(loc).Format("2006-01-02 15:04:05"),
			CLID: number(e.CLID), Destination: number(e.Destination), Disposition: e.Disposition,
			Seconds: int64(e.Duration / time.Second), IsRecorded: e.Recorded, PBXCallID: e.PBXCallID})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"status": "success", "start": start.Format("2006-01-02 15:04:05"),
		"end": end.Format("2006-01-02 15:04:05"), "version": 2, "stats": stats})
}

func (s *Server) recordRequest(w http.ResponseWriter, p url.Values) int {
	callID, pbxCallID := p.Get("call_id"), p.Get("pbx_call_id")
	if callID == "" && pbxCallID == "" {
		return apiError(w, http.StatusOK, "call_id or pbx_call_id required")
	}
	now := s.opts.Now()
	s.mu.Lock()
	var ids []string
	for id, r := range s.recordings {
		if (callID != "" && id == callID) || (callID == "" && r.pbxCallID == pbxCallID) {
			if r.readyAt.IsZero() || !now.Before(r.readyAt) {
				ids = append(ids, id)
			}
		}
	}
	sort.Strings(ids)
	links := make([]string, len(ids))
	for i, id := range ids {
		links[i] = s.url + "/v1/pbx/record/download/" + s.recordings[id].token + "/" + id + ".mp3"
	}
	s.mu.Unlock()
	if len(links) == 0 {
		return apiError(w, http.StatusOK, NotFoundMessage)
	}
	till := now.Add(30 * time.Minute).In(s.opts.Location).Format("2006-01-02 15:04:05")
	if callID != "" {
		return writeJSON(w, http.StatusOK, map[string]any{"status": "success", "link": links[0], "lifetime_till": till})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"status": "success", "links": links, "lifetime_till": till})
}

// serveDownload streams a recording by its link: no Authorization (the
// link's token is the credential); the request is recorded too.
func (s *Server) serveDownload(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/v1/pbx/record/download/")
	token, file, _ := strings.Cut(rest, "/")
	id := strings.TrimSuffix(file, ".mp3")
	s.mu.Lock()
	rec := s.recordings[id]
	s.requests = append(s.requests, Request{Request: pbxtest.Request{Operation: "pbx/record/download", Method: r.Method,
		Path: r.URL.Path, Header: r.Header.Clone(), Query: r.URL.RawQuery, At: s.opts.Now()}, AuthOK: true, Status: http.StatusOK})
	s.mu.Unlock()
	if rec == nil || subtle.ConstantTimeCompare([]byte(token), []byte(rec.token)) != 1 {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "audio/mpeg")
	w.Header().Set("Content-Length", strconv.FormatInt(rec.size, 10))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = io.Copy(w, pbxtest.NewMP3Reader(rec.size))
}

// seedHistory fills the statistics with calls of the last hours, with
// their recordings: an answered incoming call, a missed one and an
// answered outgoing one.
func (s *Server) seedHistory() {
	now := s.opts.Now().Truncate(time.Second)
	exts := s.extensions()
	ext := exts[0]
	for i, c := range []struct {
		in          bool
		disposition string
		ago         time.Duration
		secs        time.Duration
	}{{true, "answered", 3 * time.Hour, 95 * time.Second}, {true, "no answer", 2 * time.Hour, 20 * time.Second},
		{false, "answered", time.Hour, 61 * time.Second}} {
		pid, rid := s.newIDs(c.in)
		e := HistoryEntry{CallID: rid, PBXCallID: pid, Disposition: c.disposition, Start: now.Add(-c.ago), Duration: c.secs,
			Recorded: c.disposition == "answered"}
		if c.in {
			e.SIP, e.CLID, e.Destination = ext, fmt.Sprintf("7916000000%d", i), ext
		} else {
			e.SIP, e.CLID, e.Destination = ext, DefaultLine, fmt.Sprintf("7903000000%d", i)
		}
		s.history = append(s.history, e)
		if e.Recorded {
			s.recordings[rid] = &recording{pbxCallID: pid, size: s.opts.RecordingSize, token: s.tokenLocked()}
		}
	}
}

// newIDs makes a call's pbx_call_id ("in_" or "out_" and 40 hex digits)
// and a recording id ("1774372146.1000001").
func (s *Server) newIDs(in bool) (pbxCallID, recID string) {
	s.seq++
	now := s.opts.Now()
	sum := sha1.Sum([]byte(fmt.Sprintf("zadarmatest/%s/%d/%d", s.url, s.seq, now.UnixNano())))
	prefix := "out_"
	if in {
		prefix = "in_"
	}
	return prefix + hex.EncodeToString(sum[:]), fmt.Sprintf("%d.%07d", now.Unix(), 1000000+s.seq)
}
