package sipuni

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
	"github.com/pbxkit/pbxkit/provider"
)

// StatisticsRow is one call of a statistic/export CSV. Columns are mapped by
// their Russian header names, old and new spellings alike ("Длительность
// звонка" and "Длительность звонка, сек"); a column the export does not
// carry leaves its field zero, and columns this package does not know land
// in Extra.
type StatisticsRow struct {
	// Type is "Тип": "Входящий", "Исходящий" or "Внутренний" (older
	// exports write them in lower case).
	Type string `json:"type,omitempty"`
	// Status is "Статус", such as "отвечен" or "не отвечен".
	Status string `json:"status,omitempty"`
	// Time is "Время", read in the client's Location (the account's scheme
	// zone).
	Time time.Time `json:"time,omitzero"`
	// TreeID is "ID схемы звонка" (showTreeId=1).
	TreeID string `json:"tree_id,omitempty"`
	// Tree is "Схема", the call scheme's name.
	Tree string `json:"tree,omitempty"`
	// OutgoingLine is "Исходящая линия" (outgoingLine=1).
	OutgoingLine string `json:"outgoing_line,omitempty"`
	// From is "Откуда" and To is "Куда".
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Ringed is "Кому звонили" (numbersRinged=1).
	Ringed string `json:"ringed,omitempty"`
	// Involved is "Кто разговаривал" (numbersInvolved=1).
	Involved string `json:"involved,omitempty"`
	// AnsweredBy is "Кто ответил"; with names=1 it reads "201 (Иван
	// Петров)".
	AnsweredBy string `json:"answered_by,omitempty"`
	// CallDuration is "Длительность звонка" ("Продолжительность звонка"
	// in old exports), the whole call with its ringing; TalkDuration
	// "Длительность разговора", the talk time; AnswerDelay "Время ответа",
	// the ringing before the answer. In JSON they are numbers of seconds:
	// call_seconds, talk_seconds, answer_seconds (see pbx.Seconds).
	CallDuration time.Duration `json:"-"`
	TalkDuration time.Duration `json:"-"`
	AnswerDelay  time.Duration `json:"-"`
	// Rating is "Оценка".
	Rating string `json:"rating,omitempty"`
	// RecordID is "ID записи", shaped like the events' call_id
	// ("1444311063.117599"); Record fetches the recording by it.
	RecordID string `json:"record_id,omitempty"`
	// Label is "Метка" and Tags "Теги".
	Label string `json:"label,omitempty"`
	Tags  string `json:"tags,omitempty"`
	// HangupInitiator is "Инициатор завершения звонка" (hangupinitor=1).
	HangupInitiator string `json:"hangup_initiator,omitempty"`
	// OrderID is "ID заказа звонка", the callback order.
	OrderID string `json:"order_id,omitempty"`
	// RecordExists is "Запись существует"; HasRecordColumn says whether
	// the export carried that column at all.
	RecordExists    bool `json:"record_exists,omitempty"`
	HasRecordColumn bool `json:"-"`
	// NewClient is "Новый клиент".
	NewClient bool `json:"new_client,omitempty"`
	// CallbackState and CallbackTime are "Состояние перезвона" and "Время
	// перезвона", as written.
	CallbackState string `json:"callback_state,omitempty"`
	CallbackTime  string `json:"callback_time,omitempty"`
	// CRMInfo and CRMResponsible are "Информация из CRM" and "Ответственный
	// из CRM".
	CRMInfo        string `json:"crm_info,omitempty"`
	CRMResponsible string `json:"crm_responsible,omitempty"`
	// Extra holds the columns this package does not know, by header name.
	Extra map[string]string `json:"extra,omitempty"`
}

// statisticsRowJSON is StatisticsRow without its methods.
type statisticsRowJSON StatisticsRow

type statisticsRowWire struct {
	statisticsRowJSON
	CallSeconds   pbx.Seconds `json:"call_seconds,omitzero"`
	TalkSeconds   pbx.Seconds `json:"talk_seconds,omitzero"`
	AnswerSeconds pbx.Seconds `json:"answer_seconds,omitzero"`
}

