package routing

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pbxkit/pbxkit/phone"
)

// Defaults of NewHTTPDirectory's options.
const (
	// DefaultHTTPDirectoryTTL is how long an answer of the endpoint is
	// reused without asking again.
	DefaultHTTPDirectoryTTL = time.Minute
	// DefaultHTTPDirectoryMaxStale is how long an answer is still used when
	// the endpoint fails or is too slow (a weekend without 1C).
	DefaultHTTPDirectoryMaxStale = 7 * 24 * time.Hour
	// DefaultHTTPDirectoryEntries is how many numbers the cache holds.
	DefaultHTTPDirectoryEntries = 10_000
	// DefaultHTTPDirectoryTimeout bounds one request to the endpoint.
	DefaultHTTPDirectoryTimeout = 3 * time.Second
	// DefaultHTTPDirectoryMaxBody is the largest answer read, in bytes.
	DefaultHTTPDirectoryMaxBody = 256 << 10
	// DefaultHTTPDirectoryConcurrency is how many requests may be in flight
	// at once (for different numbers).
	DefaultHTTPDirectoryConcurrency = 16
)

// Internal limits of HTTPDirectory.
const (
	// httpDirCacheBytes bounds the memory of the cached answers (their
	// bodies' sizes, roughly), whatever the number of entries.
	httpDirCacheBytes = 32 << 20
	// httpDirDownAfter failures in a row make the endpoint count as down:
	// then only one request at a time probes it, after a back-off.
	httpDirDownAfter = 3
	// httpDirBackoffMin and httpDirBackoffMax bound that back-off.
	httpDirBackoffMin = time.Second
	httpDirBackoffMax = 30 * time.Second
	// httpDirReserveMax is the most of the caller's remaining time kept
	// for falling back after a slow endpoint (a fifth of it, at most this).
	httpDirReserveMax = 100 * time.Millisecond
	// httpDirEntryOverhead is what an entry costs besides its answer.
	httpDirEntryOverhead = 128
)

// ErrDirectoryUnavailable is matched (errors.Is) by the error
// [HTTPDirectory.Lookup] returns when the endpoint did not answer in time,
// or failed, and no earlier answer for the number is known. Through
// [Responsible] it is a router error: a [ChainRouter] then asks its next
// router, and a provider answers the PBX "no decision"; the call itself
// never fails.
var ErrDirectoryUnavailable = errors.New("routing: directory endpoint unavailable and no earlier answer for the number")

// HTTPDirectory is a [Directory] that asks an HTTP endpoint, typically a 1C
// HTTP service, who owns a number, and caches the answers. See
// [NewHTTPDirectory] for the protocol.
//
// Lookups are served from the cache while an answer is fresh (WithCacheTTL).
// Otherwise the endpoint is asked, and Lookup waits for it until shortly
// before the caller's deadline (ctx): a fifth of the remaining time, at most
// 100 ms, is kept to fall back in. When the endpoint fails, answers
// something that is not a directory answer, or is still busy by then,
// Lookup returns the last answer known for the number (up to WithMaxStale
// old), else an error matching [ErrDirectoryUnavailable]; it never waits
// longer than ctx allows.
//
// A request the caller stopped waiting for goes on in the background
// (bounded by WithRequestTimeout) and fills the cache, so a slow 1C still
// routes the client's next call. Concurrent lookups of one number share
// one request; at most WithConcurrency requests run at once, and a lookup
// that finds them all busy falls back at once. After three failures in a
// row the endpoint counts as down: one request at a time probes it, after a
// back-off of 1 s doubling up to 30 s, and lookups in between fall back at
// once. The logger gets a line when the endpoint goes down and when it
// comes back, never one per lookup.
//
// The cache is an LRU bounded in entries (WithCacheSize) and in memory
// (32 MiB of answers). Numbers are cached and asked in their normalised
// form ([phone.Normalize]): "+7 (999) 123-45-67" asks ?phone=79991234567.
// A hidden number, a login or an extension-length number that is not
// all digits is never asked: Lookup returns no contacts.
//
// HTTPDirectory is safe for concurrent use. Its credentials never appear in
// its errors, logs or %v.
type HTTPDirectory struct {
	endpoint string // the URL without user information, up to "phone="
	redacted string // scheme://host/path, for errors and logs
	auth     string // the Authorization header value, or ""
	client   *http.Client
	o        httpDirOptions

	mu       sync.Mutex
	entries  map[string]*httpDirEntry
	head     httpDirEntry // sentinel of the LRU list: head.next is the most recent
	bytes    int
	inflight map[string]*httpDirFlight
	failures int       // failures in a row
	downAt   time.Time // when the endpoint went down (zero: up)
	retryAt  time.Time // while down: no request before this
	backoff  time.Duration

	hits, misses, stale, unavailable, requests, failed atomic.Int64
}

