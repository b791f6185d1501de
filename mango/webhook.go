package mango

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// WebhookHandler returns the handler for the address given to the
// cabinet's API connector («Адрес внешней системы»). Mango appends a path
// to it (events/call, events/summary, events/recording,
// events/record/added, events/dtmf, events/sms, result/<command>, ...);
// the handler reads that path from the end of the request's, so mount it
// on a prefix ending in "/" (with or without http.StripPrefix) and give
// Mango the prefix.
//
// Every request must be a POST form whose vpbx_api_key is Config.APIKey and
// whose sign is the signature (see Sign) of its json value exactly as
// received, checked in constant time before the JSON is decoded; only the
// body's fields count, each once. Missing credentials are answered 401, a
// wrong key or signature 403, a body that is not a form or whose JSON does
// not decode 400, a body over 1 MiB 413, another method 405, an unknown
// path 404; nothing reaches events or router then. Mango reads only the
// status. Rejections for authentication are logged at Warn (to
// Config.Logger, else slog.Default()), at most one line per reason a
// minute; every request is journaled at debug.
//
// Call notifications become pbx.CallEvents (see the package documentation
// for the mapping) passed to events.HandleEvent before Mango gets its 200;
// an error from it is answered 500 (whether Mango then posts again is not
// documented). A Connected that follows an OnHold of the same leg becomes
// EventResumed. The handler remembers, per call, the recording ids that
// events/recording and events/record/added announce, before the event is
// handed over, so that FetchRecording takes the event's CallID (even from
// within events.HandleEvent). Command results (result/..., events/sms) go to
// Config.OnResult, not to events. Mango's connection check (a request to
// .../ping, or a signed request without json) is answered 200 and reaches
// no user code.
//
// A call that appears in the IVR (events/call, Appeared, location ivr, an
// external caller) is also routed, when router is set: after the request is
// authenticated and without delaying the answer, router is asked under
// Config.RouteTimeout and its decision sent as commands/route (see
// Client.RouteStats and the package documentation). Either argument may be
// nil: events are then acknowledged and dropped, and no call is routed.
func (c *Client) WebhookHandler(events pbx.EventHandler, router pbx.Router) http.Handler {
	return &webhook{c: c, events: events, router: router}
}

type webhook struct {
	c      *Client
	events pbx.EventHandler
	router pbx.Router
}

// notificationOf returns the Mango path of a request: the part of its path
// from the last "events/" or "result/", or "ping"; "" when none.
func notificationOf(path string) string {
	path = strings.TrimRight(path, "/")
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	i := max(strings.LastIndex(path, "/events/"), strings.LastIndex(path, "/"+NotifyResultPrefix))
	if i >= 0 {
		return path[i+1:]
	}
	if strings.HasSuffix(path, "/"+NotifyPing) {
		return NotifyPing
	}
	return ""
}

// known reports whether op is a path the handler serves.
func known(op string) bool {
	switch op {
	case NotifyCall, NotifySummary, NotifyRecording, NotifyRecordAdded, NotifyRecordTagged, NotifyDTMF, NotifySMS, NotifyPing:
		return true
	}
	return strings.HasPrefix(op, NotifyResultPrefix) && len(op) > len(NotifyResultPrefix)
}

// errAnswer is a refusal's body: a fixed text, never what was received.
func errAnswer(w http.ResponseWriter, status int, msg string) {
	provider.WriteJSON(w, status, map[string]string{"error": msg})
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	op := notificationOf(r.URL.Path)
	status, err := h.serve(w, r, op)
	if op == "" {
		op = "unknown"
	}
	h.c.hooks.Log(r.Context(), op, status, start, err)
}

