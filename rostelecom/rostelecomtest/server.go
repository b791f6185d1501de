package rostelecomtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/provider/providertest"
	"github.com/pbxkit/pbxkit/rostelecom"
)

// Defaults.
const (
	// DefaultClientID and DefaultSignKey are the example pair of the
	// Rostelecom manual.
	DefaultClientID = "000003C405E6525C64C184258C44EC99"
	DefaultSignKey  = "00000716ABDA6D4DFF10F82BCBBFC532"
	// DefaultDomain is the fake's domain name.
	DefaultDomain = "example.20.rt.ru"
	// DefaultCaller and DefaultLine are the external number and the company
	// line of played calls, as the PBX writes them (E.164 digits): those of
	// every pbxkit fake (pbxtest.DefaultCaller and pbxtest.DefaultLine).
	DefaultCaller = pbxtest.DefaultCaller
	DefaultLine   = pbxtest.DefaultLine
	// DefaultRecordingSize is the size of a recording when neither Options
	// nor the call say.
	DefaultRecordingSize = 256 << 10
	// DefaultHistoryPoll is the Config.HistoryPoll of the Config and the
	// DSN the fake hands out: short, so that a call-log export against the
	// fake takes milliseconds rather than the real client's 10 s first
	// wait.
	DefaultHistoryPoll = 20 * time.Millisecond
)

// Options configures a Server. The zero value of each field picks its
// default.
type Options struct {
	// ClientID, SignKey and Domain default to DefaultClientID,
	// DefaultSignKey and DefaultDomain.
	ClientID, SignKey, Domain string
	// Employees are the domain's users (default pbxtest.Employees(), the
	// staff every pbxkit fake starts with): Extension is the user's PIN,
	// Login the user's name (login), Name the display name. call_back
	// accepts only them, and a routing answer must name one of them.
	Employees []pbxtest.Employee
	// Location is the zone of the fake's local times (default
	// Europe/Moscow).
	Location *time.Location
	// RecordingSize is the size in bytes of each recording (default
	// DefaultRecordingSize). The bytes are generated while streaming, so any
	// size costs no memory.
	RecordingSize int64
	// RecordingNotReady is how many get_record requests for each call are
	// answered "not found" before a link is given (default 0), as right
	// after a call.
	RecordingNotReady int
	// HistoryNotReady is how many download_call_history requests for each
	// order are answered 404 "being prepared" before the file (default 1;
	// negative for none). CompleteHistory makes the file ready at once.
	HistoryNotReady int
	// HistoryFormat shapes the export files (default ZIP, ';', no header,
	// as real domains send them).
	HistoryFormat HistoryFormat
	// HTTPClient sends the notifications; default a client with a 10 s
	// timeout.
	HTTPClient *http.Client
	// Pace is the pause between two notifications of one call; default
	// none. A demo sets a few hundred milliseconds so the ringing can be
	// seen.
	Pace time.Duration
}

// APIRequest is one request the fake received, with what the fake made of
// it. Its embedded pbxtest.Request is what Requests returns.
type APIRequest struct {
	// Request holds the method, path, headers, body and arrival time.
	// Operation is the API method ("call_back", ...), "record_download"
	// for a recording link, or "unknown".
	pbxtest.Request
	// SignatureOK says whether X-Client-ID and X-Client-Sign were right
	// (always false for record_download, which is not signed).
	SignatureOK bool
	// Params are the decoded JSON body fields, as text.
	Params map[string]string
	// Status is the HTTP status the fake answered.
	Status int
}

// Server is a running fake PBX. Its methods are safe for concurrent use.
type Server struct {
	url    string
	opts   Options
	ts     *httptest.Server
	loc    *time.Location
	sender *http.Client

	ctx    context.Context // ended by Close, for asynchronous flows
	cancel context.CancelFunc
	bg     sync.WaitGroup

	mu        sync.Mutex
	webhook   string
	requests  []APIRequest
	plays     []pbxtest.Played
	asyncErrs []error
	calls     map[string]*HistoryEntry
	callOrder []string // call ids in the order they were added
	asks      map[string]int
	links     map[string]*link
	orders    map[string]*historyOrder
	orderIDs  []string
	failNext  map[string][]string
}

