package rostelecom

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// okAnswer is the answer to every accepted notification. No source
// documents the answer the PBX expects; integrations answer 200 with
// various bodies (even none) and work, so the PBX apparently reads only
// the status.
var okAnswer = []byte(`{"result":"0","resultMessage":"ok"}`)

// WebhookHandler returns the handler for the external-system address
// («Адрес внешней системы») configured in the personal cabinet. Mount it on
// a prefix ending in "/" and give the PBX that prefix: the PBX appends
// call_events, get_number_info or history_file_completed, and the handler
// dispatches on the last path segment (a trailing slash is fine; any other
// segment is 404). Switch each notification on in the personal cabinet.
//
// Every request must be a POST whose X-Client-ID equals Config.ClientID and
// whose X-Client-Sign is the signature (see Sign) of the raw body bytes,
// compared in constant time and in either letter case. The body is capped
// at 1 MiB (413 beyond). A request without the headers gets 401, a wrong
// client ID or signature 403, a body that is not a JSON object 400, each
// with a JSON {"result":"-1","resultMessage":"..."} saying why; nothing
// reaches events or router then.
//
// A request rejected for authentication is logged at Warn to
// Config.Logger (slog.Default() when nil), at most one line per reason a
// minute with a count, so a wrong key in the personal cabinet does not lose
// events in silence; every request is journaled at debug.
//
// call_events become pbx.CallEvents (see ParseCallEvent) passed to
// events.HandleEvent before the PBX gets its 200
// {"result":"0","resultMessage":"ok"}. With Config.ResolveEnded, an end
// event first gets Outcome, StartedAt, CallDuration and HasRecording (and,
// when call_info shows the answer, AnsweredAt and TalkDuration) from
// call_info. An error from HandleEvent answers 500; whether the PBX then
// delivers the notification again is not documented, so do not rely on it:
// queue slow work inside the handler and return nil.
//
// get_number_info becomes a pbx.RouteQuery (Phone: from_number, Line:
// request_number, both normalised) for router, asked under
// Config.RouteTimeout. The answer is {"result":"0","resultMessage":"ok",
// "displayName":...,"PIN":...}, signed like a request; with no decision, a
// router error or a timeout both fields are empty, and the PBX routes by
// the domain's rules.
//
// history_file_completed ends the wait of this Client's History for that
// order, then reaches events.HandleEvent as pbx.EventUnknown with the
// *HistoryFileCompleted as Raw.
//
// Either argument may be nil: events are then acknowledged and dropped, and
// routing questions get no decision.
func (c *Client) WebhookHandler(events pbx.EventHandler, router pbx.Router) http.Handler {
	return &webhook{c: c, events: events, router: router}
}

type webhook struct {
	c      *Client
	events pbx.EventHandler
	router pbx.Router
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	op := lastSegment(r.URL.Path)
	status, err := h.serve(w, r, op)
	// An event handler's failure was logged once by provider.HandOver.
	// Rejections for authentication are logged at Warn (rate-limited),
	// the rest at debug.
	h.c.hooks.Log(r.Context(), op, status, start, err)
}

// fail answers status with a JSON error and returns its arguments.
func fail(w http.ResponseWriter, status int, err error) (int, error) {
	provider.WriteJSON(w, status, Envelope{Result: "-1", ResultMessage: err.Error()})
	return status, err
}

func (h *webhook) serve(w http.ResponseWriter, r *http.Request, op string) (int, error) {
	switch op {
	case NotifyCallEvents, NotifyGetNumberInfo, NotifyHistoryFileCompleted:
	default:
		return fail(w, http.StatusNotFound, errors.New("rostelecom: unknown notification; want .../call_events, .../get_number_info or .../history_file_completed"))
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return fail(w, http.StatusMethodNotAllowed, errors.New("rostelecom: method not allowed; the PBX sends POST"))
	}
	body, err := h.c.verify(r)
	if err != nil {
		var ve *provider.VerificationError
		switch {
		case errors.Is(err, provider.ErrBodyTooLarge):
			return fail(w, http.StatusRequestEntityTooLarge, errors.New("rostelecom: request body too large"))
		// The statuses the PBX expects are not documented; integrations
		// answer 403 to a bad signature.
		case errors.As(err, &ve) && ve.Reason == provider.ReasonMissingHeader:
			return fail(w, http.StatusUnauthorized, err)
		case errors.As(err, &ve):
			return fail(w, http.StatusForbidden, err)
		}
		// The read error names the server's and the peer's socket
		// addresses ("read tcp 10.0.0.5:8080->...: i/o timeout"): they are
		// logged (at debug, by the caller), never answered.
		provider.WriteJSON(w, http.StatusBadRequest, Envelope{Result: "-1", ResultMessage: "rostelecom: cannot read request body"})
		return http.StatusBadRequest, errors.New("rostelecom: reading the body: " + err.Error())
	}
	switch op {
	case NotifyCallEvents:
		return h.callEvents(w, r, body)
	case NotifyGetNumberInfo:
		return h.numberInfo(w, r, body)
	default:
		return h.historyCompleted(w, r, body)
	}
}

