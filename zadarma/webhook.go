package zadarma

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// The constant answers.
var (
	answerBadMethod    = []byte(`{"status":"error","message":"method not allowed"}`)
	answerTooLarge     = []byte(`{"status":"error","message":"request body too large"}`)
	answerMalformed    = []byte(`{"status":"error","message":"malformed notification"}`)
	answerUnauthorized = []byte(`{"status":"error","message":"signature rejected"}`)
	answerUnknownEvent = []byte(`{"status":"error","message":"unknown event type: cannot be verified"}`)
	answerInternal     = []byte(`{"status":"error","message":"internal error"}`)
	answerBadEcho      = []byte(`{"status":"error","message":"bad zd_echo"}`)
)

// maxEchoLen bounds the zd_echo value answered. Zadarma's check values are
// short; anything longer, or with characters outside the printable ASCII
// range (or "<", ">", quotes and "&"), is refused rather than reflected.
const maxEchoLen = 128

// Journal operations.
const (
	opEcho  = "zd_echo"
	opAuth  = "auth"
	opRead  = "read"
	opStart = "start"
	opIVR   = "ivr"
	opEvent = "event"
)

// routeAnswer is the answer to a routing question that names an extension:
// redirect the call there, for return_timeout seconds, showing
// caller_name.
type routeAnswer struct {
	Redirect      string `json:"redirect"`
	ReturnTimeout int64  `json:"return_timeout"`
	CallerName    string `json:"caller_name,omitempty"`
}

// WebhookHandler returns the handler of Zadarma's PBX call notifications
// (the URL given under "Уведомления о звонках в АТС" at my.zadarma.com/api
// or with POST /v1/pbx/callinfo/url/). Mount it at that URL; it answers on
// any path.
//
// A request with a zd_echo query parameter is Zadarma's check of the URL:
// it is answered 200 with exactly that value as text/plain, whatever the
// method, when the value is sane (1 to 128 printable ASCII characters,
// without <, >, quotes or &); otherwise 400. Nothing else is done with
// it.
//
// Every other request must be a POST whose form body carries the
// notification (a JSON object is tolerated), with its signature in the
// Signature header. Before anything reaches events or router:
//
//   - another method: 405;
//   - a body over 1 MiB: 413; a body that announces JSON but is not a JSON
//     object, or a notification without "event": 400;
//   - no Signature header: 401;
//   - an event type this package does not know: 400, because the fields
//     its signature covers are unknown, so it cannot be authenticated
//     (never passed on unverified);
//   - a signature that is not that of the event type's signed fields
//     (Notification.SignedString) with Config.Secret, compared in constant
//     time: 401.
//
// Rejections are logged at Warn (rate-limited, never a secret). Then:
//
//   - NOTIFY_START is both the call's first event and the routing
//     question: the EventCallStarted is handed to events while router is
//     asked (concurrently, under Config.RouteTimeout). When the route
//     names an extension the answer is
//     {"redirect":"<ext>","return_timeout":<Config.ReturnTimeout>,"caller_name":"<display name>"};
//     no decision, a router error and a late router give an empty 200
//     answer, so the call follows the PBX's scenario. When events returns
//     an error the answer is 500 (the route is dropped).
//   - NOTIFY_IVR (a voice-menu step the answer to an earlier notification
//     asked for) is a routing question only: RouteQuery.Digits holds the
//     digits of its wait_dtmf; the answer is as for NOTIFY_START.
//   - Every other notification is mapped by Notification.CallEvent and
//     handed to events; the answer is an empty 200 once it returned, 500
//     when it returned an error (logged once, through provider.HandOver).
//
// Either argument may be nil: events are then acknowledged and dropped,
// and routing questions get "no decision".
//
// The signature covers only some fields of each notification (see
// Notification.SignedString), never the event type, and carries no time
// of its own: a captured notification can be replayed, and its unsigned
// fields altered, by whoever captured it. Serve the URL over HTTPS.
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
	op, status, err := h.serve(w, r, start)
	h.c.hooks.Log(r.Context(), op, status, start, err)
}