var _ pbxtest.Fake = (*Server)(nil)

// init registers the fake with pbxtest, so that pbxtest.Start("rostelecom",
// ...) and the programs that start every vendor's fake find it.
func init() {
	providertest.Register(Harness())
	pbxtest.Register(pbxtest.Vendor{
		Name: rostelecom.Name,
		Start: func(o pbxtest.Options) (pbxtest.Fake, error) {
			return NewServer(Options{RecordingSize: o.RecordingSize, Employees: o.Employees}), nil
		},
	})
}

// link is a one-time recording link.
type link struct {
	size int64
	used bool
}

// NewServer starts a fake PBX on 127.0.0.1. Close it when done.
func NewServer(opts Options) *Server {
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.SignKey == "" {
		opts.SignKey = DefaultSignKey
	}
	if opts.Domain == "" {
		opts.Domain = DefaultDomain
	}
	if len(opts.Employees) == 0 {
		opts.Employees = pbxtest.Employees()
	} else {
		opts.Employees = append([]pbxtest.Employee(nil), opts.Employees...)
	}
	if opts.Location == nil {
		opts.Location = provider.DefaultLocation()
	}
	if opts.RecordingSize <= 0 {
		opts.RecordingSize = DefaultRecordingSize
	}
	if opts.HistoryNotReady == 0 {
		opts.HistoryNotReady = 1
	}
	if opts.HistoryFormat.Comma == 0 {
		opts.HistoryFormat.Comma = ';'
	}
	s := &Server{
		opts:     opts,
		loc:      opts.Location,
		sender:   opts.HTTPClient,
		calls:    make(map[string]*HistoryEntry),
		asks:     make(map[string]int),
		links:    make(map[string]*link),
		orders:   make(map[string]*historyOrder),
		failNext: make(map[string][]string),
	}
	if s.sender == nil {
		s.sender = &http.Client{Timeout: 10 * time.Second}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.ts = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.url = s.ts.URL
	return s
}

// Close stops the asynchronous flows still running, waits for them, and
// shuts the server down.
func (s *Server) Close() {
	s.cancel()
	s.bg.Wait()
	s.ts.Close()
}

// Name returns "rostelecom", the provider the fake imitates.
func (s *Server) Name() string { return rostelecom.Name }

// URL returns the API base URL, such as "http://127.0.0.1:34567": put it in
// rostelecom.Config.BaseURL (Config does).
func (s *Server) URL() string { return s.url }

// ClientID returns the X-Client-ID the fake accepts and signs with.
func (s *Server) ClientID() string { return s.opts.ClientID }

// SignKey returns the key the fake verifies and signs with.
func (s *Server) SignKey() string { return s.opts.SignKey }

// Domain returns the fake's domain.
func (s *Server) Domain() string { return s.opts.Domain }

// Config returns a rostelecom.Config that talks to the fake, with the
// fake's Location and a short HistoryPoll (DefaultHistoryPoll).
func (s *Server) Config() rostelecom.Config {
	return rostelecom.Config{
		ClientID:    s.opts.ClientID,
		SignKey:     s.opts.SignKey,
		Domain:      s.opts.Domain,
		BaseURL:     s.url,
		Location:    s.loc,
		HistoryPoll: DefaultHistoryPoll,
	}
}

// DSN returns a DSN that opens a rostelecom provider against the fake, with
// the same settings as Config:
// rostelecom://ID:KEY@127.0.0.1:PORT/?base_url=URL&domain=DOMAIN&history_poll=20ms&location=ZONE.
func (s *Server) DSN() string {
	q := url.Values{"domain": {s.opts.Domain}, "base_url": {s.url}, "history_poll": {DefaultHistoryPoll.String()}}
	// A zone the DSN can name (not a fixed offset made up in a test).
	if name := s.loc.String(); name != "Local" {
		if _, err := time.LoadLocation(name); err == nil {
			q.Set("location", name)
		}
	}
	u := url.URL{
		Scheme:   rostelecom.Name,
		User:     url.UserPassword(s.opts.ClientID, s.opts.SignKey),
		Host:     strings.TrimPrefix(s.url, "http://"),
		Path:     "/",
		RawQuery: q.Encode(),
	}
	return u.String()
}

// Employees returns the domain's users.
func (s *Server) Employees() []pbxtest.Employee {
	return append([]pbxtest.Employee(nil), s.opts.Employees...)
}

// extensions returns the users' PINs.
func (s *Server) extensions() []string {
	return pbxtest.ExtensionsOf(s.opts.Employees)
}

// Requests returns the requests the fake received, oldest first, in the
// form every pbxkit fake gives (pbxtest.Fake).
func (s *Server) Requests() []pbxtest.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]pbxtest.Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = r.Request
	}
	return out
}

