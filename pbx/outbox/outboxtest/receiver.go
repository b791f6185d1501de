// Package outboxtest is a fake 1C for tests of outbox deliveries: an HTTP
// receiver on 127.0.0.1 that checks each request's Standard Webhooks
// signature with outbox.Verify, applies each delivery once by its
// webhook-id (a repeat is acknowledged and not applied again, as a
// receiver must), and can be told to be down, to fail, to answer slowly,
// or to apply a delivery and then not answer (the "maybe delivered"
// case). It also has a fake Clock for outbox.WithClock.
//
//	r := outboxtest.NewReceiver(t, secret)
//	r.Set(outboxtest.Behavior{Mode: outboxtest.Down})
//	... run the outbox against r.URL() ...
//	r.Set(outboxtest.Behavior{Mode: outboxtest.Up})
//	... wait until r.AppliedCount() is what the test expects ...
package outboxtest

import (
	"crypto/subtle"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx/outbox"
)

// Mode is how the receiver answers.
type Mode int

// Modes.
const (
	// Up applies the delivery (once per webhook-id) and answers 200.
	Up Mode = iota
	// Down refuses connections (the listener is closed) when set with
	// Set; from a SetFunc answer it closes the request's connection
	// without an answer.
	Down
	// Fail answers Behavior.Status (500 when zero) without applying.
	Fail
	// Slow waits Behavior.Delay, then applies and answers 200 (if the
	// client is still waiting: a client that gave up finds nothing
	// applied).
	Slow
	// HangAfterApply applies the delivery, then does not answer until the
	// client gives up (at most a minute): the client cannot know it was
	// applied.
	HangAfterApply
)

// Behavior says how the receiver answers.
type Behavior struct {
	Mode Mode
	// Status is the answer of Fail (500 when zero).
	Status int
	// Header is added to a Fail answer (Retry-After, Location).
	Header http.Header
	// Delay is the wait of Slow.
	Delay time.Duration
}

// Request is what a SetFunc decides on.
type Request struct {
	// ID is the webhook-id.
	ID string
	// Body is the request body.
	Body []byte
	// Attempt counts the requests with this ID, this one included.
	Attempt int
	// Applied reports that this ID was applied before.
	Applied bool
}

// Applied is a delivery the receiver applied.
type Applied struct {
	// ID is the webhook-id.
	ID string
	// Body is the request body (nil after KeepBodies(false)).
	Body []byte
	// At is when it was applied (real time).
	At time.Time
}

// Document decodes the body as the outbox's default call document.
func (a Applied) Document() (outbox.CallDocument, error) {
	var d outbox.CallDocument
	err := d.UnmarshalJSON(a.Body)
	return d, err
}

// Receiver is the fake 1C. Its methods are safe for concurrent use.
type Receiver struct {
	tb     testing.TB
	secret []byte
	addr   string

	srvMu sync.Mutex // serialises going up and down
	srv   *httptest.Server

	mu         sync.Mutex
	behavior   Behavior
	fn         func(Request) Behavior
	user, pass string
	keepBodies bool
	onApply    func(Applied)
	applied    []Applied
	appliedIDs map[string]bool
	received   map[string]int
	requests   int
	rejected   int
}

// NewReceiver starts a receiver on 127.0.0.1 verifying signatures with
// secret; it is closed when the test ends.
func NewReceiver(tb testing.TB, secret []byte) *Receiver {
	tb.Helper()
	r := &Receiver{
		tb: tb, secret: append([]byte(nil), secret...), keepBodies: true,
		appliedIDs: map[string]bool{}, received: map[string]int{},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("outboxtest: listen: %v", err)
	}
	r.addr = ln.Addr().String()
	r.start(ln)
	tb.Cleanup(r.Close)
	return r
}

func (r *Receiver) start(ln net.Listener) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	r.srv = srv
}

// URL returns the receiver's URL (it serves every path).
func (r *Receiver) URL() string { return "http://" + r.addr + "/calls" }

// Set makes every request answered as b says (and clears a SetFunc).
// Down closes the listener, Up (or any other mode) opens it again on the
// same address.
func (r *Receiver) Set(b Behavior) {
	r.mu.Lock()
	r.behavior, r.fn = b, nil
	r.mu.Unlock()
	r.setListening(b.Mode != Down)
}

// SetFunc makes f decide each request (and opens the listener).
func (r *Receiver) SetFunc(f func(Request) Behavior) {
	r.mu.Lock()
	r.fn = f
	r.mu.Unlock()
	r.setListening(true)
}

