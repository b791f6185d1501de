package provider

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrUnauthorized is matched (with errors.Is) by an *APIError for a rejection
// of the credentials or the request signature: HTTP 401 or 403, or a vendor
// answer that says so in a 200 (Sipuni "Неправильный хеш").
var ErrUnauthorized = errors.New("provider: credentials or signature rejected")

// ErrRateLimited is matched by an *APIError for HTTP 429.
var ErrRateLimited = errors.New("provider: rate limited")

// APIError is a vendor's rejection of an API request: a non-2xx status, or a
// 2xx whose body reports an error. It never holds a secret.
type APIError struct {
	// Provider and Operation say who rejected what ("rostelecom",
	// "call_back").
	Provider  string
	Operation string
	// StatusCode is the HTTP status.
	StatusCode int
	// Code and Message are the vendor's error code and text, when it sent
	// them.
	Code    string
	Message string
	// Body is a short excerpt of the response body, for diagnosis.
	Body string
	// Err classifies the error, when the vendor's answer means more than its
	// status: ErrUnauthorized, pbx.ErrNotReady, ... errors.Is sees it.
	Err error
	// RetryAfter is the wait a 429 or 503 asked for in its Retry-After
	// header (see [RetryAfter]); 0 when it asked for none. The Client has
	// already waited and retried where the request's policy and the retry
	// budget allowed; a read that still ends in a 429 or 503 was asked to
	// wait longer than that, or ran out of attempts.
	RetryAfter time.Duration
}

// Error returns "provider: operation: HTTP status: code: message".
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(e.Provider)
	b.WriteString(": ")
	b.WriteString(e.Operation)
	b.WriteString(": HTTP ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if e.Code != "" {
		b.WriteString(": code ")
		b.WriteString(e.Code)
	}
	switch {
	case e.Message != "":
		b.WriteString(": ")
		b.WriteString(e.Message)
	case e.Err != nil:
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	case e.Body != "":
		b.WriteString(": ")
		b.WriteString(strconv.Quote(e.Body))
	}
	return b.String()
}

// Unwrap returns the classification, if any.
func (e *APIError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnauthorized) true for HTTP 401 and 403, and
// errors.Is(err, ErrRateLimited) true for 429.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	}
	return false
}

// ExcerptLen is the longest body excerpt an APIError keeps.
const ExcerptLen = 256

// Excerpt returns at most ExcerptLen bytes of b as valid UTF-8 (invalid
// bytes replaced), with surrounding space trimmed, for error messages.
func Excerpt(b []byte) string {
	if len(b) > ExcerptLen {
		b = b[:ExcerptLen]
	}
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), "\uFFFD"))
	for len(s) > ExcerptLen { // replacements are 3 bytes wide
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// ResponseError reads a short excerpt of resp's body, closes it, and returns
// an *APIError with the status and excerpt. Provider packages fill Code,
// Message and Err from the vendor's body where they can.
func ResponseError(provider, operation string, resp *http.Response) *APIError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, ExcerptLen))
	drain(resp.Body)
	return &APIError{Provider: provider, Operation: operation, StatusCode: resp.StatusCode, Body: Excerpt(b), RetryAfter: RetryAfter(resp)}
}

// ReadResponse reads at most limit bytes of a response body and closes it.
// A larger body is an *APIError: API answers (not recordings) are small. A
// read that fails (a timeout included) is an *OpError.
func ReadResponse(provider, operation string, resp *http.Response, limit int64) ([]byte, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		var oe *OpError
		if errors.As(err, &oe) { // already says who failed (a body from Client.Do)
			return nil, ScrubError(err)
		}
		return nil, &OpError{Provider: provider, Operation: operation, Err: ScrubError(err)}
	}
	if int64(len(b)) > limit {
		return nil, &APIError{Provider: provider, Operation: operation, StatusCode: resp.StatusCode,
			Message: "response body larger than " + strconv.FormatInt(limit, 10) + " bytes", Body: Excerpt(b),
			RetryAfter: RetryAfter(resp)}
	}
	return b, nil
}

// RedirectError is the answer of an API that redirected a request. pbxkit
// never follows a redirect: it would carry the signature headers, and on
// 307 or 308 a make-call body, to another host, and a make-call must not be
// sent twice. Configure the API's final URL instead. [Client.Do] returns it
// as is (errors.As finds it).
type RedirectError struct {
	Provider  string
	Operation string
	// StatusCode is the 3xx status.
	StatusCode int
	// Location is the redirect target as scheme://host/path (no user info,
	// query or fragment), or "" when the response named none.
	Location string
}

// Error returns "provider: operation: API answered 307 redirect to
// https://host/path; pbxkit does not follow redirects".
func (e *RedirectError) Error() string {
	msg := e.Provider + ": " + e.Operation + ": API answered " + strconv.Itoa(e.StatusCode)
	if e.Location != "" {
		msg += " redirect to " + e.Location
	} else {
		msg += " redirect without a Location"
	}
	return msg + "; pbxkit does not follow redirects"
}

// RedactURL returns raw reduced to scheme://host/path: no user info, query
// (signatures, hashes, tokens) or fragment. It returns "(unparsable URL)"
// when raw does not parse.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	if u.Opaque != "" {
		r.Opaque = "(opaque)" // "scheme:opaque" has no host/path split to keep
	}
	return r.String()
}

// ScrubError returns err with the URL of every *url.Error in its chain
// reduced by [RedactURL], so that printing it cannot leak a token in a
// query or a password in user info. *url.Error and *OpError links are
// rebuilt; above any other wrapper the result is an error whose text has
// those URLs redacted and that still matches errors.Is against the
// original chain, while errors.As finds the redacted *url.Error. An error
// without a *url.Error is returned as is.
func ScrubError(err error) error {
	switch e := err.(type) {
	case nil:
		return nil
	case *url.Error:
		return &url.Error{Op: e.Op, URL: RedactURL(e.URL), Err: ScrubError(e.Err)}
	case *OpError:
		return &OpError{Provider: e.Provider, Operation: e.Operation, Err: ScrubError(e.Err)}
	}
	var urls []*url.Error
	collectURLErrors(err, &urls, 0)
	if len(urls) == 0 {
		return err
	}
	msg := err.Error()
	for _, ue := range urls {
		if ue.URL != "" {
			msg = strings.ReplaceAll(msg, ue.URL, RedactURL(ue.URL))
		}
	}
	return &scrubbedError{msg: msg, orig: err, first: ScrubError(urls[0])}
}

// collectURLErrors appends the *url.Errors of err's tree, depth first,
// looking no deeper than 32 links.
func collectURLErrors(err error, out *[]*url.Error, depth int) {
	if err == nil || depth > 32 {
		return
	}
	if ue, ok := err.(*url.Error); ok {
		*out = append(*out, ue)
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		collectURLErrors(u.Unwrap(), out, depth+1)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			collectURLErrors(e, out, depth+1)
		}
	}
}

// scrubbedError stands for an error chain with an unknown wrapper above a
// *url.Error: its text is redacted; errors.Is consults the original chain
// (equality tests reveal no URL); Unwrap leads to the redacted *url.Error.
type scrubbedError struct {
	msg   string
	orig  error
	first error
}

func (e *scrubbedError) Error() string        { return e.msg }
func (e *scrubbedError) Unwrap() error        { return e.first }
func (e *scrubbedError) Is(target error) bool { return errors.Is(e.orig, target) }
