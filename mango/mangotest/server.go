// Package mangotest is a fake Mango Office VPBX for tests and demos, built
// on package pbxtest: an httptest server on 127.0.0.1 that speaks the VPBX
// API the way the mango package reads the real one, and a player of
// scripted calls that posts signed notifications to a webhook in Mango's
// order.
//
// Start one with [NewServer] (or pbxtest.Start("mango", ...) once this
// package is imported), point a mango.Client at it (mango.New([Server.Config]())
// or provider.Open([Server.DSN]())), and play calls: [Server.Play] plays the
// neutral pbxtest scenarios, [Server.PlayWith] adds this vendor's knobs
// ([Extras]: out-of-order delivery, a hold). With [Server.SetWebhook], every
// commands/callback the fake accepts is followed by the outbound call it
// places.
//
// The fake
//
//   - checks vpbx_api_key and sign on every API request over the json value
//     received (a wrong one is answered HTTP 420 {"code":3102} or 3105, as
//     the v1.10 manual answers bad data) and records every request
//     ([Server.Requests]);
//   - serves commands/callback, commands/route, commands/call/hangup,
//     config/users/request (numbers as strings, as in the manual's
//     example), stats/request and stats/result (204 while "not ready", then
//     a ";"-separated CSV; [Options.StatsCRLF] ends its lines with "\r\n"),
//     and queries/recording/post, which answers 302 with a one-time link to
//     a recording of any size generated while it streams;
//   - runs an IVR: an incoming call appears in it (events/call Appeared,
//     location ivr) and waits up to [Options.IVRSilence] for a
//     commands/route naming its leg, then rings whom the command names
//     (else the call's first extension, as the company's scheme would); a
//     route naming an extension the PBX does not have stops the play with
//     an error in pbxtest.Played.Err. Routes are limited like Mango's, one
//     every [Options.RouteEvery] (429 beyond). The defaults are fast for
//     tests and demos: the IVR waits 500 ms and takes a route every 10 ms,
//     and the client [Server.Config] and [Server.DSN] describe keeps the
//     same interval; [MangoIVRSilence] and [MangoRouteEvery] behave like
//     the real PBX;
//   - posts, for each call, events/call for each leg state (Appeared,
//     Connected, OnHold, Disconnected, with seq per leg),
//     events/recording and events/record/added for a recorded call,
//     result/route or result/callback for the command that shaped it, and
//     events/summary last, each signed like the real PBX's; [Extras.OutOfOrder]
//     shuffles everything after the IVR, as Mango's parallel posting may.
//
// Played and added calls form the call log (stats/result), one row per
// employee leg: a transferred call has two rows with one entry_id.
package mangotest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pbxkit/pbxkit/mango"
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider/providertest"
)

func init() {
	pbxtest.Register(pbxtest.Vendor{
		Name: mango.Name,
		Start: func(o pbxtest.Options) (pbxtest.Fake, error) {
			return NewServer(Options{RecordingSize: o.RecordingSize, Employees: o.Employees}), nil
		},
	})
	providertest.Register(Harness())
}

// The fake is a pbxtest.Fake.
var _ pbxtest.Fake = (*Server)(nil)

// Defaults.
const (
	// DefaultAPIKey and DefaultAPISalt are the fake's credentials, shaped
	// like Mango's (32 lowercase letters and digits).
	DefaultAPIKey  = "k8v3n0q7x2m5c9p1w4z6r8t0y2u4i6o8"
	DefaultAPISalt = "s1a3l5t7q9w2e4r6t8y0u1i3o5p7a9d2"
	// APIPath is the path of the API root on the fake, as on the real
	// service (https://app.mango-office.ru/vpbx).
	APIPath = "/vpbx"
	// DefaultRecordingSize is the size of a generated recording when
	// neither Options nor the call say: about 16 s of 128 kbit/s audio.
	DefaultRecordingSize = 256 << 10
	// DefaultIVRSilence is how long the IVR waits for a route command:
	// short, for tests and demos (a routed call goes on as soon as its
	// command arrives; only a call nobody routes waits it out). The real
	// scheme's silence is seconds: see MangoIVRSilence.
	DefaultIVRSilence = 500 * time.Millisecond
	// DefaultRouteEvery is the fake's route limit: one command every
	// 10 ms, so that back-to-back calls in a test or demo are all routed.
	// Server.Config and Server.DSN hand the same interval to the client
	// (mango.Config.RouteInterval). Mango's own is MangoRouteEvery.
	DefaultRouteEvery = 10 * time.Millisecond
	// MangoRouteEvery is Mango's published route limit, one command every
	// 2 s per PBX: Options.RouteEvery for a fake that limits like Mango.
	MangoRouteEvery = 2 * time.Second
	// MangoIVRSilence is an IVR silence fit for Mango's defaults
	// (mango.DefaultRouteTimeout, then the command's trip):
	// Options.IVRSilence for a fake that waits like a real scheme.
	MangoIVRSilence = 4 * time.Second
)