func (r *Receiver) setListening(up bool) {
	r.srvMu.Lock()
	defer r.srvMu.Unlock()
	switch {
	case !up && r.srv != nil:
		r.srv.CloseClientConnections()
		r.srv.Close()
		r.srv = nil
	case up && r.srv == nil:
		var ln net.Listener
		var err error
		for i := 0; i < 100; i++ { // the port was ours a moment ago
			if ln, err = net.Listen("tcp", r.addr); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			r.tb.Errorf("outboxtest: listen again on %s: %v", r.addr, err)
			return
		}
		r.start(ln)
	}
}

// RequireBasicAuth makes the receiver answer 401 to requests without
// this user and password.
func (r *Receiver) RequireBasicAuth(user, password string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.user, r.pass = user, password
}

// KeepBodies sets whether Applied keeps the bodies (default true; turn it
// off for large runs).
func (r *Receiver) KeepBodies(keep bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keepBodies = keep
}

// OnApply sets a function called (outside the receiver's lock) after
// each delivery applied.
func (r *Receiver) OnApply(f func(Applied)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onApply = f
}

// Applied returns the applied deliveries in the order they were applied.
func (r *Receiver) Applied() []Applied {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Applied(nil), r.applied...)
}

// AppliedCount returns the number of deliveries applied (distinct
// webhook-ids).
func (r *Receiver) AppliedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.applied)
}

// Received returns how many requests carried the webhook-id id, with a
// valid signature.
func (r *Receiver) Received(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.received[id]
}

// Requests returns the number of requests that reached the receiver,
// rejected ones included.
func (r *Receiver) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

// Rejected returns the number of requests answered 401 for a bad
// signature or bad credentials.
func (r *Receiver) Rejected() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rejected
}

// Close stops the receiver.
func (r *Receiver) Close() { r.setListening(false) }

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 8<<20))
	r.mu.Lock()
	r.requests++
	user, pass := r.user, r.pass
	r.mu.Unlock()
	if err != nil {
		http.Error(w, "cannot read the body", http.StatusBadRequest)
		return
	}
	if user != "" || pass != "" {
		u, p, ok := req.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(pass)) != 1 {
			r.reject()
			w.Header().Set("WWW-Authenticate", `Basic realm="1C"`)
			http.Error(w, "Не пройдена аутентификация", http.StatusUnauthorized)
			return
		}
	}
	if err := outbox.Verify(r.secret, req, body); err != nil {
		r.reject()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	id := req.Header.Get(outbox.HeaderID)

	r.mu.Lock()
	r.received[id]++
	b := r.behavior
	if r.fn != nil {
		b = r.fn(Request{ID: id, Body: body, Attempt: r.received[id], Applied: r.appliedIDs[id]})
	}
	r.mu.Unlock()

	switch b.Mode {
	case Down:
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		http.Error(w, "down", http.StatusServiceUnavailable)
	case Fail:
		for k, vs := range b.Header {
			w.Header()[k] = vs
		}
		status := b.Status
		if status == 0 {
			status = http.StatusInternalServerError
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "Ошибка при вызове метода контекста (fake 1C)")
	case Slow:
		t := time.NewTimer(b.Delay)
		defer t.Stop()
		select {
		case <-req.Context().Done():
			return
		case <-t.C:
		}
		r.apply(id, body)
		w.WriteHeader(http.StatusOK)
	case HangAfterApply:
		r.apply(id, body)
		t := time.NewTimer(time.Minute)
		defer t.Stop()
		select {
		case <-req.Context().Done():
		case <-t.C:
		}
		w.WriteHeader(http.StatusGatewayTimeout)
	default:
		r.apply(id, body)
		w.WriteHeader(http.StatusOK)
	}
}

func (r *Receiver) reject() {
	r.mu.Lock()
	r.rejected++
	r.mu.Unlock()
}

// apply records the delivery once per id.
func (r *Receiver) apply(id string, body []byte) {
	r.mu.Lock()
	if r.appliedIDs[id] {
		r.mu.Unlock()
		return
	}
	r.appliedIDs[id] = true
	a := Applied{ID: id, At: time.Now()}
	if r.keepBodies {
		a.Body = body
	}
	r.applied = append(r.applied, a)
	f := r.onApply
	r.mu.Unlock()
	if f != nil {
		f(a)
	}
}