// APIRequests returns the requests the fake received, oldest first, with
// what the fake made of them (signature check, parameters, answer status).
func (s *Server) APIRequests() []APIRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]APIRequest(nil), s.requests...)
}

// RequestsFor returns the requests received for one operation.
func (s *Server) RequestsFor(operation string) []APIRequest {
	var out []APIRequest
	for _, r := range s.APIRequests() {
		if r.Operation == operation {
			out = append(out, r)
		}
	}
	return out
}

// Plays returns every call the fake played (by Play, PlayDetailed or after a
// call_back), in the order they finished.
func (s *Server) Plays() []pbxtest.Played {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]pbxtest.Played(nil), s.plays...)
}

// SetWebhook sets the external-system address. When set, every accepted
// call_back is followed, asynchronously, by an OutboundCallback flow from
// the requested user to the requested number, sent to url, and every
// domain_call_history order by a history_file_completed notification. An
// empty url turns this off. Wait waits for those flows.
func (s *Server) SetWebhook(url string) {
	s.mu.Lock()
	s.webhook = url
	s.mu.Unlock()
}

// Wait waits for the asynchronous flows started by call_back and
// domain_call_history and returns their errors, joined; it forgets the
// errors it returns.
func (s *Server) Wait() error {
	s.bg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	err := errors.Join(s.asyncErrs...)
	s.asyncErrs = nil
	return err
}

// FailNext makes the next request to the API method answer HTTP 200 with
// the given non-zero result and message, as the PBX does for a refused
// request (call_back answers -20 «Ошибка при попытке выполнения обратного
// вызова», for example). Calls queue up.
func (s *Server) FailNext(method string, result int, message string) {
	b, _ := json.Marshal(map[string]string{"result": strconv.Itoa(result), "resultMessage": message})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext[method] = append(s.failNext[method], string(b))
}

func (s *Server) async(f func(ctx context.Context) error) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		if err := f(s.ctx); err != nil && s.ctx.Err() == nil {
			s.mu.Lock()
			s.asyncErrs = append(s.asyncErrs, err)
			s.mu.Unlock()
		}
	}()
}

// login returns the login of the user with PIN pin, or pin itself for
// someone the domain does not have.
func (s *Server) login(pin string) string {
	for _, e := range s.opts.Employees {
		if e.Extension == pin {
			return e.Login
		}
	}
	return pin
}

// newID returns a random UUID-shaped identifier, as the PBX's session and
// order ids look.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// msgOK is the PBX's success text.
const msgOK = "Операция выполнена успешно"

// apiHandler answers one API method; it returns the HTTP status written.
type apiHandler func(w http.ResponseWriter, r *http.Request, req *APIRequest) int

