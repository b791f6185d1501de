package rostelecomtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider/providertest"
	"github.com/pbxkit/pbxkit/rostelecom"
)

// Harness describes the rostelecom provider and this fake to the
// conformance suite (providertest.Run) and to the programs that take their
// webhook requests from it (the load program). The provider is built with
// the fake's default credentials and a short HistoryPoll; its webhook is
// served under /pbx/rostelecom/, the external-system address, and the
// notifications are signed as the PBX signs them.
func Harness() providertest.Harness {
	const (
		clientID = DefaultClientID
		signKey  = DefaultSignKey
		domain   = DefaultDomain
		prefix   = "/pbx/rostelecom/"
	)
	// signed builds a POST of body to base+prefix+op with the given
	// headers ("" leaves one out).
	signed := func(base, op string, body []byte, id, sign string) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, base+prefix+op, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		if id != "" {
			req.Header.Set("X-Client-ID", id)
		}
		if sign != "" {
			req.Header.Set("X-Client-Sign", sign)
		}
		return req, nil
	}
	sign := func(body []byte) string { return rostelecom.Sign(clientID, body, signKey) }
	question := func(phone string) []byte {
		return fmt.Appendf(nil, `{"domain":%q,"from_number":%q,"request_number":%q}`, domain, phone, DefaultLine)
	}
	ext := pbxtest.Extensions()[0] // a seeded employee: call_back accepts only the domain's users
	event := func(n int) []byte {
		return fmt.Appendf(nil, `{"state":"calling","type":"incoming","session_id":"%d","timestamp":%q,"from_number":"sip:%s@%s","request_number":"sip:%s@%s","request_pin":%q}`,
			4000000+n, time.Now().Format(rostelecom.TimestampLayout), DefaultCaller, domain, DefaultLine, domain, ext)
	}
	return providertest.Harness{
		Name:    rostelecom.Name,
		OnRetry: true, // Config.OnRetry takes Settings.OnRetry
		New: func(s providertest.Settings) (pbx.Provider, error) {
			return rostelecom.New(rostelecom.Config{
				ClientID: clientID, SignKey: signKey, Domain: domain,
				BaseURL: s.BaseURL, HTTPClient: s.HTTPClient, Logger: s.Logger, OnRetry: s.OnRetry,
				RouteTimeout: s.RouteTimeout, Timeout: s.Timeout,
				HistoryPoll: 10 * time.Millisecond,
			})
		},
		StartFake: func(o providertest.FakeOptions) (*providertest.Fake, error) {
			fake := NewServer(Options{RecordingSize: o.RecordingSize, HistoryNotReady: -1})
			now := time.Now()
			id := fake.AddHistory(HistoryEntry{Caller: DefaultCaller, Line: DefaultLine,
				Extension: ext, Answered: true, Talk: time.Minute, Record: true, Start: now.Add(-time.Hour)})
			return &providertest.Fake{
				URL:          fake.URL(),
				Recording:    id,
				History:      pbx.HistoryQuery{From: now.Add(-3 * time.Hour), To: now},
				HistoryCalls: 1,
				Subscribers:  len(fake.Employees()),
				Close:        fake.Close,
			}, nil
		},
		Call: pbx.CallRequest{Extension: ext, Phone: "+7 999 123-45-67"},
		RouteQuestion: func(base, phone string) (*http.Request, error) {
			b := question(phone)
			return signed(base, rostelecom.NotifyGetNumberInfo, b, clientID, sign(b))
		},
		ParseRoute: func(status int, body []byte) (pbx.Route, error) {
			if status != http.StatusOK {
				return pbx.Route{}, fmt.Errorf("HTTP %d: %.200s", status, body)
			}
			// The answer the manual shows: "result" the string "0", then
			// "PIN" (empty: no decision, the domain's rules route the call)
			// and "displayName", spelt so. Whether the PBX trims a PIN is
			// not known: one with spaces around it is refused.
			var env map[string]json.RawMessage
			if err := json.Unmarshal(body, &env); err != nil || string(env["result"]) != `"0"` {
				return pbx.Route{}, fmt.Errorf(`want "result":"0": %.200s`, body)
			}
			pin, name, err := ParseNumberInfoAnswer(body)
			if err != nil {
				return pbx.Route{}, err
			}
			if raw, ok := env["PIN"]; ok && string(raw) != "null" {
				var sent string
				if err := json.Unmarshal(raw, &sent); err != nil || sent != pin {
					return pbx.Route{}, fmt.Errorf(`"PIN" has spaces around it: %.200s`, body)
				}
			}
			return pbx.Route{Extension: pin, DisplayName: name}, nil
		},
		CallEvent: func(base string, n int) (*http.Request, error) {
			b := event(n)
			return signed(base, rostelecom.NotifyCallEvents, b, clientID, sign(b))
		},
		Forgeries: func(base string) ([]providertest.Forgery, error) {
			ev, q := event(1), question(DefaultCaller)
			other := []byte(strings.Replace(string(ev), `"calling"`, `"connected"`, 1))
			type spec struct {
				name, op string
				body     []byte
				id, sign string
			}
			var specs []spec
			for _, target := range []struct {
				op   string
				body []byte
			}{{rostelecom.NotifyCallEvents, ev}, {rostelecom.NotifyGetNumberInfo, q}} {
				op, b := target.op, target.body
				specs = append(specs,
					spec{op + ": no X-Client-Sign", op, b, clientID, ""},
					spec{op + ": no X-Client-ID", op, b, "", sign(b)},
					spec{op + ": another client's ID", op, b, "000003C405E6525C64C184258C44EC00", rostelecom.Sign("000003C405E6525C64C184258C44EC00", b, signKey)},
					spec{op + ": signed with another key", op, b, clientID, rostelecom.Sign(clientID, b, "00000716ABDA6D4DFF10F82BCBBFC500")},
					spec{op + ": the signature of another body", op, b, clientID, sign(other)},
					spec{op + ": a truncated signature", op, b, clientID, sign(b)[:32]},
				)
			}
			specs = append(specs,
				spec{"call_events: body changed after signing", rostelecom.NotifyCallEvents, other, clientID, sign(ev)},
				spec{"a signed event sent to an unknown notification", "call_events_v2", ev, clientID, sign(ev)},
			)
			var out []providertest.Forgery
			for _, sp := range specs {
				req, err := signed(base, sp.op, sp.body, sp.id, sp.sign)
				if err != nil {
					return nil, err
				}
				out = append(out, providertest.Forgery{Name: sp.name, Request: req})
			}
			get, err := http.NewRequest(http.MethodGet, base+prefix+rostelecom.NotifyCallEvents, nil)
			if err != nil {
				return nil, err
			}
			get.Header.Set("X-Client-ID", clientID)
			get.Header.Set("X-Client-Sign", sign(nil))
			return append(out, providertest.Forgery{Name: "a signed empty GET", Request: get}), nil
		},
		Secrets: []string{signKey},
	}
}
