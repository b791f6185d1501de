package zadarma

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
	"github.com/pbxkit/pbxkit/provider"
)

// The capabilities a Client has.
var (
	_ pbx.Provider           = (*Client)(nil)
	_ pbx.Caller             = (*Client)(nil)
	_ pbx.HistoryExporter    = (*Client)(nil)
	_ pbx.RecordingFetcher   = (*Client)(nil)
	_ pbx.SubscriberLister   = (*Client)(nil)
	_ provider.WebhookTester = (*Client)(nil)
)

// MakeCall implements pbx.Caller with RequestCallback: Zadarma rings the
// extension req.Extension first (from), then calls req.Phone (to,
// normalised by phone.Normalize to digits), with the extension as "sip"
// when it has 3 or 5 digits, so that its CallerID is shown and its
// recording applies. It is never retried once the request may have
// reached Zadarma.
//
// Zadarma's answer carries no id: CallResult is empty. The call's
// notifications are the outgoing call's NOTIFY_OUT_START and
// NOTIFY_OUT_END: match the first pbx.EventCallStarted after MakeCall
// returned with Direction pbx.Outbound, Extension equal to req.Extension
// and Phone equal to the normalised req.Phone; its CallID (pbx_call_id)
// is the call's. That the callback produces these notifications is
// inferred, not documented.
func (c *Client) MakeCall(ctx context.Context, req pbx.CallRequest) (pbx.CallResult, error) {
	ext := strings.TrimSpace(req.Extension)
	if ext == "" {
		return pbx.CallResult{}, errors.New("zadarma: MakeCall: no extension to ring")
	}
	to := phone.Normalize(req.Phone)
	if to == "" || strings.Trim(to, "0123456789") != "" {
		return pbx.CallResult{}, errors.New("zadarma: MakeCall: the phone is not a telephone number")
	}
	cb := CallbackRequest{From: ext, To: to}
	if isShortNumber(ext) && (len(ext) == 3 || len(ext) == 5) {
		cb.SIP = ext
	}
	if _, err := c.RequestCallback(ctx, cb); err != nil {
		return pbx.CallResult{}, err
	}
	return pbx.CallResult{}, nil
}

// HistoryChunk is the longest period History asks for in one statistics
// request: Zadarma serves at most a month (28 days is within a month
// whatever a month means).
const HistoryChunk = 28 * 24 * time.Hour

// maxHistoryPages bounds the pages of one chunk: a million calls.
const maxHistoryPages = 1000

// History implements pbx.HistoryExporter with the PBX statistics (version
// 2): the period is split into chunks of at most HistoryChunk, each read
// page by page (MaxStatisticsRows rows a request, with skip), and rows
// outside [q.From, q.To) are dropped. A zero q.To means now; q.From is
// required. Inbound and Outbound are asked with call_type in/out; for
// Internal every row is asked and rows of another known direction are
// dropped. Each record's Raw is its *StatsRow; see StatsRow.CallRecord.
//
// Zadarma allows 3 statistics requests a minute: between pages History
// waits for the limit's reset when the last answer said none is left (up
// to 70 s a page, and never past ctx's deadline), so a long export takes
// minutes. A server that ignores skip (the same first row twice) ends the
// export with an error instead of repeating rows.
func (c *Client) History(ctx context.Context, q pbx.HistoryQuery) iter.Seq2[pbx.CallRecord, error] {
	return func(yield func(pbx.CallRecord, error) bool) {
		to := q.To
		if to.IsZero() {
			to = time.Now()
		}
		if q.From.IsZero() {
			yield(pbx.CallRecord{}, errors.New("zadarma: HistoryQuery.From is required"))
			return
		}
		callType := ""
		switch q.Direction {
		case pbx.Inbound:
			callType = "in"
		case pbx.Outbound:
			callType = "out"
		}
		for from := q.From; from.Before(to); from = from.Add(HistoryChunk) {
			end := from.Add(HistoryChunk)
			if end.After(to) {
				end = to
			}
			if !c.historyChunk(ctx, from, end, callType, q.Direction, yield) {
				return
			}
		}
	}
}