// serve answers r and returns the operation, the status answered and the
// error to journal.
func (h *webhook) serve(w http.ResponseWriter, r *http.Request, start time.Time) (string, int, error) {
	if echo, ok := queryValue(r.URL.RawQuery, "zd_echo"); ok {
		if !saneEcho(echo) {
			provider.WriteRawJSON(w, http.StatusBadRequest, answerBadEcho)
			return opEcho, http.StatusBadRequest, errors.New("zd_echo value refused: empty, too long or unprintable")
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(echo))
		return opEcho, http.StatusOK, nil
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		provider.WriteRawJSON(w, http.StatusMethodNotAllowed, answerBadMethod)
		return opRead, http.StatusMethodNotAllowed, errors.New("method not allowed")
	}
	body, err := provider.ReadBody(r, provider.DefaultMaxBodySize)
	if err != nil {
		if errors.Is(err, provider.ErrBodyTooLarge) {
			provider.WriteRawJSON(w, http.StatusRequestEntityTooLarge, answerTooLarge)
			return opRead, http.StatusRequestEntityTooLarge, err
		}
		provider.WriteRawJSON(w, http.StatusBadRequest, answerMalformed)
		return opRead, http.StatusBadRequest, err
	}
	n, err := ParseNotification(body, r.Header.Get("Content-Type"))
	if err == nil && n.Event == "" {
		err = errors.New("no event field")
	}
	if err != nil {
		provider.WriteRawJSON(w, http.StatusBadRequest, answerMalformed)
		return opRead, http.StatusBadRequest, err
	}
	if err := h.c.verify(r.Header, n); err != nil {
		var ve *provider.VerificationError
		if errors.As(err, &ve) && ve.Reason == reasonUnverifiable {
			provider.WriteRawJSON(w, http.StatusBadRequest, answerUnknownEvent)
			return opAuth, http.StatusBadRequest, err
		}
		provider.WriteRawJSON(w, http.StatusUnauthorized, answerUnauthorized)
		return opAuth, http.StatusUnauthorized, err
	}
	ctx := r.Context()
	switch n.Event {
	case EventStart:
		status, err := h.serveStart(ctx, w, n, start)
		return opStart, status, err
	case EventIVR:
		route, err := provider.AskRouter(ctx, h.router, n.RouteQuery(), h.c.cfg.RouteTimeout)
		h.writeRoute(w, route)
		return opIVR, http.StatusOK, err
	}
	if err := provider.HandOver(ctx, h.events, h.c.logger, n.CallEvent(h.c.cfg.Location, start)); err != nil {
		provider.WriteRawJSON(w, http.StatusInternalServerError, answerInternal)
		return opEvent, http.StatusInternalServerError, err
	}
	w.WriteHeader(http.StatusOK)
	return opEvent, http.StatusOK, nil
}

// serveStart hands NOTIFY_START's EventCallStarted to the event handler
// while the router is asked, and answers with the route once both are
// done. It returns the status answered and the error to journal (the
// handler's, else the router's).
func (h *webhook) serveStart(ctx context.Context, w http.ResponseWriter, n *Notification, start time.Time) (int, error) {
	type result struct {
		route pbx.Route
		err   error
	}
	var routed chan result
	if h.router != nil {
		routed = make(chan result, 1)
		q := n.RouteQuery()
		go func() {
			route, err := provider.AskRouter(ctx, h.router, q, h.c.cfg.RouteTimeout)
			routed <- result{route, err}
		}()
	}
	herr := provider.HandOver(ctx, h.events, h.c.logger, n.CallEvent(h.c.cfg.Location, start))
	var res result
	if routed != nil {
		res = <-routed
	}
	if herr != nil {
		provider.WriteRawJSON(w, http.StatusInternalServerError, answerInternal)
		return http.StatusInternalServerError, herr
	}
	h.writeRoute(w, res.route)
	return http.StatusOK, res.err
}

// writeRoute answers a routing question: the redirect when route names an
// extension, else an empty 200 (no decision).
func (h *webhook) writeRoute(w http.ResponseWriter, route pbx.Route) {
	ext := strings.TrimSpace(route.Extension)
	if ext == "" {
		w.WriteHeader(http.StatusOK)
		return
	}
	b, err := json.Marshal(routeAnswer{Redirect: ext, ReturnTimeout: wholeSeconds(h.c.cfg.ReturnTimeout), CallerName: route.DisplayName})
	if err != nil { // cannot happen for strings and an integer
		w.WriteHeader(http.StatusOK)
		return
	}
	provider.WriteRawJSON(w, http.StatusOK, b)
}

// wholeSeconds rounds d up to whole seconds.
func wholeSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	s := int64(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	return s
}

// saneEcho reports whether a zd_echo value may be answered: 1 to
// maxEchoLen printable ASCII characters without markup or quotes.
func saneEcho(s string) bool {
	if s == "" || len(s) > maxEchoLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '<' || c == '>' || c == '"' || c == '\'' || c == '&' {
			return false
		}
	}
	return true
}

// queryValue finds key in a raw query without building a map; it reports
// whether the key was present. An undecodable value is returned raw.
func queryValue(raw, key string) (string, bool) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(pair, "=")
		if k != key {
			if uk, err := url.QueryUnescape(k); err != nil || uk != key {
				continue
			}
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		return v, true
	}
	return "", false
}
