package sipunitest

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
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

	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/provider/providertest"
	"github.com/pbxkit/pbxkit/sipuni"
)

// Defaults of Options.
const (
	// DefaultAccount is the account number the fake accepts by default.
	DefaultAccount = "012345"
	// DefaultSecret is the integration key the fake accepts by default.
	DefaultSecret = "0.sipunitest"
	// DefaultWebhookToken is the webhook token of a fake started through
	// pbxtest.Start (NewServer sends none unless Options.WebhookToken says
	// so); its DSN carries it, so the provider it opens checks it.
	DefaultWebhookToken = "sipunitest-webhook-token"
	// DefaultRecordingSize is the size of generated recordings: 256 KiB.
	DefaultRecordingSize = 256 << 10
	// DefaultCaller and DefaultLine are the external number and the
	// company number of played calls, the same for every fake.
	DefaultCaller = pbxtest.DefaultCaller
	DefaultLine   = pbxtest.DefaultLine
)

// maxRequestSize caps the API request bodies the fake reads.
const maxRequestSize = 1 << 20

// Options configures a Server. The zero value of each field picks its
// default.
type Options struct {
	// Account and Secret are the credentials the API accepts; default
	// DefaultAccount and DefaultSecret.
	Account, Secret string
	// WebhookToken, when set, is added as the "token" query parameter to
	// every request the fake sends to a webhook.
	WebhookToken string
	// WebhookUser and WebhookPassword, when set, are sent as HTTP basic
	// auth with every webhook request (credentials written into the
	// webhook URL, as in https://user:password@host/path, are sent too).
	WebhookUser, WebhookPassword string
	// Location is the zone of the CSV times; default Europe/Moscow.
	Location *time.Location
	// RecordingSize is the size of the recordings the fake makes for
	// answered calls; default DefaultRecordingSize.
	RecordingSize int64
	// Employees replaces the seeded staff, pbxtest.Employees(): the
	// extensions statistic/operators lists, callback/call_number rings and
	// a routing answer may name.
	Employees []pbxtest.Employee
	// BadHashStatus is the HTTP status of the "Неправильный хеш" HTML page;
	// default 500, as reported by a client of the real API.
	BadHashStatus int
	// LegacyCSV makes statistic/export write the 2015 layout: no BOM and
	// "Продолжительность звонка" instead of "Длительность звонка, сек".
	LegacyCSV bool
	// Clock returns the current time; default time.Now.
	Clock func() time.Time
}

// Request is one API request the fake received: the request as it arrived
// (the embedded pbxtest.Request) and what Sipuni reads from it.
type Request struct {
	pbxtest.Request
	// Params holds the decoded parameters (query and form), "user" and
	// "hash" included.
	Params url.Values
	// HashOK says whether the account and the hash were right.
	HashOK bool
}

// Employee is an employee of the fake PBX, as statistic/operators lists
// it.
type Employee struct {
	// Extension is the short internal number, such as "101".
	Extension string
	// Name is shown in statistic/operators and, with names=1, in exports.
	Name string
	// Status and CallState are the statistic/operators presence columns.
	Status, CallState string
}

// HistoryEntry is one call of the fake's call log, a row of
// statistic/export.
type HistoryEntry struct {
	// RecordID is the "ID записи", equal to the call's call_id.
	RecordID string
	// Type is "Входящий", "Исходящий" or "Внутренний".
	Type string
	// Status is "отвечен" or "не отвечен".
	Status string
	// Time is when the call started.
	Time time.Time
	// Tree and TreeID are the scheme's name and number.
	Tree, TreeID string
	// OutgoingLine is the company line of an outgoing call.
	OutgoingLine string
	// From and To are the parties: external numbers or extensions.
	From, To string
	// Ringed lists who was rung; AnsweredBy is who answered.
	Ringed     []string
	AnsweredBy string
	// CallDuration, TalkDuration and AnswerDelay are whole seconds.
	CallDuration, TalkDuration, AnswerDelay time.Duration
	// Rating, Label and Tags are written as they are.
	Rating, Label, Tags string
	// HangupInitiator is written with hangupinitor=1.
	HangupInitiator string
	// OrderID is the callback order id.
	OrderID string
	// HasRecord says whether a recording exists.
	HasRecord bool
	// NewClient marks a first-time caller.
	NewClient bool
}

type recording struct {
	size    int64
	pending bool
}