// httpDirEntry is one cached answer, an element of the LRU list.
type httpDirEntry struct {
	key        string
	contacts   []Contact
	at         time.Time
	size       int
	prev, next *httpDirEntry
}

// httpDirFlight is a request in progress, shared by the lookups of its
// number.
type httpDirFlight struct {
	done     chan struct{}
	contacts []Contact
	err      error
}

// HTTPDirectoryOption configures [NewHTTPDirectory]. The options are
// [WithBasicAuth], [WithCacheTTL], [WithMaxStale], [WithCacheSize],
// [WithRequestTimeout], [WithMaxResponseSize], [WithConcurrency],
// [WithHTTPClient] and [WithLogger].
type HTTPDirectoryOption interface {
	applyHTTPDirectory(*httpDirOptions)
}

type httpDirOptions struct {
	user, password string
	hasAuth        bool
	ttl, maxStale  time.Duration
	entries        int
	timeout        time.Duration
	maxBody        int64
	concurrency    int
	client         *http.Client
	logger         *slog.Logger
	now            func() time.Time // tests only
}

// httpDirOption is an HTTPDirectoryOption that is nothing else.
type httpDirOption func(*httpDirOptions)

func (f httpDirOption) applyHTTPDirectory(o *httpDirOptions) { f(o) }

func (o LoggerOption) applyHTTPDirectory(h *httpDirOptions) { h.logger = o.logger }

// WithBasicAuth makes an [HTTPDirectory] send HTTP basic authentication,
// the way 1C HTTP services are protected. It replaces user information
// given in the URL. The password is never printed.
func WithBasicAuth(user, password string) HTTPDirectoryOption {
	return httpDirOption(func(o *httpDirOptions) { o.user, o.password, o.hasAuth = user, password, true })
}

// WithCacheTTL sets how long an [HTTPDirectory] reuses an answer of the
// endpoint without asking again (default [DefaultHTTPDirectoryTTL]): a
// change of a client's manager in 1C reaches routing within d. A d <= 0
// keeps the default.
func WithCacheTTL(d time.Duration) HTTPDirectoryOption {
	return httpDirOption(func(o *httpDirOptions) { o.ttl = d })
}

// WithMaxStale sets how old an answer an [HTTPDirectory] still returns when
// the endpoint fails or is too slow (default
// [DefaultHTTPDirectoryMaxStale]); an older one is not used. A d <= 0 keeps
// the default; a d shorter than the cache TTL means the TTL.
func WithMaxStale(d time.Duration) HTTPDirectoryOption {
	return httpDirOption(func(o *httpDirOptions) { o.maxStale = d })
}

// WithCacheSize bounds how many numbers an [HTTPDirectory] caches (default
// [DefaultHTTPDirectoryEntries]); beyond n the number looked up longest ago
// is forgotten. A n <= 0 keeps the default.
func WithCacheSize(n int) HTTPDirectoryOption {
	return httpDirOption(func(o *httpDirOptions) { o.entries = n })
}

// WithRequestTimeout bounds one request of an [HTTPDirectory] to the
// endpoint, answer included (default [DefaultHTTPDirectoryTimeout]). A
// lookup never waits longer than its own context allows; the request may go
// on in the background until d to fill the cache. A d <= 0 keeps the
// default.
func WithRequestTimeout(d time.Duration) HTTPDirectoryOption {
	return httpDirOption(func(o *httpDirOptions) { o.timeout = d })
}

// WithMaxResponseSize sets the largest answer, in bytes, an [HTTPDirectory]
// reads (default [DefaultHTTPDirectoryMaxBody]); a larger one is a failed
// request. A n <= 0 keeps the default.
func WithMaxResponseSize(n int64) HTTPDirectoryOption {
	return httpDirOption(func(o *httpDirOptions) { o.maxBody = n })
}

