package provider

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
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
	return &APIError{Provider: provider, Operation: operation, StatusCode: resp.StatusCode, Body: Excerpt(b)}
}

// ReadResponse reads at most limit bytes of a response body and closes it.
// A larger body is an error: API answers (not recordings) are small.
func ReadResponse(provider, operation string, resp *http.Response, limit int64) ([]byte, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, &OpError{Provider: provider, Operation: operation, Err: scrubError(err)}
	}
	if int64(len(b)) > limit {
		return nil, &APIError{Provider: provider, Operation: operation, StatusCode: resp.StatusCode,
			Message: "response body larger than " + strconv.FormatInt(limit, 10) + " bytes", Body: Excerpt(b)}
	}
	return b, nil
}