func (h *webhook) serve(w http.ResponseWriter, r *http.Request, op string) (int, error) {
	if !known(op) {
		errAnswer(w, http.StatusNotFound, "mango: unknown notification path")
		return http.StatusNotFound, errors.New("mango: unknown notification path")
	}
	if op == NotifyPing {
		// The cabinet's connection check, as one client library routes
		// it: nothing is read, nothing reaches user code.
		w.WriteHeader(http.StatusOK)
		return http.StatusOK, nil
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		errAnswer(w, http.StatusMethodNotAllowed, "mango: method not allowed; Mango posts")
		return http.StatusMethodNotAllowed, errors.New("mango: method not allowed")
	}
	raw, hasJSON, err := h.c.verify(r)
	if err != nil {
		var ve *provider.VerificationError
		switch {
		case errors.Is(err, provider.ErrBodyTooLarge):
			errAnswer(w, http.StatusRequestEntityTooLarge, "mango: request body too large")
			return http.StatusRequestEntityTooLarge, err
		case errors.Is(err, errNotForm):
			errAnswer(w, http.StatusBadRequest, errNotForm.Error())
			return http.StatusBadRequest, err
		case errors.As(err, &ve) && ve.Reason == reasonMissingFields:
			errAnswer(w, http.StatusUnauthorized, ve.Error())
			return http.StatusUnauthorized, err
		case errors.As(err, &ve):
			errAnswer(w, http.StatusForbidden, ve.Error())
			return http.StatusForbidden, err
		}
		// A read error names socket addresses: journaled, not answered.
		errAnswer(w, http.StatusBadRequest, "mango: cannot read the request body")
		return http.StatusBadRequest, errors.New("mango: reading the body: " + err.Error())
	}
	if !hasJSON {
		// A signed request without json: the connection check, as one
		// receiver saw it (single source).
		w.WriteHeader(http.StatusOK)
		return http.StatusOK, nil
	}
	ctx, received := r.Context(), time.Now()
	loc := h.c.cfg.Location
	switch {
	case op == NotifyCall:
		n := &CallNotification{}
		if err := decodeObject(raw, n); err != nil {
			return h.undecodable(w, op, err)
		}
		// Routing starts before the event is handed over: the IVR's
		// silence is running. A redelivery is not routed again.
		h.c.rt.start(h.router, n)
		h.c.recs.seen(str(n.EntryID), received)
		e := n.CallEvent(loc, received)
		if h.c.holds.observe(n, received) && e.Type == pbx.EventAnswered {
			e.Type, e.AnsweredAt = pbx.EventResumed, time.Time{}
		}
		return h.deliver(ctx, w, e)
	case op == NotifySummary:
		n := &SummaryNotification{}
		if err := decodeObject(raw, n); err != nil {
			return h.undecodable(w, op, err)
		}
		h.c.recs.seen(str(n.EntryID), received)
		return h.deliver(ctx, w, n.CallEvent(loc, received))
	case op == NotifyRecording:
		n := &RecordingNotification{}
		if err := decodeObject(raw, n); err != nil {
			return h.undecodable(w, op, err)
		}
		// Remembered before the handler runs, so that it can fetch the
		// recording by the event's CallID.
		completed := strings.EqualFold(str(n.RecordingState), "Completed")
		h.c.recs.announce(str(n.EntryID), str(n.RecordingID), at(n.Timestamp, loc, received), received,
			false, completed, n.HasRecording())
		return h.deliver(ctx, w, n.CallEvent(loc, received))
	case op == NotifyRecordAdded || op == NotifyRecordTagged:
		n := &RecordAddedNotification{Kind: op}
		if err := decodeObject(raw, n); err != nil {
			return h.undecodable(w, op, err)
		}
		h.c.recs.announce(str(n.EntryID), str(n.RecordingID), at(n.Timestamp, loc, received), received,
			true, false, false)
		return h.deliver(ctx, w, n.CallEvent(loc, received))
	case op == NotifyDTMF:
		n := &DTMFNotification{}
		if err := decodeObject(raw, n); err != nil {
			return h.undecodable(w, op, err)
		}
		h.c.recs.seen(str(n.EntryID), received)
		return h.deliver(ctx, w, n.CallEvent(loc, received))
	}
	// events/sms and result/<command>.
	res := &CommandResult{Command: "sms"}
	if op != NotifySMS {
		res.Command = strings.TrimPrefix(op, NotifyResultPrefix)
	}
	if err := decodeObject(raw, res); err != nil {
		return h.undecodable(w, op, err)
	}
	if h.c.cfg.OnResult != nil {
		h.c.cfg.OnResult(ctx, res)
	}
	w.WriteHeader(http.StatusOK)
	return http.StatusOK, nil
}

// undecodable answers an authenticated notification whose JSON does not
// decode, and warns: Mango may not post it again, so the event is lost.
func (h *webhook) undecodable(w http.ResponseWriter, op string, err error) (int, error) {
	h.c.rt.warn("undecodable "+op, "mango: an authenticated notification could not be decoded and was refused; its event is lost",
		slog.String("operation", op), slog.String("error", err.Error()))
	errAnswer(w, http.StatusBadRequest, "mango: the json value does not decode")
	return http.StatusBadRequest, errors.New("mango: " + op + ": " + err.Error())
}

// deliver hands e to the event handler and answers the PBX.
func (h *webhook) deliver(ctx context.Context, w http.ResponseWriter, e pbx.CallEvent) (int, error) {
	if e.CallID == "" {
		// Nothing to key it on: a call event without entry_id reaches no
		// journal. Acknowledged, journaled.
		w.WriteHeader(http.StatusOK)
		return http.StatusOK, errors.New("mango: notification without entry_id, not delivered")
	}
	if err := provider.HandOver(ctx, h.events, h.c.log, e); err != nil {
		errAnswer(w, http.StatusInternalServerError, "mango: event handler failed")
		return http.StatusInternalServerError, err
	}
	w.WriteHeader(http.StatusOK)
	return http.StatusOK, nil
}
