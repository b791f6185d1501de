package outbox

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pbxkit/pbxkit/pbx/journal"
)

// Defaults of the options.
const (
	// DefaultGiveUpAfter is how long a delivery is retried after its first
	// failed attempt before it becomes a dead letter.
	DefaultGiveUpAfter = 72 * time.Hour
	// DefaultTimeout is how long one request may take.
	DefaultTimeout = 30 * time.Second
	// DefaultConcurrency is how many requests to one target may be in
	// flight at once (for different calls).
	DefaultConcurrency = 8
	// DefaultLeaseTTL is how long a replica's lease on a target lasts
	// without renewal: how soon another replica takes over a dead one.
	DefaultLeaseTTL = 60 * time.Second
)

// DefaultSchedule is the published retry schedule: the delays after the
// first, second, ... failed attempt. The last one repeats until the
// delivery gives up ([DefaultGiveUpAfter]). Each delay is multiplied by a
// random factor between 0.8 and 1.2 (jitter), so that many outboxes do not
// retry in step.
var DefaultSchedule = []time.Duration{
	5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour,
}

// Target is where and what an [Outbox] delivers.
type Target struct {
	// Name identifies the target in the journal's store: its cursor,
	// lease and dead letters are kept under it, so it must stay the same
	// across restarts and be the same on every replica. 1 to 64 of
	// A-Z a-z 0-9 . _ -.
	Name string
	// URL receives a POST per delivery. Basic auth may be given in it
	// (https://user:password@host/path): it is sent as an Authorization
	// header and never printed (errors and logs show the URL without its
	// user information and query).
	URL string
	// Secret keys the HMAC-SHA256 signature of every delivery (see
	// [Sign]). It must not be empty. A Standard Webhooks "whsec_..."
	// secret is the base64 decoding of what follows the prefix.
	Secret []byte
	// Header is added to every request (an Authorization header, for
	// instance). Its values are never printed. Content-Type defaults to
	// application/json.
	Header http.Header
	// Select says what to send for an entry of the journal: a payload
	// (encoded as JSON; a []byte or json.RawMessage is sent as it is)
	// and true, or false for nothing. The call is the entry's call as
	// the store holds it when the outbox reads the entry (zero for an
	// entry without a call id). Nil means [SelectClosedCalls]. Select is
	// called from one goroutine at a time and must be deterministic: after
	// a restart the same entry may be selected again, and what it returns
	// is sent with the same webhook-id.
	Select func(e journal.Entry, c journal.Call) (payload any, ok bool)
}

// String describes t without its secret, header values or URL user
// information.
func (t Target) String() string {
	return fmt.Sprintf("outbox.Target{Name: %q, URL: %q}", t.Name, RedactURL(t.URL))
}

// GoString is String, so that %#v does not print the secret either.
func (t Target) GoString() string { return t.String() }

// LogValue logs t without its secret.
func (t Target) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", t.Name), slog.String("url", RedactURL(t.URL)))
}

// RedactURL returns raw without user information and with the query and
// fragment replaced by "...", for errors and logs. An unparsable URL gives
// "(invalid URL)".
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	u.User = nil
	q := u.RawQuery != "" || u.ForceQuery
	f := u.Fragment != ""
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	s := u.String()
	if q {
		s += "?..."
	}
	if f {
		s += "#..."
	}
	return s
}

// Clock is the time source of the retry schedule, of give-up and of the
// ages in [Stats]; tests pass a fake one to run a schedule of hours in
// milliseconds. Leases and the periodic saving of the cursor use the real
// clock: they are shared with other processes.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives the time once d has passed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Option configures an Outbox.
type Option func(*config)

type config struct {
	schedule    []time.Duration
	giveUp      time.Duration
	clock       Clock
	client      *http.Client
	timeout     time.Duration
	log         *slog.Logger
	concurrency int
	leaseTTL    time.Duration
	replica     string
}

