package screenpop

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ServeHTTP serves one stream: GET with the token as ?token= or
// "Authorization: Bearer". A missing, wrong or expired token gets 401 and
// nothing else; a bad moment parameter 400; a closed hub 503.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	ext, err := h.Authenticate(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="pbxkit screen-pop"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	mo, err := h.moments(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	select {
	case <-h.ready:
	case <-ctx.Done():
		return
	case <-h.done:
		http.Error(w, "screen-pop hub closed", http.StatusServiceUnavailable)
		return
	}
	last, resume := lastEventID(r)
	if resume {
		// A position past the end of the journal is not one of ours (the
		// journal was replaced): start afresh rather than wait for it.
		if n, err := h.j.LastSeq(ctx); err == nil && last > n {
			resume = false
		}
	}

	c := &conn{ext: ext, mo: mo, ch: make(chan delivery, h.cfg.Buffer), gone: make(chan struct{})}
	start, replay, fromJournal, err := h.register(c, last, resume)
	if err != nil {
		http.Error(w, "screen-pop hub closed", http.StatusServiceUnavailable)
		return
	}
	defer h.unregister(c)

	s := &stream{w: w, rc: http.NewResponseController(w), timeout: h.cfg.WriteTimeout}
	// The connection may serve other requests after this one: no deadline
	// left behind, except on a stream dropped for being slow, whose last
	// bytes must not hold the connection forever.
	var until time.Time
	defer func() { s.rc.SetWriteDeadline(until) }()
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream; charset=utf-8")
	hdr.Set("X-Accel-Buffering", "no")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if s.write([]byte("retry: 2000\n: pbxkit screen-pop\n\n")) != nil {
		return
	}

	// The past: what the client missed, or what is going on now.
	cursor := start
	switch {
	case resume && fromJournal:
		if h.replayJournal(ctx, s, c, last, start) != nil {
			return
		}
	case resume:
		for _, d := range replay {
			if s.deliver(d) != nil {
				return
			}
		}
		cursor = max(start, last)
	default:
		frames, err := h.snapshot(ctx, ext, start, mo)
		if err != nil {
			h.log.Warn("screenpop: cannot read the open calls for a new stream", "err", err)
			return // the browser reconnects
		}
		for _, f := range frames {
			if s.write(f.bytes(), []byte("\n")) != nil {
				return
			}
		}
	}
	if s.write(positionFrame(cursor)) != nil {
		return
	}

	// The present.
	tick := time.NewTicker(h.cfg.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case d := <-c.ch:
			// Whatever else is waiting goes out with it, in one flush.
			var parts [][]byte
			for more := true; more; {
				if d.seq > cursor {
					parts = d.appendTo(parts)
					cursor = d.seq
				}
				select {
				case d = <-c.ch:
				default:
					more = false
				}
			}
			if len(parts) > 0 && s.write(parts...) != nil {
				return
			}
		case <-tick.C:
			// When nothing waits for this stream, every card up to the
			// hub's position has been written: the position may move.
			h.mu.Lock()
			pos, idle := h.pos, len(c.ch) == 0
			h.mu.Unlock()
			var err error
			if idle && pos > cursor {
				cursor = pos
				err = s.write([]byte(": ping\n"), positionFrame(pos))
			} else {
				err = s.write([]byte(": ping\n\n"))
			}
			if err != nil {
				return
			}
		case <-c.gone:
			until = time.Now().Add(h.cfg.WriteTimeout)
			return // too slow, or the hub closed: the browser reconnects
		case <-ctx.Done():
			return
		}
	}
}

// moments reads the stream's ?incoming= and ?outgoing= over the hub's.
func (h *Hub) moments(q url.Values) (moments, error) {
	mo := moments{in: h.cfg.Incoming, out: h.cfg.Outgoing}
	for name, dst := range map[string]*Moment{"incoming": &mo.in, "outgoing": &mo.out} {
		if v := q.Get(name); v != "" {
			m, err := ParseMoment(v)
			if err != nil {
				return mo, errors.New(name + ": " + err.Error())
			}
			*dst = m
		}
	}
	return mo, nil
}

// replayJournal writes c's cards of the entries in (last, start], computed
// from the journal as the live streams got them.
func (h *Hub) replayJournal(ctx context.Context, s *stream, c *conn, last, start int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		b    *batch
		err  error
		done chan struct{}
	}
	queue := make(chan *job, parallel)
	go func() {
		defer close(queue)
		for e, err := range h.j.Entries(ctx, last) {
			if err == nil && e.Seq > start {
				return
			}
			jb := &job{done: make(chan struct{})}
			if err != nil {
				jb.err = err
				close(jb.done)
			} else {
				go func() {
					defer close(jb.done)
					jb.b, jb.err = h.derive(ctx, e, nil, c.ext)
				}()
			}
			select {
			case queue <- jb:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for jb := range queue {
		<-jb.done
		if jb.err != nil {
			h.log.Warn("screenpop: cannot replay the journal to a reconnecting stream", "err", jb.err)
			return jb.err
		}
		var fs []*frame
		for _, f := range jb.b.frames {
			if c.mo.shows(&f.card) {
				fs = append(fs, f)
			}
		}
		if len(fs) > 0 {
			if err := s.deliver(delivery{seq: jb.b.seq, frames: fs}); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

// stream writes SSE blocks to one response.
type stream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

// write writes the parts and flushes, under the write timeout.
func (s *stream) write(parts ...[]byte) error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	for _, p := range parts {
		if _, err := s.w.Write(p); err != nil {
			return err
		}
	}
	return s.rc.Flush()
}

// deliver writes the cards of one entry.
func (s *stream) deliver(d delivery) error {
	return s.write(d.appendTo(nil)...)
}

// appendTo appends the SSE blocks of d's cards to parts, the id on the last
// one only: a client cut off in the middle resumes before the entry and
// gets all its cards again rather than lose the rest.
func (d delivery) appendTo(parts [][]byte) [][]byte {
	for i, f := range d.frames {
		parts = append(parts, f.bytes())
		if i == len(d.frames)-1 {
			parts = append(parts, []byte("id: "+strconv.FormatInt(d.seq, 10)+"\n\n"))
		} else {
			parts = append(parts, []byte("\n"))
		}
	}
	return parts
}