func (s *Server) handler(op string) apiHandler {
	switch op {
	case rostelecom.MethodCallBack:
		return s.callBack
	case rostelecom.MethodCallInfo:
		return s.callInfo
	case rostelecom.MethodGetRecord:
		return s.getRecord
	case rostelecom.MethodUsersInfo:
		return s.usersInfo
	case rostelecom.MethodDomainCallHistory:
		return s.domainCallHistory
	case rostelecom.MethodDownloadCallHistory:
		return s.downloadCallHistory
	}
	return nil
}

// serveHTTP routes API methods and recording links and journals them.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	req := APIRequest{Request: pbxtest.Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Header: r.Header.Clone(), At: time.Now()}}
	if strings.HasPrefix(r.URL.Path, recordPath) {
		req.Operation = "record_download"
		req.Status = s.serveRecording(w, r)
	} else {
		req.Status = s.serveAPI(w, r, &req)
	}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.mu.Unlock()
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, req *APIRequest) int {
	op := strings.Trim(r.URL.Path, "/")
	body, err := provider.ReadBody(r, provider.DefaultMaxBodySize)
	if err != nil {
		return writeJSON(w, http.StatusRequestEntityTooLarge, `{"result":"-1","resultMessage":"Слишком большой запрос"}`)
	}
	req.Body = body
	req.Params = params(body)
	// The signature is checked over the exact bytes received and compared
	// in lower case, as the manual's example is written; whether the PBX
	// also takes upper case is not documented, so the fake does not.
	id, sign := r.Header.Get("X-Client-Id"), r.Header.Get("X-Client-Sign")
	req.SignatureOK = id == s.opts.ClientID && sign == rostelecom.Sign(s.opts.ClientID, body, s.opts.SignKey)
	h := s.handler(op)
	req.Operation = op
	switch {
	case h == nil:
		req.Operation = "unknown"
		return notFoundHTML(w, r.URL.Path)
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		return writeJSON(w, http.StatusMethodNotAllowed, `{"result":"-1","resultMessage":"Метод не поддерживается"}`)
	// Credentials: the real status is not documented (integrators expect
	// 401 or 403); the fake answers 401 with the usual JSON envelope.
	case id == "" || sign == "":
		return writeJSON(w, http.StatusUnauthorized, `{"result":"-1","resultMessage":"Отсутствуют заголовки X-Client-ID и X-Client-Sign"}`)
	case id != s.opts.ClientID:
		return writeJSON(w, http.StatusUnauthorized, `{"result":"-1","resultMessage":"Неизвестный код идентификации X-Client-ID"}`)
	case !req.SignatureOK:
		return writeJSON(w, http.StatusUnauthorized, `{"result":"-1","resultMessage":"Неверная подпись X-Client-Sign"}`)
	case req.Params == nil:
		// A body that is not a JSON object: HTTP 200 with a non-zero
		// result, as the API answers every request it authenticated.
		return writeJSON(w, http.StatusOK, `{"result":"-1","resultMessage":"Некорректный формат запроса"}`)
	}
	s.mu.Lock()
	var fail string
	if q := s.failNext[op]; len(q) > 0 {
		fail, s.failNext[op] = q[0], q[1:]
	}
	s.mu.Unlock()
	if fail != "" {
		return writeJSON(w, http.StatusOK, fail)
	}
	return h(w, r, req)
}

