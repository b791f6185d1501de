package operator

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/screenpop"
)

// Limits of the lists.
const (
	maxCalls    = 200
	maxMissed   = 100
	missedDays  = 7
	maxBodySize = 4 << 10
)

// apiError is the JSON of a failed /api request: a machine code and a
// message in Russian that the page shows as is.
type apiError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// api wraps an endpoint with the token check: "Authorization: Bearer" only.
func (h *Handler) api(fn func(w http.ResponseWriter, r *http.Request, ext string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		// The header only: a token in the query would make the POST
		// forgeable by a link.
		ext, err := "", screenpop.ErrBadToken
		if r.Header.Get("Authorization") != "" {
			ext, err = h.cfg.Hub.Authenticate(r)
		}
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pbxkit operator"`)
			msg := "Ссылка недействительна: попросите у администратора новую."
			if errors.Is(err, screenpop.ErrTokenExpired) {
				msg = "Срок действия ссылки истёк: попросите у администратора новую."
			}
			writeJSON(w, http.StatusUnauthorized, apiError{"unauthorized", msg})
			return
		}
		fn(w, r, ext)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal","message":"Внутренняя ошибка."}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func (h *Handler) storeFailed(w http.ResponseWriter, err error) {
	h.log.Warn("operator page: cannot read the journal", "err", err)
	writeJSON(w, http.StatusServiceUnavailable, apiError{"journal", "Журнал звонков недоступен, попробуйте позже."})
}

// me is who the token names.
type me struct {
	Extension string `json:"extension"`
	Name      string `json:"name,omitempty"`
	CanCall   bool   `json:"can_call"`
	MissedTo  bool   `json:"missed_to,omitempty"`
	// TimeZone is the zone the page shows times in (IANA name).
	TimeZone string `json:"time_zone,omitempty"`
}

func (h *Handler) me(w http.ResponseWriter, r *http.Request, ext string) {
	writeJSON(w, http.StatusOK, me{Extension: ext, Name: h.cfg.Names[ext], CanCall: len(h.cfg.Callers) > 0,
		MissedTo: ext != "" && ext == h.cfg.MissedTo, TimeZone: h.cfg.Location.String()})
}

// callView is a call as the page lists it: the journal's call and whether
// the page may offer to call its client back.
type callView struct {
	journal.Call
	CanCall bool `json:"can_call"`
}

// MarshalJSON writes the call's own JSON with can_call added.
func (v callView) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(v.Call)
	if err != nil || len(b) < 2 {
		return b, err
	}
	extra := `,"can_call":false}`
	if v.CanCall {
		extra = `,"can_call":true}`
	}
	return append(b[:len(b)-1], extra...), nil
}

type callsAnswer struct {
	Calls []callView `json:"calls"`
}

func (h *Handler) view(c journal.Call) callView {
	// The page has no use for the recording link, which may carry a
	// vendor signature that lets anyone holding it download the recording.
	c.RecordingURL = ""
	return callView{Call: c, CanCall: h.cfg.Callers[c.Provider] != nil && c.Phone != "" && c.Direction != pbx.Internal}
}

func (h *Handler) calls(w http.ResponseWriter, r *http.Request, ext string) {
	from, to := h.today()
	ans := callsAnswer{Calls: []callView{}}
	for c, err := range h.cfg.Journal.Calls(r.Context(), journal.Query{From: from, To: to, Extension: ext, Limit: maxCalls}) {
		if err != nil {
			h.storeFailed(w, err)
			return
		}
		ans.Calls = append(ans.Calls, h.view(c))
	}
	writeJSON(w, http.StatusOK, ans)
}

// missed lists today's missed calls (called back or not, so the list shows
// who called back and when) and the earlier ones of the last days still
// waiting, newest first: the extension's own, or every one for MissedTo.
func (h *Handler) missed(w http.ResponseWriter, r *http.Request, ext string) {
	from, to := h.today()
	own := ext
	if ext == h.cfg.MissedTo {
		own = ""
	}
	ans := callsAnswer{Calls: []callView{}}
	for _, q := range []journal.Query{
		{From: from, To: to, Extension: own, Missed: true, Limit: maxMissed},
		{From: from.AddDate(0, 0, -missedDays), To: from, Extension: own, Missed: true, NotCalledBack: true, Limit: maxMissed},
	} {
		for c, err := range h.cfg.Journal.Calls(r.Context(), q) {
			if err != nil {
				h.storeFailed(w, err)
				return
			}
			ans.Calls = append(ans.Calls, h.view(c))
		}
	}
	writeJSON(w, http.StatusOK, ans)
}

type statsAnswer struct {
	Employees []statsLine `json:"employees"`
}

type statsLine struct {
	journal.EmployeeStats
	Name string `json:"name,omitempty"`
}