// WithConcurrency bounds how many requests an [HTTPDirectory] has in flight
// at once (default [DefaultHTTPDirectoryConcurrency]), so that a burst of
// calls while 1C is slow does not pile requests on it. A n <= 0 keeps the
// default.
func WithConcurrency(n int) HTTPDirectoryOption {
	return httpDirOption(func(o *httpDirOptions) { o.concurrency = n })
}

// WithHTTPClient sets the HTTP client of an [HTTPDirectory] (default: one
// with its own connection pool). Redirects are never followed, whatever the
// client's CheckRedirect: a copy of the client is used with CheckRedirect
// replaced. Its Timeout, if any, applies on top of WithRequestTimeout.
func WithHTTPClient(c *http.Client) HTTPDirectoryOption {
	return httpDirOption(func(o *httpDirOptions) { o.client = c })
}

// NewHTTPDirectory returns a [Directory] that asks the endpoint at rawURL who
// owns a number, such as a 1C HTTP service published at
// https://1c.example.ru/base/hs/pbx/lookup:
//
//	GET /base/hs/pbx/lookup?phone=79991234567
//	Authorization: Basic ...
//	Accept: application/json
//
//	200 OK
//	[{"id": "ЦУ-00001", "name": "Альфа", "phones": ["74951234567"], "responsible": "101"}]
//
// The answer is a JSON array of contacts (see [Contact]): id, name,
// phones and responsible (the extension of the client's main manager, or
// "" or null when there is none); unknown fields are ignored. An empty
// array, null, an empty body or 204 No Content means nobody owns the
// number. It is read tolerantly, the way 1C code tends to write it: field
// names in any letter case, id and responsible as numbers or strings,
// phones as an array or one string of numbers separated by ";" or ",",
// a single object instead of an array, a UTF-8 byte order mark. Any other
// status, including 404 and redirects (never followed), is a failure.
//
// Basic auth comes from the URL's user information
// (https://user:password@host/...) or from [WithBasicAuth]; the URL's
// query is kept and phone is added to it. rawURL must be an absolute http
// or https URL. The options are [WithBasicAuth], [WithCacheTTL],
// [WithMaxStale], [WithCacheSize], [WithRequestTimeout],
// [WithMaxResponseSize], [WithConcurrency], [WithHTTPClient] and
// [WithLogger] (the endpoint going down and coming back, at Warn and Info).
//
// See [HTTPDirectory] for the cache and for what happens when the endpoint
// is slow or down. [Responsible] over it is the seeds' "route the call to
// the client's main manager" against live 1C data.
func NewHTTPDirectory(rawURL string, opts ...HTTPDirectoryOption) (*HTTPDirectory, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error would repeat the URL, password included.
		return nil, errors.New("routing: http directory: the URL does not parse")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("routing: http directory %s: want an absolute http or https URL", redactDirURL(u))
	}
	o := httpDirOptions{}
	if u.User != nil {
		o.user = u.User.Username()
		o.password, _ = u.User.Password()
		o.hasAuth = true
	}
	for _, opt := range opts {
		if opt != nil {
			opt.applyHTTPDirectory(&o)
		}
	}
	if o.ttl <= 0 {
		o.ttl = DefaultHTTPDirectoryTTL
	}
	if o.maxStale <= 0 {
		o.maxStale = DefaultHTTPDirectoryMaxStale
	}
	o.maxStale = max(o.maxStale, o.ttl)
	if o.entries <= 0 {
		o.entries = DefaultHTTPDirectoryEntries
	}
	if o.timeout <= 0 {
		o.timeout = DefaultHTTPDirectoryTimeout
	}
	if o.maxBody <= 0 {
		o.maxBody = DefaultHTTPDirectoryMaxBody
	}
	if o.concurrency <= 0 {
		o.concurrency = DefaultHTTPDirectoryConcurrency
	}
	if o.now == nil {
		o.now = time.Now
	}
	d := &HTTPDirectory{
		redacted: redactDirURL(u),
		o:        o,
		entries:  map[string]*httpDirEntry{},
		inflight: map[string]*httpDirFlight{},
		backoff:  httpDirBackoffMin,
	}
	d.head.next, d.head.prev = &d.head, &d.head
	if o.hasAuth {
		d.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(o.user+":"+o.password))
	}
	ep := *u
	ep.User = nil
	ep.Fragment, ep.RawFragment = "", ""
	q := ep.Query()
	q.Del("phone")
	ep.RawQuery = q.Encode()
	ep.ForceQuery = false
	d.endpoint = ep.String()
	if ep.RawQuery == "" {
		d.endpoint += "?phone="
	} else {
		d.endpoint += "&phone="
	}
	d.client = d.httpClient(o.client)
	return d, nil
}

