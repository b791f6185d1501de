package main

import (
	"context"
	"fmt"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/prostiezvonki"
	"github.com/pbxkit/pbxkit/prostiezvonki/pztest"
	"github.com/pbxkit/pbxkit/rostelecom"
	"github.com/pbxkit/pbxkit/rostelecom/rostelecomtest"
	"github.com/pbxkit/pbxkit/sipuni"
	"github.com/pbxkit/pbxkit/sipuni/sipunitest"
)

// scenario is a scripted call, whatever the vendor.
type scenario int

const (
	answeredIncoming scenario = iota + 1
	missedIncoming
)

// played is a fake's PlayResult in vendor-neutral form.
type played struct {
	// CallID is the vendor's call id, the one the events carry.
	CallID string
	// Asked says whether the routing question was asked; Routed and
	// RoutedName are the webhook's answer to it, as the fake read it.
	Asked              bool
	Routed, RoutedName string
	// Rang are the extensions the fake rang, AnsweredBy the one that
	// answered ("" for a missed call).
	Rang       []string
	AnsweredBy string
	// Err is why the play stopped early.
	Err error
}

// fakePBX is one vendor's fake PBX with a provider client pointed at it,
// behind the few functions the demo needs.
type fakePBX struct {
	name     string
	provider pbx.Provider
	// hookURL is where the fake sends its notifications.
	hookURL string
	// dial writes a normalised number the way the vendor sends it.
	dial func(normalised string) string
	// play plays one incoming call at the webhook and waits for its end.
	play func(ctx context.Context, hookURL string, sc scenario, caller string) (played, error)
	// plays lists every call the fake played, including those that follow
	// a click-to-call, in the order they finished.
	plays func() []played
	// setWebhook makes every click-to-call play an outbound call at url.
	setWebhook func(url string)
	close      func()
}

// startRostelecom starts rostelecomtest with the company's staff and a
// rostelecom client for it. ResolveEnded is on, so call_ended events carry
// the outcome (the "end" notification itself does not).
func startRostelecom() (*fakePBX, error) {
	users := make([]rostelecomtest.User, 0, len(staff))
	for _, e := range staff {
		users = append(users, rostelecomtest.User{PIN: e.ext, Name: e.login, DisplayName: e.name})
	}
	fake := rostelecomtest.NewServer(rostelecomtest.Options{Users: users})
	cfg := fake.Config()
	cfg.ResolveEnded = true
	client, err := rostelecom.New(cfg)
	if err != nil {
		fake.Close()
		return nil, fmt.Errorf("rostelecom: %w", err)
	}
	conv := func(r rostelecomtest.PlayResult) played {
		return played{CallID: r.Call.CallID, Asked: r.Asked, Routed: r.PIN, RoutedName: r.DisplayName,
			Rang: r.Rang, AnsweredBy: r.AnsweredBy, Err: r.Err}
	}
	scenarios := map[scenario]rostelecomtest.Scenario{
		answeredIncoming: rostelecomtest.AnsweredIncoming,
		missedIncoming:   rostelecomtest.MissedIncoming,
	}
	return &fakePBX{
		name:     rostelecom.Name,
		provider: client,
		dial:     func(n string) string { return n }, // E.164 digits
		play: func(ctx context.Context, hookURL string, sc scenario, caller string) (played, error) {
			res, err := fake.Play(ctx, hookURL, rostelecomtest.Call{Scenario: scenarios[sc], Caller: caller})
			return conv(res), err
		},
		plays: func() []played {
			var out []played
			for _, r := range fake.Plays() {
				out = append(out, conv(r))
			}
			return out
		},
		setWebhook: fake.SetWebhook,
		close:      fake.Close,
	}, nil
}

// webhookToken authenticates the Sipuni fake's requests to the webhook.
const webhookToken = "quickstart-token"

// startSipuni starts sipunitest with the company's staff and a sipuni
// client for it; the webhook requires a token, as it should.
func startSipuni() (*fakePBX, error) {
	fake := sipunitest.NewServer(sipunitest.Options{WebhookToken: webhookToken})
	emps := make([]sipunitest.Employee, 0, len(staff))
	for _, e := range staff {
		emps = append(emps, sipunitest.Employee{Extension: e.ext, Name: e.name, Status: "Свободен", CallState: "Не разговаривает"})
	}
	fake.SetEmployees(emps)
	client, err := sipuni.New(sipuni.Config{Account: fake.Account(), Secret: fake.Secret(),
		BaseURL: fake.URL, WebhookToken: webhookToken})
	if err != nil {
		fake.Close()
		return nil, fmt.Errorf("sipuni: %w", err)
	}
	conv := func(r sipunitest.PlayResult) played {
		p := played{CallID: r.CallID, Asked: r.Asked, RoutedName: r.DisplayName,
			Rang: r.Rung, AnsweredBy: r.AnsweredBy, Err: r.Err}
		if r.Choice == 1 {
			p.Routed = r.Number
		}
		return p
	}
	scenarios := map[scenario]sipunitest.Scenario{
		answeredIncoming: sipunitest.AnsweredIncoming,
		missedIncoming:   sipunitest.MissedIncoming,
	}
	return &fakePBX{
		name:     sipuni.Name,
		provider: client,
		dial:     func(n string) string { return n },
		play: func(ctx context.Context, hookURL string, sc scenario, caller string) (played, error) {
			res, err := fake.Play(ctx, hookURL, sipunitest.Call{Scenario: scenarios[sc], Caller: caller})
			return conv(res), err
		},
		plays: func() []played {
			var out []played
			for _, r := range fake.Plays() {
				out = append(out, conv(r))
			}
			return out
		},
		setWebhook: fake.SetWebhook,
		close:      fake.Close,
	}, nil
}

// startProstieZvonki starts pztest with the company's staff and a
// prostiezvonki client for it.
func startProstieZvonki() (*fakePBX, error) {
	users := make([]pztest.User, 0, len(staff))
	for _, e := range staff {
		users = append(users, pztest.User{Extension: e.ext, Name: e.name})
	}
	fake := pztest.NewServer(pztest.Options{Users: users})
	client, err := prostiezvonki.New(prostiezvonki.Config{APIKey: fake.APIKey(), CRMToken: fake.CRMToken(), BaseURL: fake.URL})
	if err != nil {
		fake.Close()
		return nil, fmt.Errorf("prostiezvonki: %w", err)
	}
	conv := func(r pztest.PlayResult) played {
		return played{CallID: r.Call.CallID, Asked: r.Asked, Routed: r.Responsible, RoutedName: r.ContactName,
			Rang: r.Rang, AnsweredBy: r.AnsweredBy, Err: r.Err}
	}
	scenarios := map[scenario]pztest.Scenario{
		answeredIncoming: pztest.AnsweredIncoming,
		missedIncoming:   pztest.MissedIncoming,
	}
	return &fakePBX{
		name:     prostiezvonki.Name,
		provider: client,
		// Prostie Zvonki writes numbers as 8XXXXXXXXXX, as in its spec.
		dial: func(n string) string {
			if len(n) == 11 && n[0] == '7' {
				return "8" + n[1:]
			}
			return n
		},
		play: func(ctx context.Context, hookURL string, sc scenario, caller string) (played, error) {
			res, err := fake.Play(ctx, hookURL, pztest.Call{Scenario: scenarios[sc], Caller: caller})
			return conv(res), err
		},
		plays: func() []played {
			var out []played
			for _, r := range fake.Plays() {
				out = append(out, conv(r))
			}
			return out
		},
		setWebhook: fake.SetWebhook,
		close:      fake.Close,
	}, nil
}