// Options configures a Server. The zero value of each field picks its
// default.
type Options struct {
	// APIKey and APISalt default to DefaultAPIKey and DefaultAPISalt.
	APIKey, APISalt string
	// Employees are the PBX's staff; default pbxtest.Employees().
	// commands/callback and commands/route accept only their extensions.
	Employees []pbxtest.Employee
	// RecordingSize is the size in bytes of every generated recording;
	// default DefaultRecordingSize. The bytes are generated while they
	// stream.
	RecordingSize int64
	// IVRSilence is how long an incoming call waits in the IVR for a
	// commands/route; default DefaultIVRSilence (500 ms). The Config the
	// fake hands out ([Server.Config]) sets RouteTimeout to half of it.
	// MangoIVRSilence waits like a real scheme.
	IVRSilence time.Duration
	// RouteEvery is the fake's route limit: a commands/route that arrives
	// sooner than this after the previous one is answered 429, as Mango
	// does. Default DefaultRouteEvery (10 ms); MangoRouteEvery limits like
	// Mango; negative: no limit. [Server.Config] and [Server.DSN] hand the
	// same interval to the client (mango.Config.RouteInterval), which
	// keeps it (it starts a command that long after the previous one's
	// answer).
	RouteEvery time.Duration
	// StatsNotReady is how many stats/result polls of one export are
	// answered 204 before the CSV; default 1, negative: none.
	StatsNotReady int
	// StatsCRLF ends the CSV's lines with "\r\n" instead of "\n".
	StatsCRLF bool
	// HTTPClient posts the notifications; default a client with a 10 s
	// timeout.
	HTTPClient *http.Client
	// Pace is the pause between two notifications of one call; default
	// none. A demo sets a few hundred milliseconds.
	Pace time.Duration
	// Now is the clock of call start times; default time.Now.
	Now func() time.Time
}

// APIRequest is one request the fake received, with what it made of it.
type APIRequest struct {
	pbxtest.Request
	// SignOK says whether vpbx_api_key and sign matched.
	SignOK bool
	// JSON is the json form value.
	JSON string
	// Status is the HTTP status the fake answered; Result the result code
	// in its answer (0 when none).
	Status int
	Result int
}

// HistoryEntry is one row of the fake's call log.
type HistoryEntry struct {
	// EntryID is the call's id; generated when empty.
	EntryID string
	// Direction is pbx.Inbound (the default) or pbx.Outbound.
	Direction pbx.Direction
	// Caller is the external number, Line the company line.
	Caller, Line string
	// Extension is the employee of the leg.
	Extension string
	// Start is when the call started; Ring how long it rang; Talk how long
	// it was talked (0: not answered).
	Start      time.Time
	Ring, Talk time.Duration
	// Reason is the disconnect reason (default 1100 answered, 1110 not).
	Reason int
	// Records are the recording ids of the leg.
	Records []string
}

// Server is a running fake Mango Office VPBX. It is safe for concurrent
// use.
type Server struct {
	ts     *httptest.Server
	url    string
	cfg    Options
	hc     *http.Client
	ctx    context.Context // ended by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	requests   []APIRequest
	plays      []PlayResult
	webhook    string
	asyncErrs  []error
	ivr        map[string]chan routeCmd // legs waiting in the IVR
	legs       map[string]bool          // every leg played, for hangup
	recordings map[string]int64         // recording id -> size
	files      map[string]string        // one-time file token -> recording id
	history    []HistoryEntry
	exports    map[string]*export
	lastRoute  time.Time
	n          int64
}

// routeCmd is a commands/route the IVR received.
type routeCmd struct {
	to, name, commandID string
}

// export is one stats/request.
type export struct {
	from, to time.Time
	fields   []string
	polls    int
}

