package zadarma

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// CallbackRequest is a request/callback: Zadarma calls From first, then
// connects it to To.
type CallbackRequest struct {
	// From is called first: an extension (such as "101"), a SIP number, a
	// telephone number or a PBX scenario.
	From string
	// To is called second: a telephone or SIP number, international
	// format, digits.
	To string
	// SIP, when set, is the SIP number or extension the call is made
	// with: its CallerID is shown, and recording applies when enabled.
	SIP string
	// Predicted calls To first and connects From only when To answers.
	Predicted bool
}

// CallbackResult is Zadarma's answer to request/callback.
type CallbackResult struct {
	// From and To are the numbers as Zadarma understood them.
	From, To string
	// Time is when the callback was started; zero when not sent.
	Time time.Time
}

// RequestCallback asks Zadarma to call req.From and connect it to req.To
// (GET /v1/request/callback/). It may ring a phone, so it is never sent
// again once it may have reached Zadarma. Zadarma's answer carries no id
// of the call: the call's notifications (NOTIFY_OUT_START for a PBX
// extension) are matched by their parties.
func (c *Client) RequestCallback(ctx context.Context, req CallbackRequest) (CallbackResult, error) {
	const op = "request/callback"
	from, to := strings.TrimSpace(req.From), strings.TrimSpace(req.To)
	if from == "" || to == "" {
		return CallbackResult{}, errors.New("zadarma: request/callback: From and To are required")
	}
	params := url.Values{"from": {from}, "to": {to}}
	if sip := strings.TrimSpace(req.SIP); sip != "" {
		params.Set("sip", sip)
	}
	if req.Predicted {
		params.Set("predicted", "1")
	}
	b, err := c.call(ctx, request{op: op, method: "/v1/request/callback/", params: params, policy: provider.PolicyAction})
	if err != nil {
		return CallbackResult{}, err
	}
	var a struct {
		From provider.String `json:"from"`
		To   provider.String `json:"to"`
		Time provider.Int    `json:"time"`
	}
	_ = json.Unmarshal(b, &a) // a 2xx with "status":"success": the fields are informative
	res := CallbackResult{From: string(a.From), To: string(a.To)}
	if t, ok := provider.ParseUnix(strconv.FormatInt(int64(a.Time), 10), c.cfg.Location); ok {
		res.Time = t
	}
	return res, nil
}

// StatisticsRequest selects one page of the PBX statistics.
type StatisticsRequest struct {
	// Start and End bound the period; they are sent in the client's
	// Location as "2006-01-02 15:04:05". Zadarma serves at most a month:
	// a longer period is shortened to 30 days.
	Start, End time.Time
	// CallType is "in" (incoming), "out" (outgoing) or "" (all).
	CallType string
	// Skip is how many rows to skip; Limit how many to return, at most
	// and by default 1,000.
	Skip, Limit int
}

// MaxStatisticsRows is the most rows one statistics request returns.
const MaxStatisticsRows = 1000

// PBXStatistics reads one page of the PBX call statistics (GET
// /v1/statistics/pbx/, version 2). Zadarma allows 3 statistics requests a
// minute: when the last answer said none is left, PBXStatistics waits for
// the limit's reset, up to Config.Timeout (see Client.RateLimits).
// History pages through the statistics for you.
func (c *Client) PBXStatistics(ctx context.Context, req StatisticsRequest) (*StatisticsPage, error) {
	return c.statistics(ctx, req, 0)
}

func (c *Client) statistics(ctx context.Context, req StatisticsRequest, maxWait time.Duration) (*StatisticsPage, error) {
	const op = "statistics/pbx"
	if req.Start.IsZero() || req.End.IsZero() {
		return nil, errors.New("zadarma: statistics/pbx: Start and End are required")
	}
	if req.Limit <= 0 || req.Limit > MaxStatisticsRows {
		req.Limit = MaxStatisticsRows
	}
	loc := c.cfg.Location
	params := url.Values{
		"start":   {req.Start.In(loc).Format(callTimeLayout)},
		"end":     {req.End.In(loc).Format(callTimeLayout)},
		"version": {"2"},
		"limit":   {strconv.Itoa(req.Limit)},
	}
	if req.Skip > 0 {
		params.Set("skip", strconv.Itoa(req.Skip))
	}
	switch req.CallType {
	case "":
	case "in", "out":
		params.Set("call_type", req.CallType)
	default:
		return nil, errors.New(`zadarma: statistics/pbx: CallType must be "in", "out" or ""`)
	}
	b, err := c.call(ctx, request{op: op, method: "/v1/statistics/pbx/", params: params, policy: provider.PolicyRead,
		limit: maxStatsAnswer, maxWait: maxWait})
	if err != nil {
		return nil, err
	}
	return ParseStatistics(b, loc)
}