// httpClient returns a copy of c (or a new client) that follows no
// redirect.
func (d *HTTPDirectory) httpClient(c *http.Client) *http.Client {
	var hc http.Client
	if c != nil {
		hc = *c
	} else {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = d.o.concurrency
		hc.Transport = tr
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &hc
}

// String describes d without its credentials.
func (d *HTTPDirectory) String() string { return "routing.HTTPDirectory(" + d.redacted + ")" }

// GoString is String, so that %#v does not print the credentials either.
func (d *HTTPDirectory) GoString() string { return d.String() }

// LogValue logs d without its credentials.
func (d *HTTPDirectory) LogValue() slog.Value { return slog.StringValue(d.String()) }

// HTTPDirectoryStats counts what an [HTTPDirectory] did since it was
// created.
type HTTPDirectoryStats struct {
	// Hits are lookups answered from a fresh cached answer, Misses those
	// that asked the endpoint (or would have: it was down or busy).
	Hits, Misses int64
	// Stale are lookups answered with an expired answer because the
	// endpoint failed or was too slow; Unavailable those that had none to
	// fall back to and returned ErrDirectoryUnavailable.
	Stale, Unavailable int64
	// Requests are the requests made to the endpoint, Failed those that
	// failed.
	Requests, Failed int64
	// Entries is the number of numbers cached now.
	Entries int
	// Down reports that the endpoint counts as down.
	Down bool
}

// Stats returns what d did since it was created.
func (d *HTTPDirectory) Stats() HTTPDirectoryStats {
	d.mu.Lock()
	n, down := len(d.entries), !d.downAt.IsZero()
	d.mu.Unlock()
	return HTTPDirectoryStats{
		Hits: d.hits.Load(), Misses: d.misses.Load(),
		Stale: d.stale.Load(), Unavailable: d.unavailable.Load(),
		Requests: d.requests.Load(), Failed: d.failed.Load(),
		Entries: n, Down: down,
	}
}

// Lookup implements [Directory]: see [HTTPDirectory] for the cache and the
// fall-backs. It returns ctx.Err() at once when ctx is done, no contacts for
// a number that is not a telephone number, and an error matching
// [ErrDirectoryUnavailable] when it has nothing to answer. The returned
// slice is shared with the cache: the caller must not modify it.
func (d *HTTPDirectory) Lookup(ctx context.Context, number string) ([]Contact, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key := phone.Normalize(number)
	if key == "" || !allDigits(key) {
		return nil, nil
	}
	now := d.o.now()
	d.mu.Lock()
	var stale []Contact
	haveStale := false
	if e := d.entries[key]; e != nil {
		age := now.Sub(e.at)
		if age < d.o.ttl && age >= 0 {
			d.moveToFront(e)
			contacts := e.contacts
			d.mu.Unlock()
			d.hits.Add(1)
			return contacts, nil
		}
		if age < d.o.maxStale {
			stale, haveStale = e.contacts, true
		}
	}
	d.misses.Add(1)
	f := d.inflight[key]
	var cause error
	if f == nil {
		switch {
		case !d.downAt.IsZero() && now.Before(d.retryAt):
			cause = errors.New("the endpoint is down")
		case len(d.inflight) >= d.o.concurrency:
			cause = errors.New("too many requests in flight")
		default:
			if !d.downAt.IsZero() {
				// This request probes the endpoint; the others wait
				// for its result or the next back-off.
				d.retryAt = now.Add(d.backoff)
			}
			f = &httpDirFlight{done: make(chan struct{})}
			d.inflight[key] = f
			go d.fetch(context.WithoutCancel(ctx), key, f)
		}
	}
	d.mu.Unlock()

	if f != nil {
		var timeout <-chan time.Time
		if deadline, ok := ctx.Deadline(); ok {
			wait := time.Until(deadline)
			wait -= min(wait/5, httpDirReserveMax)
			t := time.NewTimer(max(wait, 0))
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-f.done:
			if f.err == nil {
				return f.contacts, nil
			}
			cause = f.err
		case <-timeout:
			cause = errors.New("no answer before the caller's deadline")
		case <-ctx.Done():
			if !haveStale {
				return nil, ctx.Err()
			}
		}
	}
	if haveStale {
		d.stale.Add(1)
		return stale, nil
	}
	d.unavailable.Add(1)
	return nil, &directoryError{endpoint: d.redacted, cause: cause}
}

// directoryError is what Lookup returns when it has nothing to answer.
type directoryError struct {
	endpoint string
	cause    error
}

func (e *directoryError) Error() string {
	return "routing: http directory " + e.endpoint + ": no answer and nothing cached for the number: " + e.cause.Error()
}

func (e *directoryError) Is(target error) bool { return target == ErrDirectoryUnavailable }

func (e *directoryError) Unwrap() error { return e.cause }

// fetch asks the endpoint about key and publishes the result to f and the
// cache.
func (d *HTTPDirectory) fetch(ctx context.Context, key string, f *httpDirFlight) {
	ctx, cancel := context.WithTimeout(ctx, d.o.timeout)
	defer cancel()
	d.requests.Add(1)
	contacts, size, err := d.ask(ctx, key)
	now := d.o.now()
	d.mu.Lock()
	delete(d.inflight, key)
	if err == nil {
		d.store(key, contacts, size, now)
		d.succeeded(now)
	} else {
		d.failed.Add(1)
		d.failedRequest(now, err)
	}
	f.contacts, f.err = contacts, err
	close(f.done)
	d.mu.Unlock()
}

// ask makes one request.
func (d *HTTPDirectory) ask(ctx context.Context, key string) ([]Contact, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.endpoint+key, nil)
	if err != nil {
		return nil, 0, errors.New("cannot build the request")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "pbxkit-routing")
	if d.auth != "" {
		req.Header.Set("Authorization", d.auth)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, 0, transportError(ctx, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNoContent:
		return nil, 0, nil
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, 0, fmt.Errorf("redirect not followed (status %d): point the directory at the final URL", resp.StatusCode)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, 0, fmt.Errorf("status %d: check the directory's user and password", resp.StatusCode)
	case resp.StatusCode < 200 || resp.StatusCode >= 300:
		return nil, 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	if resp.ContentLength > d.o.maxBody {
		return nil, 0, fmt.Errorf("answer of %d bytes, more than the %d allowed", resp.ContentLength, d.o.maxBody)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, d.o.maxBody+1))
	if err != nil {
		return nil, 0, transportError(ctx, err)
	}
	if int64(len(body)) > d.o.maxBody {
		return nil, 0, fmt.Errorf("answer larger than the %d bytes allowed", d.o.maxBody)
	}
	contacts, err := parseContacts(body)
	if err != nil {
		return nil, 0, err
	}
	return contacts, len(body), nil
}

// transportError describes a failed request without its URL (url.Error
// repeats it, query included).
func transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errors.New("timed out")
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errors.New("timed out")
	}
	return err
}

