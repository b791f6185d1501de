package sipuni

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// Precomputed answers.
var (
	answerSuccess      = []byte(`{"success":true}`)
	answerFailure      = []byte(`{"success":false}`)
	answerUnauthorized = []byte(`{"success":false,"error":"unauthorized"}`)
	answerTooLarge     = []byte(`{"success":false,"error":"request body too large"}`)
	answerMalformed    = []byte(`{"success":false,"error":"malformed JSON body"}`)
	answerNoChoice     = []byte(`{"choice":0}`)
)

// Journal operations.
const (
	opEvent = "event"
	opRoute = "route"
	opPing  = "ping"
	opAuth  = "auth"
	opRead  = "read"
)

// WebhookHandler returns the handler for both of Sipuni's calls to your
// URL: PBX events (a request with "event") and routing-node questions (a
// request with "fromnum"). Give Sipuni the same URL for "События на АТС" and
// for the scheme's "HTTP-запрос" function. It accepts GET and POST (form
// fields; a JSON object is tolerated).
//
// Every request is authenticated first (the "token" query parameter and/or
// HTTP basic auth, as configured; constant-time): a failure gets 401 and
// reaches neither events nor router. Then:
//
//   - An event is mapped to a pbx.CallEvent and passed to
//     events.HandleEvent synchronously; Sipuni gets {"success":true} once it
//     returns, also for unknown event codes and for requests with no call
//     fields (Sipuni sends those when the settings are saved).
//   - When HandleEvent returns an error, Sipuni gets HTTP 500. Beware: per
//     Sipuni's documentation, a receiver that does not answer
//     {"success":true} may have its event sending suspended "for security
//     reasons", and Sipuni is not known to redeliver. Return errors only for
//     failures you would rather lose the event for than risk that; queue
//     slow or fallible work and return nil.
//   - A routing question is asked of router under Config.RouteTimeout; a
//     route naming an extension is answered
//     {"choice":1,"number":"<ext>","name":"<display name>"} (Sipuni rings
//     that extension first, then follows the scheme's right-hand branch),
//     anything else, a router error and a timeout {"choice":0}.
//
// Either argument may be nil: events are then acknowledged and dropped, and
// routing questions get {"choice":0}.
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
	ctx := r.Context()
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		provider.WriteRawJSON(w, http.StatusMethodNotAllowed, answerFailure)
		h.c.hookLog.Log(ctx, opAuth, http.StatusMethodNotAllowed, start, errors.New("method "+strconv.Quote(r.Method)+" not allowed"))
		return
	}
	if err := h.c.authenticate(r); err != nil {
		if h.c.cfg.WebhookUser != "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="sipuni", charset="UTF-8"`)
		}
		provider.WriteRawJSON(w, http.StatusUnauthorized, answerUnauthorized)
		h.c.hookLog.Log(ctx, opAuth, http.StatusUnauthorized, start, err)
		return
	}
	body, err := provider.ReadBody(r, 0)
	if err != nil {
		status, answer := http.StatusBadRequest, answerFailure
		if errors.Is(err, provider.ErrBodyTooLarge) {
			status, answer = http.StatusRequestEntityTooLarge, answerTooLarge
		}
		provider.WriteRawJSON(w, status, answer)
		h.c.hookLog.Log(ctx, opRead, status, start, err)
		return
	}
	params, err := requestParams(r, body)
	if err != nil {
		// Not a ping: acknowledging it would lose whatever it was meant to
		// carry without a trace.
		provider.WriteRawJSON(w, http.StatusBadRequest, answerMalformed)
		h.c.hookLog.Log(ctx, opRead, http.StatusBadRequest, start, err)
		return
	}
	switch {
	case len(params["event"]) > 0:
		h.serveEvent(ctx, w, params, start)
	case len(params["fromnum"]) > 0:
		h.serveRoute(ctx, w, params, start)
	default:
		provider.WriteRawJSON(w, http.StatusOK, answerSuccess)
		h.c.hookLog.Log(ctx, opPing, http.StatusOK, start, nil)
	}
}

func (h *webhook) serveEvent(ctx context.Context, w http.ResponseWriter, params url.Values, start time.Time) {
	ce := decodeEvent(params).CallEvent(h.c.loc, start)
	if err := provider.HandOver(ctx, h.events, h.c.logger, ce); err != nil {
		provider.WriteRawJSON(w, http.StatusInternalServerError, answerFailure)
		h.c.hookLog.Log(ctx, opEvent, http.StatusInternalServerError, start, err)
		return
	}
	provider.WriteRawJSON(w, http.StatusOK, answerSuccess)
	h.c.hookLog.Log(ctx, opEvent, http.StatusOK, start, nil)
}

type routeAnswer struct {
	Choice int    `json:"choice"`
	Number string `json:"number,omitempty"`
	Name   string `json:"name,omitempty"`
}

func (h *webhook) serveRoute(ctx context.Context, w http.ResponseWriter, params url.Values, start time.Time) {
	q := decodeRoute(params, h.c.loc).RouteQuery()
	route, err := provider.AskRouter(ctx, h.router, q, h.c.cfg.RouteTimeout)
	if route.Extension == "" {
		provider.WriteRawJSON(w, http.StatusOK, answerNoChoice)
	} else {
		provider.WriteJSON(w, http.StatusOK, routeAnswer{Choice: 1, Number: route.Extension, Name: route.DisplayName})
	}
	h.c.hookLog.Log(ctx, opRoute, http.StatusOK, start, err)
}
