package provider

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
)

// OpenOptions are the settings a DSN cannot carry, passed to every OpenFunc.
type OpenOptions struct {
	// HTTPClient, when non-nil, sends the provider's API requests.
	HTTPClient *http.Client
	// Logger, when non-nil, receives the provider's debug journal.
	Logger *slog.Logger
	// Location, when non-nil, is the zone of the vendor's local times
	// (default Europe/Moscow).
	Location *time.Location
}

// OpenOption sets one of the OpenOptions.
type OpenOption func(*OpenOptions)

// WithHTTPClient makes the provider send its API requests with c.
func WithHTTPClient(c *http.Client) OpenOption { return func(o *OpenOptions) { o.HTTPClient = c } }

// WithLogger makes the provider journal to l.
func WithLogger(l *slog.Logger) OpenOption { return func(o *OpenOptions) { o.Logger = l } }

// WithLocation sets the zone of the vendor's local times.
func WithLocation(loc *time.Location) OpenOption { return func(o *OpenOptions) { o.Location = loc } }

// OpenFunc opens a provider from a parsed DSN. Its errors must not contain
// the DSN's secrets.
type OpenFunc func(dsn *url.URL, o OpenOptions) (pbx.Provider, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]OpenFunc{}
)

// Register makes a provider available to Open under name, the DSN scheme.
// Provider packages call it from init. It panics if name is registered twice
// or open is nil, like database/sql.Register.
func Register(name string, open OpenFunc) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if open == nil {
		panic("provider: Register open func is nil for " + name)
	}
	if _, dup := registry[name]; dup {
		panic("provider: Register called twice for " + name)
	}
	registry[name] = open
}

// Providers returns the registered provider names, sorted.
func Providers() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ErrBadDSN is matched by every error Open returns for a DSN it cannot use.
var ErrBadDSN = errors.New("provider: bad DSN")

// DSNError says what is wrong with a DSN. It never contains the DSN's
// password or query values.
type DSNError struct {
	// Scheme is the provider name from the DSN, when it has one.
	Scheme string
	// Problem says what is wrong.
	Problem string
}

// Error returns "provider: bad DSN for scheme: problem".
func (e *DSNError) Error() string {
	if e.Scheme == "" {
		return "provider: bad DSN: " + e.Problem
	}
	return "provider: bad DSN for " + e.Scheme + ": " + e.Problem
}

// Is makes errors.Is(err, ErrBadDSN) true.
func (e *DSNError) Is(target error) bool { return target == ErrBadDSN }

// Open opens a provider from a DSN such as
// "sipuni://ACCOUNT:SECRET@/?webhook_token=T". The scheme names a provider
// registered with Register (import the provider package for its side
// effect). Errors name the problem, never a secret.
func Open(dsn string, opts ...OpenOption) (pbx.Provider, error) {
	scheme, _, ok := strings.Cut(dsn, "://")
	if !ok || scheme == "" {
		return nil, &DSNError{Problem: `no scheme; want NAME://... such as "sipuni://ACCOUNT:SECRET@/"`}
	}
	registryMu.RLock()
	open := registry[scheme]
	registryMu.RUnlock()
	if open == nil {
		return nil, &DSNError{Scheme: scheme, Problem: fmt.Sprintf("unknown provider %q (registered: %s; is its package imported?)",
			scheme, strings.Join(Providers(), ", "))}
	}
	u, err := url.Parse(dsn)
	if err != nil {
		// url.Error quotes the whole input, secrets included: keep only the
		// cause.
		// The cause may quote part of the input, too; keep it only when it
		// does not.
		problem := "not a valid URL (special characters in a password must be %-escaped)"
		var ue *url.Error
		if errors.As(err, &ue) && !strings.ContainsAny(ue.Err.Error(), "\"'") {
			problem = "not a valid URL: " + ue.Err.Error()
		}
		return nil, &DSNError{Scheme: scheme, Problem: problem}
	}
	var o OpenOptions
	for _, opt := range opts {
		opt(&o)
	}
	return open(u, o)
}

// RedactDSN returns dsn with the password and every query value replaced by
// "xxxxx", for logs.
func RedactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	q := u.Query()
	for k := range q {
		q.Set(k, "xxxxx")
	}
	u.RawQuery = q.Encode()
	return u.Redacted()
}
