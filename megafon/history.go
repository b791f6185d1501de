package megafon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/provider/itoolabs"
)

// HistoryRow is one call of the call log GET /crmapi/v1/history/json
// exports: a JSON array of such objects. Every value is kept as the text
// MegaFon sent (numbers as written, null as ""); Time and the durations
// are their parsed forms. The JSON field names are MegaFon's.
//
// The fields uid, type, status, client, user, diversion, start, wait,
// duration, record and group_name are confirmed by two or more public
// sources (brandup-online/megafon-ats's CallResponse,
// mikopbx/ModuleMegafonPbx's import, a public Go client's test fixture);
// user_name, account, destination and rating by one
// (brandup-online/megafon-ats); ext by none.
type HistoryRow struct {
	// UID is the call's id [whether it equals the notifications' callid is
	// not documented; a public fixture pairs the notification's callid with
	// the recording link's path, which the link below also carries].
	UID string `json:"uid"`
	// Type is "in" or "out" ("missed" is one of the export's filters, and
	// the legacy export used it as a type).
	Type string `json:"type"`
	// Status is "success" or "missed" (lower case in the export; the
	// webhook's other statuses and "no_answer" are read too).
	Status string `json:"status"`
	// Client is the client's number.
	Client string `json:"client"`
	// User is the employee's login; UserName their name.
	User     string `json:"user"`
	UserName string `json:"user_name"`
	// Ext is the employee's extension, when the export carries one (not
	// seen in the sources; the Client fills the pbx.CallRecord's Extension
	// from the employee list instead).
	Ext string `json:"ext"`
	// Account is who talked to the client: a login, a group's name, or
	// ivr/fax when the call reached nobody.
	Account string `json:"account"`
	// GroupName is the department the call went through.
	GroupName string `json:"group_name"`
	// Diversion is the company number the call came through.
	Diversion string `json:"diversion"`
	// Destination is whom an incoming call was for.
	Destination string `json:"destination"`
	// Start is when the call started, as sent: ISO 8601 in UTC
	// ("2026-04-05T12:00:00Z").
	Start string `json:"start"`
	// Wait is the seconds before the answer, and Duration the talk time in
	// seconds («Длительность разговора»: unlike the history notification,
	// whose duration is the whole call), as sent.
	Wait     string `json:"wait"`
	Duration string `json:"duration"`
	// Record is the recording's link ("" for none); downloading it takes
	// the API key (Client.Record).
	Record string `json:"record"`
	// Rating is the call-quality score, when there is one.
	Rating string `json:"rating"`
	// Extra holds the fields this package does not know, as text (a nested
	// value as compact JSON), or nil.
	Extra map[string]string `json:"extra,omitempty"`

	// Time is Start parsed, in the reader's location; zero when Start is
	// empty or unreadable (its text stays in Start).
	Time time.Time `json:"-"`
	// WaitTime and TalkTime are Wait and Duration parsed; zero when absent
	// or unreadable.
	WaitTime time.Duration `json:"-"`
	TalkTime time.Duration `json:"-"`
}

// set stores one field of a row.
func (r *HistoryRow) set(key, val string) {
	switch key {
	case "uid":
		r.UID = val
	case "type":
		r.Type = val
	case "status":
		r.Status = val
	case "client":
		r.Client = val
	case "user":
		r.User = val
	case "user_name":
		r.UserName = val
	case "ext":
		r.Ext = val
	case "account":
		r.Account = val
	case "group_name":
		r.GroupName = val
	case "diversion":
		r.Diversion = val
	case "destination":
		r.Destination = val
	case "start":
		r.Start = val
	case "wait":
		r.Wait = val
	case "duration":
		r.Duration = val
	case "record":
		r.Record = val
	case "rating":
		r.Rating = val
	default:
		if r.Extra == nil {
			r.Extra = make(map[string]string, 2)
		}
		r.Extra[key] = val
	}
}

// Outcome maps the row's status: the family's statuses in any case
// (itoolabs.ParseOutcome), "no_answer" (an enum value of a public client)
// as missed, and a row of type "missed" without a known status as missed.
func (r *HistoryRow) Outcome() pbx.Outcome {
	o := itoolabs.ParseOutcome(r.Status)
	if o != pbx.OutcomeUnknown {
		return o
	}
	switch strings.ToLower(strings.TrimSpace(r.Status)) {
	case "no_answer", "noanswer":
		return pbx.OutcomeMissed
	}
	if strings.EqualFold(strings.TrimSpace(r.Type), "missed") {
		return pbx.OutcomeMissed
	}
	return pbx.OutcomeUnknown
}