// Server is a fake Sipuni: the API methods callback/call_number,
// callback/call_tree, callback/call_external, events/call/hangup,
// statistic/export, statistic/record, statistic/operators and the crm/record
// links of the events, with Sipuni's hash check; and a player of scripted
// event sequences and routing questions aimed at a webhook. It implements
// pbxtest.Fake and is safe for concurrent use.
type Server struct {
	url    string
	ts     *httptest.Server
	opts   Options
	loc    *time.Location
	client *http.Client
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	requests   []Request
	employees  []Employee
	history    []HistoryEntry
	recordings map[string]recording
	webhook    string
	plays      []PlayResult
	seq        int
}

var _ pbxtest.Fake = (*Server)(nil)

// init registers the fake with pbxtest, so that pbxtest.Start("sipuni", ...)
// and the programs that start every vendor's fake find it. A fake started
// that way sends DefaultWebhookToken with its webhook requests, and its DSN
// carries it.
func init() {
	providertest.Register(Harness())
	pbxtest.Register(pbxtest.Vendor{
		Name: sipuni.Name,
		Start: func(o pbxtest.Options) (pbxtest.Fake, error) {
			return NewServer(Options{RecordingSize: o.RecordingSize, Employees: o.Employees, WebhookToken: DefaultWebhookToken}), nil
		},
	})
}

// NewServer starts a fake Sipuni on a loopback port with realistic default
// data: the seeded staff (pbxtest.Employees(): 101, 102, 103, unless
// Options.Employees says otherwise), a few calls of the last hours and their
// recordings. Close it when done.
func NewServer(opts Options) *Server {
	if opts.Account == "" {
		opts.Account = DefaultAccount
	}
	if opts.Secret == "" {
		opts.Secret = DefaultSecret
	}
	if opts.RecordingSize <= 0 {
		opts.RecordingSize = DefaultRecordingSize
	}
	if opts.BadHashStatus == 0 {
		opts.BadHashStatus = http.StatusInternalServerError
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	loc := opts.Location
	if loc == nil {
		loc = provider.DefaultLocation()
	}
	staff := opts.Employees
	if len(staff) == 0 {
		staff = pbxtest.Employees()
	}
	s := &Server{
		opts:       opts,
		loc:        loc,
		client:     &http.Client{Timeout: 10 * time.Second},
		recordings: make(map[string]recording),
		employees:  employees(staff),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.ts = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.url = s.ts.URL + "/api/"
	s.history = s.defaultHistory()
	return s
}

// employees makes the fake's employees of the seeded staff: present and
// free.
func employees(staff []pbxtest.Employee) []Employee {
	out := make([]Employee, len(staff))
	for i, e := range staff {
		out[i] = Employee{Extension: e.Extension, Name: e.Name, Status: "Свободен", CallState: "Не разговаривает"}
	}
	return out
}

// Close stops the server. It lets the calls started by SetWebhook finish
// for up to 5 seconds, then cancels them, and returns once none is left.
func (s *Server) Close() {
	s.ts.Close() // no new API request, so no new call
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
}

// Name returns "sipuni", the provider the fake imitates.
func (s *Server) Name() string { return sipuni.Name }

// URL returns the API root, such as "http://127.0.0.1:34567/api/": put it
// into sipuni.Config.BaseURL (Config does).
func (s *Server) URL() string { return s.url }

// Account returns the account number the fake accepts.
func (s *Server) Account() string { return s.opts.Account }

// Secret returns the integration key the fake accepts.
func (s *Server) Secret() string { return s.opts.Secret }

// Config returns a sipuni.Config that talks to the fake: its account,
// secret and URL, the webhook credentials its plays send, and its Location
// (when Options.Location was set).
func (s *Server) Config() sipuni.Config {
	return sipuni.Config{
		Account:         s.opts.Account,
		Secret:          s.opts.Secret,
		BaseURL:         s.url,
		Location:        s.opts.Location,
		WebhookToken:    s.opts.WebhookToken,
		WebhookUser:     s.opts.WebhookUser,
		WebhookPassword: s.opts.WebhookPassword,
	}
}

// DSN returns a DSN that opens a sipuni provider against the fake with the
// same settings as Config:
// sipuni://ACCOUNT:SECRET@/?base_url=URL&webhook_token=T&... (the webhook
// credentials when set, and location when Options.Location is a zone the
// DSN can name).
func (s *Server) DSN() string {
	q := url.Values{"base_url": {s.url}}
	if s.opts.WebhookToken != "" {
		q.Set("webhook_token", s.opts.WebhookToken)
	}
	if s.opts.WebhookUser != "" {
		q.Set("webhook_user", s.opts.WebhookUser)
		q.Set("webhook_password", s.opts.WebhookPassword)
	}
	if l := s.opts.Location; l != nil && l.String() != "Local" {
		if _, err := time.LoadLocation(l.String()); err == nil {
			q.Set("location", l.String())
		}
	}
	u := url.URL{Scheme: sipuni.Name, User: url.UserPassword(s.opts.Account, s.opts.Secret), Path: "/", RawQuery: q.Encode()}
	return u.String()
}

// Requests returns the API requests received so far, oldest first, as they
// arrived.
func (s *Server) Requests() []pbxtest.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]pbxtest.Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = cloneRequest(r).Request
	}
	return out
}

