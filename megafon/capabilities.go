package megafon

import (
	"context"
	"errors"
	"fmt"
	"iter"
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
	_ pbx.SubscriberLister   = (*Client)(nil)
	_ pbx.HistoryExporter    = (*Client)(nil)
	_ pbx.RecordingFetcher   = (*Client)(nil)
	_ provider.WebhookTester = (*Client)(nil)
)

// MakeCall implements pbx.Caller with [Client.Call]: the PBX rings the
// employee req.Extension (sent as makecall's user, which the PBX takes as
// a login, an extension or a direct number) and then dials req.Phone,
// normalised by phone.Normalize and sent as digits only ("+7 (999)
// 123-45-67" gives "79991234567"; the family rejects a "+"). CallResult.CallID
// is makecall's callid.
//
// MakeCall rings a phone, so it is never retried once the request may have
// reached the PBX, and a redirect is never followed. It gives up after
// Config.Timeout (default 30 s) unless ctx ends earlier.
func (c *Client) MakeCall(ctx context.Context, req pbx.CallRequest) (pbx.CallResult, error) {
	ext := strings.TrimSpace(req.Extension)
	if ext == "" {
		return pbx.CallResult{}, errors.New("megafon: makecall: no extension to ring")
	}
	num := phone.Normalize(req.Phone)
	if !allDigits(num) {
		return pbx.CallResult{}, fmt.Errorf("megafon: makecall: %.40q is not a telephone number", req.Phone)
	}
	res, err := c.Call(ctx, CallRequest{User: ext, Phone: num})
	if err != nil {
		return pbx.CallResult{}, err
	}
	return pbx.CallResult{CallID: res.CallID}, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Subscribers implements pbx.SubscriberLister with [Client.Users]:
// Extension is ext, Login the login, Name the name, Raw the *User.
func (c *Client) Subscribers(ctx context.Context) ([]pbx.Subscriber, error) {
	users, err := c.Users(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]pbx.Subscriber, len(users))
	for i := range users {
		u := &users[i]
		out[i] = pbx.Subscriber{
			Extension: strings.TrimSpace(string(u.Ext)),
			Login:     strings.TrimSpace(string(u.Login)),
			Name:      strings.TrimSpace(string(u.Name)),
			Raw:       u,
		}
	}
	return out, nil
}

// History implements pbx.HistoryExporter with [Client.CallHistory]: it
// lists the employees first ([Client.Users]), so that each record's
// Extension is the extension of the row's user (the call log names the
// login only), then exports the period [q.From, q.To) (a zero To means
// now; From is required) with type in or out for a direction, and yields
// one pbx.CallRecord per row inside the period (see
// [HistoryRow.CallRecord]; Raw is the *HistoryRow). Internal calls are not
// in MegaFon's call log: asking for them yields nothing.
//
// Whether the PBX caps the rows of one export, or the length of the
// period, is not documented; History asks for the whole period at once.
func (c *Client) History(ctx context.Context, q pbx.HistoryQuery) iter.Seq2[pbx.CallRecord, error] {
	return func(yield func(pbx.CallRecord, error) bool) {
		if q.From.IsZero() {
			yield(pbx.CallRecord{}, errors.New("megafon: HistoryQuery.From is required"))
			return
		}
		to := q.To
		if to.IsZero() {
			to = time.Now()
		}
		if !q.From.Before(to) {
			return
		}
		typ := "all"
		switch q.Direction {
		case pbx.Inbound:
			typ = "in"
		case pbx.Outbound:
			typ = "out"
		case pbx.Internal:
			return
		}
		users, err := c.Users(ctx)
		if err != nil {
			yield(pbx.CallRecord{}, err)
			return
		}
		exts := make(map[string]string, 2*len(users))
		for _, u := range users {
			login, ext := strings.TrimSpace(string(u.Login)), strings.TrimSpace(string(u.Ext))
			if login == "" || ext == "" {
				continue
			}
			exts[strings.ToLower(login)] = ext
			if name, _, ok := strings.Cut(login, "@"); ok {
				exts[strings.ToLower(name)] = ext
			}
		}
		for row, err := range c.CallHistory(ctx, HistoryRequest{Start: q.From, End: to, Type: typ}) {
			if err != nil {
				yield(pbx.CallRecord{}, err)
				return
			}
			if !row.Time.IsZero() && (row.Time.Before(q.From) || !row.Time.Before(to)) {
				continue
			}
			rec := row.CallRecord()
			if q.Direction != pbx.DirectionUnknown && rec.Direction != pbx.DirectionUnknown && rec.Direction != q.Direction {
				continue
			}
			if rec.Extension == "" {
				user := strings.ToLower(strings.TrimSpace(row.User))
				rec.Extension = exts[user]
				if name, _, ok := strings.Cut(user, "@"); ok && rec.Extension == "" {
					rec.Extension = exts[name]
				}
			}
			if !yield(rec, nil) {
				return
			}
		}
	}
}

// RecordingLookback is how far back FetchRecording looks for a call given
// by its id.
const RecordingLookback = 31 * 24 * time.Hour

// FetchRecording implements pbx.RecordingFetcher. MegaFon names a
// recording by its link, not by the call: callID is either that link (a
// CallEvent.RecordingURL, a HistoryRow.Record), streamed by [Client.Record],
// or a call id, whose link is then looked up in the call log of the last
// RecordingLookback ([Client.CallHistory]: the row whose uid is callID, or
// whose link carries callID as a path segment, as MegaFon's links carry
// the notifications' callid) and streamed. So pass the link when you have
// it: it takes one request, not two.
//
// A call id the call log does not hold (yet: the log may lag behind the
// notifications) gives an error matching pbx.ErrNotReady; a call without a
// recording gives a plain error.
func (c *Client) FetchRecording(ctx context.Context, callID string) (*pbx.Recording, error) {
	id := strings.TrimSpace(callID)
	if id == "" {
		return nil, errors.New("megafon: FetchRecording: no call id or link")
	}
	if strings.HasPrefix(id, "http://") || strings.HasPrefix(id, "https://") {
		return c.Record(ctx, id)
	}
	now := time.Now()
	seg := "/" + url.PathEscape(id) + "/"
	found := false
	for row, err := range c.CallHistory(ctx, HistoryRequest{Start: now.Add(-RecordingLookback), End: now}) {
		if err != nil {
			return nil, err
		}
		if row.UID != id && !strings.Contains(row.Record, seg) {
			continue
		}
		found = true
		if link := strings.TrimSpace(row.Record); link != "" {
			return c.Record(ctx, link)
		}
	}
	if found {
		return nil, errors.New("megafon: FetchRecording: the call has no recording")
	}
	return nil, fmt.Errorf("megafon: FetchRecording: no call %.60q in the call log of the last %d days (pass the recording link instead): %w",
		id, int(RecordingLookback/(24*time.Hour)), pbx.ErrNotReady)
}
