package sipuni

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// CallResponse is Sipuni's answer to a call-control method.
type CallResponse struct {
	// ID is the "id" Sipuni returns for an accepted order (a callback
	// order id, when sent). It is not the call_id of the events that follow.
	ID string `json:"id,omitempty"`
	// CallID is the "callId" field, when sent. No source shows what it
	// names; it is not known to be the call_id of the events either.
	CallID string `json:"callId,omitempty"`
	// Message is the "message" (or "msg") text, when sent.
	Message string `json:"message,omitempty"`
}

// CallNumberRequest is callback/call_number: connect an employee with an
// external number ("click to call"). Sipuni signs
// antiaon+phone+reverse+sipnumber+user.
type CallNumberRequest struct {
	// Phone is the external number, digits in international form without
	// "+" ("79031234567"). It is sent as given; MakeCall normalises it.
	Phone string `url:"phone"`
	// SIPNumber is the employee's short extension ("201").
	SIPNumber string `url:"sipnumber"`
	// Reverse false rings the extension first and the external number once
	// it answers; true rings the external number first.
	Reverse bool `url:"reverse,int"`
	// AntiAON hides the company number from the called party.
	AntiAON bool `url:"antiaon,int"`
}

// CallTreeRequest is callback/call_tree: call an external number through a
// call scheme (voice menu).
//
// The signed set is uncertain in the sources (one adds antiaon, one hashes
// only phone+sipnumber+user); this sends phone, reverse, sipnumber, tree and,
// when set, callAttemptTime, and signs exactly those.
type CallTreeRequest struct {
	// Phone is the external number, digits without "+".
	Phone string `url:"phone"`
	// SIPNumber is the extension whose outgoing line is used.
	SIPNumber string `url:"sipnumber"`
	// Tree is the scheme number, such as "000-913901".
	Tree string `url:"tree"`
	// Reverse as in CallNumberRequest.
	Reverse bool `url:"reverse,int"`
	// CallAttemptTime is how many seconds to ring (one source says at
	// least 30); 0 leaves it out.
	CallAttemptTime int `url:"callAttemptTime,omitempty"`
}

// CallExternalRequest is callback/call_external: bridge two external
// numbers. Sipuni signs phoneFrom+phoneTo+sipnumber+sipnumber2+user.
//
// When the first party hangs up before the second answers Sipuni sends no
// events at all, and on these calls call_answer_timestamp is unreliable.
type CallExternalRequest struct {
	// PhoneFrom is rung first.
	PhoneFrom string `url:"phoneFrom"`
	// PhoneTo is rung once PhoneFrom answers.
	PhoneTo string `url:"phoneTo"`
	// SIPNumber is the extension whose outgoing line calls PhoneFrom.
	SIPNumber string `url:"sipnumber"`
	// SIPNumber2 is the extension whose outgoing line calls PhoneTo
	// (meaning inferred from the name; clients pass SIPNumber again).
	SIPNumber2 string `url:"sipnumber2"`
}

type hangupParams struct {
	CallID string `url:"callId"`
}

var (
	errNoPhone     = errors.New("sipuni: no phone number")
	errNoExtension = errors.New("sipuni: no extension (sipnumber)")
)

// CallNumber orders a click-to-call. Success only means Sipuni accepted the
// order: the call's progress arrives later as events with their own call_id,
// and an extension whose softphone is offline gets no call and no events.
//
// It is never retried once the request may have reached Sipuni.
func (c *Client) CallNumber(ctx context.Context, req CallNumberRequest) (CallResponse, error) {
	if req.Phone == "" {
		return CallResponse{}, errNoPhone
	}
	if req.SIPNumber == "" {
		return CallResponse{}, errNoExtension
	}
	return c.postJSON(ctx, "callback/call_number", provider.PolicyAction, req)
}

// CallTree orders a call to an external number through a call scheme. It is
// never retried once the request may have reached Sipuni.
func (c *Client) CallTree(ctx context.Context, req CallTreeRequest) (CallResponse, error) {
	if req.Phone == "" {
		return CallResponse{}, errNoPhone
	}
	if req.Tree == "" {
		return CallResponse{}, errors.New("sipuni: no scheme number (tree)")
	}
	return c.postJSON(ctx, "callback/call_tree", provider.PolicyAction, req)
}

// CallExternal orders a call between two external numbers. It is never
// retried once the request may have reached Sipuni.
func (c *Client) CallExternal(ctx context.Context, req CallExternalRequest) (CallResponse, error) {
	if req.PhoneFrom == "" || req.PhoneTo == "" {
		return CallResponse{}, errNoPhone
	}
	if req.SIPNumber == "" {
		return CallResponse{}, errNoExtension
	}
	return c.postJSON(ctx, "callback/call_external", provider.PolicyAction, req)
}