// APIRequests returns the API requests received so far, oldest first, with
// their decoded parameters and whether their hash was right.
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
	r.Params = cloneValues(r.Params)
	r.Header = r.Header.Clone()
	r.Body = slices.Clone(r.Body)
	return r
}

// Employees returns the employees.
func (s *Server) Employees() []Employee {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.employees)
}

// SetEmployees replaces the employees.
func (s *Server) SetEmployees(e []Employee) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.employees = slices.Clone(e)
}

// extensions returns the employees' extensions.
func (s *Server) extensions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.employees))
	for i, e := range s.employees {
		out[i] = e.Extension
	}
	return out
}

// History returns the call log, oldest first.
func (s *Server) History() []HistoryEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.history)
}

// SetHistory replaces the call log.
func (s *Server) SetHistory(h []HistoryEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.history = slices.Clone(h)
}

// AddRecording makes a recording of size bytes available under id (a call
// id / "ID записи").
func (s *Server) AddRecording(id string, size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recordings[id] = recording{size: size}
}

// SetRecordingPending makes the recording id answer with an empty body, as
// Sipuni does right after a call, until AddRecording is called for it.
func (s *Server) SetRecordingPending(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recordings[id] = recording{pending: true}
}

// Recordings returns the recording ids and their sizes (-1 when pending).
func (s *Server) Recordings() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.recordings))
	for id, r := range s.recordings {
		if r.pending {
			out[id] = -1
		} else {
			out[id] = r.size
		}
	}
	return out
}

// SetWebhook makes every accepted callback/call_number ring a known
// employee play a pbxtest.OutboundCallback call to url, asynchronously, as
// soon as the API has answered; "" turns that off. The results are in
// Plays.
func (s *Server) SetWebhook(url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhook = url
}

// Plays returns what the calls played so far did, by Play, PlayWith and
// SetWebhook, in the order they finished.
func (s *Server) Plays() []pbxtest.Played {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]pbxtest.Played, len(s.plays))
	for i, p := range s.plays {
		out[i] = p.Played
	}
	return out
}

// PlayResults returns the same as Plays with Sipuni's own details.
func (s *Server) PlayResults() []PlayResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.plays)
}

// RecordLink returns the call_record_link the fake puts into events for
// the call id: a crm/record URL with its own hash.
func (s *Server) RecordLink(id string) string {
	v := url.Values{"id": {id}, "user": {s.opts.Account}}
	v.Set("hash", sign(v, s.opts.Secret))
	return s.url + "crm/record?" + v.Encode()
}

// RecordingReader returns the bytes the fake serves for a recording of size
// bytes.
//
// Deprecated: use pbxtest.NewMP3Reader, which it calls.
func RecordingReader(size int64) io.Reader { return pbxtest.NewMP3Reader(size) }

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// sign is Sipuni's hash, written independently of package sipuni so each
// checks the other: the values of the sorted names except "hash", joined
// with "+", then "+" and the secret, MD5 in lowercase hex.
func sign(v url.Values, secret string) string {
	keys := make([]string, 0, len(v))
	for k := range v {
		if k != "hash" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys)+1)
	for _, k := range keys {
		parts = append(parts, v.Get(k))
	}
	parts = append(parts, secret)
	sum := md5.Sum([]byte(strings.Join(parts, "+")))
	return hex.EncodeToString(sum[:])
}