// NewServer starts a fake on 127.0.0.1. Close it when done.
func NewServer(o Options) *Server {
	if o.APIKey == "" {
		o.APIKey = DefaultAPIKey
	}
	if o.APISalt == "" {
		o.APISalt = DefaultAPISalt
	}
	if len(o.Employees) == 0 {
		o.Employees = pbxtest.Employees()
	} else {
		o.Employees = slices.Clone(o.Employees)
	}
	if o.RecordingSize <= 0 {
		o.RecordingSize = DefaultRecordingSize
	}
	if o.IVRSilence <= 0 {
		o.IVRSilence = DefaultIVRSilence
	}
	if o.RouteEvery == 0 {
		o.RouteEvery = DefaultRouteEvery
	}
	if o.StatsNotReady == 0 {
		o.StatsNotReady = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{cfg: o, hc: o.HTTPClient, ivr: map[string]chan routeCmd{}, legs: map[string]bool{},
		recordings: map[string]int64{}, files: map[string]string{}, exports: map[string]*export{}}
	if s.hc == nil {
		s.hc = &http.Client{Timeout: 10 * time.Second}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	s.url = s.ts.URL + APIPath
	return s
}

// Close stops the background plays, waits for them, and shuts the server
// down.
func (s *Server) Close() {
	s.cancel()
	s.wg.Wait()
	s.ts.Close()
}

// Name returns "mango".
func (s *Server) Name() string { return mango.Name }

// URL returns the API root, http://127.0.0.1:PORT/vpbx: the
// mango.Config.BaseURL that reaches the fake.
func (s *Server) URL() string { return s.url }

// Config returns the mango.Config of a client of this fake: its
// credentials and URL, RouteTimeout half the IVR's silence, RouteInterval
// the fake's route limit (Options.RouteEvery: 10 ms by default, negative
// when the fake has none), and a short history poll.
func (s *Server) Config() mango.Config {
	return mango.Config{
		APIKey:        s.cfg.APIKey,
		APISalt:       s.cfg.APISalt,
		BaseURL:       s.url,
		RouteTimeout:  s.cfg.IVRSilence / 2,
		RouteInterval: s.routeInterval(),
		HistoryPoll:   10 * time.Millisecond,
	}
}

// routeInterval is the client's route limit that matches the fake's.
func (s *Server) routeInterval() time.Duration {
	if s.cfg.RouteEvery < 0 {
		return -1
	}
	return s.cfg.RouteEvery
}

// DSN returns a DSN that opens a mango provider against this fake, with
// the settings of Config:
// mango://KEY:SALT@/?base_url=URL&route_interval=10ms&route_timeout=....
func (s *Server) DSN() string {
	q := url.Values{"base_url": {s.url}, "route_timeout": {(s.cfg.IVRSilence / 2).String()},
		"route_interval": {s.routeInterval().String()}}
	u := url.URL{Scheme: mango.Name, User: url.UserPassword(s.cfg.APIKey, s.cfg.APISalt), Path: "/", RawQuery: q.Encode()}
	return u.String()
}

// APIKey and APISalt return the fake's credentials.
func (s *Server) APIKey() string { return s.cfg.APIKey }

// APISalt returns the fake's signing salt.
func (s *Server) APISalt() string { return s.cfg.APISalt }

// Employees returns the fake's staff.
func (s *Server) Employees() []pbxtest.Employee { return slices.Clone(s.cfg.Employees) }

func (s *Server) extensions() []string {
	return pbxtest.ExtensionsOf(s.cfg.Employees)
}

// Requests returns the API requests received, in order.
func (s *Server) Requests() []pbxtest.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]pbxtest.Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = r.Request
	}
	return out
}

// APIRequests returns the API requests received, with what the fake made
// of each.
func (s *Server) APIRequests() []APIRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// SetWebhook sets the webhook base URL. When set, every commands/callback
// the fake accepts is followed, in the background, by the outbound call it
// places (pbxtest.OutboundCallback) and result/callback; "" turns it off.
// [Server.Wait] waits for those plays.
func (s *Server) SetWebhook(url string) {
	s.mu.Lock()
	s.webhook = url
	s.mu.Unlock()
}

// Wait waits for the background plays and returns their errors, joined;
// it forgets the errors it returns.
func (s *Server) Wait() error {
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	err := errors.Join(s.asyncErrs...)
	s.asyncErrs = nil
	return err
}

