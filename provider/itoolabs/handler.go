package itoolabs

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

// The constant answers, precomputed. The 400 and 401 bodies are the
// family's documented ones (two independent sources quote them).
var (
	answerEmpty     = []byte(`{}`)
	answerBadToken  = []byte(`{"error":"Invalid token"}`)
	answerBadParams = []byte(`{"error":"Invalid parameters"}`)
	answerTooLarge  = []byte(`{"error":"Request body too large"}`)
	answerInternal  = []byte(`{"error":"Internal error"}`)
	answerBadMethod = []byte(`{"error":"Method not allowed"}`)
)

// contactAnswer is the answer to cmd=contact: the family reads
// "responsible" (a login, an extension or a direct number) and shows
// "contact_name" on the employee's phone; Prostie Zvonki reads
// "responsible", and an extra key is harmless to it.
type contactAnswer struct {
	Responsible string `json:"responsible"`
	ContactName string `json:"contact_name,omitempty"`
}

// nameOnly is the answer naming the caller alone (Dialect.ContactNameAlone).
type nameOnly struct {
	ContactName string `json:"contact_name"`
}

// HandlerConfig is what a vendor package gives the family's webhook
// handler: its dialect, its token check and its settings.
type HandlerConfig struct {
	// Dialect is the vendor's. Required.
	Dialect *Dialect
	// Verify checks the crm_token a notification carried (the vendor's
	// inbound verification, in its sign.go): it compares in constant time
	// and never accepts when the vendor was given no token. Its error, a
	// *provider.VerificationError, is journaled, never answered. A nil
	// Verify rejects every request: the handler never fails open.
	Verify func(token string) error
	// Location is the zone of the events' times (nil means
	// provider.DefaultLocation()).
	Location *time.Location
	// RouteTimeout bounds the router's answer to a contact question; it
	// must be positive.
	RouteTimeout time.Duration
	// Logger receives the event handler's failures (at Error, through
	// provider.HandOver) and, at debug level, what the handler did not
	// recognise. Nil means silent.
	Logger *slog.Logger
	// Log journals every request and warns about rejected ones
	// (provider.NewWebhookLog; one per provider instance). Nil logs
	// nothing.
	Log *provider.WebhookLog
}

