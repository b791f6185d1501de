package mango

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
	"github.com/pbxkit/pbxkit/provider"
)

// MakeCall places a click-to-call with commands/callback: Mango rings the
// employee req.Extension, then req.Phone (normalised, digits with the
// country code). It is never sent again once it may have reached the PBX.
//
// The result's OrderID is the command_id; CallID is empty, because the
// answer names no call: the legs the command creates carry the command_id
// (CallNotification.CommandID, in the events' Raw), and result/callback
// reports the outcome of the command (Config.OnResult).
func (c *Client) MakeCall(ctx context.Context, req pbx.CallRequest) (pbx.CallResult, error) {
	ext := strings.TrimSpace(req.Extension)
	num := phone.Normalize(req.Phone)
	if ext == "" {
		return pbx.CallResult{}, errBadRequest(OpCallback, "CallRequest.Extension is empty")
	}
	if num == "" || strings.Trim(num, "0123456789") != "" {
		return pbx.CallResult{}, errBadRequest(OpCallback, "CallRequest.Phone is not a phone number")
	}
	id, err := c.Callback(ctx, CallbackRequest{Extension: ext, ToNumber: num})
	if err != nil {
		return pbx.CallResult{}, err
	}
	return pbx.CallResult{OrderID: id}, nil
}

// Subscribers lists the employees (config/users/request): Extension, Name,
// Login (the first SIP account, without "sip:"), Raw *User.
func (c *Client) Subscribers(ctx context.Context) ([]pbx.Subscriber, error) {
	users, err := c.Users(ctx, "")
	if err != nil {
		return nil, err
	}
	out := make([]pbx.Subscriber, len(users))
	for i := range users {
		u := &users[i]
		out[i] = pbx.Subscriber{
			Extension: str(u.Telephony.Extension),
			Login:     u.SIPAccount(),
			Name:      str(u.General.Name),
			Raw:       u,
		}
	}
	return out, nil
}

// maxStatsSpan is the longest period one stats/request may cover (Mango:
// one month).
const maxStatsSpan = 30 * 24 * time.Hour

// History exports the call log for q (stats/request, then stats/result
// polled until the CSV is ready) and yields one pbx.CallRecord per call
// (see StatsRow.CallRecord), in Mango's order. A period longer than 30
// days is exported in 30-day parts. Consecutive rows of one entry_id are
// merged into one record (an answered row makes it answered; the earliest
// start, the latest end, every recording). q.Direction filters the records
// after reading: Mango's filters are by party, not by direction.
//
// The export is polled after Config.HistoryPoll, then with a wait growing
// by half up to 30 s, for at most Config.HistoryMaxWait; Mango asks for no
// more than one stats/result every 5 s. An error is yielded once and ends
// the sequence.
func (c *Client) History(ctx context.Context, q pbx.HistoryQuery) iter.Seq2[pbx.CallRecord, error] {
	return func(yield func(pbx.CallRecord, error) bool) {
		if q.From.IsZero() || q.To.IsZero() || !q.To.After(q.From) {
			yield(pbx.CallRecord{}, errBadRequest(OpStatsRequest, "HistoryQuery needs From before To"))
			return
		}
		for from := q.From; from.Before(q.To); from = from.Add(maxStatsSpan) {
			to := from.Add(maxStatsSpan)
			if to.After(q.To) {
				to = q.To
			}
			if !c.historyPart(ctx, from, to, q.Direction, yield) {
				return
			}
		}
	}
}

// historyPart exports one period and yields its records; false when the
// sequence ended (an error or the consumer stopped).
func (c *Client) historyPart(ctx context.Context, from, to time.Time, dir pbx.Direction, yield func(pbx.CallRecord, error) bool) bool {
	key, err := c.RequestStats(ctx, StatsRequest{From: from, To: to})
	if err != nil {
		yield(pbx.CallRecord{}, err)
		return false
	}
	resp, err := c.awaitStats(ctx, key)
	if err != nil {
		yield(pbx.CallRecord{}, err)
		return false
	}
	defer resp.Body.Close()
	var pending *StatsRow
	flush := func() bool {
		if pending == nil {
			return true
		}
		rec := pending.CallRecord()
		pending = nil
		if dir != pbx.DirectionUnknown && rec.Direction != dir {
			return true
		}
		return yield(rec, nil)
	}
	for row, err := range ParseStats(resp.Body, StatsFields, c.cfg.Location) {
		if err != nil {
			yield(pbx.CallRecord{}, err)
			return false
		}
		if pending != nil && row.EntryID != "" && row.EntryID == pending.EntryID {
			pending.merge(row)
			continue
		}
		if !flush() {
			return false
		}
		pending = row
	}
	return flush()
}

// StatsRequest is stats/request: the call log of a period.
type StatsRequest struct {
	// From and To bound the period (at most a month; Unix seconds on the
	// wire).
	From, To time.Time
	// Fields are the CSV columns, in order; StatsFields when empty.
	Fields []string
	// RequestID is echoed in result/stats.
	RequestID string
}

// StatsFields are the columns History asks for: Mango's default columns,
// and entry_id (not a default), the call's id in the events.
var StatsFields = []string{"records", "start", "finish", "answer", "from_extension", "from_number",
	"to_extension", "to_number", "disconnect_reason", "line_number", "location", "entry_id"}

