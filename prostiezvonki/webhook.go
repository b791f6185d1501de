package prostiezvonki

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// The constant answers, precomputed. The 400 and 401 bodies are the ITooLabs
// family's documented ones.
var (
	answerOK            = []byte(`{"result":"ok"}`)
	answerNoResponsible = []byte(`{"responsible":""}`)
	answerBadToken      = []byte(`{"error":"Invalid token"}`)
	answerBadParams     = []byte(`{"error":"Invalid parameters"}`)
	answerTooLarge      = []byte(`{"error":"Request body too large"}`)
	answerInternal      = []byte(`{"error":"Internal error"}`)
	answerBadMethod     = []byte(`{"error":"Method not allowed"}`)
)

// contactAnswer is the answer to cmd=contact. Prostie Zvonki reads
// "responsible"; the ITooLabs family also shows "contact_name" on the
// employee's phone, and an extra key is harmless to PZ.
type contactAnswer struct {
	Responsible string `json:"responsible"`
	ContactName string `json:"contact_name,omitempty"`
}

// WebhookHandler returns the handler for the requests Prostie Zvonki sends
// to the CRM ("Адрес опубликованного расширения" in the cabinet). Mount it
// at the URL given there; it answers on any path.
//
// A request is a POST with a JSON object (a form-encoded body, URL query
// parameters and GET are tolerated, as the ITooLabs family sends them; so
// are the single quotes around the spec's examples). It is handled so:
//
//   - a body larger than 1 MiB: 413;
//   - a body that is not a JSON object or a form (empty, invalid JSON, a
//     JSON array): 400 {"error":"Invalid parameters"};
//   - a crm_token that is missing or differs from Config.CRMToken (compared
//     in constant time): 401 {"error":"Invalid token"};
//   - no cmd, or a value of the wrong kind (duration as an object, a
//     duration that is not a number): 400 {"error":"Invalid parameters"}.
//
// In none of these cases does anything reach events or router. Otherwise:
//
//   - cmd=event: a CallEvent for events ([Notification.CallEvent]); INCOMING and OUTGOING are
//     EventRinging, ACCEPTED EventAnswered, COMPLETED and CANCELLED
//     EventLegEnded (CANCELLED is not a missed call: in a group ring it is
//     what the phones get when a colleague answered), TRANSFERRED
//     EventTransferred, other types EventUnknown;
//   - cmd=history: an EventCallEnded with the Outcome from status, the
//     start and end times, CallDuration from duration (TalkDuration only
//     when the family's wait comes; see the package doc), and the
//     recording link with HasRecording;
//   - cmd=contact (smart transfer): a pbx.RouteQuery
//     ([Notification.RouteQuery]) for router, asked under
//     Config.RouteTimeout; the answer is {"responsible":"<extension>"} plus
//     "contact_name" when the route has a display name, and
//     {"responsible":""} (no decision: PZ routes by its own rules) when the
//     router has none, fails or is late;
//   - cmd=rating and commands this package does not know: an EventUnknown
//     with the decoded Notification in Raw.
//
// Events are answered 200 {"result":"ok"} once events.HandleEvent has
// returned; when it returns an error the answer is 500
// {"error":"Internal error"} and the error is logged once, at Error, to
// Config.Logger (whether PZ then redelivers is not documented). A nil events or
// router is allowed: events are acknowledged and dropped, routing questions
// answered {"responsible":""}.
//
// Every CallEvent has Provider "prostiezvonki", Phone normalised by
// phone.Normalize, Line from diversion (normalised the same way),
// Extension from ext (else user), Raw a *Notification, and At the end time
// of a history or else the time the request arrived (events carry no time).
// A number phone.Normalize refuses (longer than any real one) leaves Phone
// or Line empty; the text stays in the Notification.
//
// Every request is journaled at debug level; a request rejected for its
// crm_token is also logged at Warn (rate-limited), since a wrong token in
// the cabinet would otherwise lose every event without a trace. The body
// is read before the token can be checked (the token is inside it), with
// memory following the bytes received, up to 1 MiB.
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
	op, status, err := h.serve(w, r)
	h.c.hooks.Log(r.Context(), op, status, start, err)
}