// succeeded records an answer of the endpoint; d.mu is held.
func (d *HTTPDirectory) succeeded(now time.Time) {
	if !d.downAt.IsZero() && d.o.logger != nil {
		d.o.logger.LogAttrs(context.Background(), slog.LevelInfo, "routing: directory endpoint is back",
			slog.String("endpoint", d.redacted), slog.Duration("down_for", now.Sub(d.downAt).Round(time.Second)))
	}
	d.failures, d.downAt, d.retryAt, d.backoff = 0, time.Time{}, time.Time{}, httpDirBackoffMin
}

// failedRequest records a failed request; d.mu is held.
func (d *HTTPDirectory) failedRequest(now time.Time, err error) {
	d.failures++
	if d.failures < httpDirDownAfter {
		return
	}
	if d.downAt.IsZero() {
		d.downAt = now
		if d.o.logger != nil {
			d.o.logger.LogAttrs(context.Background(), slog.LevelWarn,
				"routing: directory endpoint is down, answering from the cache",
				slog.String("endpoint", d.redacted), slog.Int("failures", d.failures), slog.String("error", err.Error()))
		}
	} else {
		d.backoff = min(2*d.backoff, httpDirBackoffMax)
	}
	d.retryAt = now.Add(d.backoff)
}

// store caches an answer; d.mu is held.
func (d *HTTPDirectory) store(key string, contacts []Contact, size int, now time.Time) {
	size += httpDirEntryOverhead + len(key)
	if e := d.entries[key]; e != nil {
		d.bytes += size - e.size
		e.contacts, e.at, e.size = contacts, now, size
		d.moveToFront(e)
	} else {
		e = &httpDirEntry{key: key, contacts: contacts, at: now, size: size}
		d.entries[key] = e
		d.bytes += size
		d.pushFront(e)
	}
	for len(d.entries) > d.o.entries || (d.bytes > httpDirCacheBytes && len(d.entries) > 1) {
		old := d.head.prev
		d.unlink(old)
		delete(d.entries, old.key)
		d.bytes -= old.size
	}
}

