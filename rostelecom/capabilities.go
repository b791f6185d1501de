package rostelecom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

var _ provider.WebhookTester = (*Client)(nil)

// MakeCall implements pbx.Caller with call_back: the PBX rings the employee
// with PIN req.Extension, then dials req.Phone. The phone is normalised and
// sent with a leading "+" when it is a full international number
// ("+74951234567", as in the manual's example). CallResult.CallID is the
// new call's session_id. The request is never retried once it may have
// reached the PBX.
func (c *Client) MakeCall(ctx context.Context, req pbx.CallRequest) (pbx.CallResult, error) {
	ext := strings.TrimSpace(req.Extension)
	if ext == "" {
		return pbx.CallResult{}, errBadRequest(MethodCallBack, "CallRequest.Extension is empty")
	}
	num := number(req.Phone)
	if num == "" {
		return pbx.CallResult{}, errBadRequest(MethodCallBack, fmt.Sprintf("CallRequest.Phone %q is not a telephone number", provider.Excerpt([]byte(req.Phone))))
	}
	// The manual's example writes "+74951234567"; one integration sends
	// bare digits. A full international number gets the "+".
	if len(num) >= 11 {
		num = "+" + num
	}
	res, err := c.CallBack(ctx, CallBackRequest{RequestNumber: num, FromPIN: ext})
	if err != nil {
		return pbx.CallResult{}, err
	}
	return pbx.CallResult{CallID: strings.TrimSpace(string(res.SessionID))}, nil
}

// opRecording names the download of a recording link in logs and errors.
const opRecording = "record_download"

// FetchRecording implements pbx.RecordingFetcher: it asks get_record for a
// one-time link and streams the file from it with a plain GET. The link is
// bound to the IP address of the machine that asked, so call it where you
// download. A recording the PBX has not prepared yet gives an error that
// matches pbx.ErrNotReady (see GetRecord); a refused link (used, expired,
// another IP) is an *provider.APIError.
func (c *Client) FetchRecording(ctx context.Context, callID string) (*pbx.Recording, error) {
	res, err := c.GetRecord(ctx, GetRecordRequest{SessionID: callID})
	if err != nil {
		return nil, err
	}
	// Stream: a recording may take long to download; Config.Timeout bounds
	// the silence, not the whole download.
	resp, err := c.hc.Do(ctx, provider.Request{Operation: opRecording, Policy: provider.PolicyRead, Method: http.MethodGet,
		URL: strings.TrimSpace(res.URL), Stream: true})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, provider.ResponseError(Name, opRecording, resp)
	}
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = "audio/mpeg"
	}
	return &pbx.Recording{Body: resp.Body, ContentType: ct, Size: resp.ContentLength}, nil
}

// Subscribers implements pbx.SubscriberLister with users_info: Extension is
// the PIN, Login the name, Name the display name, Raw the *User.
func (c *Client) Subscribers(ctx context.Context) ([]pbx.Subscriber, error) {
	res, err := c.UsersInfo(ctx, UsersInfoRequest{})
	if err != nil {
		return nil, err
	}
	out := make([]pbx.Subscriber, 0, len(res.Users))
	for i := range res.Users {
		u := &res.Users[i]
		out = append(out, pbx.Subscriber{
			Extension: strings.TrimSpace(string(u.PIN)),
			Login:     u.Name,
			Name:      u.DisplayName,
			Raw:       u,
		})
	}
	return out, nil
}

// History implements pbx.HistoryExporter: it orders an export of the period
// (domain_call_history; a zero q.To means now), waits for the file, downloads
// and parses it, and yields one pbx.CallRecord per row (see
// HistoryRow.CallRecord; Raw is a *HistoryRow).
//
// The wait starts at Config.HistoryPoll and doubles after each "not ready"
// answer, up to 2 minutes between attempts; a history_file_completed
// notification for the order, reaching this Client's WebhookHandler, ends it
// at once. It is bounded by ctx and Config.HistoryMaxWait; running out of
// time gives an error that matches pbx.ErrNotReady. Ordering a period whose
// export is still pending fails (the PBX answers «уже существует»).
func (c *Client) History(ctx context.Context, q pbx.HistoryQuery) iter.Seq2[pbx.CallRecord, error] {
	return func(yield func(pbx.CallRecord, error) bool) {
		file, err := c.fetchHistory(ctx, q)
		if err != nil {
			yield(pbx.CallRecord{}, err)
			return
		}
		r, err := openHistory(file, c.cfg.Location)
		if err != nil {
			yield(pbx.CallRecord{}, err)
			return
		}
		defer r.Close()
		for {
			row, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(pbx.CallRecord{}, err)
				return
			}
			if !yield(row.CallRecord(), nil) {
				return
			}
		}
	}
}