// AddRecording makes the fake serve a recording with id of size bytes
// (RecordingSize when size <= 0).
func (s *Server) AddRecording(id string, size int64) {
	if size <= 0 {
		size = s.cfg.RecordingSize
	}
	s.mu.Lock()
	s.recordings[id] = size
	s.mu.Unlock()
}

// Recording returns the bytes of a recording the fake serves, generated
// in memory: for small recordings (tests comparing a download).
func (s *Server) Recording(id string) ([]byte, bool) {
	s.mu.Lock()
	size, ok := s.recordings[id]
	s.mu.Unlock()
	if !ok {
		return nil, false
	}
	return pbxtest.MP3Bytes(int(size)), true
}

// AddHistory adds a row to the call log and returns its entry id.
func (s *Server) AddHistory(e HistoryEntry) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.EntryID == "" {
		e.EntryID = s.newIDLocked("entry")
	}
	s.history = append(s.history, e)
	return e.EntryID
}

// History returns the call log.
func (s *Server) History() []HistoryEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.history)
}

// newIDLocked returns a new id in Mango's style (base64 of
// "kind:product:n:timestamp"); s.mu is held.
func (s *Server) newIDLocked(kind string) string {
	s.n++
	raw := fmt.Sprintf("%s:400100100:%d:%d", kind, s.n, s.cfg.Now().UnixNano())
	return base64.StdEncoding.EncodeToString([]byte(raw))
}

func (s *Server) newID(kind string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newIDLocked(kind)
}

// ---- the API ----

