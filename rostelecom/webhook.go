package rostelecom

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
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
	if status == http.StatusInternalServerError {
		h.c.log.LogAttrs(r.Context(), slog.LevelError, "rostelecom webhook: event handler failed",
			slog.String("operation", op), slog.String("error", err.Error()))
	}
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

// verify checks the headers, reads the body and checks its signature.
func (c *Client) verify(r *http.Request) ([]byte, error) {
	id := r.Header.Get("X-Client-Id")
	sign := r.Header.Get("X-Client-Sign")
	switch {
	case id == "":
		return nil, &provider.VerificationError{Provider: Name, Reason: provider.ReasonMissingHeader, Header: "X-Client-ID"}
	case sign == "":
		return nil, &provider.VerificationError{Provider: Name, Reason: provider.ReasonMissingHeader, Header: "X-Client-Sign"}
	case !provider.SecretEqual(id, c.cfg.ClientID):
		return nil, &provider.VerificationError{Provider: Name, Reason: provider.ReasonUnknownClient}
	}
	body, err := provider.ReadBody(r, provider.DefaultMaxBodySize)
	if err != nil {
		return nil, err
	}
	if !c.signatureOK(sign, body) {
		return nil, &provider.VerificationError{Provider: Name, Reason: provider.ReasonBadSignature}
	}
	return body, nil
}

// signatureOK compares a received X-Client-Sign with the signature of body
// in constant time, accepting upper-case hex.
func (c *Client) signatureOK(got string, body []byte) bool {
	return provider.HexEqual(strings.TrimSpace(got), Sign(c.cfg.ClientID, body, c.cfg.SignKey))
}

func (h *webhook) callEvents(w http.ResponseWriter, r *http.Request, body []byte) (int, error) {
	n, err := decodeCallEvent(body)
	if err != nil {
		return fail(w, http.StatusBadRequest, errors.New("rostelecom: call_events: "+err.Error()))
	}
	e := n.event(h.c.cfg.Location, time.Now())
	if e.Type == pbx.EventCallEnded && h.c.cfg.ResolveEnded && e.CallID != "" {
		h.c.resolve(r.Context(), &e)
	}
	return h.deliver(w, r.Context(), e)
}

// deliver hands e to the event handler and answers the PBX.
func (h *webhook) deliver(w http.ResponseWriter, ctx context.Context, e pbx.CallEvent) (int, error) {
	if h.events != nil {
		if err := h.events.HandleEvent(ctx, e); err != nil {
			provider.WriteJSON(w, http.StatusInternalServerError, Envelope{Result: "-1", ResultMessage: "event handler failed"})
			return http.StatusInternalServerError, err
		}
	}
	provider.WriteRawJSON(w, http.StatusOK, okAnswer)
	return http.StatusOK, nil
}

// resolve fills the outcome, times and durations of an end event from
// call_info, under ResolveTimeout; on failure e stays as it is
// (OutcomeUnknown).
//
// call_info's duration is read as the whole call, ringing included (see
// CallInfo.Duration), so it fills CallDuration; 0 means "no connection"
// and leaves it unknown. The talk time and the answer time are filled only
// when session_log shows when the call was connected (its first "cc"
// entry): TalkDuration is duration minus that offset, AnsweredAt the start
// plus it. The session_log grammar is inferred from one sample; a log that
// does not read so leaves both zero.
func (c *Client) resolve(ctx context.Context, e *pbx.CallEvent) {
	ctx, cancel := context.WithTimeout(ctx, ResolveTimeout)
	defer cancel()
	res, err := c.CallInfo(ctx, e.CallID)
	if err != nil || res.Info == nil {
		if err == nil {
			err = errors.New("answer has no info")
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "rostelecom: call_info for an end event failed",
			slog.String("call_id", e.CallID), slog.String("error", err.Error()))
		return
	}
	info := res.Info
	switch info.State {
	case 1:
		e.Outcome = pbx.OutcomeAnswered
	case 2:
		e.Outcome = pbx.OutcomeMissed
	}
	if info.IsRecord {
		e.HasRecording = true
	}
	start, hasStart := info.StartedAt(c.cfg.Location)
	if hasStart {
		e.StartedAt = start
	}
	call := info.CallDuration()
	if call <= 0 {
		return
	}
	e.CallDuration = call
	if off, ok := info.AnswerOffset(); ok && e.Outcome == pbx.OutcomeAnswered && off <= call {
		e.TalkDuration = call - off
		if hasStart {
			e.AnsweredAt = start.Add(off)
		}
	}
}

func (h *webhook) numberInfo(w http.ResponseWriter, r *http.Request, body []byte) (int, error) {
	q := &NumberInfoRequest{}
	if err := decodeObject(body, q); err != nil {
		return fail(w, http.StatusBadRequest, errors.New("rostelecom: get_number_info: "+err.Error()))
	}
	q.Body = body
	route, routeErr := provider.AskRouter(r.Context(), h.router, pbx.RouteQuery{
		Provider: Name,
		CallID:   strings.TrimSpace(q.SessionID),
		Phone:    number(q.FromNumber),
		Line:     number(q.RequestNumber),
		Raw:      q,
	}, h.c.cfg.RouteTimeout)
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
	return h.deliver(w, r.Context(), pbx.CallEvent{
		Provider:  Name,
		Type:      pbx.EventUnknown,
		At:        time.Now().In(h.c.cfg.Location),
		DedupeKey: provider.DedupeKey(body),
		Raw:       n,
	})
}

// lastSegment returns the last segment of path, ignoring trailing slashes.
func lastSegment(path string) string {
	path = strings.TrimRight(path, "/")
	return path[strings.LastIndexByte(path, '/')+1:]
}
