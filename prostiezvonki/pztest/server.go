// Package pztest is a fake Prostie Zvonki service for tests and demos: it
// answers makecall like the real one and plays the spec's call flows
// against a CRM webhook, sending the same JSON, in the same order, with the
// same crm_token.
//
// Start one with [NewServer], point a prostiezvonki.Client at it
// (prostiezvonki.Config.BaseURL = Server.URL, or the DSN from [Server.DSN])
// and either place calls, which ring the webhook set with
// [Server.SetWebhook], or play calls with [Server.Play]. It listens on 127.0.0.1 only and never touches
// the network beyond it.
//
// The flows are the spec's own examples: an answered incoming call is
// INCOMING, ACCEPTED, history (no COMPLETED event: the spec shows none); a
// missed one INCOMING, history. Call.LegEvents adds the COMPLETED and
// CANCELLED events the wider ITooLabs family sends, Call.SendWait its
// history's "wait" field (the seconds before the answer), and an incoming
// call is preceded by the contact (smart transfer) question unless
// Call.NoSmartTransfer is set.
//
// Package pztest does not import package prostiezvonki, so the provider's
// own tests can use it.
package pztest

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pbxkit/pbxkit/internal/fakemp3"
	"github.com/pbxkit/pbxkit/provider"
)

// Defaults, taken from the spec's examples.
const (
	// DefaultAPIKey is the spec's example "Токен Простых Звонков".
	DefaultAPIKey = "c5ab8f9e-b29a-4c79-9147-6b405865317b"
	// DefaultCRMToken is the spec's example "Токен 1С".
	DefaultCRMToken = "token123"
	// DefaultCaller is the spec's example client number.
	DefaultCaller = "89991234567"
	// DefaultLine is the spec's example company line (diversion).
	DefaultLine = "3333333"
)

// APIPath is the path of the API root on the fake, as on the real service.
const APIPath = "/httpapiinteg"

// User is an employee of the fake account.
type User struct {
	// Extension is the employee's internal number ("100").
	Extension string
	// Name is the employee's name.
	Name string
}

// DefaultUsers returns the fake's employees when Options.Users is empty:
// extension 100 (the spec's example) and two colleagues.
func DefaultUsers() []User {
	return []User{
		{Extension: "100", Name: "Анна Смирнова"},
		{Extension: "101", Name: "Иван Петров"},
		{Extension: "102", Name: "Ольга Кузнецова"},
	}
}

// Options configures a Server. The zero value gives the spec's example
// credentials and the default users.
type Options struct {
	// APIKey is the X-API-KEY makecall accepts; default DefaultAPIKey.
	APIKey string
	// CRMToken is the crm_token sent to the webhook; default
	// DefaultCRMToken.
	CRMToken string
	// Users are the employees; default DefaultUsers(). makecall accepts
	// only their extensions.
	Users []User
	// Location is the zone the fake writes start/end in (the spec's
	// "20230908T015640" carries none); default Europe/Moscow.
	Location *time.Location
	// HTTPClient sends the notifications; default a client with a 10 s
	// timeout.
	HTTPClient *http.Client
	// Pace is the pause between two notifications of one call; default none.
	// A demo sets a few hundred milliseconds so the "ringing" can be seen.
	Pace time.Duration
	// Now is the clock for call start times; default time.Now.
	Now func() time.Time
}

// Request is one request the fake received.
type Request struct {
	// Method and Path are the HTTP method and URL path.
	Method string
	Path   string
	// Operation is "makecall", "recording" or "unknown".
	Operation string
	// APIKeyOK says whether X-API-KEY matched (the key itself is not kept).
	APIKeyOK bool
	// ContentType is the request's Content-Type.
	ContentType string
	// Params are the decoded JSON body fields, as text.
	Params map[string]string
	// Body is the raw body.
	Body []byte
	// Status is the HTTP status the fake answered.
	Status int
}

