package providertest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/prostiezvonki"
	"github.com/pbxkit/pbxkit/prostiezvonki/pztest"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/provider/providertest"
	"github.com/pbxkit/pbxkit/rostelecom"
	"github.com/pbxkit/pbxkit/rostelecom/rostelecomtest"
	"github.com/pbxkit/pbxkit/sipuni"
	"github.com/pbxkit/pbxkit/sipuni/sipunitest"
)

// The three vendors' harnesses, written as each will be in its fake
// package (rostelecomtest.Harness() and so on), and run here until each
// vendor runs the suite from its own conformance_test.go.

func TestRostelecom(t *testing.T) { providertest.Run(t, rostelecomHarness()) }

func TestSipuni(t *testing.T) { providertest.Run(t, sipuniHarness()) }

func TestProstieZvonki(t *testing.T) { providertest.Run(t, prostiezvonkiHarness()) }

// ---- rostelecom ----

// rostelecomHarness describes the rostelecom provider and its fake.
func rostelecomHarness() providertest.Harness {
	const (
		clientID = rostelecomtest.DefaultClientID
		signKey  = rostelecomtest.DefaultSignKey
		domain   = rostelecomtest.DefaultDomain
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
		return fmt.Appendf(nil, `{"domain":%q,"from_number":%q,"request_number":%q}`, domain, phone, rostelecomtest.DefaultLine)
	}
	event := func(n int) []byte {
		return fmt.Appendf(nil, `{"state":"calling","type":"incoming","session_id":"%d","timestamp":%q,"from_number":"sip:%s@%s","request_number":"sip:%s@%s","request_pin":"201"}`,
			4000000+n, time.Now().Format("2006-01-02 15:04:05.000"), rostelecomtest.DefaultCaller, domain, rostelecomtest.DefaultLine, domain)
	}
	return providertest.Harness{
		Name: rostelecom.Name,
		New: func(s providertest.Settings) (pbx.Provider, error) {
			return rostelecom.New(rostelecom.Config{
				ClientID: clientID, SignKey: signKey, Domain: domain,
				BaseURL: s.BaseURL, HTTPClient: s.HTTPClient, Logger: s.Logger, OnRetry: s.OnRetry,
				RouteTimeout: s.RouteTimeout, Timeout: s.Timeout,
				HistoryPoll: 10 * time.Millisecond,
			})
		},
		StartFake: func(o providertest.FakeOptions) (*providertest.Fake, error) {
			fake := rostelecomtest.NewServer(rostelecomtest.Options{RecordingSize: o.RecordingSize, HistoryNotReady: -1})
			now := time.Now()
			id := fake.AddHistory(rostelecomtest.HistoryEntry{Caller: rostelecomtest.DefaultCaller, Line: rostelecomtest.DefaultLine,
				Extension: "201", Answered: true, Talk: time.Minute, Record: true, Start: now.Add(-time.Hour)})
			return &providertest.Fake{
				URL:          fake.URL,
				Recording:    id,
				History:      pbx.HistoryQuery{From: now.Add(-3 * time.Hour), To: now},
				HistoryCalls: 1,
				Subscribers:  len(fake.Users()),
				Close:        fake.Close,
			}, nil
		},
		Call: pbx.CallRequest{Extension: "201", Phone: "+7 999 123-45-67"},
		RouteQuestion: func(base, phone string) (*http.Request, error) {
			b := question(phone)
			return signed(base, rostelecom.NotifyGetNumberInfo, b, clientID, sign(b))
		},
		ParseRoute: func(status int, body []byte) (pbx.Route, error) {
			if status != http.StatusOK {
				return pbx.Route{}, fmt.Errorf("HTTP %d: %.200s", status, body)
			}
			var env struct {
				Result provider.String `json:"result"`
			}
			if err := json.Unmarshal(body, &env); err != nil || env.Result != "0" {
				return pbx.Route{}, fmt.Errorf(`want result "0": %.200s`, body)
			}
			pin, name, err := rostelecomtest.ParseNumberInfoAnswer(body)
			if err != nil {
				return pbx.Route{}, err
			}
			return pbx.Route{Extension: pin, DisplayName: name}, nil
		},
		CallEvent: func(base string, n int) (*http.Request, error) {
			b := event(n)
			return signed(base, rostelecom.NotifyCallEvents, b, clientID, sign(b))
		},
		Forgeries: func(base string) ([]providertest.Forgery, error) {
			ev, q := event(1), question(rostelecomtest.DefaultCaller)
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

// ---- sipuni ----

// sipuniHarness describes the sipuni provider and its fake.
func sipuniHarness() providertest.Harness {
	const (
		token    = "providertest-webhook-token"
		user     = "pbx"
		password = "providertest-webhook-password"
		path     = "/pbx/sipuni"
		recordID = "1774372146.533584"
	)
	// get builds a GET of params to base+path with token (when not "") in
	// the query and the basic auth user:pass (when user is not "").
	get := func(base string, params url.Values, tok, user, pass string) (*http.Request, error) {
		q := url.Values{}
		for k, v := range params {
			q[k] = v
		}
		if tok != "" {
			q.Set("token", tok)
		}
		req, err := http.NewRequest(http.MethodGet, base+path+"?"+q.Encode(), nil)
		if err != nil {
			return nil, err
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		return req, nil
	}
	question := func(phone string) url.Values {
		return url.Values{"fromnum": {phone}, "tonum": {sipunitest.DefaultLine}, "dtmf": {""}, "label": {""},
			"time": {strconv.FormatInt(time.Now().Unix(), 10)}}
	}
	event := func(n int) url.Values {
		acc := sipunitest.DefaultAccount
		return url.Values{
			"event": {"1"}, "call_id": {strconv.Itoa(1774372146+n) + ".1"},
			"src_num": {sipunitest.DefaultCaller}, "src_type": {"1"}, "short_src_num": {sipunitest.DefaultCaller},
			"dst_num": {acc + "101"}, "dst_type": {"2"}, "short_dst_num": {"101"},
			"timestamp": {strconv.FormatInt(time.Now().Unix(), 10)}, "is_inner_call": {"0"},
		}
	}
	return providertest.Harness{
		Name: sipuni.Name,
		New: func(s providertest.Settings) (pbx.Provider, error) {
			return sipuni.New(sipuni.Config{
				Account: sipunitest.DefaultAccount, Secret: sipunitest.DefaultSecret,
				WebhookToken: token, WebhookUser: user, WebhookPassword: password,
				BaseURL: s.BaseURL, HTTPClient: s.HTTPClient, Logger: s.Logger,
				RouteTimeout: s.RouteTimeout, Timeout: s.Timeout,
			})
		},
		StartFake: func(o providertest.FakeOptions) (*providertest.Fake, error) {
			fake := sipunitest.NewServer(sipunitest.Options{})
			fake.AddRecording(recordID, o.RecordingSize)
			now := time.Now()
			fake.SetHistory([]sipunitest.HistoryEntry{
				{RecordID: "1774372146.100001", Type: "Входящий", Status: "отвечен", Time: now.Add(-2 * time.Hour), From: "79031234567", To: "101", AnsweredBy: "101", TalkDuration: time.Minute},
				{RecordID: "1774372146.100002", Type: "Входящий", Status: "не отвечен", Time: now.Add(-time.Hour), From: "79031234568", To: "102"},
			})
			return &providertest.Fake{
				URL:          fake.URL,
				Recording:    recordID,
				History:      pbx.HistoryQuery{From: now.Add(-3 * time.Hour), To: now},
				HistoryCalls: 2,
				Subscribers:  len(fake.Employees()),
				Close:        fake.Close,
			}, nil
		},
		Call: pbx.CallRequest{Extension: "101", Phone: "+7 999 123-45-67"},
		RouteQuestion: func(base, phone string) (*http.Request, error) {
			return get(base, question(phone), token, user, password)
		},
		ParseRoute: func(status int, body []byte) (pbx.Route, error) {
			if status != http.StatusOK {
				return pbx.Route{}, fmt.Errorf("HTTP %d: %.200s", status, body)
			}
			var a struct {
				Choice *int   `json:"choice"`
				Number string `json:"number"`
				Name   string `json:"name"`
			}
			if err := json.Unmarshal(body, &a); err != nil || a.Choice == nil {
				return pbx.Route{}, fmt.Errorf(`want {"choice":0|1,...}: %.200s`, body)
			}
			switch *a.Choice {
			case 0:
				if a.Number != "" || a.Name != "" {
					return pbx.Route{}, fmt.Errorf("choice 0 with a number or name: %.200s", body)
				}
				return pbx.Route{}, nil
			case 1:
				if a.Number == "" {
					return pbx.Route{}, fmt.Errorf("choice 1 without a number: %.200s", body)
				}
				return pbx.Route{Extension: a.Number, DisplayName: a.Name}, nil
			}
			return pbx.Route{}, fmt.Errorf("choice %d: %.200s", *a.Choice, body)
		},
		CallEvent: func(base string, n int) (*http.Request, error) {
			return get(base, event(n), token, user, password)
		},
		Forgeries: func(base string) ([]providertest.Forgery, error) {
			var out []providertest.Forgery
			add := func(name string, req *http.Request, err error) error {
				if err != nil {
					return err
				}
				out = append(out, providertest.Forgery{Name: name, Request: req})
				return nil
			}
			for _, kind := range []struct {
				name   string
				params url.Values
			}{{"event", event(1)}, {"routing question", question(sipunitest.DefaultCaller)}} {
				p := kind.params
				var errs []error
				req, err := get(base, p, "", user, password)
				errs = append(errs, add(kind.name+": no token", req, err))
				req, err = get(base, p, token+"x", user, password)
				errs = append(errs, add(kind.name+": wrong token", req, err))
				req, err = get(base, p, token[:len(token)-1], user, password)
				errs = append(errs, add(kind.name+": a prefix of the token", req, err))
				req, err = get(base, p, token, "", "")
				errs = append(errs, add(kind.name+": no basic auth", req, err))
				req, err = get(base, p, token, user, password+"x")
				errs = append(errs, add(kind.name+": wrong password", req, err))
				req, err = get(base, p, token, "admin", password)
				errs = append(errs, add(kind.name+": wrong user", req, err))
				// The token in a POST body instead of the URL: Sipuni puts it
				// in the URL it was given, so the body's does not count.
				form := url.Values{}
				for k, v := range p {
					form[k] = v
				}
				form.Set("token", token)
				req, err = http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
				if err == nil {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.SetBasicAuth(user, password)
				}
				errs = append(errs, add(kind.name+": the token in the body", req, err))
				if err := errors.Join(errs...); err != nil {
					return nil, err
				}
			}
			return out, nil
		},
		Secrets: []string{sipunitest.DefaultSecret, token, password},
	}
}

// ---- prostiezvonki ----

// prostiezvonkiHarness describes the prostiezvonki provider and its fake.
func prostiezvonkiHarness() providertest.Harness {
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
		return pztest.EventBody("INCOMING", "in", "100", pztest.DefaultCaller, pztest.DefaultLine, strconv.Itoa(1659685427407907141+n), token)
	}
	return providertest.Harness{
		Name: prostiezvonki.Name,
		New: func(s providertest.Settings) (pbx.Provider, error) {
			return prostiezvonki.New(prostiezvonki.Config{
				APIKey: pztest.DefaultAPIKey, CRMToken: pztest.DefaultCRMToken,
				BaseURL: s.BaseURL, HTTPClient: s.HTTPClient, Logger: s.Logger,
				RouteTimeout: s.RouteTimeout, Timeout: s.Timeout,
			})
		},
		StartFake: func(providertest.FakeOptions) (*providertest.Fake, error) {
			fake := pztest.NewServer(pztest.Options{})
			return &providertest.Fake{URL: fake.URL, Close: fake.Close}, nil
		},
		Call: pbx.CallRequest{Extension: "100", Phone: "8 (999) 123-45-67"},
		RouteQuestion: func(base, phone string) (*http.Request, error) {
			return post(base, pztest.ContactBody(phone, pztest.DefaultCRMToken))
		},
		ParseRoute: func(status int, body []byte) (pbx.Route, error) {
			if status != http.StatusOK {
				return pbx.Route{}, fmt.Errorf("HTTP %d: %.200s", status, body)
			}
			responsible, name, err := pztest.ParseContactAnswer(body)
			if err != nil {
				return pbx.Route{}, err
			}
			if responsible == "" && name != "" {
				return pbx.Route{}, fmt.Errorf("a contact name without a responsible: %.200s", body)
			}
			return pbx.Route{Extension: responsible, DisplayName: name}, nil
		},
		CallEvent: func(base string, n int) (*http.Request, error) {
			return post(base, event(n, pztest.DefaultCRMToken))
		},
		Forgeries: func(base string) ([]providertest.Forgery, error) {
			tok := pztest.DefaultCRMToken
			bodies := []struct {
				name string
				body []byte
			}{
				{"event: no crm_token", event(1, "")},
				{"event: wrong crm_token", event(1, tok+"x")},
				{"event: a prefix of the crm_token", event(1, tok[:len(tok)-1])},
				{"event: the crm_token in another case", event(1, strings.ToUpper(tok))},
				{"contact: no crm_token", pztest.ContactBody(pztest.DefaultCaller, "")},
				{"contact: wrong crm_token", pztest.ContactBody(pztest.DefaultCaller, "x"+tok)},
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
		Secrets: []string{pztest.DefaultAPIKey, pztest.DefaultCRMToken},
	}
}