// fetchHistory orders the export and waits for its file.
func (c *Client) fetchHistory(ctx context.Context, q pbx.HistoryQuery) ([]byte, error) {
	o := CallHistoryOrder{From: q.From, To: q.To}
	if o.To.IsZero() {
		o.To = time.Now()
	}
	switch q.Direction {
	case pbx.Inbound:
		o.Direction = 1
	case pbx.Outbound:
		o.Direction = 2
	case pbx.Internal:
		o.Direction = 3
	}
	res, err := c.OrderCallHistory(ctx, o)
	if err != nil {
		return nil, err
	}
	id := strings.TrimSpace(string(res.OrderID))
	done := c.waitOrder(id)
	defer c.forgetOrder(id)

	wait := c.cfg.HistoryPoll
	maxWait := time.NewTimer(c.cfg.HistoryMaxWait)
	defer maxWait.Stop()
	poll := time.NewTimer(wait)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-maxWait.C:
			return nil, fmt.Errorf("rostelecom: history order %s: the file was not ready within %s: %w", id, c.cfg.HistoryMaxWait, pbx.ErrNotReady)
		case <-done:
			done = nil // closed: wake once
			poll.Stop()
		case <-poll.C:
		}
		file, err := c.downloadHistory(ctx, id)
		if err == nil {
			return file, nil
		}
		if !errors.Is(err, pbx.ErrNotReady) {
			return nil, err
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "rostelecom: history file not ready", slog.String("order_id", id), slog.Duration("next_wait", wait))
		poll.Reset(wait)
		wait = min(2*wait, maxHistoryPoll)
	}
}

// maxOrders bounds the completed-order notes kept for orders nobody waits
// for yet (the notification may beat the order's answer).
const maxOrders = 256

// waitOrder returns the channel closed when the PBX reports the order
// complete.
func (c *Client) waitOrder(id string) <-chan struct{} {
	c.ordersMu.Lock()
	defer c.ordersMu.Unlock()
	ch, ok := c.orders[id]
	if !ok {
		ch = make(chan struct{})
		c.orders[id] = ch
	}
	return ch
}

// forgetOrder drops the order's note.
func (c *Client) forgetOrder(id string) {
	c.ordersMu.Lock()
	delete(c.orders, id)
	c.ordersMu.Unlock()
}

// orderDone records that the PBX reported the order complete.
func (c *Client) orderDone(id string) {
	c.ordersMu.Lock()
	defer c.ordersMu.Unlock()
	ch, ok := c.orders[id]
	if !ok {
		if len(c.orders) >= maxOrders {
			// Make room by dropping notes nobody waits for.
			for k, v := range c.orders {
				if isClosed(v) {
					delete(c.orders, k)
					break
				}
			}
			if len(c.orders) >= maxOrders {
				return
			}
		}
		ch = make(chan struct{})
		c.orders[id] = ch
	}
	if !isClosed(ch) {
		close(ch)
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// The made-up parties of WebhookTestRequest's notification: numbers no
// real client or line has.
const (
	testCaller = "79990000000"
	testLine   = "70000000000"
)

// WebhookTestRequest implements provider.WebhookTester. It builds the
// call_events notification "new" of a made-up incoming call (from
// 79990000000 to the line 70000000000, nobody rung yet) exactly as the PBX
// sends it to the external-system address webhookURL: a POST to webhookURL
// with "/call_events" appended to its path, its JSON body timestamped now in
// the Client's Location and signed with the Client's ClientID and SignKey
// (X-Client-ID, X-Client-Sign). callID is the session_id; a made-up one is
// used when it is empty. Errors never quote the URL's user info or query.
func (c *Client) WebhookTestRequest(ctx context.Context, webhookURL, callID string) (*http.Request, error) {
	u, err := url.Parse(webhookURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("rostelecom: webhook URL %s is not an absolute http or https URL", provider.RedactURL(webhookURL))
	}
	if callID == "" {
		callID = "webhook-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	body, err := json.Marshal(CallEventNotification{
		State:         "new",
		Type:          "incoming",
		SessionID:     callID,
		Timestamp:     time.Now().In(c.cfg.Location).Format(TimestampLayout),
		FromNumber:    "sip:" + testCaller + "@" + c.cfg.Domain,
		RequestNumber: "sip:" + testLine + "@" + c.cfg.Domain,
	})
	if err != nil {
		return nil, fmt.Errorf("rostelecom: encoding the test notification: %w", err)
	}
	// The PBX appends the notification's name to the address it was given;
	// the handler dispatches on that last segment.
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + NotifyCallEvents
	u.RawPath = ""
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("rostelecom: building the test notification for %s failed", provider.RedactURL(webhookURL))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Client-ID", c.cfg.ClientID)
	req.Header.Set("X-Client-Sign", Sign(c.cfg.ClientID, body, c.cfg.SignKey))
	return req, nil
}
