package mango

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// ---- result codes ----

// ResultCode is one of Mango's result codes: the result of a command
// (1000 is success), a disconnect reason, a recording's completion code.
type ResultCode int

// Result codes the package acts on.
const (
	// ResultOK: the action was done.
	ResultOK ResultCode = 1000
	// ResultBadSignature: the sign does not match.
	ResultBadSignature ResultCode = 3102
	// ResultBadKey: the vpbx_api_key is wrong.
	ResultBadKey ResultCode = 3105
	// ResultCallNotFound, ResultRecordingNotFound, ResultFileNotFound:
	// the object does not exist (a recording not stored yet included).
	ResultCallNotFound      ResultCode = 3310
	ResultRecordingNotFound ResultCode = 3320
	ResultFileNotFound      ResultCode = 3340
	// ResultCallEnded: the call is over or unknown.
	ResultCallEnded ResultCode = 4101
)

// resultTexts are the meanings of the codes the manual lists (API v1.10,
// "Коды результата"), in English. A code ending in 0 also stands for its
// class: 2210 for 221x, 2200 for 22xx, 2000 for 2xxx.
var resultTexts = map[ResultCode]string{
	1000: "action done",
	1100: "call ended normally",
	1110: "call ended by the caller",
	1111: "no answer within the timeout",
	1120: "call ended by the callee",
	1121: "busy",
	1122: "rejected by the callee",
	1123: "do not disturb",
	1130: "restrictions on the called number",
	1131: "called number unavailable",
	1132: "called number not served",
	1133: "called number does not exist",
	1134: "too many forwards",
	1140: "calls to the region barred by the PBX settings",
	1150: "restrictions on the calling number",
	1151: "calling number black-listed",
	1152: "calling number not white-listed",
	1160: "group call failed",
	1161: "hold forbidden by the PBX settings",
	1162: "hold queue full",
	1163: "hold queue timeout",
	1164: "all operators unavailable",
	1170: "call ended by the forwarding scheme",
	1171: "forwarding scheme misconfigured",
	1180: "call ended by a user command",
	1181: "call ended by the external system",
	1182: "call taken by another operator",
	1183: "new operator assigned",
	1190: "called number inactive or out of schedule",
	1191: "called number inactive",
	1192: "called number out of schedule",
	2000: "billing restriction",
	2100: "account not accessible",
	2110: "account blocked",
	2120: "account closed",
	2130: "account frozen",
	2140: "account invalid",
	2200: "account access restricted",
	2210: "access restricted by the period of use",
	2211: "daily limit of the service reached",
	2212: "monthly limit of the service reached",
	2220: "too many simultaneous calls or actions",
	2230: "service unavailable",
	2240: "insufficient funds",
	2250: "limit on the uses of the service in billing",
	2300: "direction blocked",
	2400: "billing error",
	3000: "invalid request",
	3100: "invalid command parameters",
	3101: "request not made with POST",
	3102: "signature does not match",
	3103: "a required parameter is missing",
	3104: "a parameter has the wrong format",
	3105: "invalid access key",
	3200: "invalid number",
	3300: "object does not exist",
	3310: "call not found",
	3320: "recording not found",
	3330: "number not found at the PBX or employee",
	3340: "file not found",
	4000: "action cannot be done",
	4001: "command not supported",
	4002: "recording shorter than the PBX's minimum, not kept",
	4100: "impossible by the PBX's logic",
	4101: "call ended or does not exist",
	4102: "already recording",
	4200: "the party cannot be reached now",
	4300: "SMS not sent",
	4301: "SMS expired",
	4391: "SMS lost (external operator)",
	4392: "SMS rejected (external operator)",
	4393: "SMS cancelled (external operator)",
	4400: "cannot add a conference participant",
	4401: "hardware error",
	4402: "service unavailable",
	4403: "insufficient resources",
	4404: "too many conference participants",
	4405: "joining forbidden by the conference room settings",
	4500: "security restriction",
	4501: "call frequency limited",
	4502: "calling number black-listed for inbound calls",
	4503: "file too large",
	4504: "file size unknown",
	5000: "server error",
	5001: "overload",
	5002: "restart",
	5003: "technical problems",
	5004: "database access problems",
}