// RequestStats sends stats/request and returns the key of the export.
func (c *Client) RequestStats(ctx context.Context, req StatsRequest) (string, error) {
	fields := req.Fields
	if len(fields) == 0 {
		fields = StatsFields
	}
	in := struct {
		DateFrom  string `json:"date_from"`
		DateTo    string `json:"date_to"`
		Fields    string `json:"fields"`
		RequestID string `json:"request_id,omitempty"`
	}{strconv.FormatInt(req.From.Unix(), 10), strconv.FormatInt(req.To.Unix(), 10), strings.Join(fields, ","), req.RequestID}
	var out struct {
		Key provider.String `json:"key"`
	}
	if err := c.call(ctx, OpStatsRequest, provider.PolicyRead, in, &out); err != nil {
		return "", err
	}
	if str(out.Key) == "" {
		return "", &provider.APIError{Provider: Name, Operation: OpStatsRequest, StatusCode: http.StatusOK, Message: "answer has no key"}
	}
	return str(out.Key), nil
}

// errStatsNotReady is stats/result's 204.
var errStatsNotReady = errors.New("mango: stats/result: the export is not ready yet")

// StatsResult sends stats/result for key once. A ready export is the
// response whose body streams the CSV (the caller closes it); one not
// ready yet (204) is an error matching pbx.ErrNotReady; an unknown or
// expired key (404) a *provider.APIError.
func (c *Client) StatsResult(ctx context.Context, key string) (*http.Response, error) {
	payload, err := json.Marshal(map[string]string{"key": key})
	if err != nil {
		return nil, err
	}
	resp, err := c.send(ctx, OpStatsResult, provider.PolicyRead, payload, true)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusNoContent:
		resp.Body.Close()
		return nil, fmt.Errorf("%w (%w)", errStatsNotReady, pbx.ErrNotReady)
	case resp.StatusCode == http.StatusOK && !strings.Contains(strings.ToLower(resp.Header.Get("Content-Type")), "json"):
		return resp, nil
	}
	// An error, or a JSON answer where the CSV should be.
	b, err := provider.ReadResponse(Name, OpStatsResult, resp, maxResponse)
	if err != nil {
		return nil, err
	}
	if err := decodeAnswer(OpStatsResult, resp, b, nil); err != nil {
		if resp.StatusCode == http.StatusNotFound {
			var ae *provider.APIError
			if errors.As(err, &ae) && ae.Message == "" {
				ae.Message = "unknown or expired export key"
			}
		}
		return nil, err
	}
	return nil, &provider.APIError{Provider: Name, Operation: OpStatsResult, StatusCode: resp.StatusCode,
		Message: "answer is JSON, not the CSV export", Body: provider.Excerpt(b)}
}

// awaitStats polls stats/result until the export is ready, for at most
// HistoryMaxWait. The response's body streams under ctx.
func (c *Client) awaitStats(ctx context.Context, key string) (*http.Response, error) {
	deadline := time.Now().Add(c.cfg.HistoryMaxWait)
	wait := c.cfg.HistoryPoll
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("mango: stats/result: the export was not ready within %v (Config.HistoryMaxWait): %w",
				c.cfg.HistoryMaxWait, pbx.ErrNotReady)
		}
		if err := sleep(ctx, min(wait, left)); err != nil {
			return nil, fmt.Errorf("mango: stats/result: waiting for the export: %w", err)
		}
		resp, err := c.StatsResult(ctx, key)
		if !errors.Is(err, errStatsNotReady) {
			return resp, err
		}
		wait = min(wait+wait/2, maxHistoryPoll)
	}
}

// WebhookTestRequest builds the notification Mango sends first for an
// incoming call: events/call, Appeared in the IVR, from pbxtest's default
// caller, signed with the Client's key and salt, for the receiver at
// webhookURL (the address given to the cabinet's API connector; the
// request goes to webhookURL + "/events/call"). Its leg id starts with
// "pbxkit-webhook-test-", which the provider never routes: the receiver's
// router is asked nothing and no command reaches the PBX.
func (c *Client) WebhookTestRequest(ctx context.Context, webhookURL, callID string) (*http.Request, error) {
	if strings.TrimSpace(webhookURL) == "" {
		return nil, errors.New("mango: webhook test: the webhook URL is empty")
	}
	if callID == "" {
		callID = strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	body, err := json.Marshal(map[string]any{
		"entry_id":   callID,
		"call_id":    webhookTestPrefix + callID,
		"timestamp":  time.Now().Unix(),
		"seq":        1,
		"call_state": StateAppeared,
		"location":   LocationIVR,
		"from":       map[string]string{"number": "79161234567"},
		"to":         map[string]string{"number": "74951234567", "line_number": "74951234567"},
	})
	if err != nil {
		return nil, err
	}
	apiKey, apiSalt := c.creds()
	form := SignedForm(apiKey, apiSalt, string(body)).Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(webhookURL, "/")+"/"+NotifyCall, strings.NewReader(form))
	if err != nil {
		return nil, errors.New("mango: webhook test: the webhook URL is not a valid URL")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req, nil
}