// params decodes a JSON object body into text values (numbers as written,
// nested values as JSON); nil when the body is not a JSON object.
func params(body []byte) map[string]string {
	var raw map[string]json.RawMessage
	if json.Unmarshal(body, &raw) != nil || raw == nil {
		return nil
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		var str provider.String
		if str.UnmarshalJSON(v) == nil {
			out[k] = string(str)
		} else {
			out[k] = string(bytes.TrimSpace(v))
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, body string) int {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
	return status
}

func writeValue(w http.ResponseWriter, v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return writeJSON(w, http.StatusInternalServerError, `{"result":"-1","resultMessage":"internal error"}`)
	}
	return writeJSON(w, http.StatusOK, string(b))
}

// refuse answers 200 with result "-1", the PBX's usual refusal.
func refuse(w http.ResponseWriter, msg string) int {
	return writeValue(w, map[string]string{"result": "-1", "resultMessage": msg})
}

// notFoundHTML is the nginx-style page the API answers for a missing file.
func notFoundHTML(w http.ResponseWriter, file string) int {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprintf(w, "<html>\n<head><title>404 Not Found</title></head>\n<body>\n<h1>Not Found</h1>\n<p>File [%s] not found</p>\n</body>\n</html>\n",
		strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(file))
	return http.StatusNotFound
}

// callBack needs request_number and exactly one of from_pin and
// from_sipuri (which one the PBX requires is not documented; both are
// used in production). An unknown user gives -20, the method's one
// documented error code. The answer's result is the string "0".
func (s *Server) callBack(w http.ResponseWriter, _ *http.Request, req *APIRequest) int {
	number := strings.TrimSpace(req.Params["request_number"])
	pin, sipuri := strings.TrimSpace(req.Params["from_pin"]), strings.TrimSpace(req.Params["from_sipuri"])
	if number == "" {
		return refuse(w, "Не указан параметр request_number")
	}
	if (pin == "") == (sipuri == "") {
		return refuse(w, "Укажите один из параметров from_pin или from_sipuri")
	}
	if pin == "" {
		login, _, _ := strings.Cut(strings.TrimPrefix(sipuri, "sip:"), "@")
		for _, e := range s.opts.Employees {
			if e.Login == login {
				pin = e.Extension
			}
		}
	}
	if !pbxtest.HasExtension(s.extensions(), pin) {
		return writeValue(w, map[string]string{"result": "-20", "resultMessage": "Ошибка при попытке выполнения обратного вызова"})
	}
	call := s.withDefaults(pbxtest.Call{Scenario: pbxtest.OutboundCallback, Caller: strings.TrimPrefix(number, "+"), Extensions: []string{pin}})
	s.mu.Lock()
	hook := s.webhook
	s.mu.Unlock()
	if hook != "" {
		s.async(func(ctx context.Context) error {
			_, err := s.Play(ctx, hook, call)
			return err
		})
	} else {
		s.AddHistory(entry(call, pin))
	}
	return writeValue(w, map[string]string{"result": "0", "resultMessage": msgOK, "session_id": call.CallID})
}

// callInfo answers with result as a number, as in the manual's sample; an
// unknown session gives result -1 and info null.
func (s *Server) callInfo(w http.ResponseWriter, _ *http.Request, req *APIRequest) int {
	s.mu.Lock()
	var e HistoryEntry
	p := s.calls[strings.TrimSpace(req.Params["session_id"])]
	if p != nil {
		e = *p
	}
	s.mu.Unlock()
	if p == nil {
		return writeJSON(w, http.StatusOK, `{"result":-1,"resultMessage":"Вызов не найден","info":null}`)
	}
	c := s.columns(e)
	return writeValue(w, map[string]any{
		"result":        0,
		"resultMessage": "",
		"info": map[string]any{
			"call_type":        e.callType(),
			"direction":        e.Direction,
			"state":            e.state(),
			"orig_number":      c.origNumber,
			"orig_pin":         c.origPIN,
			"dest_number":      c.destNumber,
			"answering_sipuri": c.answeringSIPURI,
			"answering_pin":    c.answeringPIN,
			"start_call_date":  strconv.FormatInt(e.Start.Unix(), 10),
			"duration":         e.duration(),
			"session_log":      c.sessionLog,
			"is_voicemail":     false,
			"is_record":        e.Record,
			"is_fax":           false,
			"status_code":      "0",
			"status_string":    "",
		},
	})
}

// recordPath is where the fake serves recording links, shaped like the
// real ones.
const recordPath = "/records_new_scheme/record/download/"

// getRecord gives a one-time link to a recorded call's file. An unknown
// call, a call without a recording and one not ready yet all answer result
// -1 (the PBX is not known to tell them apart). ip_adress is optional; the
// link ends in the allowed IP written as 12 digits.
func (s *Server) getRecord(w http.ResponseWriter, r *http.Request, req *APIRequest) int {
	id := strings.TrimSpace(req.Params["session_id"])
	ip := strings.TrimSpace(req.Params["ip_adress"])
	if ip == "" {
		ip, _, _ = net.SplitHostPort(r.RemoteAddr)
	}
	s.mu.Lock()
	e := s.calls[id]
	ready := false
	var size int64
	if e != nil && e.Record {
		s.asks[id]++
		ready = s.asks[id] > s.opts.RecordingNotReady
		size = e.RecordingSize
	}
	var token string
	if ready {
		if size <= 0 {
			size = s.opts.RecordingSize
		}
		var b [16]byte
		_, _ = rand.Read(b[:])
		token = hex.EncodeToString(b[:])
		s.links[token] = &link{size: size}
	}
	s.mu.Unlock()
	if !ready {
		return refuse(w, "Запись разговора не найдена")
	}
	return writeValue(w, map[string]string{"result": "0", "resultMessage": msgOK,
		"url": s.url + recordPath + token + "/" + paddedIP(ip)})
}

// paddedIP writes an IPv4 address as 12 digits, as real links end
// (188.254.33.84 gives 188254033084).
func paddedIP(ip string) string {
	v4 := net.ParseIP(ip).To4()
	if v4 == nil {
		return "000000000000"
	}
	return fmt.Sprintf("%03d%03d%03d%03d", v4[0], v4[1], v4[2], v4[3])
}

// Recordings returns the size of the recording of every recorded call in
// the log, by call id.
func (s *Server) Recordings() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64)
	for id, e := range s.calls {
		if e.Record {
			size := e.RecordingSize
			if size <= 0 {
				size = s.opts.RecordingSize
			}
			out[id] = size
		}
	}
	return out
}