// MarshalJSON writes the figures' own JSON with the name added.
func (s statsLine) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(s.EmployeeStats)
	if err != nil || s.Name == "" || len(b) < 2 {
		return b, err
	}
	name, _ := json.Marshal(s.Name)
	return append(append(append(b[:len(b)-1], `,"name":`...), name...), '}'), nil
}

func (h *Handler) stats(w http.ResponseWriter, r *http.Request, ext string) {
	from, to := h.today()
	st, err := h.cfg.Journal.Stats(r.Context(), journal.Query{From: from, To: to})
	if err != nil {
		h.storeFailed(w, err)
		return
	}
	ans := statsAnswer{Employees: make([]statsLine, 0, len(st))}
	for _, s := range st {
		ans.Employees = append(ans.Employees, statsLine{EmployeeStats: s, Name: h.cfg.Names[s.Extension]})
	}
	writeJSON(w, http.StatusOK, ans)
}

// callbackRequest is the body of POST /api/callback.
type callbackRequest struct {
	Provider  string `json:"provider"`
	CallID    string `json:"call_id"`
	RequestID string `json:"request_id"`
}

type callbackAnswer struct {
	OK     bool   `json:"ok"`
	Phone  string `json:"phone"`
	CallID string `json:"call_id,omitempty"`
}

// callback calls a call's client back from the extension's phone. The
// number comes from the journal, never from the request: the page can only
// call back clients of calls the employee may see (their own calls, a
// missed call of anyone, any call for MissedTo).
func (h *Handler) callback(w http.ResponseWriter, r *http.Request, ext string) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" {
		writeJSON(w, http.StatusUnsupportedMediaType, apiError{"content_type", "Нужен запрос в формате JSON."})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodySize+1))
	var req callbackRequest
	if err != nil || len(body) > maxBodySize || json.Unmarshal(body, &req) != nil ||
		req.Provider == "" || req.CallID == "" || req.RequestID == "" || len(req.RequestID) > 100 {
		writeJSON(w, http.StatusBadRequest, apiError{"bad_request", "Неверный запрос."})
		return
	}
	c, err := h.cfg.Journal.Call(r.Context(), req.Provider, req.CallID)
	if errors.Is(err, journal.ErrNotFound) {
		writeJSON(w, http.StatusNotFound, apiError{"not_found", "Такого звонка нет в журнале."})
		return
	}
	if err != nil {
		h.storeFailed(w, err)
		return
	}
	visible := c.Missed || ext == h.cfg.MissedTo || slices.ContainsFunc(c.Legs, func(l journal.Leg) bool { return l.Extension == ext })
	if !visible {
		writeJSON(w, http.StatusForbidden, apiError{"forbidden", "Это не ваш звонок."})
		return
	}
	caller := h.cfg.Callers[c.Provider]
	if caller == nil || c.Phone == "" || c.Direction == pbx.Internal {
		writeJSON(w, http.StatusConflict, apiError{"cannot_call", "Этому абоненту нельзя перезвонить отсюда."})
		return
	}

	now := h.cfg.Now()
	reqKey := ext + "\x00" + req.RequestID
	callKey := ext + "\x00" + c.Provider + "\x00" + c.CallID
	rc := &h.recent
	rc.mu.Lock()
	rc.forget(now)
	if d, ok := rc.byReq[reqKey]; ok {
		rc.mu.Unlock()
		writeJSON(w, d.status, d.body) // the same request again: the same answer
		return
	}
	if t, ok := rc.byCall[callKey]; (ok && now.Sub(t) < callbackGap) || rc.inFlght[callKey] {
		rc.mu.Unlock()
		writeJSON(w, http.StatusConflict, apiError{"already", "Звонок этому клиенту уже заказан, подождите."})
		return
	}
	rc.inFlght[callKey] = true
	rc.mu.Unlock()

	res, err := caller.MakeCall(r.Context(), pbx.CallRequest{Extension: ext, Phone: c.Phone})
	done := callbackDone{at: now, status: http.StatusOK, body: callbackAnswer{OK: true, Phone: c.Phone, CallID: res.CallID}}
	if err != nil {
		// Never retried: the PBX may have rung the phone already.
		h.log.Warn("operator page: call-back failed", "extension", ext, "provider", c.Provider, "err", err)
		done.status, done.body = http.StatusBadGateway, apiError{"pbx", "АТС не приняла звонок, попробуйте ещё раз."}
	}
	rc.mu.Lock()
	delete(rc.inFlght, callKey)
	rc.byReq[reqKey] = done
	if err == nil {
		rc.byCall[callKey] = now
	}
	rc.mu.Unlock()
	writeJSON(w, done.status, done.body)
}
