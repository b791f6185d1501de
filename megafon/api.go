package megafon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// The CRM REST API of the PBX, https://DOMAIN.megapbx.ru/crmapi/v1, with
// the X-API-KEY header [confirmed: brandup-online/megafon-ats,
// mikopbx/ModuleMegafonPbx, IndeecDen/megapbx-max, a public Go client's
// tests]. Its documentation (api.megapbx.ru) is a single-page application
// whose text is not public; the shapes below come from public clients.

// CallRequest is the body of POST /makecall.
type CallRequest struct {
	// User is the employee the PBX rings first: a login, an extension or a
	// direct number of the PBX [the family's documentation, as quoted by
	// two public clients].
	User string `json:"user"`
	// Phone is the number to call once the employee answered, in digits.
	Phone string `json:"phone"`
	// CLID, when set, is the number shown to the called client [seen in
	// one MegaFon integration (FARA CRM) and one Gravitel client, per
	// pbxkit's protocol notes; uncertain].
	CLID string `json:"clid,omitempty"`
}

// CallResult is the answer to makecall.
type CallResult struct {
	// CallID is the answer's callid [brandup-online/megafon-ats's
	// MakeCallResponse]: in the family the call's notifications carry it
	// (inferred; not documented).
	CallID string
}

// Call asks the PBX to ring the employee req.User and, once they answer,
// to dial req.Phone (POST /makecall). It rings a phone, so it is never
// retried once the request may have reached the PBX, and a redirect is
// never followed (a *provider.RedirectError). A 4xx/5xx answer, or a 2xx
// whose JSON reports an error, is a *provider.APIError.
func (c *Client) Call(ctx context.Context, req CallRequest) (CallResult, error) {
	const op = "makecall"
	if strings.TrimSpace(req.User) == "" || strings.TrimSpace(req.Phone) == "" {
		return CallResult{}, errors.New("megafon: makecall: the user and the phone are required")
	}
	body, err := json.Marshal(req)
	if err != nil {
		return CallResult{}, fmt.Errorf("megafon: makecall: %w", err)
	}
	b, err := c.call(ctx, op, http.MethodPost, c.base+"/makecall", provider.PolicyAction, body)
	if err != nil {
		return CallResult{}, err
	}
	var a struct {
		CallID provider.String `json:"callid"`
		UUID   provider.String `json:"uuid"` // the legacy API's name
	}
	_ = json.Unmarshal(b, &a) // any 2xx without an error is success; the id is a bonus
	id := strings.TrimSpace(string(a.CallID))
	if id == "" {
		id = strings.TrimSpace(string(a.UUID))
	}
	return CallResult{CallID: id}, nil
}

// User is one employee of the PBX, as GET /users lists them. The values
// are kept as text.
type User struct {
	// Login is the employee's login, the "user" of notifications and of
	// the call log.
	Login provider.String `json:"login"`
	// Name is the employee's name.
	Name provider.String `json:"name"`
	// Ext is the extension.
	Ext provider.String `json:"ext"`
	// Telnum is the direct number; Mobile the mobile number.
	Telnum provider.String `json:"telnum"`
	Mobile provider.String `json:"mobile"`
	// Email, Position, Role ("user", "admin", ...) and Status as the PBX
	// gives them [one or two public sources each].
	Email    provider.String `json:"email"`
	Position provider.String `json:"position"`
	Role     provider.String `json:"role"`
	Status   provider.String `json:"status"`
}

// usersPage is one page of GET /users.
type usersPage struct {
	Items []User `json:"items"`
	Info  struct {
		Start provider.Int `json:"start"`
		Limit provider.Int `json:"limit"`
		Total provider.Int `json:"total"`
		Next  provider.Int `json:"next"`
	} `json:"info"`
}

// UsersPageSize is how many employees Users asks for per page.
const UsersPageSize = 100

// maxUsers bounds the employees Users reads, and so its pages.
const maxUsers = 100000

// Users lists every employee (GET /users?start=N&limit=100, page after
// page). The answer is {"items":[...],"info":{"start","limit","total",
// "next"}} [confirmed: IndeecDen/megapbx-max and a public Go client page
// with start and limit; mikopbx/ModuleMegafonPbx reads items]; the pages
// end when one is empty, the total is reached, or "next" does not move on.
// A bare JSON array is read as the whole list. It is a read: retried on
// transient failures.
func (c *Client) Users(ctx context.Context) ([]User, error) {
	const op = "users"
	var all []User
	start := 0
	for {
		q := url.Values{"start": {strconv.Itoa(start)}, "limit": {strconv.Itoa(UsersPageSize)}}
		b, err := c.call(ctx, op, http.MethodGet, c.base+"/users?"+q.Encode(), provider.PolicyRead, nil)
		if err != nil {
			return nil, err
		}
		var page usersPage
		if t := firstByte(b); t == '[' {
			if err := json.Unmarshal(b, &page.Items); err != nil {
				return nil, fmt.Errorf("megafon: users: the answer is not a list of employees: %w", err)
			}
			return append(all, page.Items...), nil
		}
		if err := json.Unmarshal(b, &page); err != nil {
			return nil, fmt.Errorf("megafon: users: the answer is not a page of employees: %w", err)
		}
		all = append(all, page.Items...)
		got := start + len(page.Items)
		next := int(page.Info.Next)
		switch {
		case len(page.Items) == 0, len(all) >= maxUsers:
			return all, nil
		case page.Info.Total > 0 && got >= int(page.Info.Total):
			return all, nil
		case next > start:
			start = next
		case page.Info.Total > 0:
			start = got
		default:
			return all, nil // no total and no next: one page
		}
	}
}

