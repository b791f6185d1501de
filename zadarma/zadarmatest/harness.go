package zadarmatest

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/provider/providertest"
	"github.com/pbxkit/pbxkit/zadarma"
)

// Harness describes the zadarma provider and this fake to the conformance
// suite (providertest.Run) and to the programs that take their webhook
// requests from it (the load program). The provider is built with the
// fake's default key and secret; its webhook is served under /pbx/zadarma
// and spoken to with signed form POSTs, as Zadarma sends them.
//
// The routing question is a NOTIFY_IVR (digits "1" collected by a voice
// menu), which is a question only. NOTIFY_START, Zadarma's main routing
// question, is also the call's first event (it reaches the EventHandler as
// well as the Router), which the suite's routing checks do not allow for;
// package zadarma's own tests check its routing deadline. The call event
// is a NOTIFY_INTERNAL.
func Harness() providertest.Harness {
	const path = "/pbx/zadarma"
	loc := provider.DefaultLocation()
	id := func(prefix string, n int) string {
		sum := sha1.Sum([]byte("providertest/" + strconv.Itoa(n)))
		return prefix + hex.EncodeToString(sum[:])
	}
	callStart := func(n int) string {
		return time.Now().Add(-time.Duration(n%3600) * time.Second).In(loc).Format("2006-01-02 15:04:05")
	}
	internal := func(n int) url.Values {
		return url.Values{"event": {"NOTIFY_INTERNAL"}, "call_start": {callStart(n)}, "pbx_call_id": {id("in_", n)},
			"caller_id": {DefaultCaller}, "called_did": {DefaultLine}, "internal": {"101"}}
	}
	ivr := func(phone string) url.Values {
		return url.Values{"event": {"NOTIFY_IVR"}, "call_start": {callStart(0)}, "pbx_call_id": {id("in_", 0)},
			"caller_id": {phone}, "called_did": {DefaultLine},
			"wait_dtmf[name]": {"menu"}, "wait_dtmf[digits]": {"1"}, "wait_dtmf[default_behaviour]": {""}}
	}
	post := func(base string, form url.Values, sig string) (*http.Request, error) {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, base+path, strings.NewReader(form.Encode()))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sig != "" {
			req.Header.Set("Signature", sig)
		}
		return req, nil
	}
	signed := func(base string, form url.Values) (*http.Request, error) {
		return post(base, form, Sign(form, DefaultSecret, false))
	}
	return providertest.Harness{
		Name: zadarma.Name,
		New: func(s providertest.Settings) (pbx.Provider, error) {
			return zadarma.New(zadarma.Config{
				Key: DefaultKey, Secret: DefaultSecret,
				BaseURL: s.BaseURL, HTTPClient: s.HTTPClient, Logger: s.Logger,
				RouteTimeout: s.RouteTimeout, Timeout: s.Timeout,
			})
		},
		StartFake: func(o providertest.FakeOptions) (*providertest.Fake, error) {
			fake := NewServer(Options{})
			now := time.Now().Truncate(time.Second)
			recCall := id("in_", 424242)
			fake.AddRecording("1774372146.4242424", recCall, o.RecordingSize, time.Time{})
			fake.SetHistory([]HistoryEntry{
				{CallID: "1774372146.1000001", PBXCallID: id("in_", 1), SIP: "101", CLID: "79031234567", Destination: "101",
					Disposition: "answered", Start: now.Add(-2 * time.Hour), Duration: 65 * time.Second, Recorded: true},
				{CallID: "1774372146.1000002", PBXCallID: id("in_", 2), SIP: "102", CLID: "79031234568", Destination: "102",
					Disposition: "no answer", Start: now.Add(-time.Hour), Duration: 20 * time.Second},
			})
			return &providertest.Fake{
				URL:          fake.URL(),
				Recording:    recCall,
				History:      pbx.HistoryQuery{From: now.Add(-3 * time.Hour), To: now},
				HistoryCalls: 2,
				Subscribers:  len(fake.Employees()),
				Close:        fake.Close,
			}, nil
		},
		Call: pbx.CallRequest{Extension: "101", Phone: "+7 999 123-45-67"},
		RouteQuestion: func(base, phone string) (*http.Request, error) {
			return signed(base, ivr(phone))
		},
		ParseRoute: func(status int, body []byte) (pbx.Route, error) {
			if status != http.StatusOK {
				return pbx.Route{}, fmt.Errorf("HTTP %d: %.200s", status, body)
			}
			route, _, err := ParseRouteAnswer(body)
			if err != nil {
				return pbx.Route{}, err
			}
			if route.Extension == "" && len(bytes.TrimSpace(body)) > 0 {
				var a map[string]json.RawMessage
				if json.Unmarshal(body, &a) == nil && a["caller_name"] != nil {
					return pbx.Route{}, fmt.Errorf("a caller_name without a redirect: %.200s", body)
				}
			}
			return route, nil
		},
		CallEvent: func(base string, n int) (*http.Request, error) {
			return signed(base, internal(n))
		},
		Forgeries: func(base string) ([]providertest.Forgery, error) {
			var out []providertest.Forgery
			var errs []error
			add := func(name string, req *http.Request, err error) {
				if err != nil {
					errs = append(errs, err)
					return
				}
				out = append(out, providertest.Forgery{Name: name, Request: req})
			}
			for _, kind := range []struct {
				name string
				form url.Values
			}{{"NOTIFY_INTERNAL", internal(7)}, {"NOTIFY_IVR", ivr(DefaultCaller)}} {
				f := kind.form
				good := Sign(f, DefaultSecret, false)
				req, err := post(base, f, "")
				add(kind.name+": no Signature", req, err)
				req, err = post(base, f, Sign(f, DefaultSecret+"x", false))
				add(kind.name+": signed with another secret", req, err)
				req, err = post(base, f, good[:len(good)-4])
				add(kind.name+": a prefix of the signature", req, err)
				req, err = post(base, f, strings.ToLower(good))
				add(kind.name+": the signature in another case", req, err)
				tampered := url.Values{}
				for k, v := range f {
					tampered[k] = v
				}
				tampered.Set("caller_id", "79990001122")
				req, err = post(base, tampered, good)
				add(kind.name+": a signed field changed after signing", req, err)
				req, err = post(base, f, "")
				if err == nil {
					q := url.Values{"Signature": {good}}
					req.URL.RawQuery = q.Encode()
				}
				add(kind.name+": the signature in the query string", req, err)
				req, err = post(base, f, good)
				if err == nil {
					req.Header.Add("Signature", Sign(f, "another-secret", false))
				}
				add(kind.name+": two Signature headers", req, err)
				req, err = http.NewRequest(http.MethodPost, base+path+"?"+f.Encode(), nil)
				if err == nil {
					req.Header.Set("Signature", good)
				}
				add(kind.name+": the fields in the query string, not the body", req, err)
			}
			// NOTIFY_ANSWER signs caller_id + destination + call_start: a
			// signature over called_did (the NOTIFY_START rule) is wrong.
			ans := url.Values{"event": {"NOTIFY_ANSWER"}, "call_start": {callStart(9)}, "pbx_call_id": {id("in_", 9)},
				"caller_id": {DefaultCaller}, "called_did": {DefaultLine}, "destination": {"101"}, "internal": {"101"}}
			asStart := url.Values{"event": {"NOTIFY_START"}, "caller_id": ans["caller_id"], "called_did": ans["called_did"], "call_start": ans["call_start"]}
			req, err := post(base, ans, Sign(asStart, DefaultSecret, false))
			add("NOTIFY_ANSWER signed over another event type's fields", req, err)
			// An event type whose signed fields are unknown cannot be
			// verified, whatever it carries.
			unknown := url.Values{"event": {"NOTIFY_TRANSFER"}, "call_start": {callStart(10)}, "pbx_call_id": {id("in_", 10)},
				"caller_id": {DefaultCaller}, "called_did": {DefaultLine}}
			req, err = post(base, unknown, Sign(internal(10), DefaultSecret, false))
			add("an unknown event type with a signature", req, err)
			if err := errors.Join(errs...); err != nil {
				return nil, err
			}
			return out, nil
		},
		Secrets: []string{DefaultKey, DefaultSecret},
	}
}
