package megafontest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// HistoryEntry is one call of the fake's call log, served by history/json.
type HistoryEntry struct {
	// UID is the call's id (the callid of its notifications).
	UID string
	// Type is "in" or "out"; Status "success" or "missed".
	Type, Status string
	// Client is the external number; Diversion the company line.
	Client, Diversion string
	// User is the employee's login.
	User string
	// Start is when the call started.
	Start time.Time
	// Wait is the ringing before the answer (or before the caller gave up);
	// Talk the conversation.
	Wait, Talk time.Duration
	// RecordingSize is the size of the call's recording; 0 for none.
	RecordingSize int64
}

// seedHistory makes the seeded call log: an answered incoming call with a
// recording, a missed one, and an answered outgoing one, in the last
// hours. It runs before the server is shared.
func (s *Server) seedHistory() []HistoryEntry {
	now := s.cfg.Now().UTC().Truncate(time.Second)
	login := func(i int) string { return s.cfg.Employees[min(i, len(s.cfg.Employees)-1)].Login }
	return []HistoryEntry{
		{UID: s.newCallID(), Type: "in", Status: "success", Client: "79031234567", Diversion: "74951234567", User: login(0),
			Start: now.Add(-3 * time.Hour), Wait: 8 * time.Second, Talk: 95 * time.Second, RecordingSize: s.cfg.RecordingSize},
		{UID: s.newCallID(), Type: "in", Status: "missed", Client: "79161234567", Diversion: "74951234567", User: login(1),
			Start: now.Add(-2 * time.Hour), Wait: 20 * time.Second},
		{UID: s.newCallID(), Type: "out", Status: "success", Client: "79261234567", Diversion: "74951234567", User: login(1),
			Start: now.Add(-time.Hour), Wait: 6 * time.Second, Talk: 62 * time.Second, RecordingSize: s.cfg.RecordingSize},
	}
}

// History returns the fake's call log, oldest first.
func (s *Server) History() []HistoryEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := slices.Clone(s.history)
	slices.SortStableFunc(h, func(a, b HistoryEntry) int { return a.Start.Compare(b.Start) })
	return h
}

// SetHistory replaces the call log.
func (s *Server) SetHistory(h []HistoryEntry) {
	s.mu.Lock()
	s.history = slices.Clone(h)
	s.mu.Unlock()
}

// AddHistory adds one call to the log and returns its recording link ("" for
// none). An empty UID gets a new one.
func (s *Server) AddHistory(e HistoryEntry) (HistoryEntry, string) {
	if e.UID == "" {
		e.UID = s.newCallID()
	}
	s.mu.Lock()
	s.history = append(s.history, e)
	s.mu.Unlock()
	return e, s.RecordLink(e)
}

// RecordLink returns the link of e's recording, shaped like MegaFon's
// (https://records.megapbx.ru/record/DOMAIN/DATE/CALLID/FILE.mp3) on the
// fake's host, or "" when e has none.
func (s *Server) RecordLink(e HistoryEntry) string {
	if e.RecordingSize <= 0 {
		return ""
	}
	st := e.Start.UTC()
	return s.ts.URL + "/record/" + s.cfg.Domain + "/" + st.Format("2006-01-02") + "/" + e.UID + "/" +
		e.User + "_" + e.Type + "_" + st.Format("2006_01_02-15_04_05") + "_" + e.Client + ".mp3"
}

// entryByLink finds the call whose recording path is path.
func (s *Server) entryByLink(path string) (HistoryEntry, bool) {
	parts := strings.Split(strings.TrimPrefix(path, "/record/"), "/")
	if len(parts) != 4 {
		return HistoryEntry{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.history {
		if e.UID == parts[2] && e.RecordingSize > 0 {
			return e, true
		}
	}
	return HistoryEntry{}, false
}

// historyJSON answers GET /history/json: the calls of the period (start and
// end as 20060102T150405Z, or period) that pass the type and user filters,
// oldest first, at most limit.
func (s *Server) historyJSON(w http.ResponseWriter, r *http.Request) int {
	q := r.URL.Query()
	now := s.cfg.Now().UTC()
	from, to := time.Time{}, now.Add(time.Hour)
	parse := func(v string) (time.Time, bool) {
		t, err := time.Parse("20060102T150405Z", v)
		return t, err == nil
	}
	if v := q.Get("start"); v != "" {
		t, ok := parse(v)
		if !ok {
			writeJSON(w, http.StatusBadRequest, `{"message":"Invalid start"}`)
			return http.StatusBadRequest
		}
		from = t
	}
	if v := q.Get("end"); v != "" {
		t, ok := parse(v)
		if !ok {
			writeJSON(w, http.StatusBadRequest, `{"message":"Invalid end"}`)
			return http.StatusBadRequest
		}
		to = t
	}
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	switch q.Get("period") {
	case "":
	case "today":
		from, to = day, day.AddDate(0, 0, 1)
	case "yesterday":
		from, to = day.AddDate(0, 0, -1), day
	case "this_week", "last_week", "this_month", "last_month":
		from = day.AddDate(0, 0, -31) // coarse: the fake's log is short
	default:
		writeJSON(w, http.StatusBadRequest, `{"message":"Invalid period"}`)
		return http.StatusBadRequest
	}
	typ := q.Get("type")
	switch typ {
	case "", "all", "in", "out", "missed":
	default:
		writeJSON(w, http.StatusBadRequest, `{"message":"Invalid type"}`)
		return http.StatusBadRequest
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	user := q.Get("user")
	type row struct {
		UID       string `json:"uid"`
		Type      string `json:"type"`
		Status    string `json:"status"`
		Client    string `json:"client"`
		User      string `json:"user"`
		UserName  string `json:"user_name"`
		GroupName string `json:"group_name"`
		Diversion string `json:"diversion"`
		Start     string `json:"start"`
		Wait      int64  `json:"wait"`
		Duration  int64  `json:"duration"`
		Record    string `json:"record"`
	}
	rows := []row{}
	for _, e := range s.History() {
		if e.Start.Before(from) || e.Start.After(to) {
			continue
		}
		switch {
		case typ == "missed" && e.Status != "missed",
			(typ == "in" || typ == "out") && e.Type != typ,
			user != "" && user != e.User:
			continue
		}
		name := ""
		if emp, ok := s.employee(e.User); ok {
			name = emp.Name
		}
		rows = append(rows, row{UID: e.UID, Type: e.Type, Status: e.Status, Client: e.Client, User: e.User, UserName: name,
			Diversion: e.Diversion, Start: e.Start.UTC().Format(time.RFC3339), Wait: int64(e.Wait / time.Second),
			Duration: int64(e.Talk / time.Second), Record: s.RecordLink(e)})
		if limit > 0 && len(rows) == limit {
			break
		}
	}
	b, _ := json.Marshal(rows)
	writeJSON(w, http.StatusOK, string(b))
	return http.StatusOK
}