// Server is a running fake Prostie Zvonki service.
type Server struct {
	// URL is the API root, http://127.0.0.1:PORT/httpapiinteg: put it in
	// prostiezvonki.Config.BaseURL.
	URL string

	ts     *httptest.Server
	cfg    Options
	hc     *http.Client
	ctx    context.Context // ended by Close, for asynchronous flows
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	requests   []Request
	calls      []PlayResult
	webhook    string
	failStatus int
	failText   string
	asyncErrs  []error
	recordings map[string][]byte
	seq        int64
	idBase     int64
}

// NewServer starts a fake on 127.0.0.1. Close it when done.
func NewServer(cfg Options) *Server {
	if cfg.APIKey == "" {
		cfg.APIKey = DefaultAPIKey
	}
	if cfg.CRMToken == "" {
		cfg.CRMToken = DefaultCRMToken
	}
	if len(cfg.Users) == 0 {
		cfg.Users = DefaultUsers()
	} else {
		cfg.Users = append([]User(nil), cfg.Users...)
	}
	if cfg.Location == nil {
		cfg.Location = provider.DefaultLocation()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, hc: cfg.HTTPClient, recordings: map[string][]byte{}}
	if s.hc == nil {
		s.hc = &http.Client{Timeout: 10 * time.Second}
	}
	// Call ids look like the spec's 19-digit "1659685427407907141".
	s.idBase = cfg.Now().UnixNano()
	if s.idBase < 1e18 {
		s.idBase += 1e18
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.ts.URL + APIPath
	return s
}

// Close stops the asynchronous flows still running, waits for them, and
// shuts the server down.
func (s *Server) Close() {
	s.cancel()
	s.wg.Wait()
	s.ts.Close()
}

// DSN returns a DSN that opens a prostiezvonki provider against this fake:
// prostiezvonki://:APIKEY@/?base_url=URL&crm_token=TOKEN.
func (s *Server) DSN() string {
	q := url.Values{"crm_token": {s.cfg.CRMToken}, "base_url": {s.URL}}
	u := url.URL{Scheme: "prostiezvonki", User: url.UserPassword("", s.cfg.APIKey), Path: "/", RawQuery: q.Encode()}
	return u.String()
}

// APIKey returns the X-API-KEY the fake accepts.
func (s *Server) APIKey() string { return s.cfg.APIKey }

// CRMToken returns the crm_token the fake sends.
func (s *Server) CRMToken() string { return s.cfg.CRMToken }

// Users returns the fake's employees.
func (s *Server) Users() []User { return append([]User(nil), s.cfg.Users...) }

// Requests returns the requests the fake received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Plays returns every call flow the fake played (by Play or after a
// makecall), in the order they finished: the fake's call history.
func (s *Server) Plays() []PlayResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]PlayResult(nil), s.calls...)
}

// Recording returns the fake recording of a call it played, served at the
// link its history notification carried.
func (s *Server) Recording(callID string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.recordings[callID]
	return b, ok
}

// SetWebhook sets the CRM URL. When set, every successful makecall is
// followed, asynchronously, by an answered outgoing call flow
// (OutboundCallback) from the requested employee to the requested number,
// sent to url. An empty url turns this off. [Server.Wait] waits for those
// flows.
func (s *Server) SetWebhook(url string) {
	s.mu.Lock()
	s.webhook = url
	s.mu.Unlock()
}

// SetMakeCallError makes every following makecall fail with status and
// {"error":text} (with status 200: {"result":"error","error":text}, the
// "200 that is an error" some engines answer). Status 0 makes makecall
// succeed again.
func (s *Server) SetMakeCallError(status int, text string) {
	s.mu.Lock()
	s.failStatus, s.failText = status, text
	s.mu.Unlock()
}

// Wait waits for the asynchronous flows started by makecall and returns
// their errors, joined; it forgets the errors it returns.
func (s *Server) Wait() error {
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	err := errors.Join(s.asyncErrs...)
	s.asyncErrs = nil
	return err
}

