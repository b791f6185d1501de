package mango

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
	"github.com/pbxkit/pbxkit/provider"
)

// maxStatsLine bounds one line of the call-log CSV.
const maxStatsLine = 1 << 20

// StatsRow is one row of the stats/result CSV.
type StatsRow struct {
	// Records are the recording ids of the call (FetchRecording and
	// OpenRecording take them).
	Records []string `json:"records,omitempty"`
	// Start, Finish and Answer are the call's times; Answer is zero when
	// nobody answered.
	Start  time.Time `json:"start,omitzero"`
	Finish time.Time `json:"finish,omitzero"`
	Answer time.Time `json:"answer,omitzero"`
	// FromExtension and FromNumber, ToExtension and ToNumber are the
	// parties as the PBX wrote them.
	FromExtension string `json:"from_extension,omitempty"`
	FromNumber    string `json:"from_number,omitempty"`
	ToExtension   string `json:"to_extension,omitempty"`
	ToNumber      string `json:"to_number,omitempty"`
	// DisconnectReason is a result code, or a word in some exports
	// ("Busy", "RemoteHangup").
	DisconnectReason string `json:"disconnect_reason,omitempty"`
	LineNumber       string `json:"line_number,omitempty"`
	Location         string `json:"location,omitempty"`
	// EntryID is the call's id in the events (CallEvent.CallID).
	EntryID string `json:"entry_id,omitempty"`
	// Create is the newer manual's create column.
	Create time.Time `json:"create,omitzero"`
	// Extra holds the columns this type has no field for, by name.
	Extra map[string]string `json:"extra,omitempty"`
}

// ParseStats reads the stats/result CSV whose columns are fields, in
// order, with the times in loc (Default: Europe/Moscow). The format: ";"
// between fields, no quoting or escaping, one row a line; lines end with
// "\n" (the manual) or "\r\n" (what one client library splits on): both
// are read, and empty lines skipped. A first line that names the columns
// is skipped too. Times are Unix seconds ("0" or "" for none); records is
// a list of ids separated by "," with or without [ ] around it.
//
// Rows are yielded one at a time as they are read: memory follows the
// longest line (at most 1 MiB; a longer one is an error). An error is
// yielded once and ends the sequence.
func ParseStats(r io.Reader, fields []string, loc *time.Location) iter.Seq2[*StatsRow, error] {
	if loc == nil {
		loc = provider.DefaultLocation()
	}
	return func(yield func(*StatsRow, error) bool) {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 4096), maxStatsLine)
		first := true
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			cols := strings.Split(line, ";")
			if first {
				first = false
				if isHeader(cols, fields) {
					continue
				}
			}
			if !yield(parseStatsRow(cols, fields, loc), nil) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				err = fmt.Errorf("a line longer than %d bytes", maxStatsLine)
			}
			yield(nil, fmt.Errorf("mango: stats/result: reading the CSV: %w", err))
		}
	}
}

// isHeader reports whether cols are the column names.
func isHeader(cols, fields []string) bool {
	if len(cols) != len(fields) {
		return false
	}
	for i, c := range cols {
		if !strings.EqualFold(strings.TrimSpace(c), fields[i]) {
			return false
		}
	}
	return true
}

func parseStatsRow(cols, fields []string, loc *time.Location) *StatsRow {
	r := &StatsRow{}
	for i, name := range fields {
		if i >= len(cols) {
			break
		}
		v := strings.TrimSpace(cols[i])
		switch name {
		case "records":
			r.Records = parseRecords(v)
		case "start":
			r.Start, _ = provider.ParseUnix(v, loc)
		case "finish":
			r.Finish, _ = provider.ParseUnix(v, loc)
		case "answer":
			r.Answer, _ = provider.ParseUnix(v, loc)
		case "create":
			r.Create, _ = provider.ParseUnix(v, loc)
		case "from_extension":
			r.FromExtension = v
		case "from_number":
			r.FromNumber = v
		case "to_extension":
			r.ToExtension = v
		case "to_number":
			r.ToNumber = v
		case "disconnect_reason":
			r.DisconnectReason = v
		case "line_number":
			r.LineNumber = v
		case "location":
			r.Location = v
		case "entry_id":
			r.EntryID = v
		default:
			if v != "" {
				if r.Extra == nil {
					r.Extra = map[string]string{}
				}
				r.Extra[name] = v
			}
		}
	}
	return r
}