// RecordRequest names a recording for pbx/record/request: by CallID (the
// recording's id, NOTIFY_END's call_id_with_rec) or by PBXCallID (the
// call's pbx_call_id, which may have several recordings).
type RecordRequest struct {
	CallID    string
	PBXCallID string
	// Lifetime is how long the links stay valid: 180 s to 60 days,
	// default (zero) 30 minutes.
	Lifetime time.Duration
}

// RecordLinks is Zadarma's answer to pbx/record/request.
type RecordLinks struct {
	// Link is the download link of the recording asked for by call id.
	Link string
	// Links are the download links of a call's recordings, asked for by
	// pbx_call_id.
	Links []string
	// LifetimeTill is when the links stop working, as Zadarma wrote it.
	LifetimeTill string
}

// First returns the first link of l, or "".
func (l RecordLinks) First() string {
	if l.Link != "" {
		return l.Link
	}
	for _, s := range l.Links {
		if s != "" {
			return s
		}
	}
	return ""
}

// RecordRequest asks for the download links of a recording (GET
// /v1/pbx/record/request/). A recording Zadarma has not stored yet (it
// advises waiting about 40 s after the end notification) gives an error
// matching pbx.ErrNotReady: an error answer whose message says the record
// is not found, not ready or does not exist, or HTTP 404. That wording is
// inferred: Zadarma does not document its "not yet" answer, so a wrong id
// looks the same.
func (c *Client) RecordRequest(ctx context.Context, req RecordRequest) (RecordLinks, error) {
	const op = "pbx/record/request"
	params := url.Values{}
	if id := strings.TrimSpace(req.CallID); id != "" {
		params.Set("call_id", id)
	}
	if id := strings.TrimSpace(req.PBXCallID); id != "" {
		params.Set("pbx_call_id", id)
	}
	if len(params) == 0 {
		return RecordLinks{}, errors.New("zadarma: pbx/record/request: a CallID or a PBXCallID is required")
	}
	if req.Lifetime > 0 {
		params.Set("lifetime", strconv.FormatInt(wholeSeconds(req.Lifetime), 10))
	}
	b, err := c.call(ctx, request{op: op, method: "/v1/pbx/record/request/", params: params, policy: provider.PolicyRead})
	if err != nil {
		return RecordLinks{}, notReady(err)
	}
	var a struct {
		Link         provider.String   `json:"link"`
		Links        []provider.String `json:"links"`
		LifetimeTill provider.String   `json:"lifetime_till"`
	}
	if json.Unmarshal(b, &a) != nil {
		return RecordLinks{}, &provider.APIError{Provider: Name, Operation: op, StatusCode: http.StatusOK,
			Message: "unexpected answer (want link or links)", Body: provider.Excerpt(b)}
	}
	l := RecordLinks{Link: string(a.Link), LifetimeTill: string(a.LifetimeTill)}
	for _, s := range a.Links {
		l.Links = append(l.Links, string(s))
	}
	if l.First() == "" {
		return l, &provider.APIError{Provider: Name, Operation: op, StatusCode: http.StatusOK,
			Message: "no recording link in the answer", Body: provider.Excerpt(b), Err: pbx.ErrNotReady}
	}
	return l, nil
}

// notReady classifies an API error that says a recording does not exist
// yet as pbx.ErrNotReady.
func notReady(err error) error {
	var ae *provider.APIError
	if !errors.As(err, &ae) || ae.Err != nil {
		return err
	}
	if ae.StatusCode == http.StatusNotFound || saysNotReady(ae.Message) {
		ae.Err = pbx.ErrNotReady
	}
	return err
}

// saysNotReady reports whether a vendor text says a recording is not there
// (yet).
func saysNotReady(text string) bool {
	t := strings.ToLower(text)
	for _, w := range [...]string{"not found", "not ready", "not exist", "no record", "no file", "not yet", "processing"} {
		if strings.Contains(t, w) {
			return true
		}
	}
	return false
}

