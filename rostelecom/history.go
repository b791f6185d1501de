package rostelecom

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// HistoryRow is one call of a call-log export (download_call_history), in
// the manual's column terms.
type HistoryRow struct {
	SessionID string
	// CallType is 1 for an ordinary call and 3 for a callback.
	CallType int
	// Direction is 1 incoming, 2 outgoing, 3 internal; 0 when the file has
	// no direction column.
	Direction int
	// State is 1 answered, 2 not answered; 0 when the file has no state
	// column.
	State           int
	OrigNumber      string
	OrigPIN         string
	DestNumber      string
	AnsweringSIPURI string
	AnsweringPIN    string
	// StartCallDate is the start of the call in the client's Location; zero
	// when the file's value is empty or unreadable.
	StartCallDate time.Time
	// Duration is the duration column: the whole call, ringing included,
	// and 0 when there was no connection (the manual's «Продолжительность
	// вызова»; see CallInfo.Duration for why it is read so).
	Duration     time.Duration
	IsVoicemail  bool
	IsRecord     bool
	IsFax        bool
	StatusCode   string
	StatusString string
	// Extra holds columns of a file with a header row that are not listed
	// above, by header name; nil when there are none.
	Extra map[string]string
}

// Columns of the export, in the manual's order (Table A.3.14).
var manualColumns = []string{
	"session_id", "call_type", "direction", "state",
	"orig_number", "orig_pin", "dest_number",
	"answering_sipuri", "answering_pin",
	"start_call_date", "duration",
	"is_voicemail", "is_record", "is_fax",
	"status_code", "status_string",
}

// shortColumns is the order observed in files without direction and state.
var shortColumns = []string{
	"session_id", "call_type",
	"orig_number", "orig_pin", "dest_number",
	"answering_sipuri", "answering_pin",
	"start_call_date", "duration",
	"is_voicemail", "is_record", "is_fax",
	"status_code", "status_string",
}

// ParseCallHistory reads a call-log export as download_call_history sends
// it, with loc the zone of its local times.
//
// The file is read defensively, because real exports differ from the
// manual: it may be a ZIP archive (the CSV is its first .csv entry), gzip,
// zlib or plain CSV, with or without a UTF-8 BOM; the delimiter is ";" or
// "," (the one that occurs more often in the first line, ";" on a tie);
// fields may be quoted and hold line breaks. When the first row names a
// session_id column it is a header and columns are mapped by name (unknown
// ones go to HistoryRow.Extra); otherwise each row is read in the manual's
// order (session_id, call_type, direction, state, orig_number, orig_pin,
// dest_number, answering_sipuri, answering_pin, start_call_date, duration,
// is_voicemail, is_record, is_fax, status_code, status_string), or, when
// its third and fourth fields are not small numbers, in the observed order
// without direction and state. start_call_date may be Unix seconds or
// "YYYY-MM-DD HH:MM:SS" in loc. Blank lines are skipped; a field that does
// not parse is left zero; a headerless row with fewer than 12 fields is an
// error naming its line.
func ParseCallHistory(file []byte, loc *time.Location) ([]HistoryRow, error) {
	r, err := openHistory(file, loc)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var rows []HistoryRow
	for {
		row, err := r.Next()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return rows, err
		}
		rows = append(rows, row)
	}
}

type fileKind uint8

const (
	kindCSV fileKind = iota
	kindZIP
	kindGzip
	kindZlib
	kindJSON
	kindHTML
)

// sniff tells the kind of a download_call_history body by its first bytes.
func sniff(b []byte) fileKind {
	switch {
	case bytes.HasPrefix(b, []byte("PK\x03\x04")), bytes.HasPrefix(b, []byte("PK\x05\x06")):
		return kindZIP
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		return kindGzip
	case len(b) >= 2 && b[0] == 0x78 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0:
		return kindZlib
	}
	t := bytes.TrimLeft(b, " \t\r\n\ufeff")
	switch {
	case bytes.HasPrefix(t, []byte("{")):
		return kindJSON
	case bytes.HasPrefix(t, []byte("<")):
		return kindHTML
	}
	return kindCSV
}

// maxUnpacked caps the decompressed size of an export, against archives
// that expand without bound.
const maxUnpacked = 2 << 30