// serveRecording streams a recording once, with a plain GET; a used or
// unknown link is 404.
func (s *Server) serveRecording(w http.ResponseWriter, r *http.Request) int {
	token, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, recordPath), "/")
	s.mu.Lock()
	l := s.links[token]
	usable := l != nil && !l.used && (r.Method == http.MethodGet || r.Method == http.MethodPost)
	if usable {
		l.used = true
	}
	s.mu.Unlock()
	if !usable {
		return notFoundHTML(w, r.URL.Path)
	}
	h := w.Header()
	h.Set("Content-Type", "audio/mpeg")
	h.Set("Content-Length", strconv.FormatInt(l.size, 10))
	h.Set("Content-Disposition", `attachment; filename="`+token+`.mp3"`)
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, pbxtest.NewMP3Reader(l.size))
	return http.StatusOK
}

// usersInfo needs the fake's domain; result is a number; one user
// (user_pin) comes as an object, as in the only known sample, several as
// an array.
func (s *Server) usersInfo(w http.ResponseWriter, _ *http.Request, req *APIRequest) int {
	if req.Params["domain"] != s.opts.Domain {
		return writeJSON(w, http.StatusOK, `{"result":-1,"resultMessage":"Домен не найден"}`)
	}
	type user struct {
		DisplayName string `json:"display_name"`
		Name        string `json:"name"`
		PIN         string `json:"pin"`
	}
	if pin := strings.TrimSpace(req.Params["user_pin"]); pin != "" {
		for _, e := range s.opts.Employees {
			if e.Extension == pin {
				return writeValue(w, map[string]any{"result": 0, "resultMessage": "", "users": user{e.Name, e.Login, e.Extension}})
			}
		}
		return writeJSON(w, http.StatusOK, `{"result":-1,"resultMessage":"Пользователь не найден"}`)
	}
	users := make([]user, 0, len(s.opts.Employees))
	for _, e := range s.opts.Employees {
		users = append(users, user{e.Name, e.Login, e.Extension})
	}
	return writeValue(w, map[string]any{"result": 0, "resultMessage": "", "users": users})
}