func (h *webhook) callEvents(w http.ResponseWriter, r *http.Request, body []byte) (int, error) {
	n, err := decodeCallEvent(body)
	if err != nil {
		return fail(w, http.StatusBadRequest, errors.New("rostelecom: call_events: "+err.Error()))
	}
	e := n.CallEvent(h.c.cfg.Location)
	if e.Type == pbx.EventCallEnded && h.c.cfg.ResolveEnded && e.CallID != "" {
		h.c.resolve(r.Context(), &e)
	}
	return h.deliver(w, r.Context(), e)
}

// deliver hands e to the event handler (provider.HandOver, which logs a
// failure) and answers the PBX: 200, or 500 when the handler failed.
func (h *webhook) deliver(w http.ResponseWriter, ctx context.Context, e pbx.CallEvent) (int, error) {
	if err := provider.HandOver(ctx, h.events, h.c.log, e); err != nil {
		provider.WriteJSON(w, http.StatusInternalServerError, Envelope{Result: "-1", ResultMessage: "event handler failed"})
		return http.StatusInternalServerError, err
	}
	provider.WriteRawJSON(w, http.StatusOK, okAnswer)
	return http.StatusOK, nil
}

func (h *webhook) numberInfo(w http.ResponseWriter, r *http.Request, body []byte) (int, error) {
	q := &NumberInfoRequest{}
	if err := decodeObject(body, q); err != nil {
		return fail(w, http.StatusBadRequest, errors.New("rostelecom: get_number_info: "+err.Error()))
	}
	q.Body = body
	route, routeErr := provider.AskRouter(r.Context(), h.router, q.RouteQuery(), h.c.cfg.RouteTimeout)
	out := emptyRouteAnswer
	if !route.IsZero() {
		b, err := json.Marshal(NumberInfoAnswer{Result: "0", ResultMessage: "ok", DisplayName: route.DisplayName, PIN: route.Extension})
		if err == nil {
			out = b
		}
	}
	// Signing the answer is not required as far as is known (one
	// integration does it, others do not); it is harmless.
	hdr := w.Header()
	hdr["X-Client-Id"] = []string{h.c.cfg.ClientID}
	hdr["X-Client-Sign"] = []string{Sign(h.c.cfg.ClientID, out, h.c.cfg.SignKey)}
	provider.WriteRawJSON(w, http.StatusOK, out)
	if routeErr != nil {
		// Answered in time with no decision; the error is only journaled.
		return http.StatusOK, errors.New("router: " + routeErr.Error())
	}
	return http.StatusOK, nil
}

var emptyRouteAnswer = []byte(`{"result":"0","resultMessage":"ok","displayName":"","PIN":""}`)

func (h *webhook) historyCompleted(w http.ResponseWriter, r *http.Request, body []byte) (int, error) {
	n := &HistoryFileCompleted{}
	if err := decodeObject(body, n); err != nil {
		return fail(w, http.StatusBadRequest, errors.New("rostelecom: history_file_completed: "+err.Error()))
	}
	n.Body = body
	if id := strings.TrimSpace(n.OrderID); id != "" {
		h.c.orderDone(id)
	}
	return h.deliver(w, r.Context(), n.CallEvent(h.c.cfg.Location))
}

// lastSegment returns the last segment of path, ignoring trailing slashes.
func lastSegment(path string) string {
	path = strings.TrimRight(path, "/")
	return path[strings.LastIndexByte(path, '/')+1:]
}
