package sipuni

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

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
		ae = &provider.APIError{Provider: Name, Operation: op, StatusCode: resp.StatusCode,
			Message: "answer is not CSV", Body: provider.Excerpt(head)}
	}
	return nil, ae
}

// peek returns the first n bytes of a response body (fewer when it is
// shorter). When reading them fails otherwise than at the body's end (a body
// that stalled until Config.Timeout, a connection reset) on a 2xx answer, it
// closes the body and returns that failure: what arrived cannot be judged.
// On other statuses the status says enough, and what arrived is returned for
// classify.
func peek(op string, resp *http.Response, br *bufio.Reader, n int) ([]byte, error) {
	head, err := br.Peek(n)
	if err == nil || err == io.EOF || resp.StatusCode < 200 || resp.StatusCode > 299 {
		return head, nil
	}
	resp.Body.Close()
	return nil, fmt.Errorf("sipuni: %s: reading the answer: %w", op, provider.ScrubError(err))
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

// HistoryChunkDays is the longest date range History asks for in one
// request.
const HistoryChunkDays = 7

// History implements pbx.HistoryExporter with ExportStatistics: the period
// is split into date ranges of at most HistoryChunkDays days (the API takes
// whole dates), each fetched with one request and streamed, and rows outside
// [q.From, q.To) are dropped. A zero q.To means now. Each record's Raw is its
// *StatisticsRow; see StatisticsRow.CallRecord for the mapping. The export
// is requested with IgnoreSpecChar so that a ";" in a field cannot shift the
// columns, and with anonymous=0, read as "all calls" (uncertain, see
// ExportRequest.Anonymous).
func (c *Client) History(ctx context.Context, q pbx.HistoryQuery) iter.Seq2[pbx.CallRecord, error] {
	return func(yield func(pbx.CallRecord, error) bool) {
		to := q.To
		if to.IsZero() {
			to = time.Now()
		}
		if q.From.IsZero() {
			yield(pbx.CallRecord{}, errors.New("sipuni: HistoryQuery.From is required"))
			return
		}
		if !q.From.Before(to) {
			return
		}
		typ := AllCalls
		switch q.Direction {
		case pbx.Inbound:
			typ = IncomingCalls
		case pbx.Outbound:
			typ = OutgoingCalls
		case pbx.Internal:
			typ = InternalCalls
		}
		first := dateOf(q.From.In(c.loc))
		last := dateOf(to.Add(-time.Nanosecond).In(c.loc))
		for day := first; !day.After(last); day = addDays(day, HistoryChunkDays) {
			end := addDays(day, HistoryChunkDays-1)
			if end.After(last) {
				end = last
			}
			if !c.historyChunk(ctx, ExportRequest{From: day, To: end, Type: typ, IgnoreSpecChar: true}, q.From, to, q.Direction, yield) {
				return
			}
		}
	}
}

// historyChunk streams one export; it returns false when the iteration must
// stop.
func (c *Client) historyChunk(ctx context.Context, req ExportRequest, from, to time.Time, dir pbx.Direction, yield func(pbx.CallRecord, error) bool) bool {
	sr, body, err := c.openExport(ctx, req)
	if err != nil {
		yield(pbx.CallRecord{}, err)
		return false
	}
	defer body.Close()
	for {
		row, err := sr.Next()
		if err == io.EOF {
			return true
		}
		if err != nil {
			yield(pbx.CallRecord{}, err)
			return false
		}
		if !row.Time.IsZero() && (row.Time.Before(from) || !row.Time.Before(to)) {
			continue
		}
		rec := row.CallRecord()
		if dir != pbx.DirectionUnknown && rec.Direction != pbx.DirectionUnknown && rec.Direction != dir {
			continue
		}
		if !yield(rec, nil) {
			return false
		}
	}
}

func dateOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

func addDays(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d+n, 0, 0, 0, 0, t.Location())
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
		return nil, notReady(op, resp.StatusCode)
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
			err = &provider.APIError{Provider: Name, Operation: op, StatusCode: resp.StatusCode,
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
func notReady(op string, status int) error {
	return &provider.APIError{Provider: Name, Operation: op, StatusCode: status,
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

// FetchRecording implements pbx.RecordingFetcher with Record: callID is the
// events' call_id, used as the recording id (the statistics' "ID записи"
// has the same shape; that the two are the same id is inferred).
func (c *Client) FetchRecording(ctx context.Context, callID string) (*pbx.Recording, error) {
	return c.Record(ctx, callID)
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

// Subscribers implements pbx.SubscriberLister with Operators; each
// Subscriber's Raw is its *Operator.
func (c *Client) Subscribers(ctx context.Context) ([]pbx.Subscriber, error) {
	ops, err := c.Operators(ctx)
	if err != nil {
		return nil, err
	}
	subs := make([]pbx.Subscriber, len(ops))
	for i := range ops {
		o := &ops[i]
		subs[i] = pbx.Subscriber{Extension: o.Extension, Login: o.Login, Name: o.Name, Raw: o}
	}
	return subs, nil
}