// Hangup ends an active call (events/call/hangup, signed callId+user).
// callID is the call_id of the events; whether Sipuni also accepts other ids
// here is not documented. Ending a call twice is harmless, so Hangup is
// retried like a read.
func (c *Client) Hangup(ctx context.Context, callID string) error {
	if callID == "" {
		return errors.New("sipuni: no call id")
	}
	_, err := c.postJSON(ctx, "events/call/hangup", provider.PolicyRead, hangupParams{CallID: callID})
	return err
}

// CallType filters an export by direction ("type").
type CallType int

// Call types.
const (
	AllCalls      CallType = 0
	IncomingCalls CallType = 1
	OutgoingCalls CallType = 2
	InternalCalls CallType = 3
)

// CallState filters an export by outcome ("state").
type CallState int

// Call states.
const (
	AnyState      CallState = 0
	MissedCalls   CallState = 1
	AnsweredCalls CallState = 2
)

// ExportRequest is statistic/export: the call log of a date range as CSV.
//
// Every parameter is sent (empty filters as empty strings, flags as 0 or 1),
// as the official example does, and the whole set is signed in sorted order.
type ExportRequest struct {
	// From and To are the first and last dates (inclusive), taken in the
	// client's Location and sent as DD.MM.YYYY. Their clock time is
	// ignored.
	From time.Time `url:"-"`
	To   time.Time `url:"-"`
	// TimeFrom and TimeTo narrow the clock time, "HH:MM"; empty for none.
	TimeFrom string `url:"timeFrom"`
	TimeTo   string `url:"timeTo"`
	// Type and State filter by direction and outcome.
	Type  CallType  `url:"type"`
	State CallState `url:"state"`
	// Tree filters by scheme number; FromNumber, ToNumber and ToAnswer by
	// caller, callee and who answered. Empty means any.
	Tree       string `url:"tree"`
	FromNumber string `url:"fromNumber"`
	ToNumber   string `url:"toNumber"`
	ToAnswer   string `url:"toAnswer"`
	// Rating filters by rating ("", "0" any; "2", "0,2,5", "2-7").
	Rating string `url:"rating"`
	// Anonymous is sent as anonymous=1 when true. Its meaning is uncertain:
	// the official example sends 1, and two clients say 1 hides anonymous
	// calls while 0 exports all.
	Anonymous bool `url:"anonymous,int"`
	// FirstTime exports only first-time callers.
	FirstTime bool `url:"firstTime,int"`
	// The flags below add columns: CRM links, the caller's menu key
	// presses, "Инициатор завершения звонка", "Кто разговаривал", "Кому
	// звонили", "Исходящая линия", "ID схемы звонка"; Names writes
	// employees as "201 (Иван Петров)"; IgnoreSpecChar strips characters
	// such as ";" from fields so the CSV stays parseable.
	CRMLinks        bool `url:"crmLinks,int"`
	DTMFUserAnswer  bool `url:"dtmfUserAnswer,int"`
	HangupInitiator bool `url:"hangupinitor,int"`
	IgnoreSpecChar  bool `url:"ignoreSpecChar,int"`
	Names           bool `url:"names,int"`
	NumbersInvolved bool `url:"numbersInvolved,int"`
	NumbersRinged   bool `url:"numbersRinged,int"`
	OutgoingLine    bool `url:"outgoingLine,int"`
	ShowTreeID      bool `url:"showTreeId,int"`
}

type exportParams struct {
	ExportRequest
	FromDate string `url:"from"`
	ToDate   string `url:"to"`
}

func validClock(s string) bool {
	if s == "" {
		return true
	}
	_, err := time.Parse("15:04", s)
	return err == nil
}

// openExport sends statistic/export and returns a reader over the streamed
// CSV and the body to close.
func (c *Client) openExport(ctx context.Context, req ExportRequest) (*StatisticsReader, io.Closer, error) {
	const op = "statistic/export"
	if req.From.IsZero() || req.To.IsZero() {
		return nil, nil, errors.New("sipuni: ExportRequest needs From and To")
	}
	from, to := req.From.In(c.loc), req.To.In(c.loc)
	if dateOf(to).Before(dateOf(from)) {
		return nil, nil, errors.New("sipuni: ExportRequest.To is before From")
	}
	if !validClock(req.TimeFrom) || !validClock(req.TimeTo) {
		return nil, nil, errors.New("sipuni: ExportRequest.TimeFrom and TimeTo must be HH:MM")
	}
	p := exportParams{ExportRequest: req, FromDate: from.Format("02.01.2006"), ToDate: to.Format("02.01.2006")}
	resp, err := c.post(ctx, op, provider.PolicyRead, p)
	if err != nil {
		return nil, nil, err
	}
	br, err := checkCSV(op, resp)
	if err != nil {
		return nil, nil, err
	}
	return NewStatisticsReader(br, c.loc), resp.Body, nil
}

