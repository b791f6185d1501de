package providertest

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// Harness is what a vendor package gives the suite: how to build its
// provider, how to start its fake, and how to speak to its webhook. It is a
// plain value, usable outside tests too (the load program takes its webhook
// requests from the same harnesses). A vendor writes it once, in its fake
// package:
//
//	func Harness() providertest.Harness { return providertest.Harness{Name: "acme", ...} }
//
// Every func must be safe for concurrent use: the suite calls them from
// many goroutines at once. Optional fields are marked so; a check that
// needs a missing one is skipped, naming it.
type Harness struct {
	// Name is the provider's registry name ("rostelecom"); it names the
	// subtests.
	Name string

	// New builds the provider under test with the harness's credentials
	// (the ones the fake accepts, and Secrets) and every field of s
	// applied to the vendor's Config: a zero field keeps the vendor's
	// default. It may set test-friendly values of its own (a short
	// history poll interval), never a retry policy or a time limit of its
	// own: the suite checks the provider's defaults. Required.
	New func(s Settings) (pbx.Provider, error)

	// OnRetry says the vendor's Config has OnRetry and New passes
	// Settings.OnRetry through to it. The suite then requires the exact
	// count of calls: one for a read retried once after a transient fault,
	// MaxRetries (3) for a read that meets the fault on every attempt,
	// none for a fault that ends the read at once. Leave it false only
	// when the Config has no OnRetry: a provider that calls
	// Settings.OnRetry while it is false fails the read checks, so that a
	// harness cannot leave the counts unchecked by mistake.
	OnRetry bool

	// StartFake starts the vendor's fake API on 127.0.0.1, seeded as
	// [Fake] describes. Optional: without it the checks that need real
	// answers (reads that succeed after a fault, streaming, the control
	// of the make-call checks) are skipped; the fault checks then run
	// against the suite's own servers.
	StartFake func(o FakeOptions) (*Fake, error)

	// Call is the click-to-call MakeCall is tested with: an extension and
	// a number the fake accepts. Used when the provider is a pbx.Caller.
	Call pbx.CallRequest

	// RouteQuestion builds one authenticated routing question about the
	// caller phone (E.164 digits, "79161234567"), for the provider's
	// webhook handler served at base (a URL without a trailing slash),
	// exactly as the PBX sends it. Each call returns a new request. Nil
	// when the vendor asks no routing question.
	RouteQuestion func(base, phone string) (*http.Request, error)
	// ParseRoute reads the webhook's answer to a RouteQuestion: the route
	// it names, the zero Route for the vendor's "no decision", an error
	// when the answer is not one the PBX would accept. It is the suite's
	// only judge of an answer, so it must be as strict as the PBX: the
	// status, the keys and their spelling, the types, values as sent
	// (untrimmed), and "no decision" in exactly the form the vendor
	// documents (Sipuni's is the bytes {"choice":0}). Required with
	// RouteQuestion.
	ParseRoute func(status int, body []byte) (pbx.Route, error)

	// CallEvent builds one authenticated call notification for the
	// webhook served at base, exactly as the PBX sends it; n tells calls
	// apart (call id, times), so that many different ones can be sent.
	// The handler must hand at least one pbx.CallEvent to the
	// EventHandler for it and answer 2xx. Required.
	CallEvent func(base string, n int) (*http.Request, error)

	// Forgeries builds requests for the webhook served at base that must
	// be refused with a 4xx before reaching any user code: a wrong,
	// missing or misplaced signature or token, a signed request replayed
	// where it does not belong, and whatever else the vendor's
	// authentication must refuse. The suite adds requests with no
	// credentials at all. Each call returns new requests.
	Forgeries func(base string) ([]Forgery, error)

	// Secrets are the secret values New configures (API keys, sign keys,
	// webhook tokens and passwords). None may appear in an error the
	// provider returns, in a line it logs at any level, in a webhook
	// answer, or in the provider printed with %v, %+v, %#v or %s.
	Secrets []string
}

// Settings are the Config fields the suite sets on the provider under test.
// A zero field means the vendor's default.
type Settings struct {
	// BaseURL is the API base URL: the fake's URL, or the suite's own
	// fault server with the fake's path.
	BaseURL string
	// HTTPClient sends the API requests (Config.HTTPClient).
	HTTPClient *http.Client
	// Timeout is the overall limit of one API operation (Config.Timeout).
	Timeout time.Duration
	// RouteTimeout bounds the router's answer (Config.RouteTimeout).
	RouteTimeout time.Duration
	// Logger receives everything the provider logs; the suite captures it
	// at debug level (Config.Logger).
	Logger *slog.Logger
	// OnRetry is called before each retried API request, for vendors whose
	// Config has it (Config.OnRetry, declared by Harness.OnRetry); others
	// ignore it.
	OnRetry func(provider.RetryInfo)
}

// FakeOptions tell StartFake how to seed the fake.
type FakeOptions struct {
	// RecordingSize is the size in bytes of the recording Fake.Recording
	// names; the suite asks for 200 MiB to check streaming, so the fake
	// must generate the bytes while serving them (pbxtest.NewMP3Reader).
	RecordingSize int64
}

// Fake is a vendor fake started for one check. Most checks reach it through
// the suite's fault proxy (a reverse proxy on another loopback port), so it
// must answer requests whatever their remote address; links to itself in
// its small JSON answers (a recording's download link) are rewritten to go
// through the proxy too.
type Fake struct {
	// URL is the API base URL for Settings.BaseURL (with the vendor's API
	// path, if any). The suite puts its fault proxy in front of the fake by
	// replacing the scheme and host, keeping the path.
	URL string
	// Recording is the call id of a recording the fake serves,
	// FakeOptions.RecordingSize bytes long. Used when the provider is a
	// pbx.RecordingFetcher.
	Recording string
	// History is a query the fake's call log answers with HistoryCalls (at
	// least 1) calls. Used when the provider is a pbx.HistoryExporter.
	History      pbx.HistoryQuery
	HistoryCalls int
	// Subscribers is how many employees the fake lists (at least 1). Used
	// when the provider is a pbx.SubscriberLister.
	Subscribers int
	// Close stops the fake. Required.
	Close func()
}

// Forgery is one webhook request the provider must refuse.
type Forgery struct {
	// Name says what is wrong with it ("wrong signature").
	Name    string
	Request *http.Request
}
