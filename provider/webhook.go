package provider

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
)

// DefaultMaxBodySize is the default cap on a webhook request body: 1 MiB.
// Vendor notifications are a few hundred bytes.
const DefaultMaxBodySize = 1 << 20

// ErrBodyTooLarge is returned by ReadBody when the body exceeds the cap;
// answer 413.
var ErrBodyTooLarge = errors.New("request body too large")

// ReadBody reads the whole request body, at most limit bytes (limit <= 0
// means DefaultMaxBodySize). A larger body gives ErrBodyTooLarge.
func ReadBody(r *http.Request, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxBodySize
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, ErrBodyTooLarge
	}
	size := 512
	if r.ContentLength > 0 {
		size = int(r.ContentLength) + 1 // +1 so ReadAll-style EOF needs no growth
	}
	buf := make([]byte, 0, size)
	lr := io.LimitReader(r.Body, limit+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if int64(len(buf)) > limit {
		return nil, ErrBodyTooLarge
	}
	return buf, nil
}

// SecretEqual compares a secret received from the network with the expected
// one in constant time (neither the content nor the length leaks through
// timing). An empty expected secret never matches: a provider never fails
// open.
func SecretEqual(got, want string) bool {
	if want == "" {
		return false
	}
	g := sha256.Sum256([]byte(got))
	w := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// HexEqual compares a received hex signature with the expected lowercase one
// in constant time, accepting upper-case hex. An empty expected value never
// matches.
func HexEqual(got, want string) bool {
	if want == "" || len(got) != len(want) {
		return false
	}
	var diff byte
	for i := 0; i < len(got); i++ {
		c := got[i]
		if c >= 'A' && c <= 'F' {
			c += 'a' - 'A'
		}
		diff |= c ^ want[i]
	}
	return diff == 0
}

// Reason says which webhook check failed.
type Reason string

// Verification failures.
const (
	ReasonMissingHeader  Reason = "missing header"
	ReasonUnknownClient  Reason = "unknown client"
	ReasonBadSignature   Reason = "bad signature"
	ReasonMissingToken   Reason = "missing token"
	ReasonBadToken       Reason = "bad token"
	ReasonBadCredentials Reason = "bad credentials"
)

// VerificationError says why a webhook request was not authenticated. It
// names the check and, for a missing header, the header; it never holds the
// received or expected secret.
type VerificationError struct {
	Provider string
	Reason   Reason
	// Header names the missing header, for ReasonMissingHeader.
	Header string
}

// Error returns "provider: webhook verification failed: reason".
func (e *VerificationError) Error() string {
	msg := e.Provider + ": webhook verification failed: " + string(e.Reason)
	if e.Header != "" {
		msg += " " + e.Header
	}
	return msg
}

// WriteJSON answers with status and v encoded as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"internal error"}`)
	}
	WriteRawJSON(w, status, b)
}

// WriteRawJSON answers with status and the JSON bytes b, as written.
func WriteRawJSON(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

var jsonContentType = []string{"application/json; charset=utf-8"}

// LogWebhook journals one webhook request at debug level: provider,
// operation, the status answered, the duration and the error, if any. It
// costs nothing when debug logging is off.
func LogWebhook(ctx context.Context, logger *slog.Logger, provider, operation string, status int, start time.Time, err error) {
	if logger == nil || !logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("provider", provider),
		slog.String("operation", operation),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	logger.LogAttrs(ctx, slog.LevelDebug, "pbx webhook", attrs...)
}

// ErrRouteTimeout is returned by AskRouter when the router misses its
// deadline.
var ErrRouteTimeout = errors.New("router did not answer in time")

// AskRouter asks router for a route under timeout. The router runs in its
// own goroutine, so AskRouter returns by the deadline even when the router
// ignores its context; the router's context is cancelled then, and a late
// answer is dropped. A nil router, a panic, an error or a timeout give the
// zero Route (no decision) and, except for a nil router, an error to log.
func AskRouter(ctx context.Context, router pbx.Router, q pbx.RouteQuery, timeout time.Duration) (pbx.Route, error) {
	if router == nil {
		return pbx.Route{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type answer struct {
		r   pbx.Route
		err error
	}
	ch := make(chan answer, 1) // buffered: a late router never blocks
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- answer{err: fmt.Errorf("router panicked: %v", p)}
			}
		}()
		r, err := router.Route(ctx, q)
		ch <- answer{r, err}
	}()
	select {
	case a := <-ch:
		if a.err != nil {
			return pbx.Route{}, a.err
		}
		return a.r, nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return pbx.Route{}, ErrRouteTimeout
		}
		return pbx.Route{}, ctx.Err()
	}
}