// CallRecord maps the row to the neutral call record: CallID the uid,
// Direction from type ("missed" is an incoming call), Phone the client and
// Line the diversion normalised by phone.Normalize, Extension the row's
// ext when it has one (else empty: Client.History fills it from the
// employee list), StartedAt Time, the Outcome, and Raw r.
//
// Durations are filled only as the export supports them: TalkDuration is
// duration (the talk time) on an answered call; CallDuration is wait +
// duration, the whole call, only when the row carries wait
// (mikopbx/ModuleMegafonPbx computes a call's end the same way; one
// source).
func (r *HistoryRow) CallRecord() pbx.CallRecord {
	rec := pbx.CallRecord{
		CallID:       r.UID,
		Direction:    itoolabs.ParseDirection(r.Type),
		Phone:        phone.Normalize(r.Client),
		Line:         phone.Normalize(r.Diversion),
		Extension:    strings.TrimSpace(r.Ext),
		StartedAt:    r.Time,
		Outcome:      r.Outcome(),
		HasRecording: strings.TrimSpace(r.Record) != "",
		Raw:          r,
	}
	if rec.Direction == pbx.DirectionUnknown && strings.EqualFold(strings.TrimSpace(r.Type), "missed") {
		rec.Direction = pbx.Inbound
	}
	if rec.Outcome == pbx.OutcomeAnswered {
		rec.TalkDuration = r.TalkTime
	}
	if strings.TrimSpace(r.Wait) != "" {
		rec.CallDuration = r.WaitTime + r.TalkTime
	}
	return rec
}

// maxRowBytes bounds one row of the export in memory: a row is a few
// hundred bytes.
const maxRowBytes = 256 << 10

// errRowTooLarge is the error for a row over maxRowBytes.
var errRowTooLarge = errors.New("megafon: history/json: a row is larger than 256 KiB")

// HistoryReader reads the rows of a history/json answer one at a time,
// so that an export of any length takes the memory of one row.
type HistoryReader struct {
	budget budgetReader
	dec    *json.Decoder
	loc    *time.Location
	begun  bool
	done   bool
	rows   int
}

// NewHistoryReader returns a reader of the history/json answer r. Times are
// returned in loc (nil means provider.DefaultLocation()); a start without a
// zone is read in UTC (MegaFon's clock; uncertain, as the export is only
// seen with a Z).
func NewHistoryReader(r io.Reader, loc *time.Location) *HistoryReader {
	if loc == nil {
		loc = provider.DefaultLocation()
	}
	hr := &HistoryReader{loc: loc}
	hr.budget = budgetReader{r: r, limit: maxRowBytes}
	hr.dec = json.NewDecoder(&hr.budget)
	hr.dec.UseNumber()
	return hr
}

// Next returns the next row, or io.EOF after the last. An answer that is
// not a JSON array of objects is an error (a JSON null or an empty answer
// is an empty export), as is a row larger than 256 KiB. A row with a start
// or a number it cannot read is not an error: the parsed form stays zero
// and the text stays in the row.
func (hr *HistoryReader) Next() (*HistoryRow, error) {
	if hr.done {
		return nil, io.EOF
	}
	if !hr.begun {
		hr.begun = true
		tok, err := hr.dec.Token()
		switch {
		case err == io.EOF:
			hr.done = true
			return nil, io.EOF
		case err != nil:
			return nil, hr.fail(err)
		case tok == nil: // null
			hr.done = true
			return nil, io.EOF
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return nil, hr.fail(errors.New("the answer is not a JSON array"))
		}
	}
	if !hr.dec.More() {
		if _, err := hr.dec.Token(); err != nil { // the closing ']'
			return nil, hr.fail(err)
		}
		hr.done = true
		return nil, io.EOF
	}
	var m map[string]json.RawMessage
	if err := hr.dec.Decode(&m); err != nil {
		return nil, hr.fail(err)
	}
	hr.rows++
	hr.budget.limit = hr.dec.InputOffset() + maxRowBytes + 64<<10 // what the decoder may have buffered
	if m == nil {
		return nil, hr.fail(errors.New("a row is null"))
	}
	r := &HistoryRow{}
	for k, v := range m {
		if s, ok := scalar(v); ok {
			r.set(k, s)
		} else {
			r.set(k, compact(v))
		}
	}
	r.Time, _ = dialect.ParseTime(r.Start, hr.loc)
	r.WaitTime = seconds(r.Wait)
	r.TalkTime = seconds(r.Duration)
	return r, nil
}

// fail ends the reader with err, naming the row.
func (hr *HistoryReader) fail(err error) error {
	hr.done = true
	if errors.Is(err, errRowTooLarge) {
		return err
	}
	return fmt.Errorf("megafon: history/json: row %d: %w", hr.rows+1, err)
}

// seconds reads a non-negative number of seconds; anything else is 0.
func seconds(s string) time.Duration {
	v, err := itoolabs.ParseSeconds("", s)
	if err != nil {
		return 0
	}
	return time.Duration(v) * time.Second
}

// scalar returns the text of a JSON string, number, boolean or null (""),
// and false for an object or array.
func scalar(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", true
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", true
		}
		return s, true
	case '{', '[':
		return "", false
	case 'n':
		return "", true
	}
	return string(raw), true
}

func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// budgetReader fails a read past limit bytes from its start.
type budgetReader struct {
	r     io.Reader
	n     int64
	limit int64
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.n >= b.limit {
		return 0, errRowTooLarge
	}
	if rest := b.limit - b.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}