func (d *HTTPDirectory) unlink(e *httpDirEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (d *HTTPDirectory) pushFront(e *httpDirEntry) {
	e.prev, e.next = &d.head, d.head.next
	d.head.next.prev = e
	d.head.next = e
}

func (d *HTTPDirectory) moveToFront(e *httpDirEntry) {
	if d.head.next == e {
		return
	}
	d.unlink(e)
	d.pushFront(e)
}

// redactDirURL returns scheme://host/path of u: no user information, no
// query (it may hold a token), no fragment.
func redactDirURL(u *url.URL) string {
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	s := r.String()
	if u.RawQuery != "" {
		s += "?..."
	}
	return s
}

// parseContacts reads a directory answer; see NewHTTPDirectory for what it
// accepts. Tolerant reading: 1C code writes JSON by hand as often as with
// ЗаписатьJSON, so types and shapes vary.
func parseContacts(body []byte) ([]Contact, error) {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, nil
	}
	switch body[0] {
	case '[':
		var raw []wireContact
		if err := json.Unmarshal(body, &raw); err != nil {
			return nil, jsonError(err)
		}
		var out []Contact
		for _, w := range raw {
			if c, ok := w.contact(); ok {
				out = append(out, c)
			}
		}
		return out, nil
	case '{':
		var w wireContact
		if err := json.Unmarshal(body, &w); err != nil {
			return nil, jsonError(err)
		}
		if c, ok := w.contact(); ok {
			return []Contact{c}, nil
		}
		return nil, nil
	case 'n':
		if string(body) == "null" {
			return nil, nil
		}
	}
	return nil, errors.New("the answer is not a JSON array of contacts")
}

// jsonError describes a JSON error without quoting the answer.
func jsonError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("the answer is not valid JSON (at byte %d)", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("the answer's field %q has the wrong type (%s)", te.Field, te.Value)
	}
	var fe *flexError
	if errors.As(err, &fe) {
		return fe
	}
	return errors.New("the answer is not a JSON array of contacts")
}

// wireContact is a contact as the endpoint writes it.
type wireContact struct {
	ID          flexString `json:"id"`
	Name        flexString `json:"name"`
	Phones      flexPhones `json:"phones"`
	Responsible flexString `json:"responsible"`
}

// contact returns w as a Contact, and false for an empty object.
func (w wireContact) contact() (Contact, bool) {
	c := Contact{
		ID:          strings.TrimSpace(string(w.ID)),
		Name:        strings.TrimSpace(string(w.Name)),
		Phones:      []string(w.Phones),
		Responsible: strings.TrimSpace(string(w.Responsible)),
	}
	if c.ID == "" && c.Name == "" && c.Responsible == "" && len(c.Phones) == 0 {
		return Contact{}, false
	}
	return c, true
}

// flexError is a field of a type no reading makes sense of.
type flexError struct{ what string }

func (e *flexError) Error() string { return "the answer has " + e.what }

// flexString reads a JSON string, number, boolean or null (as "").
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return nil
	case b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		*s = flexString(b)
	case string(b) == "null":
		*s = ""
	case string(b) == "true" || string(b) == "false":
		*s = flexString(b)
	default:
		return &flexError{what: "an object or array where a text was expected"}
	}
	return nil
}

// flexPhones reads an array of strings or numbers, one string of numbers
// separated by ";" or ",", a number, or null.
type flexPhones []string

func (p *flexPhones) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var raw []flexString
		if err := json.Unmarshal(b, &raw); err != nil {
			return err
		}
		out := make([]string, 0, len(raw))
		for _, r := range raw {
			if v := strings.TrimSpace(string(r)); v != "" {
				out = append(out, v)
			}
		}
		*p = out
		return nil
	}
	var one flexString
	if err := one.UnmarshalJSON(b); err != nil {
		return err
	}
	var out []string
	for _, f := range strings.FieldsFunc(string(one), func(r rune) bool { return r == ';' || r == ',' }) {
		if v := strings.TrimSpace(f); v != "" {
			out = append(out, v)
		}
	}
	*p = out
	return nil
}
