package sipuni

import (
	"context"
	"errors"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
	"github.com/pbxkit/pbxkit/provider"
)

var (
	_ pbx.Provider         = (*Client)(nil)
	_ pbx.Caller           = (*Client)(nil)
	_ pbx.RecordingFetcher = (*Client)(nil)
	_ pbx.SubscriberLister = (*Client)(nil)
	_ pbx.HistoryExporter  = (*Client)(nil)

	_ provider.WebhookTester = (*Client)(nil)
)

// MakeCall implements pbx.Caller with CallNumber: phone is req.Phone
// normalised by phone.Normalize, sipnumber is req.Extension, reverse and
// antiaon are 0 (the extension rings first; the company number is shown).
// It is never retried once the request may have reached Sipuni.
//
// Sipuni answers with an id of the callback order, not of the call: the
// call's events carry a call_id of their own that the answer does not give.
// So CallResult.CallID is always empty, and CallResult.OrderID is the
// order's id (Sipuni's "id", else its "callId"; empty when Sipuni sent
// neither). To find the call an order placed:
//
//   - live: the first EventRinging (event 1) after MakeCall returned with
//     Direction pbx.Outbound, Extension equal to req.Extension and Phone
//     equal to the normalised req.Phone is the order's call; its CallID is
//     the call_id every later event of that call carries (event 2 of a
//     click-to-call may name neither party, so match it by that call_id).
//     Sipuni may repeat that event 1 a second later (same DedupeKey), and
//     sends no event at all when the employee's softphone is offline, so
//     give up after a timeout;
//   - afterwards: the statistics export's "ID заказа звонка" column
//     (StatisticsRow.OrderID) names the order of a call-back row, whose
//     "ID записи" (CallRecord.CallID) is the call's id; that this column
//     holds the id MakeCall returned is inferred from its name.
func (c *Client) MakeCall(ctx context.Context, req pbx.CallRequest) (pbx.CallResult, error) {
	p := phone.Normalize(req.Phone)
	if !allDigits(p) {
		return pbx.CallResult{}, errors.New("sipuni: MakeCall: the phone is not a telephone number")
	}
	if req.Extension == "" {
		return pbx.CallResult{}, errNoExtension
	}
	r, err := c.CallNumber(ctx, CallNumberRequest{Phone: p, SIPNumber: req.Extension})
	if err != nil {
		return pbx.CallResult{}, err
	}
	return pbx.CallResult{OrderID: orElse(r.ID, r.CallID)}, nil
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

// FetchRecording implements pbx.RecordingFetcher with Record: callID is the
// events' call_id, used as the recording id (the statistics' "ID записи"
// has the same shape; that the two are the same id is inferred).
func (c *Client) FetchRecording(ctx context.Context, callID string) (*pbx.Recording, error) {
	return c.Record(ctx, callID)
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

// The made-up parties of WebhookTestRequest's call: a reserved-looking
// external number no real client has, and an extension.
const (
	webhookTestCaller    = "79990000000"
	webhookTestExtension = "100"
)

// WebhookTestRequest implements provider.WebhookTester: the GET Sipuni sends
// when an incoming call starts ringing (event 1, from 79990000000 to the
// made-up extension 100, call_id callID, timestamp now), addressed to
// webhookURL with the client's webhook credentials: the "token" query
// parameter (unless webhookURL already carries one, which is then what
// Sipuni sends too) and the basic auth, as configured. The query webhookURL
// has is kept and the event's parameters are added to it, as Sipuni does.
// Sipuni signs nothing, so this is exactly what it would send. An empty
// callID gets a made-up one. Errors never quote webhookURL or a secret.
func (c *Client) WebhookTestRequest(ctx context.Context, webhookURL, callID string) (*http.Request, error) {
	u, err := url.Parse(webhookURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("sipuni: WebhookTestRequest: the webhook URL must be an http or https URL")
	}
	now := time.Now()
	if callID == "" {
		callID = "pbxkit-test-" + strconv.FormatInt(now.UnixNano(), 36)
	}
	ev := url.Values{
		"event":         {"1"},
		"call_id":       {callID},
		"src_num":       {webhookTestCaller},
		"src_type":      {"1"},
		"short_src_num": {webhookTestCaller},
		"dst_num":       {c.cfg.Account + webhookTestExtension},
		"dst_type":      {"2"},
		"short_dst_num": {webhookTestExtension},
		"timestamp":     {strconv.FormatInt(now.Unix(), 10)},
	}
	if _, has := queryValue(u.RawQuery, "token"); !has && c.cfg.WebhookToken != "" {
		ev.Set("token", c.cfg.WebhookToken)
	}
	if u.RawQuery != "" {
		u.RawQuery += "&"
	}
	u.RawQuery += ev.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, errors.New("sipuni: WebhookTestRequest: cannot build the request")
	}
	if c.cfg.WebhookUser != "" {
		req.SetBasicAuth(c.cfg.WebhookUser, c.cfg.WebhookPassword)
	}
	return req, nil
}
