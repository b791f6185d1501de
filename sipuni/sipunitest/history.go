package sipunitest

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// defaultHistory makes a few calls of the last hours between the staff and
// outside numbers, with recordings for the answered external ones: an
// answered and a missed incoming call, an outgoing and an internal one. It
// runs before the server is shared.
func (s *Server) defaultHistory() []HistoryEntry {
	now := s.opts.Clock().In(s.loc).Truncate(time.Second)
	at := func(ago time.Duration) time.Time { return now.Add(-ago) }
	id := func(t time.Time) string { return s.nextCallID(t) }
	ext := func(i int) string {
		if len(s.employees) == 0 {
			return ""
		}
		return s.employees[min(i, len(s.employees)-1)].Extension
	}
	t1, t2, t3, t4 := at(3*time.Hour), at(2*time.Hour), at(90*time.Minute), at(time.Hour)
	h := []HistoryEntry{
		{RecordID: id(t1), Type: "Входящий", Status: "отвечен", Time: t1, Tree: "Входящая", TreeID: "000-123456",
			From: "79031234567", To: DefaultLine, Ringed: []string{ext(0), ext(1)}, AnsweredBy: ext(0),
			CallDuration: 103 * time.Second, TalkDuration: 95 * time.Second, AnswerDelay: 8 * time.Second, HasRecord: true, NewClient: true},
		{RecordID: id(t2), Type: "Входящий", Status: "не отвечен", Time: t2, Tree: "Входящая", TreeID: "000-123456",
			From: "79161234567", To: DefaultLine, Ringed: []string{ext(0), ext(1)},
			CallDuration: 20 * time.Second},
		{RecordID: id(t3), Type: "Исходящий", Status: "отвечен", Time: t3, Tree: "Исходящая", TreeID: "000-123457",
			OutgoingLine: DefaultLine, From: ext(1), To: "79261234567", AnsweredBy: "79261234567",
			CallDuration: 70 * time.Second, TalkDuration: 62 * time.Second, AnswerDelay: 8 * time.Second, HasRecord: true},
		{RecordID: id(t4), Type: "Внутренний", Status: "отвечен", Time: t4, Tree: "Внутренняя",
			From: ext(0), To: ext(2), AnsweredBy: ext(2),
			CallDuration: 35 * time.Second, TalkDuration: 30 * time.Second, AnswerDelay: 5 * time.Second},
	}
	for _, e := range h {
		if e.HasRecord {
			s.recordings[e.RecordID] = recording{size: s.opts.RecordingSize}
		}
	}
	return h
}

