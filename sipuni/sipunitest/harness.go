package sipunitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider/providertest"
	"github.com/pbxkit/pbxkit/sipuni"
)

// Harness describes the sipuni provider and this fake to the conformance
// suite (providertest.Run) and to the programs that take their webhook
// requests from it (the load program). The provider is built with the
// fake's default account and secret, a webhook token and basic auth; its
// webhook is served under /pbx/sipuni and spoken to with GET requests, as
// Sipuni sends them, carrying the token in the query and the basic auth.
func Harness() providertest.Harness {
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
		return url.Values{"fromnum": {phone}, "tonum": {DefaultLine}, "dtmf": {""}, "label": {""},
			"time": {strconv.FormatInt(time.Now().Unix(), 10)}}
	}
	ext := pbxtest.Extensions()[0] // a seeded employee
	event := func(n int) url.Values {
		acc := DefaultAccount
		return url.Values{
			"event": {"1"}, "call_id": {strconv.Itoa(1774372146+n) + ".1"},
			"src_num": {DefaultCaller}, "src_type": {"1"}, "short_src_num": {DefaultCaller},
			"dst_num": {acc + ext}, "dst_type": {"2"}, "short_dst_num": {ext},
			"timestamp": {strconv.FormatInt(time.Now().Unix(), 10)}, "is_inner_call": {"0"},
		}
	}
	return providertest.Harness{
		Name: sipuni.Name,
		New: func(s providertest.Settings) (pbx.Provider, error) {
			return sipuni.New(sipuni.Config{
				Account: DefaultAccount, Secret: DefaultSecret,
				WebhookToken: token, WebhookUser: user, WebhookPassword: password,
				BaseURL: s.BaseURL, HTTPClient: s.HTTPClient, Logger: s.Logger,
				RouteTimeout: s.RouteTimeout, Timeout: s.Timeout,
			})
		},
		StartFake: func(o providertest.FakeOptions) (*providertest.Fake, error) {
			fake := NewServer(Options{})
			fake.AddRecording(recordID, o.RecordingSize)
			now := time.Now()
			fake.SetHistory([]HistoryEntry{
				{RecordID: "1774372146.100001", Type: "Входящий", Status: "отвечен", Time: now.Add(-2 * time.Hour), From: "79031234567", To: "101", AnsweredBy: "101", TalkDuration: time.Minute},
				{RecordID: "1774372146.100002", Type: "Входящий", Status: "не отвечен", Time: now.Add(-time.Hour), From: "79031234568", To: "102"},
			})
			return &providertest.Fake{
				URL:          fake.URL(),
				Recording:    recordID,
				History:      pbx.HistoryQuery{From: now.Add(-3 * time.Hour), To: now},
				HistoryCalls: 2,
				Subscribers:  len(fake.Employees()),
				Close:        fake.Close,
			}, nil
		},
		Call: pbx.CallRequest{Extension: ext, Phone: "+7 999 123-45-67"},
		RouteQuestion: func(base, phone string) (*http.Request, error) {
			return get(base, question(phone), token, user, password)
		},
		ParseRoute: func(status int, body []byte) (pbx.Route, error) {
			if status != http.StatusOK {
				return pbx.Route{}, fmt.Errorf("HTTP %d: %.200s", status, body)
			}
			// "No decision" is exactly {"choice":0}, the answer Sipuni's
			// integrators send and the package sends; only whitespace
			// around it may differ.
			if string(bytes.Trim(body, " \t\r\n")) == `{"choice":0}` {
				return pbx.Route{}, nil
			}
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
				return pbx.Route{}, fmt.Errorf(`want {"choice":0} or {"choice":1,"number":...}: %.200s`, body)
			}
			switch string(obj["choice"]) {
			case "1":
			case "0":
				return pbx.Route{}, fmt.Errorf(`the no-decision answer must be exactly {"choice":0}: %.200s`, body)
			default:
				return pbx.Route{}, fmt.Errorf(`"choice" must be 0 or 1: %.200s`, body)
			}
			for k := range obj {
				if k != "choice" && k != "number" && k != "name" {
					return pbx.Route{}, fmt.Errorf("choice 1 with the key %q: Sipuni reads choice, number and name: %.200s", k, body)
				}
			}
			var number, name string
			if err := json.Unmarshal(obj["number"], &number); err != nil || number == "" || number != strings.TrimSpace(number) {
				return pbx.Route{}, fmt.Errorf(`choice 1 needs "number", an extension as a string: %.200s`, body)
			}
			if raw, ok := obj["name"]; ok {
				if err := json.Unmarshal(raw, &name); err != nil || string(raw) == "null" {
					return pbx.Route{}, fmt.Errorf(`"name" must be a string: %.200s`, body)
				}
			}
			return pbx.Route{Extension: number, DisplayName: name}, nil
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
			}{{"event", event(1)}, {"routing question", question(DefaultCaller)}} {
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
		Secrets: []string{DefaultSecret, token, password},
	}
}