// serve answers r and returns the operation (the cmd), the status answered
// and the error to journal.
func (h *webhook) serve(w http.ResponseWriter, r *http.Request) (string, int, error) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.Header().Set("Allow", "POST, GET")
		provider.WriteRawJSON(w, http.StatusMethodNotAllowed, answerBadMethod)
		return "unknown", http.StatusMethodNotAllowed, errors.New("method " + r.Method + " not allowed")
	}
	body, err := provider.ReadBody(r, provider.DefaultMaxBodySize)
	if err != nil {
		if errors.Is(err, provider.ErrBodyTooLarge) {
			provider.WriteRawJSON(w, http.StatusRequestEntityTooLarge, answerTooLarge)
			return "unknown", http.StatusRequestEntityTooLarge, err
		}
		provider.WriteRawJSON(w, http.StatusBadRequest, answerBadParams)
		return "unknown", http.StatusBadRequest, err
	}
	n := new(Notification)
	// The token travels inside the body, so the body is parsed to find it;
	// nothing is interpreted, and nothing reaches user code, before it has
	// been checked.
	token, typeErr, err := decodeRequest(body, r.URL.RawQuery, n)
	if err != nil {
		provider.WriteRawJSON(w, http.StatusBadRequest, answerBadParams)
		return "unknown", http.StatusBadRequest, err
	}
	if err := h.c.verifyToken(token); err != nil {
		provider.WriteRawJSON(w, http.StatusUnauthorized, answerBadToken)
		return "unknown", http.StatusUnauthorized, err
	}
	op := opName(n.Cmd)
	if typeErr != nil || strings.TrimSpace(n.Cmd) == "" {
		if typeErr == nil {
			typeErr = errors.New("no cmd")
		}
		provider.WriteRawJSON(w, http.StatusBadRequest, answerBadParams)
		return op, http.StatusBadRequest, typeErr
	}
	if strings.EqualFold(n.Cmd, cmdContact) {
		h.noteUnknown(r.Context(), op, n, false)
		return op, http.StatusOK, h.contact(w, r, n)
	}
	e, err := n.CallEvent(h.c.cfg.Location, time.Now())
	if err != nil {
		provider.WriteRawJSON(w, http.StatusBadRequest, answerBadParams)
		return op, http.StatusBadRequest, err
	}
	h.noteUnknown(r.Context(), op, n, e.Type == pbx.EventUnknown || (e.Type == pbx.EventCallEnded && e.Outcome == pbx.OutcomeUnknown))
	if err := provider.HandOver(r.Context(), h.events, h.c.logger, e); err != nil {
		provider.WriteRawJSON(w, http.StatusInternalServerError, answerInternal)
		return op, http.StatusInternalServerError, err
	}
	provider.WriteRawJSON(w, http.StatusOK, answerOK)
	return op, http.StatusOK, nil
}

// contact answers a smart-transfer question. A router error or timeout is
// returned for the journal; the answer is then "no decision", in time.
func (h *webhook) contact(w http.ResponseWriter, r *http.Request, n *Notification) error {
	route, err := provider.AskRouter(r.Context(), h.router, n.RouteQuery(), h.c.cfg.RouteTimeout)
	if route.Extension == "" {
		provider.WriteRawJSON(w, http.StatusOK, answerNoResponsible)
		return err
	}
	b, mErr := json.Marshal(contactAnswer{Responsible: route.Extension, ContactName: route.DisplayName})
	if mErr != nil { // cannot happen for two strings
		provider.WriteRawJSON(w, http.StatusOK, answerNoResponsible)
		return mErr
	}
	provider.WriteRawJSON(w, http.StatusOK, b)
	return err
}

// noteUnknown logs at debug level what the package did not recognise: the
// names of unknown fields, and the cmd, type or status it could not map.
// Vendors add fields and codes without notice; this is how to notice them.
func (h *webhook) noteUnknown(ctx context.Context, op string, n *Notification, unknownCode bool) {
	if (len(n.Extra) == 0 && !unknownCode) || !h.c.logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{slog.String("provider", Name), slog.String("operation", op)}
	if len(n.Extra) > 0 {
		keys := make([]string, 0, len(n.Extra))
		for k := range n.Extra {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		attrs = append(attrs, slog.String("unknown_fields", provider.Excerpt([]byte(strings.Join(keys, ",")))))
	}
	if unknownCode {
		attrs = append(attrs,
			slog.String("cmd", provider.Excerpt([]byte(n.Cmd))),
			slog.String("type", provider.Excerpt([]byte(n.Type))),
			slog.String("status", provider.Excerpt([]byte(n.Status))))
	}
	h.c.logger.LogAttrs(ctx, slog.LevelDebug, "pbx webhook: unrecognised content", attrs...)
}

// opName is the journal's operation name: the known commands as they are,
// anything else "other" (the cmd is vendor input and could be long).
func opName(cmd string) string {
	switch strings.ToLower(cmd) {
	case cmdEvent:
		return cmdEvent
	case cmdHistory:
		return cmdHistory
	case cmdContact:
		return cmdContact
	case cmdRating:
		return cmdRating
	case "":
		return "unknown"
	}
	return "other"
}