// WithSchedule replaces [DefaultSchedule]: delays[i] is the wait after the
// (i+1)-th failed attempt, the last one repeating. Delays <= 0 are
// dropped; an empty list keeps the default.
func WithSchedule(delays []time.Duration) Option {
	return func(c *config) {
		var s []time.Duration
		for _, d := range delays {
			if d > 0 {
				s = append(s, d)
			}
		}
		if len(s) > 0 {
			c.schedule = s
		}
	}
}

// WithGiveUpAfter sets how long after its first failed attempt a
// delivery that still fails becomes a dead letter (default
// [DefaultGiveUpAfter]). A d <= 0 keeps the default.
func WithGiveUpAfter(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.giveUp = d
		}
	}
}

// WithClock sets the clock of the retry schedule (default: the real one).
func WithClock(clock Clock) Option {
	return func(c *config) {
		if clock != nil {
			c.clock = clock
		}
	}
}

// WithHTTPClient sets the HTTP client (default: one with its own
// connection pool sized for the concurrency). Redirects are never
// followed, whatever the client's CheckRedirect: a copy of the client is
// used with CheckRedirect replaced.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) {
		if hc != nil {
			c.client = hc
		}
	}
}

// WithTimeout sets how long one request may take, answer included
// (default [DefaultTimeout]). A d <= 0 keeps the default.
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithLogger sets the logger for state changes an operator must see: the
// target down and back, a dead letter, the lease taken or lost, the store
// failing. There is never a line per retry. The default discards
// everything.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.log = l
		}
	}
}

// WithConcurrency sets how many requests may be in flight at once
// (default [DefaultConcurrency]); deliveries of one call are always sent
// one after the other. n < 1 keeps the default.
func WithConcurrency(n int) Option {
	return func(c *config) {
		if n >= 1 {
			c.concurrency = n
		}
	}
}

// WithLeaseTTL sets how long a replica's lease on the target lasts
// without renewal (default [DefaultLeaseTTL], or twice the request
// timeout plus two seconds when that is longer): how soon another replica
// takes over from one that died. A replica only starts a request that
// ends, timeout included, before its lease does, and renews the lease
// when a quarter of it has passed, so d must be more than 4/3 of the
// request timeout plus a second (New checks). A d <= 0 keeps the default.
func WithLeaseTTL(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.leaseTTL = d
		}
	}
}

// WithReplicaID names this replica in the lease (default: host name,
// process id and a random suffix, new for each Outbox). A replica
// restarted with the same id takes its lease back at once instead of
// waiting for it to expire. Two replicas running at the same time must
// never share an id.
func WithReplicaID(id string) Option {
	return func(c *config) {
		if id != "" {
			c.replica = id
		}
	}
}

// Outbox delivers the journal's entries selected by a [Target] to its
// URL, durably: see the package documentation. Create it with [New] and
// call [Outbox.Run].
type Outbox struct {
	j      *journal.Journal
	store  journal.Store
	target Target
	url    *url.URL
	sel    func(journal.Entry, journal.Call) (any, bool)
	cfg    config
	client *http.Client
	log    *slog.Logger
	key    string // state key of the cursor and lease
	dead   string // state key prefix of dead letters

	running atomic.Bool

	mu       sync.Mutex
	stats    statsState
	lim      rateLimiter
	storeBad bool
}

type statsState struct {
	active    bool
	down      bool
	pending   int
	oldest    time.Time // ReceivedAt of the oldest pending delivery
	unread    int64
	delivered int
	dead      int
}

// Stats is a snapshot of an Outbox's progress.
type Stats struct {
	// Active reports that this replica holds the target's lease and
	// delivers; the other fields but Delivered and Dead are zero when it
	// does not.
	Active bool
	// Down reports that the target is failing: only one request at a time
	// probes it, on the retry schedule.
	Down bool
	// Pending is the number of deliveries read from the journal and not
	// yet delivered nor dead (at most about 10,000 are read ahead; Unread
	// counts the rest of the log).
	Pending int
	// OldestPending is the age of the oldest pending delivery's journal
	// entry (from its ReceivedAt): how far behind the target is.
	OldestPending time.Duration
	// Unread is the number of journal entries after the outbox's read
	// position (an upper bound: sequence numbers may have gaps, and not
	// every entry gives a delivery).
	Unread int64
	// Delivered is the number of deliveries acknowledged with a 2xx by
	// this Outbox (Retry included) since it was created.
	Delivered int
	// Dead is the number of dead letters kept for the target: counted
	// when this replica took the lease, then kept up to date with its own
	// dead letters, retries and discards.
	Dead int
}

