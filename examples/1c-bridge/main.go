// Command 1c-bridge sits between cloud PBXs and 1C:Enterprise so that 1C gets
// every call exactly once in effect, however long it was away, and the PBX
// routes each incoming call to the client's main manager from 1C's data,
// even while 1C is slow.
//
//	PBX webhooks ──▶ /pbx/<vendor>/ ──▶ call journal (SQLite or PostgreSQL)
//	                                       │
//	                                       ├──▶ outbox ──▶ 1C: POST -1c-calls (one signed
//	                                       │              JSON document per call, retried
//	                                       │              until 1C takes it)
//	                                       └──▶ operator's page /operator/ (caller's card,
//	                                            missed calls, call back)
//	PBX "where to?" ──▶ 1C: GET -1c-lookup?phone=... (cached) ─▶ -contacts CSV ─▶ -default
//
// Run it with the PBX accounts, the journal and the two 1C HTTP service
// methods:
//
//	export PBXKIT_PROVIDERS='sipuni://012345:SECRET@/?webhook_token=T'
//	export PBXKIT_1C_PASSWORD=... PBXKIT_1C_SECRET=... PBXKIT_SCREENPOP_SECRET=...
//	go run ./examples/1c-bridge \
//	    -1c-calls https://1c.example.ru/base/hs/pbx/calls \
//	    -1c-lookup https://1c.example.ru/base/hs/pbx/lookup -1c-user bridge \
//	    -contacts contacts.csv -default 100 -missed-to 103
//
// `go run ./examples/1c-bridge -h` lists every flag and its environment
// variable; docs/1c-bridge.md says what 1C must publish (with a sample
// HTTP service module in 1C's language), what happens when 1C is down for a
// night and when the bridge restarts.
//
// What it does:
//
//   - Each provider (-provider DSN, repeatable) is served under
//     /pbx/<vendor>/: point the PBX's webhook there. Every event is stored
//     in the journal before the PBX gets its answer (a journal failure gives
//     the PBX a 5xx, and the PBX redelivers).
//   - The outbox (package pbx/outbox) sends each call to -1c-calls when it
//     closes, and again with a greater version when it is corrected, signed
//     the Standard Webhooks way with -1c-secret, with basic auth. When 1C
//     is down it retries after 5 s, 30 s, 2 min, 10 min, 30 min, then every
//     hour for 3 days; nothing is lost when the bridge restarts: the
//     cursor lives in the journal.
//   - Routing questions are answered by the client's main manager from
//     -1c-lookup (cached; a slow or failing 1C falls back to the last
//     answer), then from -contacts, then -default; a routing failure never
//     fails a call (the PBX routes by its own rules).
//   - The journal is reconciled with each provider's call log on start (the
//     last 24 hours: the calls missed while the bridge was down) and every
//     hour (the last 2 hours); calls that went quiet are closed every minute.
//   - With -screenpop-secret the operator's page is served at /operator/
//     (the same page examples/webhook-server serves); -print-link EXT prints
//     an employee's link.
//   - GET /healthz answers "ok"; GET /status the outbox's and the lookup
//     cache's counters as JSON. SIGINT or SIGTERM shut the bridge down
//     gracefully.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pbxkit/pbxkit/pbx/outbox"
	"github.com/pbxkit/pbxkit/phone"
	"github.com/pbxkit/pbxkit/provider"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "1c-bridge:", err)
		os.Exit(1)
	}
}

// config is what the flags and the environment say.
type config struct {
	addr    string
	dsns    []string
	journal string

	callsURL     string
	lookupURL    string
	user         string
	password     string
	secret       []byte
	callsTimeout time.Duration
	lookupTTL    time.Duration

	contacts   string
	defaultExt string
	digits     int
	translit   bool

	missedTo        string
	screenpopSecret []byte
	publicURL       string
	printLink       string

	replicaID string
	debug     bool
}

// dsnList is a repeatable -provider flag.
type dsnList []string