// NewHandler returns the http.Handler for the requests a PBX of the family
// sends to the CRM URL, for a vendor's WebhookHandler. It answers on any
// path.
//
// A request is a POST with a form or a JSON object; GET and URL query
// parameters are tolerated ([Decode] says how bodies are read). It is
// handled so:
//
//   - a method other than POST and GET: 405;
//   - a body larger than 1 MiB: 413;
//   - a body that is neither a JSON object nor a form (empty, invalid
//     JSON, a JSON array): 400 {"error":"Invalid parameters"};
//   - a crm_token that cfg.Verify refuses (missing, wrong): 401
//     {"error":"Invalid token"};
//   - no cmd, or a value of the wrong kind (duration as an object, a
//     duration that is not a number): 400 {"error":"Invalid parameters"}.
//
// In none of these cases does anything reach events or router. Otherwise:
//
//   - cmd=contact: the pbx.RouteQuery ([Notification.RouteQuery]) goes to
//     router, asked under cfg.RouteTimeout; the answer is
//     {"responsible":"<extension>"} plus "contact_name" when the route has
//     a display name, and the dialect's NoDecision (see also
//     ContactNameAlone) when the router has no decision, fails or is late;
//   - every other command: the pbx.CallEvent ([Notification.CallEvent])
//     goes to events.HandleEvent, and the answer is the dialect's Accepted
//     once it returned, or 500 {"error":"Internal error"} when it returned
//     an error (logged once by provider.HandOver).
//
// A nil events or router is allowed: events are acknowledged and dropped,
// contact questions get no decision. Every request is journaled through
// cfg.Log. The body is read before the token can be checked (the token is
// inside it), with memory following the bytes received.
func NewHandler(cfg HandlerConfig, events pbx.EventHandler, router pbx.Router) http.Handler {
	if cfg.Dialect == nil {
		cfg.Dialect = &Dialect{}
	}
	if cfg.Location == nil {
		cfg.Location = provider.DefaultLocation()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &handler{cfg: cfg, events: events, router: router}
}

type handler struct {
	cfg    HandlerConfig
	events pbx.EventHandler
	router pbx.Router
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	op, status, err := h.serve(w, r)
	h.cfg.Log.Log(r.Context(), op, status, start, err)
}

// errNoVerify is the journal's reason when a vendor gave no token check.
var errNoVerify = errors.New("no token check configured")

// serve answers r and returns the operation (the cmd), the status answered
// and the error to journal.
func (h *handler) serve(w http.ResponseWriter, r *http.Request) (string, int, error) {
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
	token, typeErr, err := decode(body, r.URL.RawQuery, n)
	if err != nil {
		provider.WriteRawJSON(w, http.StatusBadRequest, answerBadParams)
		return "unknown", http.StatusBadRequest, err
	}
	verr := errNoVerify
	if h.cfg.Verify != nil {
		verr = h.cfg.Verify(token)
	}
	if verr != nil {
		provider.WriteRawJSON(w, http.StatusUnauthorized, answerBadToken)
		return "unknown", http.StatusUnauthorized, verr
	}
	op := opName(n.Cmd)
	if typeErr != nil || strings.TrimSpace(n.Cmd) == "" {
		err := error(typeErr)
		if typeErr == nil {
			err = errors.New("no cmd")
		}
		provider.WriteRawJSON(w, http.StatusBadRequest, answerBadParams)
		return op, http.StatusBadRequest, err
	}
	d := h.cfg.Dialect
	if strings.EqualFold(n.Cmd, CmdContact) {
		h.noteUnknown(r.Context(), op, n, false)
		return op, http.StatusOK, h.contact(w, r, n)
	}
	e, err := n.CallEvent(d, h.cfg.Location, time.Now())
	if err != nil {
		provider.WriteRawJSON(w, http.StatusBadRequest, answerBadParams)
		return op, http.StatusBadRequest, err
	}
	h.noteUnknown(r.Context(), op, n, e.Type == pbx.EventUnknown || (e.Type == pbx.EventCallEnded && e.Outcome == pbx.OutcomeUnknown))
	if err := provider.HandOver(r.Context(), h.events, h.cfg.Logger, e); err != nil {
		provider.WriteRawJSON(w, http.StatusInternalServerError, answerInternal)
		return op, http.StatusInternalServerError, err
	}
	provider.WriteRawJSON(w, http.StatusOK, d.accepted())
	return op, http.StatusOK, nil
}

// contact answers a contact question. A router error or timeout is
// returned for the journal; the answer is then "no decision", in time.
func (h *handler) contact(w http.ResponseWriter, r *http.Request, n *Notification) error {
	d := h.cfg.Dialect
	route, err := provider.AskRouter(r.Context(), h.router, n.RouteQuery(d), h.cfg.RouteTimeout)
	var (
		b    []byte
		mErr error
	)
	switch {
	case route.Extension != "":
		b, mErr = json.Marshal(contactAnswer{Responsible: route.Extension, ContactName: route.DisplayName})
	case route.DisplayName != "" && d.ContactNameAlone:
		b, mErr = json.Marshal(nameOnly{ContactName: route.DisplayName})
	default:
		provider.WriteRawJSON(w, http.StatusOK, d.noDecision())
		return err
	}
	if mErr != nil { // cannot happen for strings
		provider.WriteRawJSON(w, http.StatusOK, d.noDecision())
		return mErr
	}
	provider.WriteRawJSON(w, http.StatusOK, b)
	return err
}

// noteUnknown logs at debug level what the handler did not recognise: the
// names of unknown fields, and the cmd, type or status it could not map.
// Vendors add fields and codes without notice; this is how to notice them.
func (h *handler) noteUnknown(ctx context.Context, op string, n *Notification, unknownCode bool) {
	logger := h.cfg.Logger
	if (len(n.Extra) == 0 && !unknownCode) || !logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{slog.String("provider", h.cfg.Dialect.Provider), slog.String("operation", op)}
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
	logger.LogAttrs(ctx, slog.LevelDebug, "pbx webhook: unrecognised content", attrs...)
}

// opName is the journal's operation name: the known commands as they are,
// anything else "other" (the cmd is vendor input and could be long).
func opName(cmd string) string {
	switch strings.ToLower(cmd) {
	case CmdEvent:
		return CmdEvent
	case CmdHistory:
		return CmdHistory
	case CmdContact:
		return CmdContact
	case CmdRating:
		return CmdRating
	case "":
		return "unknown"
	}
	return "other"
}
