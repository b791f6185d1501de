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
	"strings"
	"sync"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
)

// DefaultMaxBodySize is the default cap on a webhook request body: 1 MiB.
// Vendor notifications are a few hundred bytes.
const DefaultMaxBodySize = 1 << 20

// ErrBodyTooLarge is returned by ReadBody when the body exceeds the cap;
// answer 413.
var ErrBodyTooLarge = errors.New("request body too large")

// readBodyStart is the most ReadBody reserves before bytes arrive.
const readBodyStart = 4 << 10

// ReadBody reads the whole request body, at most limit bytes (limit <= 0
// means DefaultMaxBodySize). A body announced or found larger gives
// ErrBodyTooLarge. Memory follows the bytes actually received, not the
// announced Content-Length: a client that announces 1 MiB and sends
// nothing costs a few kilobytes.
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
	if r.ContentLength >= 0 {
		// +1 so that the EOF of an honest body needs no growth.
		size = int(min(r.ContentLength+1, readBodyStart))
	}
	buf := make([]byte, 0, size)
	lr := io.LimitReader(r.Body, limit+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grow as bytes arrive
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
// costs nothing when debug logging is off. It does not warn about rejected
// requests; [WebhookLog] does.
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

// webhookWarnEvery is the shortest interval between two Warn lines of a
// WebhookLog for the same reason.
const webhookWarnEvery = time.Minute

// webhookWarnKeys bounds the reasons a WebhookLog remembers.
const webhookWarnKeys = 64

// WebhookLog journals the webhook requests of one provider: every request at
// debug level, as [LogWebhook] does, and every request rejected for
// authentication also at Warn, rate-limited, because a wrong token or key
// in the PBX's settings otherwise loses every event without a trace.
//
// It is safe for concurrent use; a nil *WebhookLog logs nothing.
type WebhookLog struct {
	logger   *slog.Logger // debug journal and Warn lines; nil: see NewWebhookLog
	provider string
	now      func() time.Time // the clock, replaced in tests

	mu    sync.Mutex
	warns map[string]*warnState // by reason
}

type warnState struct {
	last       time.Time // of the last Warn line
	suppressed int       // rejections since then without a line
}

// NewWebhookLog returns the webhook journal of provider ("sipuni").
//
// A nil logger makes the debug journal silent, but rejections are still
// logged at Warn, to slog.Default() (read when a line is written):
// operators must see rejected notifications even when no logger was
// configured.
func NewWebhookLog(logger *slog.Logger, provider string) *WebhookLog {
	return &WebhookLog{logger: logger, provider: provider, now: time.Now, warns: map[string]*warnState{}}
}

// Log journals one webhook request: operation, the status answered, the
// time since start and the error, if any, at debug level. When the request
// was rejected for authentication (err is, by errors.As, a
// *VerificationError, or status is 401 or 403) it also writes the Warn line
// "pbx webhook rejected" with provider, operation, status, reason (the
// VerificationError's Reason and header, or the status text; never a
// secret) and count: the rejections that line stands for, this one and
// those not logged since the previous line for the same reason. There is at
// most one such line per reason per minute.
func (l *WebhookLog) Log(ctx context.Context, operation string, status int, start time.Time, err error) {
	if l == nil {
		return
	}
	LogWebhook(ctx, l.logger, l.provider, operation, status, start, err)
	var reason string
	var ve *VerificationError
	switch {
	case errors.As(err, &ve):
		reason = string(ve.Reason)
		if ve.Header != "" {
			reason += " " + ve.Header
		}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		reason = strings.ToLower(http.StatusText(status))
	default:
		return
	}
	count, ok := l.admit(reason)
	if !ok {
		return
	}
	logger := l.logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.LogAttrs(ctx, slog.LevelWarn, "pbx webhook rejected",
		slog.String("provider", l.provider),
		slog.String("operation", operation),
		slog.Int("status", status),
		slog.String("reason", reason),
		slog.Int("count", count),
	)
}

// admit counts a rejection for reason and says whether to write a line now,
// and for how many rejections.
func (l *WebhookLog) admit(reason string) (count int, ok bool) {
	now := time.Now
	if l.now != nil {
		now = l.now
	}
	t := now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.warns[reason]
	if w == nil {
		if l.warns == nil || len(l.warns) >= webhookWarnKeys {
			// Reasons come from the provider's code and are few; should
			// they not be, forgetting them costs an extra line, not memory.
			l.warns = map[string]*warnState{}
		}
		l.warns[reason] = &warnState{last: t}
		return 1, true
	}
	if t.Sub(w.last) < webhookWarnEvery {
		w.suppressed++
		return 0, false
	}
	count = w.suppressed + 1
	w.last, w.suppressed = t, 0
	return count, true
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

// HandOver gives e to events, the user's EventHandler, and reports its
// error. A failure is logged once, at Error, in the same words for every
// vendor ("pbx event handler failed", with provider, event type, call id and
// the error); the vendor then answers its PBX with its own 5xx dialect, so
// the PBX redelivers. A nil events accepts every event.
func HandOver(ctx context.Context, events pbx.EventHandler, logger *slog.Logger, e pbx.CallEvent) error {
	if events == nil {
		return nil
	}
	err := events.HandleEvent(ctx, e)
	if err != nil && logger != nil {
		logger.LogAttrs(ctx, slog.LevelError, "pbx event handler failed; the PBX is answered 5xx and may redeliver",
			slog.String("provider", e.Provider), slog.String("type", e.Type.String()),
			slog.String("call_id", e.CallID), slog.String("error", err.Error()))
	}
	return err
}

// WebhookTester is implemented by providers that can build the signed
// notification their PBX sends, so that a deployed receiver can be tested
// from the shell (pbxctl webhook-test) before the PBX's cabinet points at
// it. The request is the vendor's first notification of an incoming call
// (nobody is rung), signed or carrying the token with the provider's own
// credentials.
type WebhookTester interface {
	// WebhookTestRequest builds the request for the receiver at
	// webhookURL (the address the PBX's cabinet is given). callID names
	// the made-up call. Errors never quote a secret.
	WebhookTestRequest(ctx context.Context, webhookURL, callID string) (*http.Request, error)
}