// classOf returns the most specific entry of the table that covers c: c
// itself when listed, else the class whose listed representative ends in
// zeros (2219 → 2210, "221x"; 2290 → 2200, "22xx"; 1090 → 1000, "1xxx"),
// and the class's pattern. ok is false when nothing covers c.
func classOf(c ResultCode) (rep ResultCode, pattern string, ok bool) {
	if c < 1000 || c > 9999 {
		return 0, "", false
	}
	if _, ok := resultTexts[c]; ok {
		return c, strconv.Itoa(int(c)), true
	}
	// The manual's rule: an unknown code reads as its class. A
	// representative ending in one zero stands for xyz0..xyz9 only when its
	// third digit is not 0 (1000 is the 1xxx class, not 100x).
	d := int(c)
	if r := d / 10 * 10; r%100 != 0 {
		if _, ok := resultTexts[ResultCode(r)]; ok {
			return ResultCode(r), strconv.Itoa(d/10) + "x", true
		}
	}
	if r := d / 100 * 100; r%1000 != 0 {
		if _, ok := resultTexts[ResultCode(r)]; ok {
			return ResultCode(r), strconv.Itoa(d/100) + "xx", true
		}
	}
	r := d / 1000 * 1000
	if _, ok := resultTexts[ResultCode(r)]; ok {
		return ResultCode(r), strconv.Itoa(d/1000) + "xxx", true
	}
	return 0, "", false
}

// Class returns the code's class as the manual writes it: the code itself
// when the manual lists it ("3102"), else the pattern of the class it
// falls in ("221x" for an unlisted 2219, "1xxx" for 1090); "" when none.
func (c ResultCode) Class() string {
	_, p, _ := classOf(c)
	return p
}

// Text returns the meaning of the code, or of its class for an unlisted
// code; "unknown result code" when nothing covers it.
func (c ResultCode) Text() string {
	rep, _, ok := classOf(c)
	if !ok {
		return "unknown result code"
	}
	return resultTexts[rep]
}

// OK reports whether c is 1000, success.
func (c ResultCode) OK() bool { return c == ResultOK }

// String returns the code as digits.
func (c ResultCode) String() string { return strconv.Itoa(int(c)) }

// ResultError is a result code other than 1000 in an API answer. It is the
// Err of the *provider.APIError the Client returns, so errors.As finds
// both. Codes 3102 and 3105 (signature, key) match provider.ErrUnauthorized;
// 3320 and 3340 (recording or file not found: Mango stores recordings a
// while after the call) match pbx.ErrNotReady.
type ResultError struct {
	Code ResultCode
}

// Error returns "mango result 2219 (class 221x): access restricted by the
// period of use".
func (e *ResultError) Error() string {
	msg := "mango result " + e.Code.String()
	if cl := e.Code.Class(); cl != "" && cl != e.Code.String() {
		msg += " (class " + cl + ")"
	}
	return msg + ": " + e.Code.Text()
}

// Class returns the code's class (see ResultCode.Class).
func (e *ResultError) Class() string { return e.Code.Class() }

// Is matches provider.ErrUnauthorized and pbx.ErrNotReady as documented.
func (e *ResultError) Is(target error) bool {
	switch target {
	case provider.ErrUnauthorized:
		return e.Code == ResultBadSignature || e.Code == ResultBadKey
	case pbx.ErrNotReady:
		return e.Code == ResultRecordingNotFound || e.Code == ResultFileNotFound
	}
	return false
}

// ---- commands ----

// NewCommandID returns a command_id for a command: "pbxkit-" and 16 random
// hex digits. Mango echoes it in the command's result and in the legs the
// command creates (CallNotification.CommandID).
func NewCommandID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "pbxkit-" + hex.EncodeToString(b[:])
}

// commandAnswer is the synchronous answer of a command.
type commandAnswer struct {
	Result provider.String `json:"result"`
}

// CallbackRequest is commands/callback: the PBX rings the employee, then
// the number.
type CallbackRequest struct {
	// Extension is the employee who calls (required).
	Extension string
	// FromNumber, when set, is the employee's number to ring instead of
	// the default one (a SIP, FMC or PSTN number).
	FromNumber string
	// ToNumber is the number to call, as Mango dials it: for PSTN, digits
	// with the country code.
	ToNumber string
	// LineNumber, when set, is the company line shown to the callee.
	LineNumber string
	// CommandID identifies the command; NewCommandID() when empty.
	CommandID string
}

// Callback sends commands/callback and returns the command_id. It may ring
// a phone, so it is never sent again once it may have reached the PBX.
func (c *Client) Callback(ctx context.Context, req CallbackRequest) (string, error) {
	if strings.TrimSpace(req.Extension) == "" || strings.TrimSpace(req.ToNumber) == "" {
		return "", errBadRequest(OpCallback, "Extension and ToNumber are required")
	}
	if req.CommandID == "" {
		req.CommandID = NewCommandID()
	}
	type from struct {
		Extension string `json:"extension"`
		Number    string `json:"number,omitempty"`
	}
	in := struct {
		CommandID  string `json:"command_id"`
		From       from   `json:"from"`
		ToNumber   string `json:"to_number"`
		LineNumber string `json:"line_number,omitempty"`
	}{req.CommandID, from{strings.TrimSpace(req.Extension), strings.TrimSpace(req.FromNumber)}, strings.TrimSpace(req.ToNumber), strings.TrimSpace(req.LineNumber)}
	if err := c.call(ctx, OpCallback, provider.PolicyAction, in, &commandAnswer{}); err != nil {
		return "", err
	}
	return req.CommandID, nil
}