// Record streams the recording at link, a download link from
// RecordRequest (GET, without the API signature: the link carries its own
// token). It is retried like every read, and bounded by idleness
// (Config.Timeout without a byte), not by its length. The caller closes
// the Body. HTTP 404, or a JSON error answer that says the record is not
// there, matches pbx.ErrNotReady.
func (c *Client) Record(ctx context.Context, link string) (*pbx.Recording, error) {
	const op = "pbx/record/download"
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("zadarma: " + op + ": the recording link is not an http or https URL")
	}
	resp, err := c.api.Do(ctx, provider.Request{Operation: op, Policy: provider.PolicyRead, Method: http.MethodGet,
		URL: link, Stream: true})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, rerr := provider.ReadResponse(Name, op, resp, maxAnswer)
		if rerr != nil {
			b = nil
		}
		e := answerError(op, resp, b)
		return nil, notReady(e)
	}
	ct := resp.Header.Get("Content-Type")
	if isJSONType(ct) {
		// An error answer instead of the audio.
		b, err := provider.ReadResponse(Name, op, resp, maxAnswer)
		if err != nil {
			return nil, err
		}
		if e := answerError(op, resp, b); e != nil {
			return nil, notReady(e)
		}
		return nil, &provider.APIError{Provider: Name, Operation: op, StatusCode: resp.StatusCode,
			Message: "a JSON answer instead of the recording", Body: provider.Excerpt(b)}
	}
	if ct == "" {
		ct = "audio/mpeg"
	}
	return &pbx.Recording{Body: resp.Body, ContentType: ct, Size: resp.ContentLength}, nil
}

// Internal is the answer of pbx/internal: the PBX and its extensions.
type Internal struct {
	// PBXID is the user's PBX id.
	PBXID string
	// Numbers are the extensions, such as "100".
	Numbers []string
}

// Internal lists the PBX's extensions (GET /v1/pbx/internal/).
func (c *Client) Internal(ctx context.Context) (Internal, error) {
	const op = "pbx/internal"
	b, err := c.call(ctx, request{op: op, method: "/v1/pbx/internal/", policy: provider.PolicyRead})
	if err != nil {
		return Internal{}, err
	}
	var a struct {
		PBXID   provider.String   `json:"pbx_id"`
		Numbers []provider.String `json:"numbers"`
	}
	if json.Unmarshal(b, &a) != nil {
		return Internal{}, &provider.APIError{Provider: Name, Operation: op, StatusCode: http.StatusOK,
			Message: "unexpected answer (want pbx_id and numbers)", Body: provider.Excerpt(b)}
	}
	in := Internal{PBXID: string(a.PBXID)}
	for _, n := range a.Numbers {
		if s := strings.TrimSpace(string(n)); s != "" {
			in.Numbers = append(in.Numbers, s)
		}
	}
	return in, nil
}

// ExtensionInfo is the answer of pbx/internal/<ext>/info.
type ExtensionInfo struct {
	PBXID string `json:"pbx_id,omitempty"`
	// Number is the extension.
	Number string `json:"number,omitempty"`
	// Name is the extension's display name.
	Name string `json:"name,omitempty"`
	// CallerID is the number the extension calls out with.
	CallerID string `json:"caller_id,omitempty"`
	// Lines is how many calls the extension may have at once.
	Lines string `json:"lines,omitempty"`
	// RecordStore and RecordEmail are the recording settings ("false" when
	// off).
	RecordStore string `json:"record_store,omitempty"`
	RecordEmail string `json:"record_email,omitempty"`
}

// ExtensionInfo reads one extension's settings (GET
// /v1/pbx/internal/<ext>/info/); ext is its digits, such as "100".
func (c *Client) ExtensionInfo(ctx context.Context, ext string) (*ExtensionInfo, error) {
	const op = "pbx/internal/info"
	ext = strings.TrimSpace(ext)
	if ext == "" || len(ext) > 16 || strings.Trim(ext, "0123456789") != "" {
		return nil, errors.New("zadarma: pbx/internal/info: the extension must be digits, such as 100")
	}
	b, err := c.call(ctx, request{op: op, method: "/v1/pbx/internal/" + ext + "/info/", policy: provider.PolicyRead})
	if err != nil {
		return nil, err
	}
	var a struct {
		PBXID       provider.String `json:"pbx_id"`
		Number      provider.String `json:"number"`
		Name        provider.String `json:"name"`
		CallerID    provider.String `json:"caller_id"`
		Lines       provider.String `json:"lines"`
		RecordStore provider.String `json:"record_store"`
		RecordEmail provider.String `json:"record_email"`
	}
	if json.Unmarshal(b, &a) != nil {
		return nil, &provider.APIError{Provider: Name, Operation: op, StatusCode: http.StatusOK,
			Message: "unexpected answer", Body: provider.Excerpt(b)}
	}
	return &ExtensionInfo{PBXID: string(a.PBXID), Number: string(a.Number), Name: string(a.Name), CallerID: string(a.CallerID),
		Lines: string(a.Lines), RecordStore: string(a.RecordStore), RecordEmail: string(a.RecordEmail)}, nil
}