// checkCSV looks at the start of a CSV answer: a rejection (non-2xx, HTML,
// "Неправильный хеш") closes the body and gives an error; a body whose first
// line has a ";" or that is empty is CSV.
func checkCSV(op string, resp *http.Response) (*bufio.Reader, error) {
	br := bufio.NewReaderSize(resp.Body, 4096)
	head, err := peek(op, resp, br, 1024)
	if err != nil {
		return nil, err
	}
	line := firstLine(head)
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 && (len(bytes.TrimSpace(head)) == 0 || bytes.IndexByte(line, ';') >= 0) {
		return br, nil
	}
	ae := classify(op, resp, head)
	resp.Body.Close()
	if ae == nil {
		ae = &provider.APIError{Provider: Name, Operation: op, StatusCode: resp.StatusCode, RetryAfter: provider.RetryAfter(resp),
			Message: "answer is not CSV", Body: provider.Excerpt(head)}
	}
	return nil, ae
}

// ExportStatistics returns the call log rows of req, read in the client's
// Location. The CSV is streamed and parsed as it arrives.
func (c *Client) ExportStatistics(ctx context.Context, req ExportRequest) ([]StatisticsRow, error) {
	sr, body, err := c.openExport(ctx, req)
	if err != nil {
		return nil, err
	}
	defer body.Close()
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

type recordParams struct {
	ID string `url:"id"`
}

// Record streams the recording with the given id (statistic/record, signed
// id+user): the "ID записи" of the statistics, which has the shape of the
// events' call_id. The caller closes Body.
//
// An empty answer (Sipuni answers so right after a call, before the
// recording is written) or HTTP 304 gives an error matching pbx.ErrNotReady;
// a short text or HTML answer instead of audio is an *provider.APIError.
// Config.Timeout is an idle limit here: the download fails when that long
// passes without a byte, however long it takes in all.
func (c *Client) Record(ctx context.Context, id string) (*pbx.Recording, error) {
	const op = "statistic/record"
	if id == "" {
		return nil, errors.New("sipuni: no recording id")
	}
	resp, err := c.send(ctx, op, provider.PolicyRead, recordParams{ID: id}, true)
	if err != nil {
		return nil, err
	}
	return openRecording(op, resp)
}

func openRecording(op string, resp *http.Response) (*pbx.Recording, error) {
	br := bufio.NewReaderSize(resp.Body, 4096)
	head, err := peek(op, resp, br, 512)
	if err != nil {
		return nil, err
	}
	ct := resp.Header.Get("Content-Type")
	pending := func() (*pbx.Recording, error) {
		resp.Body.Close()
		return nil, notReady(op, resp)
	}
	if resp.StatusCode == http.StatusNotModified {
		return pending()
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		err := classify(op, resp, head)
		resp.Body.Close()
		return nil, err
	}
	if len(head) == 0 {
		return pending()
	}
	mt := strings.ToLower(ct)
	if !strings.HasPrefix(mt, "audio/") && !strings.HasPrefix(mt, "application/octet-stream") && !looksAudio(head) {
		err := classify(op, resp, head)
		resp.Body.Close()
		if err == nil {
			err = &provider.APIError{Provider: Name, Operation: op, StatusCode: resp.StatusCode, RetryAfter: provider.RetryAfter(resp),
				Message: "answer is not audio", Body: provider.Excerpt(head)}
		}
		return nil, err
	}
	if ct == "" || strings.HasPrefix(mt, "application/octet-stream") {
		ct = "audio/mpeg"
	}
	size := resp.ContentLength
	if size < 0 {
		size = -1
	}
	return &pbx.Recording{Body: readCloser{br, resp.Body}, ContentType: ct, Size: size}, nil
}

// notReady is the error for a recording Sipuni has not written yet.
func notReady(op string, resp *http.Response) error {
	return &provider.APIError{Provider: Name, Operation: op, StatusCode: resp.StatusCode, RetryAfter: provider.RetryAfter(resp),
		Message: "recording not ready (empty answer)", Err: pbx.ErrNotReady}
}

// looksAudio recognises MP3 (ID3 tag or an MPEG frame sync), WAV and Ogg.
func looksAudio(b []byte) bool {
	switch {
	case bytes.HasPrefix(b, []byte("ID3")), bytes.HasPrefix(b, []byte("RIFF")), bytes.HasPrefix(b, []byte("OggS")):
		return true
	case len(b) >= 2 && b[0] == 0xFF && b[1]&0xE0 == 0xE0:
		return true
	}
	return false
}

type readCloser struct {
	io.Reader
	io.Closer
}

// maxOperatorsSize caps the statistic/operators answer.
const maxOperatorsSize = 4 << 20

// Operators lists the employees and their presence (statistic/operators,
// signed user only), the only employee listing Sipuni has.
func (c *Client) Operators(ctx context.Context) ([]Operator, error) {
	const op = "statistic/operators"
	resp, err := c.post(ctx, op, provider.PolicyRead, nil)
	if err != nil {
		return nil, err
	}
	b, err := provider.ReadResponse(Name, op, resp, maxOperatorsSize)
	if err != nil {
		return nil, err
	}
	line := firstLine(b)
	if resp.StatusCode < 200 || resp.StatusCode > 299 || bytes.IndexByte(line, ';') < 0 {
		if e := classify(op, resp, b); e != nil {
			return nil, e
		}
	}
	ops, err := ParseOperators(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w (operation %s)", err, op)
	}
	return ops, nil
}

// Operator is one employee of statistic/operators. The CSV's columns are not
// documented (one client reads Login, Name, Status, Call state; another
// extension, name, status): they are mapped by header name in English or
// Russian, and every column is kept in Fields.
type Operator struct {
	// Login is the "Login" column, as written.
	Login string `json:"login,omitempty"`
	// Extension is the short internal number: an extension column when
	// there is one, else Login when it is a short number (1 to 5 digits).
	Extension string `json:"extension,omitempty"`
	// Name is the employee's name.
	Name string `json:"name,omitempty"`
	// Status is the presence status, as written.
	Status string `json:"status,omitempty"`
	// CallState is the "Call state" column, as written.
	CallState string `json:"call_state,omitempty"`
	// Fields holds every column by header name.
	Fields map[string]string `json:"fields,omitempty"`
}

type opColumn uint8

const (
	opOther opColumn = iota
	opLogin
	opExtension
	opName
	opStatus
	opCallState
)

var operatorColumns = map[string]opColumn{
	"login": opLogin, "логин": opLogin, "sip": opLogin, "sip login": opLogin, "sip-логин": opLogin,
	"extension": opExtension, "ext": opExtension, "short number": opExtension, "shortnum": opExtension,
	"sipnumber": opExtension, "внутренний номер": opExtension, "номер": opExtension,
	"name": opName, "имя": opName, "сотрудник": opName, "фио": opName, "оператор": opName,
	"status": opStatus, "статус": opStatus,
	"call state": opCallState, "call status": opCallState, "состояние": opCallState, "состояние звонка": opCallState,
}

// positional is the column order assumed for a CSV without a header row.
var (
	positional     = []string{"Login", "Name", "Status", "Call state"}
	positionalCols = []opColumn{opLogin, opName, opStatus, opCallState}
)

// ParseOperators reads a statistic/operators CSV (";"-separated, maybe with
// a BOM). When the first line names no known column it is taken as data, in
// the order Login, Name, Status, Call state.
func ParseOperators(r io.Reader) ([]Operator, error) {
	cr := csv.NewReader(r)
	cr.Comma = ';'
	cr.LazyQuotes = true
	cr.FieldsPerRecord = -1
	recs, err := cr.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("sipuni: reading operators CSV: %w", err)
	}
	if len(recs) == 0 {
		return nil, nil
	}
	header := make([]string, len(recs[0]))
	cols := make([]opColumn, len(recs[0]))
	known := false
	for i, h := range recs[0] {
		header[i] = strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF"))
		cols[i] = operatorColumns[headerKey(h)]
		known = known || cols[i] != opOther
	}
	data := recs[1:]
	if !known {
		data = recs
		recs[0][0] = strings.TrimPrefix(recs[0][0], "\uFEFF")
		header = positional
		cols = positionalCols
	}
	ops := make([]Operator, 0, len(data))
	for _, rec := range data {
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		op := Operator{Fields: make(map[string]string, len(rec))}
		for i, v := range rec {
			v = strings.TrimSpace(v)
			if i >= len(cols) {
				if v != "" {
					op.Fields["column "+strconv.Itoa(i+1)] = v
				}
				continue
			}
			op.Fields[header[i]] = v
			switch cols[i] {
			case opLogin:
				op.Login = v
			case opExtension:
				op.Extension = v
			case opName:
				op.Name = v
			case opStatus:
				op.Status = v
			case opCallState:
				op.CallState = v
			}
		}
		if op.Extension == "" && len(op.Login) <= 5 && allDigits(op.Login) {
			op.Extension = op.Login
		}
		ops = append(ops, op)
	}
	return ops, nil
}