// RouteCommand is commands/route: where a leg in the IVR or a queue (or
// one ringing an employee, not yet answered) goes.
type RouteCommand struct {
	// CallID is the leg (CallNotification.CallID), not the entry.
	CallID string
	// ToNumber is an extension (routed by the employee's card), a group
	// number, or a SIP/FMC/PSTN number (an unconditional redirect).
	ToNumber string
	// DisplayName, when set, is shown on the employee's phone (SIP
	// header From/display-name; at most 64 bytes, cut at a character).
	DisplayName string
	// CommandID identifies the command; NewCommandID() when empty.
	CommandID string
}

// maxDisplayName is the longest From/display-name Mango takes, in bytes.
const maxDisplayName = 64

// Route sends commands/route and returns the command_id. It waits for the
// route limit (Config.RouteInterval after the previous route command's
// answer: Mango's one every 2 s per PBX by default) within ctx and
// Timeout, and is never sent again once it may have reached the PBX. The
// provider's webhook routes calls by itself (see WebhookHandler); Route is
// for applications that route on their own, and shares the limit with it.
func (c *Client) Route(ctx context.Context, cmd RouteCommand) (string, error) {
	in, err := routePayload(&cmd)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(in)
	if err != nil {
		return "", fmt.Errorf("mango: %s: encoding the request: %w", OpRoute, err)
	}
	maxWait := time.Duration(1<<63 - 1)
	if c.cfg.Timeout > 0 {
		maxWait = c.cfg.Timeout
	}
	if err := c.sendRoute(ctx, payload, maxWait); err != nil {
		return "", err
	}
	return cmd.CommandID, nil
}

// routePayload is the JSON value of cmd; it fills cmd.CommandID.
func routePayload(cmd *RouteCommand) (any, error) {
	cmd.CallID, cmd.ToNumber = strings.TrimSpace(cmd.CallID), strings.TrimSpace(cmd.ToNumber)
	if cmd.CallID == "" || cmd.ToNumber == "" {
		return nil, errBadRequest(OpRoute, "CallID and ToNumber are required")
	}
	if cmd.CommandID == "" {
		cmd.CommandID = NewCommandID()
	}
	type payload struct {
		CommandID  string            `json:"command_id"`
		CallID     string            `json:"call_id"`
		ToNumber   string            `json:"to_number"`
		SIPHeaders map[string]string `json:"sip_headers,omitempty"`
	}
	p := payload{CommandID: cmd.CommandID, CallID: cmd.CallID, ToNumber: cmd.ToNumber}
	if name := truncate(strings.TrimSpace(cmd.DisplayName), maxDisplayName); name != "" {
		p.SIPHeaders = map[string]string{"From/display-name": name}
	}
	return p, nil
}

// truncate cuts s to at most n bytes at a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// Hangup sends commands/call/hangup for a leg (CallNotification.CallID,
// not the entry). A leg already over gives a *ResultError with code 4101
// (ResultCallEnded). It is not sent again once it may have reached the
// PBX.
func (c *Client) Hangup(ctx context.Context, callID string) error {
	callID = strings.TrimSpace(callID)
	if callID == "" {
		return errBadRequest(OpHangup, "callID is required")
	}
	in := struct {
		CommandID string `json:"command_id"`
		CallID    string `json:"call_id"`
	}{NewCommandID(), callID}
	return c.call(ctx, OpHangup, provider.PolicyAction, in, &commandAnswer{})
}

// ---- users ----

// User is one employee of config/users/request.
type User struct {
	General   UserGeneral   `json:"general"`
	Telephony UserTelephony `json:"telephony"`
}

// UserGeneral is the employee's card.
type UserGeneral struct {
	Name       provider.String `json:"name"`
	Email      provider.String `json:"email"`
	Department provider.String `json:"department"`
	Position   provider.String `json:"position"`
	// UserID is the newer manual's employee id.
	UserID provider.String `json:"user_id"`
}

// UserTelephony is the employee's telephony settings.
type UserTelephony struct {
	Extension    provider.String `json:"extension"`
	OutgoingLine provider.String `json:"outgoingline"`
	Numbers      []UserNumber    `json:"numbers"`
}