// MarshalJSON writes the row with snake_case names, zero values omitted and
// the durations as numbers of seconds (call_seconds, talk_seconds,
// answer_seconds), the way pbx.CallRecord writes its own.
func (r StatisticsRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(statisticsRowWire{statisticsRowJSON(r), pbx.Seconds(r.CallDuration),
		pbx.Seconds(r.TalkDuration), pbx.Seconds(r.AnswerDelay)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *StatisticsRow) UnmarshalJSON(b []byte) error {
	var w statisticsRowWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = StatisticsRow(w.statisticsRowJSON)
	r.CallDuration = time.Duration(w.CallSeconds)
	r.TalkDuration = time.Duration(w.TalkSeconds)
	r.AnswerDelay = time.Duration(w.AnswerSeconds)
	return nil
}

type column uint8

const (
	colUnknown column = iota
	colType
	colStatus
	colTime
	colTreeID
	colTree
	colOutgoingLine
	colFrom
	colTo
	colRinged
	colInvolved
	colAnsweredBy
	colCallDuration
	colTalkDuration
	colAnswerDelay
	colRating
	colRecordID
	colLabel
	colTags
	colHangupInitiator
	colOrderID
	colRecordExists
	colNewClient
	colCallbackState
	colCallbackTime
	colCRMInfo
	colCRMResponsible
)

var statColumns = map[string]column{
	"тип":                 colType,
	"статус":              colStatus,
	"время":               colTime,
	"id схемы звонка":     colTreeID,
	"схема":               colTree,
	"исходящая линия":     colOutgoingLine,
	"откуда":              colFrom,
	"куда":                colTo,
	"кому звонили":        colRinged,
	"кто разговаривал":    colInvolved,
	"кто ответил":         colAnsweredBy,
	"длительность звонка": colCallDuration,
	"продолжительность звонка":    colCallDuration,
	"длительность разговора":      colTalkDuration,
	"продолжительность разговора": colTalkDuration,
	"время ответа":                colAnswerDelay,
	"оценка":                      colRating,
	"id записи":                   colRecordID,
	"метка":                       colLabel,
	"теги":                        colTags,
	"инициатор завершения звонка": colHangupInitiator,
	"id заказа звонка":            colOrderID,
	"запись существует":           colRecordExists,
	"новый клиент":                colNewClient,
	"состояние перезвона":         colCallbackState,
	"время перезвона":             colCallbackTime,
	"информация из crm":           colCRMInfo,
	"ответственный из crm":        colCRMResponsible,
}

// headerKey normalises a header name: no BOM, trimmed, lower case, "ё" as
// "е", and without a unit suffix such as ", сек" or " (сек)".
func headerKey(h string) string {
	h = strings.TrimPrefix(h, "\uFEFF")
	if i := strings.IndexByte(h, ','); i >= 0 {
		h = h[:i]
	}
	if i := strings.IndexByte(h, '('); i > 0 {
		h = h[:i]
	}
	h = strings.ToLower(strings.TrimSpace(h))
	return strings.ReplaceAll(h, "ё", "е")
}

// ErrNotStatistics is matched by the error for a body that is not a
// statistics CSV (no known column in its first line).
var ErrNotStatistics = errors.New("sipuni: not a statistics CSV")

// StatisticsReader reads a statistic/export CSV one row at a time, without
// holding the whole export in memory. The CSV is ";"-separated, may start
// with a UTF-8 BOM, and its columns are mapped by header name.
type StatisticsReader struct {
	r      *csv.Reader
	loc    *time.Location
	header []string
	cols   []column
	hasRec bool
	err    error
}

// NewStatisticsReader returns a reader of the statistics CSV in r whose
// local times are in loc (nil means Europe/Moscow).
func NewStatisticsReader(r io.Reader, loc *time.Location) *StatisticsReader {
	if loc == nil {
		loc = provider.DefaultLocation()
	}
	cr := csv.NewReader(r)
	cr.Comma = ';'
	cr.LazyQuotes = true
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	return &StatisticsReader{r: cr, loc: loc}
}

// Header returns the header row, once the first Next has read it.
func (s *StatisticsReader) Header() []string { return s.header }

// Next returns the next row, or io.EOF after the last one. A body with no
// rows (not even a header) gives io.EOF at once. Any other error is final.
func (s *StatisticsReader) Next() (StatisticsRow, error) {
	if s.err != nil {
		return StatisticsRow{}, s.err
	}
	if s.header == nil {
		if err := s.readHeader(); err != nil {
			s.err = err
			return StatisticsRow{}, err
		}
	}
	rec, err := s.r.Read()
	if err != nil {
		s.err = s.wrap(err)
		return StatisticsRow{}, s.err
	}
	row, err := s.row(rec)
	if err != nil {
		s.err = err
	}
	return row, err
}

func (s *StatisticsReader) wrap(err error) error {
	if err == io.EOF {
		return io.EOF
	}
	return fmt.Errorf("sipuni: reading statistics CSV: %w", err)
}

func (s *StatisticsReader) readHeader() error {
	rec, err := s.r.Read()
	if err != nil {
		return s.wrap(err)
	}
	s.header = make([]string, len(rec))
	s.cols = make([]column, len(rec))
	known := false
	for i, h := range rec {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF"))
		s.header[i] = h
		c := statColumns[headerKey(h)]
		s.cols[i] = c
		switch c {
		case colTime, colType, colRecordID, colStatus:
			known = true
		case colRecordExists:
			s.hasRec = true
		}
	}
	if !known {
		return fmt.Errorf("%w: first line %q", ErrNotStatistics, provider.Excerpt([]byte(strings.Join(rec, ";"))))
	}
	return nil
}

func (s *StatisticsReader) row(rec []string) (StatisticsRow, error) {
	line, _ := s.r.FieldPos(0)
	if len(rec) > len(s.cols) {
		// A trailing ";" gives empty extra fields: harmless. Anything else
		// means a ";" inside a field shifted the columns (send
		// IgnoreSpecChar).
		for _, f := range rec[len(s.cols):] {
			if strings.TrimSpace(f) != "" {
				return StatisticsRow{}, fmt.Errorf("sipuni: statistics CSV line %d has %d fields, the header %d (a \";\" inside a field? export with IgnoreSpecChar)",
					line, len(rec), len(s.cols))
			}
		}
	}
	r := StatisticsRow{HasRecordColumn: s.hasRec}
	for i, v := range rec {
		if i >= len(s.cols) {
			break
		}
		v = strings.TrimSpace(v)
		var err error
		switch s.cols[i] {
		case colType:
			r.Type = v
		case colStatus:
			r.Status = v
		case colTime:
			r.Time, err = provider.ParseLocalTime(v, s.loc)
		case colTreeID:
			r.TreeID = v
		case colTree:
			r.Tree = v
		case colOutgoingLine:
			r.OutgoingLine = v
		case colFrom:
			r.From = v
		case colTo:
			r.To = v
		case colRinged:
			r.Ringed = v
		case colInvolved:
			r.Involved = v
		case colAnsweredBy:
			r.AnsweredBy = v
		case colCallDuration:
			r.CallDuration, err = provider.ParseSeconds(v)
		case colTalkDuration:
			r.TalkDuration, err = provider.ParseSeconds(v)
		case colAnswerDelay:
			r.AnswerDelay, err = provider.ParseSeconds(v)
		case colRating:
			r.Rating = v
		case colRecordID:
			r.RecordID = v
		case colLabel:
			r.Label = v
		case colTags:
			r.Tags = v
		case colHangupInitiator:
			r.HangupInitiator = v
		case colOrderID:
			r.OrderID = v
		case colRecordExists:
			r.RecordExists, err = parseFlag(v)
		case colNewClient:
			r.NewClient, err = parseFlag(v)
		case colCallbackState:
			r.CallbackState = v
		case colCallbackTime:
			r.CallbackTime = v
		case colCRMInfo:
			r.CRMInfo = v
		case colCRMResponsible:
			r.CRMResponsible = v
		default:
			if r.Extra == nil {
				r.Extra = make(map[string]string)
			}
			r.Extra[s.header[i]] = v
		}
		if err != nil {
			return StatisticsRow{}, fmt.Errorf("sipuni: statistics CSV line %d, column %q: %w", line, s.header[i], err)
		}
	}
	return r, nil
}

// ParseStatistics reads a whole statistics CSV; see StatisticsReader.
func ParseStatistics(r io.Reader, loc *time.Location) ([]StatisticsRow, error) {
	sr := NewStatisticsReader(r, loc)
	var rows []StatisticsRow
	for {
		row, err := sr.Next()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
}

// parseFlag reads the export's yes/no columns: да/нет or a boolean.
func parseFlag(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "да":
		return true, nil
	case "нет":
		return false, nil
	}
	return provider.ParseBool(v)
}

// Direction reads Type: Входящий, Исходящий, Внутренний in any case.
func (r StatisticsRow) Direction() pbx.Direction {
	t := strings.ToLower(r.Type)
	switch {
	case strings.Contains(t, "вход"):
		return pbx.Inbound
	case strings.Contains(t, "исход"):
		return pbx.Outbound
	case strings.Contains(t, "внутр"):
		return pbx.Internal
	}
	return pbx.DirectionUnknown
}

// Outcome reads Status by substring, in any case: "не отвечен" and
// "пропущен" are missed, "отвечен" and "принят" answered, "занят" busy,
// "отмен" cancelled. Only "отвечен"/"не отвечен" are seen in a real sample;
// the other words are what parsers in the wild accept.
func (r StatisticsRow) Outcome() pbx.Outcome {
	s := strings.ReplaceAll(strings.ToLower(r.Status), "ё", "е")
	switch {
	case strings.Contains(s, "не отвеч"), strings.Contains(s, "неотвеч"), strings.Contains(s, "пропущ"), strings.Contains(s, "не принят"):
		return pbx.OutcomeMissed
	case strings.Contains(s, "занят"):
		return pbx.OutcomeBusy
	case strings.Contains(s, "отмен"):
		return pbx.OutcomeCancelled
	case strings.Contains(s, "отвеч"), strings.Contains(s, "принят"):
		return pbx.OutcomeAnswered
	case strings.Contains(s, "ошибк"), strings.Contains(s, "недоступ"):
		return pbx.OutcomeFailed
	}
	return pbx.OutcomeUnknown
}

// CallRecord maps the row to the neutral form: CallID is the recording id
// (the events' call_id shape), Phone the external party (From for inbound,
// To otherwise), Line the called company number for inbound calls and the
// outgoing line (when exported) for outbound ones, Extension the first
// number of AnsweredBy for inbound calls and of From for outbound ones.
//
// The durations come from their own columns, never one from the other:
// TalkDuration is "Длительность разговора" (talk time, zero on a missed
// call) and CallDuration "Длительность звонка" (the whole call, ringing
// included). That reading rests on the 2015 sample, where "Длительность
// звонка" 125 = "Длительность разговора" 117 + "Время ответа" 8 (the
// ringing), and on missed calls' rows (call 20, talk 0, answer 0). An export
// without one of the columns leaves that duration zero.
//
// HasRecording is "Запись существует", or, in exports without that column,
// an "ID записи" being present. Raw is a copy of the row (*StatisticsRow).
func (r StatisticsRow) CallRecord() pbx.CallRecord {
	dir := r.Direction()
	raw := r
	rec := pbx.CallRecord{
		CallID:       r.RecordID,
		Direction:    dir,
		StartedAt:    r.Time,
		TalkDuration: r.TalkDuration,
		CallDuration: r.CallDuration,
		Outcome:      r.Outcome(),
		HasRecording: r.RecordExists || (!r.HasRecordColumn && r.RecordID != ""),
		Raw:          &raw,
	}
	switch dir {
	case pbx.Inbound:
		rec.Phone = phone.Normalize(leadingNumber(r.From))
		rec.Line = phone.Normalize(leadingNumber(r.To))
		rec.Extension = leadingNumber(r.AnsweredBy)
	case pbx.Outbound:
		rec.Phone = phone.Normalize(leadingNumber(r.To))
		rec.Line = phone.Normalize(leadingNumber(r.OutgoingLine))
		rec.Extension = leadingNumber(r.From)
	case pbx.Internal:
		rec.Extension = leadingNumber(r.From)
	}
	return rec
}

// leadingNumber returns the number at the start of s: "201 (Иван Петров)"
// gives "201", "+7 903 123-45-67" stays as it is for phone.Normalize, and
// text that starts with no digit or "+" gives "".
func leadingNumber(s string) string {
	s = strings.TrimSpace(s)
	end := 0
scan:
	for end < len(s) {
		switch c := s[end]; {
		case (c >= '0' && c <= '9') || c == '+' || c == '-' || c == ')' || c == ' ':
			end++
		case c == '(' && end+1 < len(s) && s[end+1] >= '0' && s[end+1] <= '9':
			end++ // "+7 (903) ...", not "201 (Иван Петров)"
		default:
			break scan
		}
	}
	n := strings.TrimSpace(s[:end])
	if strings.IndexFunc(n, func(r rune) bool { return r >= '0' && r <= '9' }) < 0 {
		return ""
	}
	return n
}
