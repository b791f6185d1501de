package pbxtest

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
)

// Scenario is a scripted call flow. Every fake plays the scenarios its
// vendor can produce and returns an error for the others.
type Scenario int

// The neutral scenarios.
const (
	// AnsweredIncoming: an external caller calls the company line. The fake
	// asks the routing question (unless Call.SkipRouting), rings the
	// extension the answer names, else the first of Call.Extensions, which
	// answers; the call ends with a recording unless Call.NoRecord.
	AnsweredIncoming Scenario = iota + 1
	// MissedIncoming: like AnsweredIncoming, but nobody answers and the
	// caller gives up after Call.Ring.
	MissedIncoming
	// OutboundCallback: what follows a click-to-call: the employee
	// Call.Extensions[0] is rung first, then the external Call.Caller, who
	// answers.
	OutboundCallback
	// GroupRing: an incoming call that rings every one of Call.Extensions
	// at once (the routing answer, if any, is ignored); the first answers,
	// the other legs end.
	GroupRing
	// Transfer: an answered incoming call that the first extension
	// transfers to the second of Call.Extensions, who answers and talks
	// until the end.
	Transfer
)

var scenarioNames = [...]string{"", "AnsweredIncoming", "MissedIncoming", "OutboundCallback", "GroupRing", "Transfer"}

// String returns the constant's name.
func (s Scenario) String() string {
	if s > 0 && int(s) < len(scenarioNames) {
		return scenarioNames[s]
	}
	return "Scenario(" + strconv.Itoa(int(s)) + ")"
}

// Incoming reports whether the scenario is an incoming call.
func (s Scenario) Incoming() bool {
	return s != OutboundCallback && s > 0 && int(s) < len(scenarioNames)
}

// Answered reports whether someone answers in the scenario.
func (s Scenario) Answered() bool { return s != MissedIncoming && s > 0 && int(s) < len(scenarioNames) }

// Call describes one call to play. Only Scenario is required; every fake
// fills the other fields with the same defaults.
type Call struct {
	// Scenario is what happens.
	Scenario Scenario
	// Caller is the external number (the caller of an incoming call, the
	// called party of a click-to-call), in digits; default DefaultCaller.
	Caller string
	// Line is the company number; default DefaultLine.
	Line string
	// Extensions are the employees rung when the routing answer names
	// none (all of them for GroupRing); on a click-to-call the first is the
	// employee who calls. Default: the first seeded employee (every seeded
	// employee for GroupRing, the first two for Transfer).
	Extensions []string
	// CallID is the vendor's call id; generated in the vendor's format when
	// empty.
	CallID string
	// SkipRouting plays an incoming call without the routing question.
	SkipRouting bool
	// Start is when the call starts; default now. Notifications carry times
	// computed from it; nothing waits for them.
	Start time.Time
	// Ring is how long phones ring before the answer (default 5 s) or, for
	// a missed call, before the caller gives up (default 20 s).
	Ring time.Duration
	// Talk is the conversation's length; default 42 s.
	Talk time.Duration
	// NoRecord leaves an answered call without a recording.
	NoRecord bool
	// RecordingSize overrides the fake's recording size for this call.
	RecordingSize int64
}

// Defaults of [Call].
const (
	DefaultRing       = 5 * time.Second
	DefaultMissedRing = 20 * time.Second
	DefaultTalk       = 42 * time.Second
)

// WithDefaults returns c with every empty field set to its default, except
// CallID, which only the vendor fake can generate.
func (c Call) WithDefaults() Call {
	if c.Caller == "" {
		c.Caller = DefaultCaller
	}
	if c.Line == "" {
		c.Line = DefaultLine
	}
	if len(c.Extensions) == 0 {
		switch c.Scenario {
		case GroupRing:
			c.Extensions = Extensions()
		case Transfer:
			c.Extensions = Extensions()[:2]
		default:
			c.Extensions = Extensions()[:1]
		}
	}
	if c.Start.IsZero() {
		c.Start = time.Now()
	}
	if c.Ring <= 0 {
		c.Ring = DefaultRing
		if c.Scenario == MissedIncoming {
			c.Ring = DefaultMissedRing
		}
	}
	if c.Talk <= 0 {
		c.Talk = DefaultTalk
	}
	return c
}

// Played is what a fake did while playing one call.
type Played struct {
	// Call is the call as played, with the defaults and the CallID filled
	// in.
	Call Call
	// CallID is the id the call's events carry (Call.CallID).
	CallID string
	// Asked says whether the routing question was asked; Route is the
	// webhook's answer as the fake read it (zero: no decision).
	Asked bool
	Route pbx.Route
	// Rang are the extensions that rang, AnsweredBy the one that answered
	// ("" for a missed call; on a click-to-call the employee who called).
	Rang       []string
	AnsweredBy string
	// Notifications is how many requests the fake sent to the webhook.
	Notifications int
	// Err is why the play stopped early, or nil.
	Err error
}

// Request is one API request a fake received, as it arrived.
type Request struct {
	// Operation is the vendor's name of the method ("call_back",
	// "callback/call_number", "makecall").
	Operation string
	Method    string
	Path      string
	Header    http.Header
	// Query and Body are the request's parameters and bytes.
	Query string
	Body  []byte
	At    time.Time
}

// Fake is what every vendor fake offers beyond its vendor's own words.
type Fake interface {
	// Name is the provider name the fake imitates ("sipuni").
	Name() string
	// URL is the fake's API base URL on loopback.
	URL() string
	// DSN opens a provider pointed at the fake with the fake's credentials
	// (provider.Open(fake.DSN())).
	DSN() string
	// Play sends the notifications of one call to webhookURL, one at a
	// time, each after the previous was answered, and returns what it did.
	// It returns an error, and stops, when the webhook answers anything the
	// vendor would not accept.
	Play(ctx context.Context, webhookURL string, c Call) (Played, error)
	// SetWebhook makes every click-to-call the fake accepts play an
	// OutboundCallback at url (in the background); "" turns it off.
	SetWebhook(url string)
	// Plays lists every call played, in the order they finished, including
	// the ones that followed a click-to-call.
	Plays() []Played
	// Requests lists the API requests received, in order.
	Requests() []Request
	// Close shuts the fake down and waits for background plays to end.
	Close()
}
