package pbxtest

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
)

// Recorder is a pbx.EventHandler and a pbx.Router that records what it is
// given. Its zero value records and routes nowhere; set Router to answer
// routing questions. It is safe for concurrent use.
type Recorder struct {
	// Router, when set, answers the routing questions Route records.
	Router pbx.Router
	// Err, when set, is returned by HandleEvent after recording the event
	// (to test that a provider answers its PBX with a 5xx).
	Err error

	mu      sync.Mutex
	events  []pbx.CallEvent
	queries []pbx.RouteQuery
	changed chan struct{}
}

// HandleEvent records e.
func (r *Recorder) HandleEvent(_ context.Context, e pbx.CallEvent) error {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.notifyLocked()
	err := r.Err
	r.mu.Unlock()
	return err
}

// Route records q and asks r.Router, if any.
func (r *Recorder) Route(ctx context.Context, q pbx.RouteQuery) (pbx.Route, error) {
	r.mu.Lock()
	r.queries = append(r.queries, q)
	r.notifyLocked()
	router := r.Router
	r.mu.Unlock()
	if router == nil {
		return pbx.Route{}, nil
	}
	return router.Route(ctx, q)
}

func (r *Recorder) notifyLocked() {
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
}

// Events returns a copy of the events recorded so far, in order.
func (r *Recorder) Events() []pbx.CallEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// Queries returns a copy of the routing questions recorded so far.
func (r *Recorder) Queries() []pbx.RouteQuery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.queries)
}

// EventsOf returns the recorded events of one call.
func (r *Recorder) EventsOf(callID string) []pbx.CallEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []pbx.CallEvent
	for _, e := range r.events {
		if e.CallID == callID {
			out = append(out, e)
		}
	}
	return out
}

// Reset forgets everything recorded.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.events, r.queries = nil, nil
	r.mu.Unlock()
}

// WaitFor waits until cond, called with the events recorded so far, is
// true, or until ctx ends or timeout passes; it reports whether cond became
// true. Events that arrive in the background (a click-to-call's play) are
// awaited this way rather than with sleeps.
func (r *Recorder) WaitFor(ctx context.Context, timeout time.Duration, cond func([]pbx.CallEvent) bool) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		r.mu.Lock()
		if cond(r.events) {
			r.mu.Unlock()
			return true
		}
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			r.mu.Lock()
			ok := cond(r.events)
			r.mu.Unlock()
			return ok
		}
	}
}