// unpack returns a reader of the CSV text inside file.
func unpack(file []byte) (io.ReadCloser, error) {
	switch sniff(file) {
	case kindZIP:
		zr, err := zip.NewReader(bytes.NewReader(file), int64(len(file)))
		if err != nil {
			return nil, fmt.Errorf("rostelecom: history file: bad ZIP archive: %w", err)
		}
		var pick *zip.File
		for _, f := range zr.File {
			if f.FileInfo().IsDir() {
				continue
			}
			if pick == nil || (!strings.HasSuffix(strings.ToLower(pick.Name), ".csv") && strings.HasSuffix(strings.ToLower(f.Name), ".csv")) {
				pick = f
			}
		}
		if pick == nil {
			return nil, errors.New("rostelecom: history file: ZIP archive holds no file")
		}
		rc, err := pick.Open()
		if err != nil {
			return nil, fmt.Errorf("rostelecom: history file: %w", err)
		}
		return limitCloser(rc), nil
	case kindGzip:
		zr, err := gzip.NewReader(bytes.NewReader(file))
		if err != nil {
			return nil, fmt.Errorf("rostelecom: history file: bad gzip: %w", err)
		}
		return limitCloser(zr), nil
	case kindZlib:
		zr, err := zlib.NewReader(bytes.NewReader(file))
		if err != nil {
			return nil, fmt.Errorf("rostelecom: history file: bad zlib: %w", err)
		}
		return limitCloser(zr), nil
	case kindJSON, kindHTML:
		return nil, errors.New("rostelecom: history file: got a JSON or HTML answer, not a file")
	}
	return io.NopCloser(bytes.NewReader(file)), nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

func limitCloser(rc io.ReadCloser) io.ReadCloser {
	return readCloser{io.LimitReader(rc, maxUnpacked), rc}
}

// historyReader reads HistoryRows one by one.
type historyReader struct {
	src    io.Closer
	cr     *csv.Reader
	loc    *time.Location
	header map[int]string // column index to name, for a file with a header
	first  bool
}

// openHistory opens an export file for reading row by row.
func openHistory(file []byte, loc *time.Location) (*historyReader, error) {
	if loc == nil {
		loc = provider.DefaultLocation()
	}
	rc, err := unpack(file)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(rc, 64<<10)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\ufeff")) {
		_, _ = br.Discard(3)
	}
	head, _ := br.Peek(64 << 10)
	cr := csv.NewReader(br)
	cr.Comma = sniffDelimiter(head)
	cr.LazyQuotes = true
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	return &historyReader{src: rc, cr: cr, loc: loc, first: true}, nil
}

// sniffDelimiter picks ";" or "," by their count in the first line, outside
// quotes: most domains send ";", some (observed on a p2 platform) ",", and
// ";" also appears inside SIP URIs (";tgrp=").
func sniffDelimiter(head []byte) rune {
	semi, comma := 0, 0
	quoted := false
scan:
	for _, c := range head {
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '\n':
			if semi+comma > 0 {
				break scan
			}
		case c == ';':
			semi++
		case c == ',':
			comma++
		}
	}
	if comma > semi {
		return ','
	}
	return ';'
}

// Close releases the reader.
func (h *historyReader) Close() error { return h.src.Close() }

// Next returns the next row, or io.EOF after the last.
func (h *historyReader) Next() (HistoryRow, error) {
	for {
		rec, err := h.cr.Read()
		if err == io.EOF {
			return HistoryRow{}, io.EOF
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return HistoryRow{}, fmt.Errorf("rostelecom: history file: line %d: %v", pe.Line, pe.Err)
			}
			return HistoryRow{}, fmt.Errorf("rostelecom: history file: %w", err)
		}
		if blank(rec) {
			continue
		}
		line, _ := h.cr.FieldPos(0)
		if h.first {
			h.first = false
			if isHeader(rec) {
				h.header = make(map[int]string, len(rec))
				for i, f := range rec {
					h.header[i] = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(f, "\ufeff")))
				}
				continue
			}
		}
		var row HistoryRow
		if h.header != nil {
			for i, f := range rec {
				if name, ok := h.header[i]; ok && name != "" {
					h.set(&row, name, f)
				}
			}
		} else {
			// Without a header: the manual's order, unless the third and
			// fourth fields are not direction and state (a layout without
			// them was observed; the sources conflict).
			cols := manualColumns
			if len(rec) < 12 {
				return HistoryRow{}, fmt.Errorf("rostelecom: history file: line %d: %d fields, want at least 12", line, len(rec))
			}
			if !smallInt(rec[2]) || !smallInt(rec[3]) {
				cols = shortColumns
			}
			for i, f := range rec {
				if i < len(cols) {
					h.set(&row, cols[i], f)
				}
			}
		}
		if row.SessionID == "" {
			continue // not a call
		}
		return row, nil
	}
}

func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