// UserNumber is one of the numbers the employee is rung on.
type UserNumber struct {
	Number provider.String `json:"number"`
	// Protocol is tel, sip or fmc.
	Protocol provider.String `json:"protocol"`
	Order    provider.String `json:"order"`
	WaitSec  provider.String `json:"wait_sec"`
	// Status is on or off.
	Status provider.String `json:"status"`
}

// SIPAccount returns the employee's first SIP number without its "sip:"
// scheme ("ivanova@vpbx400000000.mangosip.ru"), or "".
func (u *User) SIPAccount() string {
	for _, n := range u.Telephony.Numbers {
		if strings.EqualFold(str(n.Protocol), "sip") {
			s := str(n.Number)
			if len(s) > 4 && strings.EqualFold(s[:4], "sip:") {
				s = s[4:]
			}
			return s
		}
	}
	return ""
}

// Users sends config/users/request: every employee, or the one with
// extension when it is not empty. Mango allows one such request every 2 s;
// the Client waits for it.
func (c *Client) Users(ctx context.Context, extension string) ([]User, error) {
	in := map[string]string{}
	if ext := strings.TrimSpace(extension); ext != "" {
		in["extension"] = ext
	}
	var out struct {
		Users []User `json:"users"`
	}
	if err := c.call(ctx, OpUsers, provider.PolicyRead, in, &out); err != nil {
		return nil, err
	}
	return out.Users, nil
}

// ---- recordings ----

// OpenRecording downloads a recording by its recording_id (from
// events/recording, events/record/added or the call log's records column)
// in Mango's two steps: queries/recording/post answers 302 with a one-time
// file link, which is then fetched and streamed. The link is not stored or
// returned: it works once. A link to a host other than BaseURL's and
// Config.RecordingHosts is not followed (a *provider.RedirectError). A
// recording Mango has not stored yet matches pbx.ErrNotReady.
func (c *Client) OpenRecording(ctx context.Context, recordingID string) (*pbx.Recording, error) {
	recordingID = strings.TrimSpace(recordingID)
	if recordingID == "" {
		return nil, errBadRequest(OpRecordingPost, "recordingID is required")
	}
	in := struct {
		RecordingID string `json:"recording_id"`
		Action      string `json:"action"`
	}{recordingID, "download"}
	payload, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	slot := &locationSlot{}
	resp, err := c.send(context.WithValue(ctx, locationKey{}, slot), OpRecordingPost, provider.PolicyRead, payload, false)
	var re *provider.RedirectError
	switch {
	case errors.As(err, &re):
		link, lerr := c.fileLink(re, slot.get())
		if lerr != nil {
			return nil, lerr
		}
		return c.download(ctx, link)
	case err != nil:
		return nil, err
	}
	// Not a redirect: an error answer, or a 200 that says why.
	b, err := provider.ReadResponse(Name, OpRecordingPost, resp, maxResponse)
	if err != nil {
		return nil, err
	}
	if err := decodeAnswer(OpRecordingPost, resp, b, nil); err != nil {
		return nil, err
	}
	return nil, &provider.APIError{Provider: Name, Operation: OpRecordingPost, StatusCode: resp.StatusCode,
		Message: "answer is neither the file link (302) nor an error", Body: provider.Excerpt(b)}
}

// fileLink checks the target of queries/recording/post's redirect: a 302
// (or 303) to BaseURL's host, or over https to one of RecordingHosts. Any
// other redirect is returned as re.
func (c *Client) fileLink(re *provider.RedirectError, loc string) (string, error) {
	if (re.StatusCode != http.StatusFound && re.StatusCode != http.StatusSeeOther) || loc == "" {
		return "", re
	}
	base, err := url.Parse(c.base + "/" + OpRecordingPost)
	if err != nil {
		return "", re
	}
	u, err := base.Parse(loc)
	if err != nil || u.User != nil {
		return "", re
	}
	if u.Scheme+"://"+u.Host == c.baseHost {
		return u.String(), nil
	}
	host := strings.ToLower(u.Hostname())
	if u.Scheme == "https" {
		for _, h := range c.cfg.RecordingHosts {
			if host == h || strings.HasSuffix(host, "."+h) {
				return u.String(), nil
			}
		}
	}
	return "", re
}

// download streams the file at link (a GET, bounded by silence).
func (c *Client) download(ctx context.Context, link string) (*pbx.Recording, error) {
	resp, err := c.hc.Do(ctx, provider.Request{Operation: opRecordingFile, Policy: provider.PolicyRead, URL: link, Stream: true})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		e := provider.ResponseError(Name, opRecordingFile, resp)
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
			e.Message = "the one-time file link is used up or expired"
		}
		return nil, e
	}
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = "audio/mpeg"
	}
	return &pbx.Recording{Body: resp.Body, ContentType: ct, Size: resp.ContentLength}, nil
}