// parseRecords reads "[id1,id2]" or "id1,id2".
func parseRecords(v string) []string {
	v = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(v, "["), "]"))
	if v == "" {
		return nil
	}
	var out []string
	for _, id := range strings.Split(v, ",") {
		if id = strings.Trim(strings.TrimSpace(id), `"`); id != "" {
			out = append(out, id)
		}
	}
	return out
}

// Direction returns the row's direction: from_extension alone outbound,
// extensions on both sides internal, else inbound.
func (r *StatsRow) Direction() pbx.Direction {
	switch {
	case r.FromExtension != "" && r.ToExtension != "":
		return pbx.Internal
	case r.FromExtension != "":
		return pbx.Outbound
	}
	return pbx.Inbound
}

// CallRecord maps the row to a pbx.CallRecord: CallID entry_id; Direction
// as Direction says; Extension to_extension (inbound, internal) or
// from_extension (outbound); Phone the external number, normalised; Line
// line_number; StartedAt start; Outcome answered when answer is set, else
// from disconnect_reason (OutcomeOf); TalkDuration finish − answer;
// CallDuration finish − start; HasRecording when records lists one; Raw
// the row.
func (r *StatsRow) CallRecord() pbx.CallRecord {
	dir := r.Direction()
	ext, num := r.ToExtension, phone.Normalize(r.FromNumber)
	switch dir {
	case pbx.Outbound:
		ext, num = r.FromExtension, phone.Normalize(r.ToNumber)
	case pbx.Internal:
		num = ""
	}
	rec := pbx.CallRecord{
		CallID:       r.EntryID,
		Direction:    dir,
		Phone:        num,
		Line:         phone.Normalize(r.LineNumber),
		Extension:    ext,
		StartedAt:    r.Start,
		HasRecording: len(r.Records) > 0,
		Raw:          r,
	}
	if !r.Answer.IsZero() {
		rec.Outcome = pbx.OutcomeAnswered
		if !r.Finish.IsZero() && r.Finish.After(r.Answer) {
			rec.TalkDuration = r.Finish.Sub(r.Answer)
		}
	} else {
		rec.Outcome = OutcomeOf(r.DisconnectReason)
	}
	if !r.Start.IsZero() && !r.Finish.IsZero() && r.Finish.After(r.Start) {
		rec.CallDuration = r.Finish.Sub(r.Start)
	}
	return rec
}

// merge folds o, another row of the same entry_id, into r: the earliest
// start, the latest finish, the earliest answer; the parties and the
// reason of an answered row win over an unanswered one's; every recording
// id once.
func (r *StatsRow) merge(o *StatsRow) {
	if !o.Answer.IsZero() && (r.Answer.IsZero() || o.Answer.Before(r.Answer)) {
		r.Answer = o.Answer
		r.FromExtension, r.FromNumber, r.ToExtension, r.ToNumber = o.FromExtension, o.FromNumber, o.ToExtension, o.ToNumber
		r.DisconnectReason = o.DisconnectReason
	}
	if !o.Start.IsZero() && (r.Start.IsZero() || o.Start.Before(r.Start)) {
		r.Start = o.Start
	}
	if o.Finish.After(r.Finish) {
		r.Finish = o.Finish
	}
	if r.LineNumber == "" {
		r.LineNumber = o.LineNumber
	}
	for _, id := range o.Records {
		if !slices.Contains(r.Records, id) {
			r.Records = append(r.Records, id)
		}
	}
}