func firstByte(b []byte) byte {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return c
		}
	}
	return 0
}

// HistoryRequest selects the calls GET /history/json exports. Zero fields
// are not sent.
type HistoryRequest struct {
	// Start and End bound the period; sent as 20060102T150405Z in UTC
	// [confirmed: mikopbx/ModuleMegafonPbx sends it, brandup-online/megafon-ats
	// documents it (its code sends ISO 8601 instead), and the legacy API
	// takes it (skytecs/MegafonPbxApiClient)].
	Start, End time.Time
	// Period is instead one of today, yesterday, this_week, last_week,
	// this_month, last_month.
	Period string
	// Type is all, in, out or missed.
	Type string
	// User is an employee's login.
	User string
	// Limit caps the rows (the PBX's default when 0 is not documented).
	Limit int
}

func (r HistoryRequest) query() url.Values {
	q := url.Values{}
	if !r.Start.IsZero() {
		q.Set("start", r.Start.UTC().Format("20060102T150405Z"))
	}
	if !r.End.IsZero() {
		q.Set("end", r.End.UTC().Format("20060102T150405Z"))
	}
	for k, v := range map[string]string{"period": r.Period, "type": r.Type, "user": r.User} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if r.Limit > 0 {
		q.Set("limit", strconv.Itoa(r.Limit))
	}
	return q
}

// CallHistory streams the call log GET /history/json answers for req,
// row by row (see [HistoryRow] and [NewHistoryReader]), in the PBX's
// order. An error ends the sequence: it is yielded once, with a nil row.
// Stopping early closes the answer. It is a read: the request is retried
// on transient failures before the first row.
func (c *Client) CallHistory(ctx context.Context, req HistoryRequest) iter.Seq2[*HistoryRow, error] {
	return func(yield func(*HistoryRow, error) bool) {
		const op = "history/json"
		resp, err := c.send(ctx, op, http.MethodGet, c.base+"/history/json?"+req.query().Encode(), provider.PolicyRead, nil, false)
		if err != nil {
			yield(nil, err)
			return
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		if resp.StatusCode < 200 || resp.StatusCode > 299 || startsWith(br, '{', '<') {
			b, rerr := provider.ReadResponse(Name, op, &http.Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(br)}, maxAnswer)
			if rerr != nil {
				yield(nil, rerr)
				return
			}
			if e := answerError(op, resp, b); e != nil {
				yield(nil, e)
				return
			}
			yield(nil, &provider.APIError{Provider: Name, Operation: op, StatusCode: resp.StatusCode,
				Message: "unexpected answer: not a list of calls", Body: provider.Excerpt(b)})
			return
		}
		hr := NewHistoryReader(br, c.cfg.Location)
		for {
			row, err := hr.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(nil, provider.ScrubError(err))
				return
			}
			if !yield(row, nil) {
				return
			}
		}
	}
}

// startsWith reports whether the first non-space byte br holds is one of
// bs, without consuming it.
func startsWith(br *bufio.Reader, bs ...byte) bool {
	for i := 1; i <= 512; i++ {
		p, err := br.Peek(i)
		if len(p) < i {
			return false
		}
		c := p[i-1]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			if err != nil {
				return false
			}
			continue
		}
		for _, b := range bs {
			if c == b {
				return true
			}
		}
		return false
	}
	return false
}

// Record streams the recording at link, a "record" of the call log or the
// "link" of a history notification (https://records.megapbx.ru/record/...),
// with the API key when link is on the API's host or, for the real
// service, under megapbx.ru [one source, mikopbx/ModuleMegafonPbx, sends
// the key; whether every link needs it is not documented]; any other link
// is fetched without the key. The download is a read, retried before its
// first byte; [Config.Timeout] bounds the silence between bytes, not the
// whole download. An answer that is a page or JSON instead of audio is a
// *provider.APIError. The caller closes the Recording's Body.
func (c *Client) Record(ctx context.Context, link string) (*pbx.Recording, error) {
	const op = "record"
	u, err := url.Parse(strings.TrimSpace(link))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, errors.New("megafon: record: the link is not an absolute http or https URL")
	}
	h := http.Header{}
	if c.keyFor(u) {
		if err := c.ready(op); err != nil {
			return nil, err
		}
		c.signRequest(h)
	}
	resp, err := c.api.Do(ctx, provider.Request{Operation: op, Policy: provider.PolicyRead, Method: http.MethodGet,
		URL: u.String(), Header: h, Stream: true})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		e := provider.ResponseError(Name, op, resp)
		if msg, _ := errorMessage([]byte(e.Body), false); msg != "" {
			e.Message = msg
		}
		return nil, e
	}
	ct := resp.Header.Get("Content-Type")
	mt := strings.ToLower(ct)
	if strings.HasPrefix(mt, "text/html") || strings.HasPrefix(mt, "application/json") {
		e := provider.ResponseError(Name, op, resp)
		e.Message = "the answer is not audio (" + provider.Excerpt([]byte(ct)) + ")"
		return nil, e
	}
	if ct == "" || strings.HasPrefix(mt, "application/octet-stream") {
		ct = "audio/mpeg"
	}
	size := resp.ContentLength
	if size < 0 {
		size = -1
	}
	return &pbx.Recording{Body: resp.Body, ContentType: ct, Size: size}, nil
}