const badHashPage = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Ошибка</title></head>
<body><h1>Неправильный хеш</h1></body></html>
`

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.URL.Path, "/api/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestSize))
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	params := cloneValues(r.Form)
	hashOK := params.Get("user") == s.opts.Account && params.Get("hash") == sign(params, s.opts.Secret)
	s.mu.Lock()
	s.requests = append(s.requests, Request{
		Request: pbxtest.Request{Operation: op, Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(),
			Query: r.URL.RawQuery, Body: body, At: s.opts.Clock()},
		Params: params, HashOK: hashOK,
	})
	s.mu.Unlock()
	if !hashOK {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(s.opts.BadHashStatus)
		_, _ = io.WriteString(w, badHashPage)
		return
	}
	switch op {
	case "callback/call_number":
		s.callNumber(w, params)
	case "callback/call_tree":
		s.requireJSON(w, params, "phone", "sipnumber", "tree")
	case "callback/call_external":
		s.requireJSON(w, params, "phoneFrom", "phoneTo", "sipnumber", "sipnumber2")
	case "events/call/hangup":
		s.requireJSON(w, params, "callId")
	case "statistic/export":
		s.export(w, params)
	case "statistic/record", "crm/record":
		s.record(w, params)
	case "statistic/operators":
		s.operators(w)
	default:
		http.Error(w, "Not Found", http.StatusNotFound)
	}
}

func writeJSON(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = io.WriteString(w, body)
}

func failure(w http.ResponseWriter, msg string) {
	writeJSON(w, `{"success":false,"message":`+strconv.Quote(msg)+`}`)
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// requireJSON answers a call-control method: success, with a new order id,
// when the required parameters are there. The error text is this fake's (no
// source shows Sipuni's). It returns the order id, or "" after a failure.
func (s *Server) requireJSON(w http.ResponseWriter, params url.Values, required ...string) string {
	for _, k := range required {
		if params.Get(k) == "" {
			failure(w, "Не указан параметр "+k)
			return ""
		}
	}
	id := randomID()
	writeJSON(w, `{"success":true,"id":"`+id+`"}`)
	return id
}

func (s *Server) callNumber(w http.ResponseWriter, params url.Values) {
	for _, k := range []string{"reverse", "antiaon"} {
		if v := params.Get(k); v != "0" && v != "1" {
			failure(w, "Параметр "+k+" должен быть 0 или 1")
			return
		}
	}
	if p := params.Get("phone"); p != "" && !allDigits(p) {
		failure(w, "Неверный формат номера")
		return
	}
	order := s.requireJSON(w, params, "phone", "sipnumber")
	if order == "" {
		return
	}
	known := pbxtest.HasExtension(s.extensions(), params.Get("sipnumber"))
	s.mu.Lock()
	hook := s.webhook
	s.mu.Unlock()
	// Like an offline softphone, an unknown extension gets no call and no
	// events, though the order is accepted.
	if hook == "" || !known {
		return
	}
	call := pbxtest.Call{Scenario: pbxtest.OutboundCallback, Caller: params.Get("phone"), Extensions: []string{params.Get("sipnumber")}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_, _ = s.PlayWith(s.ctx, hook, call, Extras{OrderID: order}) // the result is in Plays
	}()
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (s *Server) record(w http.ResponseWriter, params url.Values) {
	s.mu.Lock()
	rec, ok := s.recordings[params.Get("id")]
	s.mu.Unlock()
	switch {
	case !ok:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "Запись не найдена")
	case rec.pending:
		w.WriteHeader(http.StatusOK) // empty: not written yet
	default:
		w.Header().Set("Content-Type", "audio/mpeg")
		w.Header().Set("Content-Length", strconv.FormatInt(rec.size, 10))
		w.WriteHeader(http.StatusOK)
		_, _ = io.Copy(w, pbxtest.NewMP3Reader(rec.size))
	}
}

func (s *Server) operators(w http.ResponseWriter) {
	s.mu.Lock()
	emps := slices.Clone(s.employees)
	s.mu.Unlock()
	var b strings.Builder
	b.WriteString("Login;Name;Status;Call state\n")
	for _, e := range emps {
		b.WriteString(csvField(e.Extension, true) + ";" + csvField(e.Name, true) + ";" + csvField(e.Status, true) + ";" + csvField(e.CallState, true) + "\n")
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	_, _ = io.WriteString(w, b.String())
}

// csvField writes a field unquoted, as Sipuni does; with strip, characters
// that would break the row (";" and line breaks) are removed, as
// ignoreSpecChar=1 asks.
func csvField(v string, strip bool) string {
	if strip {
		v = strings.NewReplacer(";", "", "\n", " ", "\r", "").Replace(v)
	}
	return v
}

func (s *Server) nextCallID(t time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return fmt.Sprintf("%d.%06d", t.Unix(), 533500+s.seq)
}