// New returns an Outbox delivering to target from j. It checks the
// target and reads nothing yet; [Outbox.Run] delivers.
func New(j *journal.Journal, target Target, opts ...Option) (*Outbox, error) {
	if j == nil {
		return nil, errors.New("outbox: nil journal")
	}
	if !validName(target.Name) {
		return nil, fmt.Errorf("outbox: target name %q: want 1 to 64 of A-Z a-z 0-9 . _ -", target.Name)
	}
	u, err := url.Parse(target.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("outbox: target %s: URL %s: want an absolute http or https URL", target.Name, RedactURL(target.URL))
	}
	if len(target.Secret) == 0 {
		return nil, fmt.Errorf("outbox: target %s: empty Secret", target.Name)
	}
	cfg := config{
		schedule:    DefaultSchedule,
		giveUp:      DefaultGiveUpAfter,
		clock:       realClock{},
		timeout:     DefaultTimeout,
		log:         slog.New(slog.DiscardHandler),
		concurrency: DefaultConcurrency,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.leaseTTL == 0 {
		cfg.leaseTTL = max(DefaultLeaseTTL, 2*(cfg.timeout+leaseMargin))
	}
	// The lease is renewed when a quarter of it has passed: what is left
	// must cover a whole request.
	if cfg.leaseTTL*3/4 <= cfg.timeout+leaseMargin {
		return nil, fmt.Errorf("outbox: lease TTL %v too short for the request timeout %v: want more than %v",
			cfg.leaseTTL, cfg.timeout, (cfg.timeout+leaseMargin)*4/3)
	}
	if cfg.replica == "" {
		host, _ := os.Hostname()
		cfg.replica = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), randomHex(4))
	}
	var hc http.Client
	if cfg.client != nil {
		hc = *cfg.client
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 2 * cfg.concurrency
		hc.Transport = t
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	target.Secret = append([]byte(nil), target.Secret...)
	target.Header = target.Header.Clone()
	sel := target.Select
	if sel == nil {
		sel = SelectClosedCalls
	}
	o := &Outbox{
		j: j, store: j.Store(), target: target, url: u, sel: sel, cfg: cfg, client: &hc,
		log:  cfg.log.With("target", target.Name),
		key:  "outbox/" + target.Name,
		dead: "outbox/" + target.Name + "/dead/",
	}
	o.lim = rateLimiter{every: time.Minute}
	return o, nil
}

// String describes o without secrets.
func (o *Outbox) String() string { return "outbox " + o.target.String() }

// GoString is String.
func (o *Outbox) GoString() string { return o.String() }

// Stats returns a snapshot of o's progress.
func (o *Outbox) Stats() Stats {
	o.mu.Lock()
	s := o.stats
	o.mu.Unlock()
	st := Stats{Active: s.active, Down: s.down, Pending: s.pending, Unread: s.unread, Delivered: s.delivered, Dead: s.dead}
	if s.pending > 0 && !s.oldest.IsZero() {
		st.OldestPending = max(o.cfg.clock.Now().Sub(s.oldest), 0)
	}
	return st
}

func validName(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// rateLimiter lets through one log line per kind per period and counts
// the ones it held back.
type rateLimiter struct {
	every time.Duration
	last  map[string]time.Time
	held  map[string]int
}

// allow reports whether a line of kind may be logged at now, and how many
// were held back since the last one.
func (l *rateLimiter) allow(kind string, now time.Time) (bool, int) {
	if l.last == nil {
		l.last, l.held = map[string]time.Time{}, map[string]int{}
	}
	if t, ok := l.last[kind]; ok && now.Sub(t) < l.every && now.Sub(t) >= 0 {
		l.held[kind]++
		return false, 0
	}
	n := l.held[kind]
	l.last[kind], l.held[kind] = now, 0
	return true, n
}