func (s *Server) newCallID() string {
	s.mu.Lock()
	s.seq++
	id := s.idBase + s.seq
	s.mu.Unlock()
	return strconv.FormatInt(id, 10)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	rec := Request{Method: r.Method, Path: r.URL.Path, Operation: "unknown", ContentType: r.Header.Get("Content-Type"), Body: body}
	var status int
	switch {
	case r.URL.Path == APIPath+"/crmapi/v1/makecall":
		rec.Operation = "makecall"
		status = s.makecall(w, r, body, &rec)
	case strings.HasPrefix(r.URL.Path, "/recordings/"):
		rec.Operation = "recording"
		status = s.recording(w, r)
	default:
		status = http.StatusNotFound
		writeJSON(w, status, `{"error":"Not found"}`)
	}
	rec.Status = status
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func errorBody(text string) string {
	b, _ := json.Marshal(map[string]string{"error": text})
	return string(b)
}

func (s *Server) makecall(w http.ResponseWriter, r *http.Request, body []byte, rec *Request) int {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, `{"error":"Method not allowed"}`)
		return http.StatusMethodNotAllowed
	}
	rec.APIKeyOK = subtle.ConstantTimeCompare([]byte(r.Header.Get("X-API-KEY")), []byte(s.cfg.APIKey)) == 1
	var fields map[string]any
	if err := json.Unmarshal(body, &fields); err == nil {
		rec.Params = make(map[string]string, len(fields))
		for k, v := range fields {
			rec.Params[k] = text(v)
		}
	}
	if !rec.APIKeyOK {
		writeJSON(w, http.StatusUnauthorized, `{"error":"Invalid token"}`)
		return http.StatusUnauthorized
	}
	s.mu.Lock()
	failStatus, failText, webhook := s.failStatus, s.failText, s.webhook
	s.mu.Unlock()
	if failStatus != 0 {
		if failStatus == http.StatusOK {
			b, _ := json.Marshal(map[string]string{"result": "error", "error": failText})
			writeJSON(w, http.StatusOK, string(b))
		} else {
			writeJSON(w, failStatus, errorBody(failText))
		}
		return failStatus
	}
	user, userOK := scalar(fields["user"])
	num, phoneOK := scalar(fields["phone"])
	if fields == nil || !userOK || !phoneOK || user == "" || num == "" {
		writeJSON(w, http.StatusBadRequest, `{"error":"Invalid parameters"}`)
		return http.StatusBadRequest
	}
	if !s.hasUser(user) {
		writeJSON(w, http.StatusBadRequest, errorBody("Пользователь с внутренним номером "+user+" не найден"))
		return http.StatusBadRequest
	}
	if !allDigits(num) {
		// The family rejects "+" and formatting: digits only.
		writeJSON(w, http.StatusBadRequest, errorBody("Неверный номер телефона: "+num))
		return http.StatusBadRequest
	}
	id := s.newCallID()
	writeJSON(w, http.StatusOK, `{"result":"ok","callid":"`+id+`"}`)
	if webhook != "" {
		s.playAsync(webhook, Call{Scenario: OutboundCallback, Caller: num, Extensions: []string{user}, CallID: id})
	}
	return http.StatusOK
}

func (s *Server) recording(w http.ResponseWriter, r *http.Request) int {
	id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/recordings/"), ".mp3")
	b, ok := s.Recording(id)
	if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		writeJSON(w, http.StatusNotFound, `{"error":"Not found"}`)
		return http.StatusNotFound
	}
	w.Header().Set("Content-Type", "audio/mpeg")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(b)
	}
	return http.StatusOK
}

func (s *Server) hasUser(ext string) bool {
	for _, u := range s.cfg.Users {
		if u.Extension == ext {
			return true
		}
	}
	return false
}

func (s *Server) playAsync(webhook string, c Call) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if _, err := s.Play(s.ctx, webhook, c); err != nil {
			s.mu.Lock()
			s.asyncErrs = append(s.asyncErrs, err)
			s.mu.Unlock()
		}
	}()
}

// text renders a decoded JSON value as text.
func text(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// scalar accepts a string or a number.
func scalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return strings.TrimSpace(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	}
	return "", false
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// fakeMP3 is a few kilobytes that start like an MP3 file (an ID3v2 tag and
// MPEG frames); it is not audio.
func fakeMP3() []byte { return fakemp3.Bytes(4096) }