// answer writes a JSON answer and records it.
func (s *Server) answer(w http.ResponseWriter, rec *APIRequest, status int, v any) {
	b, _ := json.Marshal(v)
	rec.Status = status
	if m, ok := v.(map[string]any); ok {
		for _, k := range []string{"result", "code"} {
			if n, ok := m[k].(int); ok {
				rec.Result = n
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (s *Server) record(rec *APIRequest) {
	s.mu.Lock()
	s.requests = append(s.requests, *rec)
	s.mu.Unlock()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.URL.Path, APIPath+"/")
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	rec := &APIRequest{Request: pbxtest.Request{Operation: op, Method: r.Method, Path: r.URL.Path,
		Header: r.Header.Clone(), Query: r.URL.RawQuery, Body: body, At: time.Now()}}
	defer s.record(rec)
	if !strings.HasPrefix(r.URL.Path, APIPath+"/") {
		rec.Status = http.StatusNotFound
		http.NotFound(w, r)
		return
	}
	if strings.HasPrefix(op, "_files/") {
		rec.Operation = "recording download"
		s.serveFile(w, r, rec, strings.TrimPrefix(op, "_files/"))
		return
	}
	if r.Method != http.MethodPost {
		s.answer(w, rec, 420, map[string]any{"code": 3101})
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		s.answer(w, rec, 420, map[string]any{"code": 3104})
		return
	}
	key, sign, js := form.Get("vpbx_api_key"), form.Get("sign"), form.Get("json")
	rec.JSON = js
	switch {
	case key == "" || sign == "" || js == "":
		s.answer(w, rec, 420, map[string]any{"code": 3103})
		return
	case key != s.cfg.APIKey:
		s.answer(w, rec, 420, map[string]any{"code": 3105})
		return
	case sign != mango.Sign(key, js, s.cfg.APISalt):
		s.answer(w, rec, 420, map[string]any{"code": 3102})
		return
	}
	rec.SignOK = true
	var params map[string]any
	if err := json.Unmarshal([]byte(js), &params); err != nil {
		s.answer(w, rec, 420, map[string]any{"code": 3104})
		return
	}
	switch op {
	case mango.OpCallback:
		s.callback(w, rec, params)
	case mango.OpRoute:
		s.route(w, rec, params)
	case mango.OpHangup:
		s.mu.Lock()
		ok := s.legs[text(params["call_id"])]
		s.mu.Unlock()
		if !ok {
			s.answer(w, rec, http.StatusOK, map[string]any{"result": 4101})
			return
		}
		s.answer(w, rec, http.StatusOK, map[string]any{"result": 1000})
	case mango.OpUsers:
		s.users(w, rec, params)
	case mango.OpStatsRequest:
		s.statsRequest(w, rec, params)
	case mango.OpStatsResult:
		s.statsResult(w, rec, params)
	case mango.OpRecordingPost:
		id := text(params["recording_id"])
		s.mu.Lock()
		_, ok := s.recordings[id]
		tok := ""
		if ok {
			tok = randomHex()
			s.files[tok] = id
		}
		s.mu.Unlock()
		if !ok {
			s.answer(w, rec, http.StatusOK, map[string]any{"result": 3320})
			return
		}
		// A relative link to the fake itself, so that it works behind a
		// proxy in front of the fake too; Mango's points at
		// files.mango-office.ru.
		w.Header().Set("Location", APIPath+"/_files/"+tok+"?expires="+strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10))
		w.WriteHeader(http.StatusFound)
		rec.Status = http.StatusFound
	default:
		s.answer(w, rec, http.StatusOK, map[string]any{"result": 4001})
	}
}

// text reads a JSON value as text.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func randomHex() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Server) callback(w http.ResponseWriter, rec *APIRequest, p map[string]any) {
	from, _ := p["from"].(map[string]any)
	ext, to, cmd := text(from["extension"]), text(p["to_number"]), text(p["command_id"])
	if !pbxtest.HasExtension(s.extensions(), ext) {
		s.answer(w, rec, http.StatusOK, map[string]any{"result": 3330})
		return
	}
	if to == "" {
		s.answer(w, rec, http.StatusOK, map[string]any{"result": 3103})
		return
	}
	s.answer(w, rec, http.StatusOK, map[string]any{"result": 1000})
	s.mu.Lock()
	hook := s.webhook
	s.mu.Unlock()
	if hook == "" {
		return
	}
	call := pbxtest.Call{Scenario: pbxtest.OutboundCallback, Caller: to, Extensions: []string{ext}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if _, err := s.playWith(s.ctx, hook, call, Extras{}, cmd); err != nil {
			s.mu.Lock()
			s.asyncErrs = append(s.asyncErrs, err)
			s.mu.Unlock()
		}
	}()
}

func (s *Server) route(w http.ResponseWriter, rec *APIRequest, p map[string]any) {
	leg, to := text(p["call_id"]), text(p["to_number"])
	name := ""
	if h, ok := p["sip_headers"].(map[string]any); ok {
		name = text(h["From/display-name"])
	}
	now := time.Now()
	s.mu.Lock()
	if s.cfg.RouteEvery > 0 && !s.lastRoute.IsZero() && now.Sub(s.lastRoute) < s.cfg.RouteEvery {
		s.mu.Unlock()
		s.answer(w, rec, http.StatusTooManyRequests, map[string]any{"name": "Service Unavailable", "message": "Rate limit exceeded.", "code": 0, "status": 429})
		return
	}
	// Every route request counts against the limit, as Mango counts
	// requests.
	s.lastRoute = now
	ch, ok := s.ivr[leg]
	if ok {
		delete(s.ivr, leg)
	}
	s.mu.Unlock()
	if !ok || to == "" {
		s.answer(w, rec, http.StatusOK, map[string]any{"result": 4101})
		return
	}
	ch <- routeCmd{to: to, name: name, commandID: text(p["command_id"])}
	s.answer(w, rec, http.StatusOK, map[string]any{"result": 1000})
}

func (s *Server) users(w http.ResponseWriter, rec *APIRequest, p map[string]any) {
	only := text(p["extension"])
	users := []any{}
	for i, e := range s.cfg.Employees {
		if only != "" && e.Extension != only {
			continue
		}
		users = append(users, map[string]any{
			"general": map[string]any{"name": e.Name, "email": e.Login + "@example.ru", "department": "Продажи", "position": "Менеджер"},
			"telephony": map[string]any{"extension": e.Extension, "outgoingline": pbxtest.DefaultLine,
				"numbers": []any{map[string]any{"number": "sip:" + e.Login + "@vpbx400100100.mangosip.ru", "protocol": "sip",
					"order": strconv.Itoa(i + 1), "wait_sec": "20", "status": "on"}}},
		})
	}
	s.answer(w, rec, http.StatusOK, map[string]any{"users": users})
}

func (s *Server) statsRequest(w http.ResponseWriter, rec *APIRequest, p map[string]any) {
	from, err1 := strconv.ParseInt(text(p["date_from"]), 10, 64)
	to, err2 := strconv.ParseInt(text(p["date_to"]), 10, 64)
	if err1 != nil || err2 != nil || to < from {
		s.answer(w, rec, http.StatusOK, map[string]any{"result": 3104})
		return
	}
	fields := strings.Split(text(p["fields"]), ",")
	if text(p["fields"]) == "" {
		fields = []string{"records", "start", "finish", "answer", "from_extension", "from_number", "to_extension", "to_number", "disconnect_reason", "line_number", "location"}
	}
	key := randomHex()
	s.mu.Lock()
	s.exports[key] = &export{from: time.Unix(from, 0), to: time.Unix(to, 0), fields: fields}
	s.mu.Unlock()
	s.answer(w, rec, http.StatusOK, map[string]any{"key": key})
}

func (s *Server) statsResult(w http.ResponseWriter, rec *APIRequest, p map[string]any) {
	key := text(p["key"])
	s.mu.Lock()
	ex := s.exports[key]
	var rows []HistoryEntry
	notReady := false
	if ex != nil {
		ex.polls++
		notReady = ex.polls <= s.cfg.StatsNotReady
		for _, h := range s.history {
			if !h.Start.Before(ex.from) && h.Start.Before(ex.to) {
				rows = append(rows, h)
			}
		}
	}
	s.mu.Unlock()
	switch {
	case ex == nil:
		rec.Status = http.StatusNotFound
		w.WriteHeader(http.StatusNotFound)
		return
	case notReady:
		rec.Status = http.StatusNoContent
		w.WriteHeader(http.StatusNoContent)
		return
	}
	eol := "\n"
	if s.cfg.StatsCRLF {
		eol = "\r\n"
	}
	var b strings.Builder
	for _, h := range rows {
		for i, f := range ex.fields {
			if i > 0 {
				b.WriteByte(';')
			}
			b.WriteString(csvField(h, f))
		}
		b.WriteString(eol)
	}
	rec.Status = http.StatusOK
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	_, _ = io.WriteString(w, b.String())
}

// csvField is the value of one column of a call-log row.
func csvField(h HistoryEntry, field string) string {
	unix := func(t time.Time) string {
		if t.IsZero() {
			return "0"
		}
		return strconv.FormatInt(t.Unix(), 10)
	}
	answer, finish := time.Time{}, h.Start.Add(h.Ring)
	if h.Talk > 0 {
		answer = h.Start.Add(h.Ring)
		finish = answer.Add(h.Talk)
	}
	reason := h.Reason
	if reason == 0 {
		reason = 1110
		if h.Talk > 0 {
			reason = 1100
		}
	}
	out := h.Direction == pbx.Outbound
	switch field {
	case "records":
		if len(h.Records) == 0 {
			return ""
		}
		return "[" + strings.Join(h.Records, ",") + "]"
	case "start":
		return unix(h.Start)
	case "finish":
		return unix(finish)
	case "answer":
		return unix(answer)
	case "from_extension":
		if out {
			return h.Extension
		}
		return ""
	case "from_number":
		if out {
			return ""
		}
		return h.Caller
	case "to_extension":
		if out {
			return ""
		}
		return h.Extension
	case "to_number":
		if out {
			return h.Caller
		}
		return h.Line
	case "disconnect_reason":
		return strconv.Itoa(reason)
	case "line_number":
		return h.Line
	case "location":
		return "abonent"
	case "entry_id":
		return h.EntryID
	case "create":
		return unix(h.Start)
	}
	return ""
}

func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, rec *APIRequest, tok string) {
	s.mu.Lock()
	id, ok := s.files[tok]
	delete(s.files, tok) // one-time
	size := s.recordings[id]
	s.mu.Unlock()
	if !ok || r.Method != http.MethodGet {
		rec.Status = http.StatusNotFound
		http.NotFound(w, r)
		return
	}
	rec.Status = http.StatusOK
	w.Header().Set("Content-Type", "audio/mp3")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, pbxtest.NewMP3Reader(size))
}

// ---- notifications ----

// post signs and posts one notification to the webhook base URL hook.
func (s *Server) post(ctx context.Context, hook, path string, v any) (int, string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, "", err
	}
	form := mango.SignedForm(s.cfg.APIKey, s.cfg.APISalt, string(b)).Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(hook, "/")+"/"+path, strings.NewReader(form))
	if err != nil {
		return 0, string(b), err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, string(b), err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, string(b), nil
}