func (l *dsnList) String() string { return "" } // never print DSNs: they hold secrets
func (l *dsnList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// Environment variables, by flag.
const (
	envAddr            = "PBXKIT_ADDR"
	envProviders       = "PBXKIT_PROVIDERS"
	envJournal         = "PBXKIT_JOURNAL"
	envCalls           = "PBXKIT_1C_CALLS"
	envLookup          = "PBXKIT_1C_LOOKUP"
	envUser            = "PBXKIT_1C_USER"
	envPassword        = "PBXKIT_1C_PASSWORD"
	envSecret          = "PBXKIT_1C_SECRET"
	envContacts        = "PBXKIT_CONTACTS"
	envDefault         = "PBXKIT_DEFAULT_EXT"
	envMissedTo        = "PBXKIT_MISSED_TO"
	envScreenpopSecret = "PBXKIT_SCREENPOP_SECRET"
	envPublicURL       = "PBXKIT_PUBLIC_URL"
	envReplicaID       = "PBXKIT_REPLICA_ID"
)

const usageHead = `Usage: 1c-bridge -provider DSN [-provider DSN ...] -1c-calls URL -1c-secret SECRET [flags]
       1c-bridge -print-link EXT -screenpop-secret SECRET [-public-url URL]

1c-bridge sits between cloud PBXs and 1C:Enterprise. It receives the PBXs'
webhooks under /pbx/<vendor>/, keeps a call journal, delivers every call to a
1C HTTP service (one signed JSON document per call, retried while 1C is down:
after 5 s, 30 s, 2 min, 10 min, 30 min, then hourly for 3 days; nothing is lost
when the bridge restarts), answers the PBXs' routing questions with the
client's main manager asked from 1C (cached, with a CSV fallback), reconciles
the journal with each PBX's call log on start and every hour, and serves the
operator's page at /operator/ (caller's card, missed calls, call back).
GET /healthz answers "ok", GET /status the delivery and lookup counters.

Every flag can also be given by the environment variable named in [brackets];
the flag wins. Prefer the environment for secrets: command lines are visible
to every user of the machine (ps). Basic auth may also be written in the URLs
(https://user:password@host/...). docs/1c-bridge.md says what 1C must publish.

Flags:
`

const usageTail = `
Example:
  PBXKIT_PROVIDERS='sipuni://012345:SECRET@/?webhook_token=T' \
  PBXKIT_1C_PASSWORD=... PBXKIT_1C_SECRET=... PBXKIT_SCREENPOP_SECRET=... \
  1c-bridge -1c-calls https://1c.example.ru/base/hs/pbx/calls \
            -1c-lookup https://1c.example.ru/base/hs/pbx/lookup -1c-user bridge \
            -contacts contacts.csv -default 100 -missed-to 103
`

// rawFlags are the flag values parseConfig reads before checking them.
type rawFlags struct {
	dsns              dsnList
	secret, popSecret string
}

// newFlagSet defines every flag into c and r.
func newFlagSet(c *config, r *rawFlags, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("1c-bridge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHead)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), usageTail)
	}
	fs.StringVar(&c.addr, "addr", "", "`ADDRESS` to listen on for the PBXs' webhooks and the operator's page (default :8080) ["+envAddr+"]")
	fs.Var(&r.dsns, "provider", "PBX account as a provider `DSN`, such as sipuni://ACCOUNT:SECRET@/?webhook_token=T; repeat for several PBXs ["+envProviders+", separated by spaces]")
	fs.StringVar(&c.journal, "journal", "", "call journal: a SQLite `FILE` (one bridge), or a postgres:// DSN to run several replicas on one database (default bridge.db) ["+envJournal+"]")
	fs.StringVar(&c.callsURL, "1c-calls", "", "`URL` of the 1C HTTP service method that takes the call documents (POST, JSON); required ["+envCalls+"]")
	fs.StringVar(&c.lookupURL, "1c-lookup", "", "`URL` of the 1C HTTP service method that says who is calling (GET ?phone=79991234567, JSON); without it routing uses -contacts only ["+envLookup+"]")
	fs.StringVar(&c.user, "1c-user", "", "`USER` of the 1C basic auth, for both URLs unless a URL carries its own ["+envUser+"]")
	fs.StringVar(&c.password, "1c-password", "", "`PASSWORD` of the 1C basic auth ["+envPassword+"]")
	fs.StringVar(&r.secret, "1c-secret", "", "`SECRET` that signs every call document (Standard Webhooks webhook-signature; a whsec_... value is base64); required ["+envSecret+"]")
	fs.DurationVar(&c.callsTimeout, "1c-timeout", outbox.DefaultTimeout, "`DURATION` 1C may take to accept one call document; a slower answer counts as failed and the document is sent again")
	fs.DurationVar(&c.lookupTTL, "lookup-ttl", time.Minute, "`DURATION` for which a 1C answer about a number is reused before 1C is asked again (a slow or failing 1C falls back to older answers, up to 7 days)")
	fs.StringVar(&c.contacts, "contacts", "", "CSV `FILE` of clients (id,name,phones,responsible) asked when 1C cannot answer ["+envContacts+"]")
	fs.StringVar(&c.defaultExt, "default", "", "extension `EXT` for callers without a responsible manager (none: the PBX routes them by its own rules) ["+envDefault+"]")
	fs.IntVar(&c.digits, "digits", phone.DefaultLastDigits, fmt.Sprintf("`N`umber of last digits compared when matching phone numbers (%d-%d)", phone.MinLastDigits, phone.MaxLastDigits))
	fs.BoolVar(&c.translit, "translit", false, "send the client's name to the PBX in Latin letters (for phones that cannot show Cyrillic)")
	fs.StringVar(&c.missedTo, "missed-to", "", "extension `EXT` of the person told about the missed calls of clients without a manager (their card pops up, and their page lists every missed call) ["+envMissedTo+"]")
	fs.StringVar(&r.popSecret, "screenpop-secret", "", "`SECRET` that signs the employees' links to the operator's page; without it the page is off ["+envScreenpopSecret+"]")
	fs.StringVar(&c.publicURL, "public-url", "", "`URL` where people reach this bridge, for -print-link (default http://localhost:8080) ["+envPublicURL+"]")
	fs.StringVar(&c.printLink, "print-link", "", "print the operator's page link of extension `EXT` (valid 30 days) and exit")
	fs.StringVar(&c.replicaID, "replica-id", "", "stable `NAME` of this replica: a bridge restarted with the same name resumes delivery at once instead of after the 60 s lease of the old process; never give two running replicas one name (default: host, process and a random suffix) ["+envReplicaID+"]")
	fs.BoolVar(&c.debug, "debug", false, "log at debug level")
	return fs
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	var r rawFlags
	fs := newFlagSet(&c, &r, stderr)
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	env := func(v *string, name string) {
		if *v == "" {
			*v = strings.TrimSpace(getenv(name))
		}
	}
	env(&c.addr, envAddr)
	env(&c.journal, envJournal)
	env(&c.callsURL, envCalls)
	env(&c.lookupURL, envLookup)
	env(&c.user, envUser)
	env(&c.password, envPassword)
	env(&r.secret, envSecret)
	env(&c.contacts, envContacts)
	env(&c.defaultExt, envDefault)
	env(&c.missedTo, envMissedTo)
	env(&r.popSecret, envScreenpopSecret)
	env(&c.publicURL, envPublicURL)
	env(&c.replicaID, envReplicaID)
	if c.addr == "" {
		c.addr = ":8080"
	}
	if c.journal == "" {
		c.journal = "bridge.db"
	}
	if c.publicURL == "" {
		c.publicURL = "http://localhost:8080"
	}
	c.screenpopSecret = []byte(r.popSecret)
	if c.printLink != "" {
		if len(c.screenpopSecret) == 0 {
			return config{}, errors.New("-print-link needs -screenpop-secret (or " + envScreenpopSecret + ")")
		}
		if _, err := checkURL("-public-url", c.publicURL); err != nil {
			return config{}, err
		}
		return c, nil
	}

	c.dsns = r.dsns
	if len(c.dsns) == 0 {
		c.dsns = strings.Fields(getenv(envProviders))
	}
	if len(c.dsns) == 0 {
		return config{}, errors.New("no PBX: give -provider DSN or set " + envProviders)
	}
	if c.callsURL == "" {
		return config{}, errors.New("no 1C: give -1c-calls URL or set " + envCalls)
	}
	if _, err := checkURL("-1c-calls", c.callsURL); err != nil {
		return config{}, err
	}
	if c.lookupURL != "" {
		if _, err := checkURL("-1c-lookup", c.lookupURL); err != nil {
			return config{}, err
		}
	}
	if c.password != "" && c.user == "" {
		return config{}, errors.New("-1c-password without -1c-user")
	}
	if r.secret == "" {
		return config{}, errors.New("no signing secret: give -1c-secret or set " + envSecret)
	}
	var err error
	if c.secret, err = decodeSecret(r.secret); err != nil {
		return config{}, err
	}
	if c.digits < phone.MinLastDigits || c.digits > phone.MaxLastDigits {
		return config{}, fmt.Errorf("-digits must be %d to %d", phone.MinLastDigits, phone.MaxLastDigits)
	}
	if c.callsTimeout <= 0 || c.lookupTTL <= 0 {
		return config{}, errors.New("-1c-timeout and -lookup-ttl must be positive")
	}
	return c, nil
}

// checkURL checks that raw is an absolute http or https URL; its error
// never shows the URL's password.
func checkURL(flagName, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s %s: want an absolute http:// or https:// URL", flagName, provider.RedactURL(raw))
	}
	return u, nil
}

// decodeSecret reads a signing secret (outbox.ParseSecret: a Standard
// Webhooks "whsec_..." value is base64), naming the flag in its error.
func decodeSecret(s string) ([]byte, error) {
	b, err := outbox.ParseSecret(s)
	if err != nil {
		return nil, errors.New("-1c-secret: a whsec_ secret must be followed by base64")
	}
	return b, nil
}