func isHeader(rec []string) bool {
	for _, f := range rec {
		if strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(f, "\ufeff")), "session_id") {
			return true
		}
	}
	return false
}

func smallInt(s string) bool {
	n, err := provider.ParseInt(s)
	return err == nil && n >= 0 && n <= 9 && strings.TrimSpace(s) != ""
}

// set stores the field named name.
func (h *historyReader) set(row *HistoryRow, name, v string) {
	v = strings.TrimSpace(v)
	switch name {
	case "session_id":
		row.SessionID = v
	case "call_type":
		row.CallType = atoi(v)
	case "direction":
		row.Direction = atoi(v)
	case "state":
		row.State = atoi(v)
	case "orig_number":
		row.OrigNumber = v
	case "orig_pin":
		row.OrigPIN = v
	case "dest_number":
		row.DestNumber = v
	case "answering_sipuri":
		row.AnsweringSIPURI = v
	case "answering_pin":
		row.AnsweringPIN = v
	case "start_call_date":
		row.StartCallDate, _ = localTime(v, h.loc)
	case "duration":
		row.Duration = parseSeconds(v)
	case "is_voicemail":
		row.IsVoicemail, _ = provider.ParseBool(v)
	case "is_record":
		row.IsRecord, _ = provider.ParseBool(v)
	case "is_fax":
		row.IsFax, _ = provider.ParseBool(v)
	case "status_code":
		row.StatusCode = v
	case "status_string":
		row.StatusString = v
	default:
		if row.Extra == nil {
			row.Extra = make(map[string]string)
		}
		row.Extra[name] = v
	}
}

func atoi(s string) int {
	n, err := provider.ParseInt(s)
	if err != nil || n < -1<<31 || n > 1<<31-1 {
		return 0
	}
	return int(n)
}

// parseSeconds reads a duration (seconds or H:MM:SS); anything unreadable
// is 0, as a history row stays useful without it.
func parseSeconds(s string) time.Duration {
	d, _ := provider.ParseSeconds(s)
	return d
}

// CallRecord converts the row to the vendor-neutral form.
//
// Direction comes from the direction column; a file without it gives
// Inbound when orig_pin is empty (only employees have PINs) and Outbound
// otherwise. Phone is the external party: the caller of an incoming call,
// the callee of an outgoing one. Line is dest_number of an incoming call.
// Extension is answering_pin on incoming calls and orig_pin otherwise.
// Outcome comes from the state column, or, without it, from whether anybody
// answered or talked. CallDuration is the duration column (the whole call,
// ringing included; zero when there was no connection); the export gives
// no answer time, so TalkDuration stays zero. HasRecording is is_record.
// Raw holds a *HistoryRow, a copy of row.
func (row HistoryRow) CallRecord() pbx.CallRecord {
	rec := pbx.CallRecord{
		CallID:    row.SessionID,
		StartedAt: row.StartCallDate,
		// The export's one duration figure is the whole call (see
		// CallInfo.Duration); the talk time would be a guess without the
		// answer time, so it is left unknown.
		CallDuration: max(row.Duration, 0),
		HasRecording: row.IsRecord,
		Raw:          &row,
	}
	switch row.Direction {
	case 1:
		rec.Direction = pbx.Inbound
	case 2:
		rec.Direction = pbx.Outbound
	case 3:
		rec.Direction = pbx.Internal
	default:
		// No direction column (observed): only employees have PINs, so a
		// call without orig_pin came from outside. An inference.
		if row.OrigPIN == "" {
			rec.Direction = pbx.Inbound
		} else {
			rec.Direction = pbx.Outbound
		}
	}
	switch rec.Direction {
	case pbx.Inbound:
		rec.Phone = number(row.OrigNumber)
		rec.Line = number(row.DestNumber)
		rec.Extension = row.AnsweringPIN
	case pbx.Outbound:
		rec.Phone = number(row.DestNumber)
		rec.Extension = row.OrigPIN
	default:
		rec.Extension = row.OrigPIN
	}
	switch row.State {
	case 1:
		rec.Outcome = pbx.OutcomeAnswered
	case 2:
		rec.Outcome = pbx.OutcomeMissed
	default:
		if row.Duration > 0 || row.AnsweringPIN != "" || row.AnsweringSIPURI != "" {
			rec.Outcome = pbx.OutcomeAnswered
		} else {
			rec.Outcome = pbx.OutcomeMissed
		}
	}
	return rec
}

// Record is CallRecord.
//
// Deprecated: use [HistoryRow.CallRecord], the name every pbxkit vendor
// uses for this step.
func (row HistoryRow) Record() pbx.CallRecord { return row.CallRecord() }
