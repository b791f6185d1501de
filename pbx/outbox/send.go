package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// verdict is what an attempt's outcome means for the delivery.
type verdict uint8

const (
	delivered verdict = iota // 2xx
	retry                    // 3xx, 408, 409, 429, 5xx, transport error
	dead                     // any other 4xx
)

// attempt is the outcome of one request.
type attempt struct {
	verdict verdict
	status  int    // HTTP status, 0 when none came
	err     string // why it failed; never contains a secret
	// retryAfter is the Retry-After of a 429 or 503, zero when none.
	retryAfter time.Duration
	// throttled: a 429 (the target is up but asks to slow down).
	throttled bool
}

// classify maps an HTTP status to a verdict.
func classify(status int) verdict {
	switch {
	case status >= 200 && status <= 299:
		return delivered
	case status == http.StatusRequestTimeout, status == http.StatusConflict, status == http.StatusTooManyRequests:
		return retry
	case status >= 400 && status <= 499:
		return dead
	default:
		return retry
	}
}

// send makes one request: POST body to the target, signed with id.
func (o *Outbox) send(parent context.Context, id string, body []byte) attempt {
	ctx, cancel := context.WithTimeout(parent, o.cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url.String(), bytes.NewReader(body))
	if err != nil {
		return attempt{verdict: retry, err: "build request: " + redactErr(err, o.target.URL)}
	}
	for k, vs := range o.target.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	for _, h := range []string{HeaderID, HeaderTimestamp, HeaderSignature} {
		req.Header.Del(h)
		delete(req.Header, h)
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "pbxkit-outbox")
	}
	now := time.Now() // the receiver checks the timestamp against its own clock
	req.Header[HeaderID] = []string{id}
	req.Header[HeaderTimestamp] = []string{strconv.FormatInt(now.Unix(), 10)}
	req.Header[HeaderSignature] = []string{Sign(o.target.Secret, id, now, body)}

	resp, err := o.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		msg := fmt.Sprintf("POST %s: %s", RedactURL(o.target.URL), redactErr(err, o.target.URL))
		switch {
		case parent.Err() != nil:
			msg = fmt.Sprintf("POST %s: stopped before an answer", RedactURL(o.target.URL))
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			msg = fmt.Sprintf("POST %s: no answer within %v (it may have been applied: it is sent again with the same webhook-id)",
				RedactURL(o.target.URL), o.cfg.timeout)
		}
		return attempt{verdict: retry, err: msg}
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))

	a := attempt{verdict: classify(resp.StatusCode), status: resp.StatusCode}
	if a.verdict == delivered {
		return a
	}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode <= 399:
		loc := "(no Location)"
		if l := resp.Header.Get("Location"); l != "" {
			if lu, err := o.url.Parse(l); err == nil {
				loc = RedactURL(lu.String())
			} else {
				loc = "(unreadable Location)"
			}
		}
		a.err = fmt.Sprintf("POST %s: HTTP %d redirect to %s not followed: set the target URL to where it should go",
			RedactURL(o.target.URL), resp.StatusCode, loc)
	default:
		a.err = fmt.Sprintf("POST %s: HTTP %d", RedactURL(o.target.URL), resp.StatusCode)
		if s := cleanSnippet(snippet); s != "" {
			a.err += ": " + s
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		a.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		a.throttled = resp.StatusCode == http.StatusTooManyRequests
	}
	return a
}

// redactErr returns err's text with the target URL's password and query,
// should a lower layer quote them, replaced.
func redactErr(err error, raw string) string {
	s := err.Error()
	u, perr := url.Parse(raw)
	if perr != nil {
		return s
	}
	if p, ok := u.User.Password(); ok && p != "" {
		s = strings.ReplaceAll(s, p, "xxxxx")
		if ep := url.QueryEscape(p); ep != p {
			s = strings.ReplaceAll(s, ep, "xxxxx")
		}
	}
	if u.RawQuery != "" {
		s = strings.ReplaceAll(s, u.RawQuery, "...")
	}
	return s
}

// cleanSnippet turns the start of a response body into one printable
// line of at most 200 characters.
func cleanSnippet(b []byte) string {
	b = bytes.TrimSpace(b)
	var sb strings.Builder
	n := 0
	for len(b) > 0 && n < 200 {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		if r == utf8.RuneError && size <= 1 {
			r = '?'
		}
		if !unicode.IsPrint(r) {
			r = ' '
		}
		sb.WriteRune(r)
		n++
	}
	s := strings.Join(strings.Fields(sb.String()), " ")
	if len(b) > 0 {
		s += "..."
	}
	return s
}

// parseRetryAfter reads a Retry-After value: seconds or an HTTP date.
// Zero when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(365*24*time.Hour/time.Second) {
			n = int64(365 * 24 * time.Hour / time.Second)
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}