// export answers statistic/export: the rows of the date range that pass the
// filters, as ";"-separated CSV with a BOM, oldest first.
func (s *Server) export(w http.ResponseWriter, params url.Values) {
	from, err1 := time.ParseInLocation("02.01.2006", params.Get("from"), s.loc)
	to, err2 := time.ParseInLocation("02.01.2006", params.Get("to"), s.loc)
	if err1 != nil || err2 != nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("Неверный формат даты"))
		return
	}
	to = to.AddDate(0, 0, 1) // inclusive
	flag := func(k string) bool { return params.Get(k) == "1" }
	clockFrom, clockTo := params.Get("timeFrom"), params.Get("timeTo")

	s.mu.Lock()
	rows := slices.Clone(s.history)
	names := map[string]string{}
	for _, e := range s.employees {
		names[e.Extension] = e.Name
	}
	s.mu.Unlock()
	slices.SortStableFunc(rows, func(a, b HistoryEntry) int { return a.Time.Compare(b.Time) })

	type col struct {
		name string
		val  func(HistoryEntry) string
	}
	person := func(v string) string {
		if n, ok := names[v]; ok && flag("names") {
			return v + " (" + n + ")"
		}
		return v
	}
	secs := func(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }
	bit := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	unit := ", сек"
	callDur, talkDur := "Длительность звонка", "Длительность разговора"
	if s.opts.LegacyCSV {
		unit, callDur, talkDur = "", "Продолжительность звонка", "Продолжительность разговора"
	}
	cols := []col{
		{"Тип", func(e HistoryEntry) string { return e.Type }},
		{"Статус", func(e HistoryEntry) string { return e.Status }},
		{"Время", func(e HistoryEntry) string { return e.Time.In(s.loc).Format("02.01.2006 15:04:05") }},
	}
	if flag("showTreeId") {
		cols = append(cols, col{"ID схемы звонка", func(e HistoryEntry) string { return e.TreeID }})
	}
	cols = append(cols, col{"Схема", func(e HistoryEntry) string { return e.Tree }})
	if flag("outgoingLine") {
		cols = append(cols, col{"Исходящая линия", func(e HistoryEntry) string { return e.OutgoingLine }})
	}
	cols = append(cols,
		col{"Откуда", func(e HistoryEntry) string { return person(e.From) }},
		col{"Куда", func(e HistoryEntry) string { return person(e.To) }})
	if flag("numbersRinged") {
		cols = append(cols, col{"Кому звонили", func(e HistoryEntry) string { return strings.Join(e.Ringed, ",") }})
	}
	if flag("numbersInvolved") {
		cols = append(cols, col{"Кто разговаривал", func(e HistoryEntry) string {
			if e.AnsweredBy == "" {
				return ""
			}
			return e.From + "," + e.AnsweredBy
		}})
	}
	cols = append(cols,
		col{"Кто ответил", func(e HistoryEntry) string { return person(e.AnsweredBy) }},
		col{callDur + unit, func(e HistoryEntry) string { return secs(e.CallDuration) }},
		col{talkDur + unit, func(e HistoryEntry) string { return secs(e.TalkDuration) }},
		col{"Время ответа" + unit, func(e HistoryEntry) string { return secs(e.AnswerDelay) }},
		col{"Оценка", func(e HistoryEntry) string { return e.Rating }},
		col{"ID записи", func(e HistoryEntry) string { return e.RecordID }},
		col{"Метка", func(e HistoryEntry) string { return e.Label }})
	if !s.opts.LegacyCSV {
		cols = append(cols, col{"Теги", func(e HistoryEntry) string { return e.Tags }})
	}
	if flag("hangupinitor") {
		cols = append(cols, col{"Инициатор завершения звонка", func(e HistoryEntry) string { return e.HangupInitiator }})
	}
	cols = append(cols, col{"ID заказа звонка", func(e HistoryEntry) string { return e.OrderID }})
	if !s.opts.LegacyCSV {
		cols = append(cols,
			col{"Запись существует", func(e HistoryEntry) string { return bit(e.HasRecord) }},
			col{"Новый клиент", func(e HistoryEntry) string { return bit(e.NewClient) }})
	}

	var b strings.Builder
	if !s.opts.LegacyCSV {
		b.WriteString("\uFEFF")
	}
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(c.name)
	}
	b.WriteByte('\n')
	strip := flag("ignoreSpecChar")
	for _, e := range rows {
		if !s.keep(e, from, to, clockFrom, clockTo, params) {
			continue
		}
		for i, c := range cols {
			if i > 0 {
				b.WriteByte(';')
			}
			b.WriteString(csvField(c.val(e), strip))
		}
		b.WriteByte('\n')
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}

// keep applies the export filters.
func (s *Server) keep(e HistoryEntry, from, to time.Time, clockFrom, clockTo string, params url.Values) bool {
	t := e.Time.In(s.loc)
	if t.Before(from) || !t.Before(to) {
		return false
	}
	clock := t.Format("15:04")
	if (clockFrom != "" && clock < clockFrom) || (clockTo != "" && clock > clockTo) {
		return false
	}
	switch params.Get("type") {
	case "1":
		if e.Type != "Входящий" {
			return false
		}
	case "2":
		if e.Type != "Исходящий" {
			return false
		}
	case "3":
		if e.Type != "Внутренний" {
			return false
		}
	}
	missed := strings.HasPrefix(e.Status, "не ")
	switch params.Get("state") {
	case "1":
		if !missed {
			return false
		}
	case "2":
		if missed {
			return false
		}
	}
	if v := params.Get("fromNumber"); v != "" && v != e.From {
		return false
	}
	if v := params.Get("toNumber"); v != "" && v != e.To {
		return false
	}
	if v := params.Get("toAnswer"); v != "" && v != e.AnsweredBy {
		return false
	}
	if v := params.Get("tree"); v != "" && v != e.TreeID {
		return false
	}
	return true
}
