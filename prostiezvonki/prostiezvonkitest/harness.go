package prostiezvonkitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/prostiezvonki"
	"github.com/pbxkit/pbxkit/provider/providertest"
)

// Harness describes the prostiezvonki provider and this fake to the
// conformance suite (providertest.Run) and to programs that speak to its
// webhook (the load program): the provider is built with the fake's
// default credentials, routing questions and call events are the spec's
// cmd=contact and cmd=event bodies, and the forgeries carry a missing,
// wrong or misplaced crm_token.
func Harness() providertest.Harness {
	const path = "/pbx/prostiezvonki"
	post := func(base string, body []byte) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		return req, nil
	}
	event := func(n int, token string) []byte {
		return EventBody("INCOMING", "in", "101", SpecCaller, SpecLine, strconv.Itoa(1659685427407907141+n), token)
	}
	return providertest.Harness{
		Name: prostiezvonki.Name,
		New: func(s providertest.Settings) (pbx.Provider, error) {
			return prostiezvonki.New(prostiezvonki.Config{
				APIKey: DefaultAPIKey, CRMToken: DefaultCRMToken,
				BaseURL: s.BaseURL, HTTPClient: s.HTTPClient, Logger: s.Logger,
				RouteTimeout: s.RouteTimeout, Timeout: s.Timeout,
			})
		},
		StartFake: func(o providertest.FakeOptions) (*providertest.Fake, error) {
			fake := NewServer(Options{RecordingSize: o.RecordingSize})
			return &providertest.Fake{URL: fake.URL(), Close: fake.Close}, nil
		},
		Call: pbx.CallRequest{Extension: "101", Phone: "8 (999) 123-45-67"},
		RouteQuestion: func(base, phone string) (*http.Request, error) {
			return post(base, ContactBody(phone, DefaultCRMToken))
		},
		ParseRoute: func(status int, body []byte) (pbx.Route, error) {
			if status != http.StatusOK {
				return pbx.Route{}, fmt.Errorf("HTTP %d: %.200s", status, body)
			}
			responsible, name, err := ParseContactAnswer(body)
			if err != nil {
				return pbx.Route{}, err
			}
			// Whether PZ trims "responsible" is not known, so one with
			// spaces around it is refused (ParseContactAnswer trims it);
			// "contact_name" is the ITooLabs family's, which PZ is
			// expected to ignore. No decision is {"responsible":""}, the
			// answer the spec gives, and nothing else.
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(body, &obj); err != nil {
				return pbx.Route{}, err
			}
			for k := range obj {
				if k != "responsible" && k != "contact_name" {
					return pbx.Route{}, fmt.Errorf("a contact answer with the key %q: %.200s", k, body)
				}
			}
			var sent string
			if raw := obj["responsible"]; string(raw) == "null" || json.Unmarshal(raw, &sent) != nil || sent != responsible {
				return pbx.Route{}, fmt.Errorf(`"responsible" must be a string, as sent, with no spaces around it: %.200s`, body)
			}
			if responsible == "" && len(obj) != 1 {
				return pbx.Route{}, fmt.Errorf(`the no-decision answer must be {"responsible":""} alone: %.200s`, body)
			}
			return pbx.Route{Extension: responsible, DisplayName: name}, nil
		},
		CallEvent: func(base string, n int) (*http.Request, error) {
			return post(base, event(n, DefaultCRMToken))
		},
		Forgeries: func(base string) ([]providertest.Forgery, error) {
			tok := DefaultCRMToken
			bodies := []struct {
				name string
				body []byte
			}{
				{"event: no crm_token", event(1, "")},
				{"event: wrong crm_token", event(1, tok+"x")},
				{"event: a prefix of the crm_token", event(1, tok[:len(tok)-1])},
				{"event: the crm_token in another case", event(1, strings.ToUpper(tok))},
				{"contact: no crm_token", ContactBody(SpecCaller, "")},
				{"contact: wrong crm_token", ContactBody(SpecCaller, "x"+tok)},
				{"event: crm_token as a number", []byte(`{"cmd":"event","type":"INCOMING","phone":"89991234567","crm_token":123}`)},
			}
			var out []providertest.Forgery
			for _, b := range bodies {
				req, err := post(base, b.body)
				if err != nil {
					return nil, err
				}
				out = append(out, providertest.Forgery{Name: b.name, Request: req})
			}
			// The token in a header, which PZ never sends.
			req, err := post(base, event(1, ""))
			if err != nil {
				return nil, err
			}
			req.Header.Set("X-CRM-Token", tok)
			return append(out, providertest.Forgery{Name: "event: the crm_token in a header", Request: req}), nil
		},
		Secrets: []string{DefaultAPIKey, DefaultCRMToken},
	}
}