// historyChunk reads the pages of [from, end); it returns false when the
// iteration must stop. The request's period is whole seconds around
// [from, end); rows are kept only when they started within it, so a call
// on a chunk's edge is yielded once.
func (c *Client) historyChunk(ctx context.Context, from, end time.Time, callType string, dir pbx.Direction,
	yield func(pbx.CallRecord, error) bool) bool {
	req := StatisticsRequest{Start: from.Truncate(time.Second), End: end.Add(time.Second - 1).Truncate(time.Second),
		CallType: callType, Limit: MaxStatisticsRows}
	var firstOfLast string
	for page := range maxHistoryPages {
		req.Skip = page * MaxStatisticsRows
		p, err := c.statistics(ctx, req, maxPaceWait)
		if err != nil {
			yield(pbx.CallRecord{}, err)
			return false
		}
		if len(p.Stats) > 0 {
			head := rowKey(&p.Stats[0])
			if page > 0 && head == firstOfLast {
				yield(pbx.CallRecord{}, fmt.Errorf("zadarma: statistics/pbx: page %d starts with the same row as page %d: skip is not honoured", page+1, page))
				return false
			}
			firstOfLast = head
		}
		for i := range p.Stats {
			row := &p.Stats[i]
			if !row.Start.IsZero() && (row.Start.Before(from) || !row.Start.Before(end)) {
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
		if len(p.Stats) < MaxStatisticsRows {
			return true
		}
	}
	yield(pbx.CallRecord{}, fmt.Errorf("zadarma: statistics/pbx: more than %d pages in one period", maxHistoryPages))
	return false
}

// rowKey identifies a statistics row, to notice a page served twice.
func rowKey(r *StatsRow) string {
	return r.PBXCallID + "\x00" + r.CallID + "\x00" + r.CallStart + "\x00" + r.Destination
}

// FetchRecording implements pbx.RecordingFetcher with RecordRequest and
// Record: callID is the events' CallID (a pbx_call_id, "in_…" or
// "out_…"), whose first recording is streamed, or a recording's own id
// (NOTIFY_END's call_id_with_rec, StatsRow.CallID). A recording not stored
// yet gives an error matching pbx.ErrNotReady: Zadarma advises waiting
// about 40 s after the end of the call.
func (c *Client) FetchRecording(ctx context.Context, callID string) (*pbx.Recording, error) {
	callID = strings.TrimSpace(callID)
	if callID == "" {
		return nil, errors.New("zadarma: FetchRecording: no call id")
	}
	req := RecordRequest{CallID: callID}
	if idDirection(callID) != pbx.DirectionUnknown {
		req = RecordRequest{PBXCallID: callID}
	}
	links, err := c.RecordRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	return c.Record(ctx, links.First())
}

// Subscribers implements pbx.SubscriberLister with Internal and one
// ExtensionInfo per extension (for its Name): 1 + N requests, counted
// against Zadarma's 100 requests a minute. Each Subscriber's Raw is its
// *ExtensionInfo; Login stays empty (the API names none).
func (c *Client) Subscribers(ctx context.Context) ([]pbx.Subscriber, error) {
	in, err := c.Internal(ctx)
	if err != nil {
		return nil, err
	}
	subs := make([]pbx.Subscriber, 0, len(in.Numbers))
	for _, n := range in.Numbers {
		info, err := c.ExtensionInfo(ctx, n)
		if err != nil {
			return nil, err
		}
		if info.Number == "" {
			info.Number = n
		}
		subs = append(subs, pbx.Subscriber{Extension: n, Name: info.Name, Raw: info})
	}
	return subs, nil
}

// The made-up parties of WebhookTestRequest's call.
const (
	webhookTestCaller = "79990000000"
	webhookTestLine   = "74990000000"
)

// WebhookTestRequest implements provider.WebhookTester: the NOTIFY_START
// Zadarma posts when an incoming call reaches the PBX (from 79990000000 to
// the made-up line 74990000000, call_start now in the client's Location,
// pbx_call_id callID or a made-up "in_…" one), signed with the client's
// secret exactly as Zadarma signs it. Being a NOTIFY_START it also asks the
// routing question. Errors never quote webhookURL or a secret.
func (c *Client) WebhookTestRequest(ctx context.Context, webhookURL, callID string) (*http.Request, error) {
	u, err := url.Parse(webhookURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("zadarma: WebhookTestRequest: the webhook URL must be an http or https URL")
	}
	if callID == "" {
		var b [20]byte
		_, _ = rand.Read(b[:])
		callID = "in_" + hex.EncodeToString(b[:])
	}
	n := &Notification{
		Event:     EventStart,
		CallStart: time.Now().In(c.cfg.Location).Format(callTimeLayout),
		PBXCallID: callID,
		CallerID:  webhookTestCaller,
		CalledDID: webhookTestLine,
	}
	signed, _ := n.SignedString()
	form := url.Values{
		"event":       {n.Event},
		"call_start":  {n.CallStart},
		"pbx_call_id": {n.PBXCallID},
		"caller_id":   {n.CallerID},
		"called_did":  {n.CalledDID},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, errors.New("zadarma: WebhookTestRequest: cannot build the request")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(signatureHeader, SignNotification(signed, c.cfg.Secret))
	return req, nil
}
