package rostelecom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// API method names (the last segment of the request URL).
const (
	MethodCallBack            = "call_back"
	MethodCallInfo            = "call_info"
	MethodGetRecord           = "get_record"
	MethodUsersInfo           = "users_info"
	MethodDomainCallHistory   = "domain_call_history"
	MethodDownloadCallHistory = "download_call_history"
)

// CallBackRequest asks the PBX to ring a domain user and then connect them
// with RequestNumber ("click to call"). Set exactly one of FromPIN and
// FromSIPURI.
type CallBackRequest struct {
	// RequestNumber is the number to dial, such as "+74951234567".
	RequestNumber string `json:"request_number"`
	// FromPIN is the extension (PIN) of the user to ring first.
	FromPIN string `json:"from_pin,omitempty"`
	// FromSIPURI is the user's SIP URI, as in the manual's example
	// "test_user@cloudpbx.rt.ru" (no "sip:" prefix).
	FromSIPURI string `json:"from_sipuri,omitempty"`
}

// CallBackResponse is the answer to call_back.
type CallBackResponse struct {
	Envelope
	// SessionID identifies the new call in call_events, call_info and
	// get_record.
	SessionID provider.String `json:"session_id"`
}

// CallBack asks the PBX to place a call (call_back). The request may ring a
// phone, so it is never retried once it may have reached the PBX. A PBX
// refusal (such as result -20, «Ошибка при попытке выполнения обратного
// вызова») is an *provider.APIError.
func (c *Client) CallBack(ctx context.Context, req CallBackRequest) (*CallBackResponse, error) {
	if strings.TrimSpace(req.RequestNumber) == "" {
		return nil, errBadRequest(MethodCallBack, "RequestNumber is empty")
	}
	if (req.FromPIN == "") == (req.FromSIPURI == "") {
		return nil, errBadRequest(MethodCallBack, "set exactly one of FromPIN and FromSIPURI")
	}
	// Which of from_pin and from_sipuri the PBX requires is not documented;
	// both are used in production, so exactly one is sent. domain is not
	// sent: integrations that omit it work (uncertain; only users_info is
	// known to need it).
	var out CallBackResponse
	if err := c.call(ctx, MethodCallBack, provider.PolicyAction, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CallInfoResponse is the answer to call_info.
type CallInfoResponse struct {
	Envelope
	// Info is nil when the PBX sent none.
	Info *CallInfo `json:"info"`
}

// CallInfo describes one call, as call_info returns it.
type CallInfo struct {
	// CallType is 1 for an ordinary call and 3 for a callback (call_back).
	CallType provider.Int `json:"call_type"`
	// Direction is 1 incoming (from an external party), 2 outgoing, 3
	// internal.
	Direction provider.Int `json:"direction"`
	// State is 1 answered, 2 not answered.
	State provider.Int `json:"state"`
	// OrigNumber is the caller, a SIP URI.
	OrigNumber provider.String `json:"orig_number"`
	// OrigPIN is the caller's PIN on outgoing and internal calls.
	OrigPIN provider.String `json:"orig_pin"`
	// DestNumber is the callee, a SIP URI; on incoming calls, the domain's
	// line.
	DestNumber provider.String `json:"dest_number"`
	// AnsweringSIPURI and AnsweringPIN name who answered first.
	AnsweringSIPURI provider.String `json:"answering_sipuri"`
	AnsweringPIN    provider.String `json:"answering_pin"`
	// StartCallDate is the start of the call: Unix seconds in the manual's
	// sample ("1552315968"). Use StartedAt to read it.
	StartCallDate provider.String `json:"start_call_date"`
	// Duration is the manual's «Продолжительность вызова» in seconds, 0
	// when there was no connection. It is read as the whole call, ringing
	// included: the manual calls it the call's (not the conversation's)
	// length, and in its one sample it equals the session_log's disconnect
	// offset (8), not the time after the connection (8 - 5). Read it with
	// CallDuration; AnswerOffset gives the ringing part.
	Duration provider.Int `json:"duration"`
	// SessionLog is the short call protocol shown in the personal cabinet's
	// journal ("0:ct:89035037889;5:cc:89035037889;...").
	SessionLog  string        `json:"session_log"`
	IsVoicemail provider.Bool `json:"is_voicemail"`
	IsRecord    provider.Bool `json:"is_record"`
	IsFax       provider.Bool `json:"is_fax"`
	// StatusCode and StatusString describe a connection error.
	StatusCode   provider.String `json:"status_code"`
	StatusString provider.String `json:"status_string"`
}

// Answered reports whether State says the call was answered.
func (i *CallInfo) Answered() bool { return i.State == 1 }

// maxSeconds bounds a duration in seconds that time.Duration can hold.
const maxSeconds = int64(math.MaxInt64 / time.Second)

// CallDuration returns Duration as a time.Duration: the whole call,
// ringing included. It is 0 when the PBX says 0 (no connection: the length
// is then not given) or sends a negative or absurd value.
func (i *CallInfo) CallDuration() time.Duration {
	if i.Duration <= 0 || int64(i.Duration) > maxSeconds {
		return 0
	}
	return time.Duration(i.Duration) * time.Second
}

// AnswerOffset returns how long after the start the call was first
// connected, read from SessionLog: the offset of its first "cc" entry
// ("0:ct:89035037889;5:cc:89035037889;8:cd:89035037889;" gives 5 s). The
// grammar "<seconds>:<code>:<number>;" and the code cc for "connected" are
// inferred from the manual's one sample; ok is false when the log has no
// such entry or does not read so.
func (i *CallInfo) AnswerOffset() (d time.Duration, ok bool) {
	for entry := range strings.SplitSeq(i.SessionLog, ";") {
		sec, rest, found := strings.Cut(strings.TrimSpace(entry), ":")
		if !found {
			continue
		}
		code, _, _ := strings.Cut(rest, ":")
		if !strings.EqualFold(strings.TrimSpace(code), "cc") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(sec), 10, 64)
		if err != nil || n < 0 || n > maxSeconds {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	return 0, false
}

// StartedAt returns StartCallDate as a time in loc, and false when it is
// empty or unreadable. It accepts Unix seconds (milliseconds above 1e12) and
// "YYYY-MM-DD HH:MM:SS[.mmm]" local times.
func (i *CallInfo) StartedAt(loc *time.Location) (time.Time, bool) {
	return localTime(string(i.StartCallDate), loc)
}

// CallInfo asks about one call (call_info). The PBX rate-limits this method
// (about 100 requests, period unpublished): prefer the notifications or a
// history export for bulk work.
func (c *Client) CallInfo(ctx context.Context, sessionID string) (*CallInfoResponse, error) {
	if sessionID == "" {
		return nil, errBadRequest(MethodCallInfo, "session id is empty")
	}
	var out CallInfoResponse
	if err := c.call(ctx, MethodCallInfo, provider.PolicyRead, struct {
		SessionID string `json:"session_id"`
	}{sessionID}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetRecordRequest asks for a call recording link.
type GetRecordRequest struct {
	SessionID string `json:"session_id"`
	// IPAddress is the IPv4 address allowed to download the file (the API
	// spells the field "ip_adress"). Empty: the PBX binds the link to the
	// address the request came from.
	IPAddress string `json:"ip_adress,omitempty"`
}

// GetRecordResponse is the answer to get_record.
type GetRecordResponse struct {
	Envelope
	// URL is a one-time link to the recording (MP3), bound to one IP
	// address: download it at once, with a plain GET.
	URL string `json:"url"`
}

// GetRecord asks for a one-time link to a call's recording (get_record).
//
// The PBX answers a non-zero result both for a recording it has not
// prepared yet (right after the call) and for a call without one, and does
// not tell the two apart. GetRecord reports every non-zero result as an
// *provider.APIError that matches pbx.ErrNotReady: try again later, a
// bounded number of times. A success without a link matches it too.
func (c *Client) GetRecord(ctx context.Context, req GetRecordRequest) (*GetRecordResponse, error) {
	if req.SessionID == "" {
		return nil, errBadRequest(MethodGetRecord, "session id is empty")
	}
	// ip_adress is optional (sources conflict; those that omit it work, the
	// link is then bound to the caller's IP). Which result code means "not
	// ready" is unknown: every non-zero result is read as possibly not
	// ready, since a recording is often missing right after the call.
	var out GetRecordResponse
	if err := c.call(ctx, MethodGetRecord, provider.PolicyRead, req, &out); err != nil {
		var ae *provider.APIError
		if errors.As(err, &ae) && ae.StatusCode == http.StatusOK && ae.Code != "" {
			ae.Err = pbx.ErrNotReady
		}
		return nil, err
	}
	if strings.TrimSpace(out.URL) == "" {
		return nil, errNotReady(MethodGetRecord, http.StatusOK, "answer has no recording link", nil)
	}
	return &out, nil
}

// UsersInfoRequest asks for the domain's users.
type UsersInfoRequest struct {
	// Domain defaults to the configured domain.
	Domain string `json:"domain"`
	// UserPIN, when set, asks for one user.
	UserPIN string `json:"user_pin,omitempty"`
}

// UsersInfoResponse is the answer to users_info.
type UsersInfoResponse struct {
	Envelope
	Users Users `json:"users"`
}

// User is a domain user (employee) as users_info describes it.
type User struct {
	// DisplayName is the user's name ("Иванов Сергей").
	DisplayName string `json:"display_name"`
	// Name is the login.
	Name string `json:"name"`
	// PIN is the extension.
	PIN provider.String `json:"pin"`
	// Body is the user's object as received, for fields not listed here.
	Body json.RawMessage `json:"-"`
}

// Users is the "users" field of users_info, which the PBX sends as one
// object for one user and as an array for several; both decode, and null or
// "" give an empty list.
type Users []User

// UnmarshalJSON implements json.Unmarshaler.
func (u *Users) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null" || string(b) == `""`:
		*u = nil
		return nil
	case b[0] == '{':
		var one User
		if err := decodeUser(b, &one); err != nil {
			return err
		}
		*u = Users{one}
		return nil
	case b[0] == '[':
		var raws []json.RawMessage
		if err := json.Unmarshal(b, &raws); err != nil {
			return err
		}
		out := make(Users, 0, len(raws))
		for _, r := range raws {
			var one User
			if err := decodeUser(r, &one); err != nil {
				return err
			}
			out = append(out, one)
		}
		*u = out
		return nil
	}
	return fmt.Errorf("rostelecom: users: want an object or an array, got %.20q", b)
}

func decodeUser(b []byte, u *User) error {
	type plain User // no methods: plain decoding
	if err := json.Unmarshal(b, (*plain)(u)); err != nil {
		return err
	}
	u.Body = append(json.RawMessage(nil), b...)
	return nil
}

// UsersInfo lists the domain's users (users_info). It is also the cheapest
// way to check the credentials.
func (c *Client) UsersInfo(ctx context.Context, req UsersInfoRequest) (*UsersInfoResponse, error) {
	if req.Domain == "" {
		req.Domain = c.cfg.Domain
	}
	var out UsersInfoResponse
	if err := c.call(ctx, MethodUsersInfo, provider.PolicyRead, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CallHistoryOrder asks for an export of the domain's call log.
type CallHistoryOrder struct {
	// From and To bound the period; they are sent as "YYYY-MM-DD HH:MM:SS"
	// in the client's Location (the API rejects Unix times).
	From, To time.Time
	// Direction filters: 0 all, 1 incoming, 2 outgoing, 3 internal.
	Direction int
	// State filters: 0 all, 1 answered, 2 not answered.
	State int
	// PhoneNumber, when set, filters by a number.
	PhoneNumber string
}

// OrderCallHistoryResponse is the answer to domain_call_history.
type OrderCallHistoryResponse struct {
	Envelope
	// OrderID names the export in download_call_history and in the
	// history_file_completed notification.
	OrderID provider.String `json:"order_id"`
}

// HistoryDateLayout is how domain_call_history wants its dates.
const HistoryDateLayout = "2006-01-02 15:04:05"

// OrderCallHistory orders an export of the call log (domain_call_history).
// The PBX prepares the file in the background (minutes); fetch it with
// DownloadCallHistory, or use History, which waits for it. Ordering a period
// whose export is still pending fails with a message containing «уже
// существует».
func (c *Client) OrderCallHistory(ctx context.Context, o CallHistoryOrder) (*OrderCallHistoryResponse, error) {
	if o.From.IsZero() || o.To.IsZero() {
		return nil, errBadRequest(MethodDomainCallHistory, "From and To are required")
	}
	if o.To.Before(o.From) {
		return nil, errBadRequest(MethodDomainCallHistory, "To is before From")
	}
	// Dates are strings in the client's Location: the API rejects Unix
	// times, and integrations send Moscow time (the zone is not documented;
	// domains in other regions may want their own Location). The order is
	// sent with the read policy: a retried duplicate is refused
	// («уже существует»), never doubled.
	wire := struct {
		DateStart   string `json:"date_start"`
		DateEnd     string `json:"date_end"`
		Direction   int    `json:"direction"`
		State       int    `json:"state"`
		PhoneNumber string `json:"phone_number,omitempty"`
	}{
		DateStart:   o.From.In(c.cfg.Location).Format(HistoryDateLayout),
		DateEnd:     o.To.In(c.cfg.Location).Format(HistoryDateLayout),
		Direction:   o.Direction,
		State:       o.State,
		PhoneNumber: o.PhoneNumber,
	}
	var out OrderCallHistoryResponse
	if err := c.call(ctx, MethodDomainCallHistory, provider.PolicyRead, wire, &out); err != nil {
		return nil, err
	}
	if strings.TrimSpace(string(out.OrderID)) == "" {
		return nil, &provider.APIError{Provider: Name, Operation: MethodDomainCallHistory, StatusCode: http.StatusOK,
			Message: "answer has no order_id"}
	}
	return &out, nil
}

// DownloadCallHistory fetches and parses an ordered export
// (download_call_history).
//
// While the PBX is still preparing the file it answers HTTP 404 with an HTML
// page; DownloadCallHistory then returns an *provider.APIError that matches
// pbx.ErrNotReady. The file may come as ZIP, gzip or plain CSV; see
// ParseCallHistory for how it is read.
func (c *Client) DownloadCallHistory(ctx context.Context, orderID string) ([]HistoryRow, error) {
	f, err := c.downloadHistory(ctx, orderID)
	if err != nil {
		return nil, err
	}
	rows, err := ParseCallHistory(f, c.cfg.Location)
	if err != nil {
		return nil, &provider.APIError{Provider: Name, Operation: MethodDownloadCallHistory, StatusCode: http.StatusOK,
			Message: err.Error()}
	}
	return rows, nil
}

// downloadHistory fetches the export and returns the file as sent.
func (c *Client) downloadHistory(ctx context.Context, orderID string) ([]byte, error) {
	const op = MethodDownloadCallHistory
	if orderID == "" {
		return nil, errBadRequest(op, "order id is empty")
	}
	body, err := json.Marshal(struct {
		OrderID string `json:"order_id"`
	}{orderID})
	if err != nil {
		return nil, err
	}
	// A stream: the file may be large (it is capped at 256 MiB) and a slow
	// link must not cut it; Config.Timeout bounds the silence instead.
	resp, err := c.post(ctx, op, provider.PolicyRead, body, true)
	if err != nil {
		return nil, err
	}
	b, err := provider.ReadResponse(Name, op, resp, maxHistoryFile)
	if err != nil {
		return nil, err
	}
	// Not ready: 404 with an HTML page (observed, not in the manual). The
	// file: ZIP as observed, gzip as the manual says, or plain CSV; a JSON
	// object is an error or the test host's stub.
	kind := sniff(b)
	switch {
	case resp.StatusCode == http.StatusNotFound || (kind == kindHTML && resp.StatusCode < 300):
		return nil, errNotReady(op, resp.StatusCode, "the file is still being prepared", b)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		var env Envelope
		isJSON := json.Unmarshal(b, &env) == nil
		return nil, statusError(op, resp, b, &env, isJSON)
	case kind == kindJSON:
		// An error, or the test host's stub; never a file.
		var env Envelope
		if err := decodeAnswer(op, resp, b, &env); err != nil {
			return nil, err
		}
		return nil, &provider.APIError{Provider: Name, Operation: op, StatusCode: resp.StatusCode,
			Message: "answer is JSON, not a file", Body: provider.Excerpt(b), RetryAfter: provider.RetryAfter(resp)}
	}
	return b, nil
}
