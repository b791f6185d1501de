package megafontest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/megafon"
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider/providertest"
)

// Harness describes the megafon provider and this fake to the conformance
// suite (providertest.Run) and to programs that speak to its webhook (the
// load program): the provider is built with the fake's default
// credentials; routing questions and call events are the family's
// form-encoded cmd=contact and cmd=event, as MegaFon posts them, to
// /pbx/megafon; the forgeries carry a missing, wrong or misplaced
// crm_token.
func Harness() providertest.Harness {
	const path = "/pbx/megafon"
	post := func(base, ctype string, body []byte) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", ctype)
		return req, nil
	}
	const form = "application/x-www-form-urlencoded"
	ext := pbxtest.Extensions()[0]
	event := func(n int, token string) url.Values {
		f := url.Values{"cmd": {"event"}, "type": {"INCOMING"}, "direction": {"in"}, "user": {"ivanova@" + DefaultDomain},
			"ext": {ext}, "phone": {pbxtest.DefaultCaller}, "diversion": {pbxtest.DefaultLine},
			"callid": {fmt.Sprintf("1ce30f7a-0000-4000-a000-%012d", n)}}
		if token != "" {
			f.Set("crm_token", token)
		}
		return f
	}
	contact := func(phone, token string) url.Values {
		f := url.Values{"cmd": {"contact"}, "phone": {phone}, "diversion": {pbxtest.DefaultLine},
			"callid": {"1ce30f7a-1111-4000-a000-" + strconv.FormatInt(time.Now().UnixNano()%1e12, 10)}}
		if token != "" {
			f.Set("crm_token", token)
		}
		return f
	}
	return providertest.Harness{
		Name: megafon.Name,
		New: func(s providertest.Settings) (pbx.Provider, error) {
			return megafon.New(megafon.Config{
				APIKey: DefaultAPIKey, CRMToken: DefaultCRMToken,
				BaseURL: s.BaseURL, HTTPClient: s.HTTPClient, Logger: s.Logger,
				RouteTimeout: s.RouteTimeout, Timeout: s.Timeout,
			})
		},
		StartFake: func(o providertest.FakeOptions) (*providertest.Fake, error) {
			fake := NewServer(Options{RecordingSize: o.RecordingSize})
			var rec string
			for _, e := range fake.History() {
				if e.RecordingSize > 0 {
					rec = e.UID
					break
				}
			}
			now := time.Now()
			return &providertest.Fake{
				URL:          fake.URL(),
				Recording:    rec,
				History:      pbx.HistoryQuery{From: now.Add(-4 * time.Hour), To: now.Add(time.Minute)},
				HistoryCalls: len(fake.History()),
				Subscribers:  len(fake.Employees()),
				Close:        fake.Close,
			}, nil
		},
		Call: pbx.CallRequest{Extension: ext, Phone: "+7 (916) 123-45-67"},
		RouteQuestion: func(base, phone string) (*http.Request, error) {
			return post(base, form, []byte(contact(phone, DefaultCRMToken).Encode()))
		},
		ParseRoute: func(status int, body []byte) (pbx.Route, error) {
			if status != http.StatusOK {
				return pbx.Route{}, fmt.Errorf("HTTP %d: %.200s", status, body)
			}
			return ParseContactAnswer(body)
		},
		CallEvent: func(base string, n int) (*http.Request, error) {
			return post(base, form, []byte(event(n, DefaultCRMToken).Encode()))
		},
		Forgeries: func(base string) ([]providertest.Forgery, error) {
			tok := DefaultCRMToken
			var out []providertest.Forgery
			add := func(name, ctype, target string, body []byte, header ...string) error {
				req, err := post(base, ctype, body)
				if err != nil {
					return err
				}
				if target != "" {
					req.URL.RawQuery = target
				}
				for i := 0; i+1 < len(header); i += 2 {
					req.Header.Set(header[i], header[i+1])
				}
				out = append(out, providertest.Forgery{Name: name, Request: req})
				return nil
			}
			enc := func(v url.Values) []byte { return []byte(v.Encode()) }
			withTok := func(v url.Values, t string) url.Values { v.Set("crm_token", t); return v }
			steps := []error{
				add("event: no crm_token", form, "", enc(event(1, ""))),
				add("event: wrong crm_token", form, "", enc(event(1, tok+"x"))),
				add("event: a prefix of the crm_token", form, "", enc(event(1, tok[:len(tok)-1]))),
				add("event: the crm_token in another case", form, "", enc(event(1, strings.ToUpper(tok)))),
				add("event: an empty crm_token", form, "", enc(withTok(event(1, ""), ""))),
				add("contact: no crm_token", form, "", enc(contact(pbxtest.DefaultCaller, ""))),
				add("contact: wrong crm_token", form, "", enc(contact(pbxtest.DefaultCaller, "x"+tok))),
				// Of two crm_token values the first counts, as a form reader
				// takes it.
				add("event: a wrong crm_token before the right one", form, "",
					[]byte(event(1, "").Encode()+"&crm_token=wrong&crm_token="+url.QueryEscape(tok))),
				// The body wins over the query.
				add("event: the right crm_token in the query, a wrong one in the body", form,
					"crm_token="+url.QueryEscape(tok), enc(event(1, "wrong"))),
				add("event: the crm_token in a header", form, "", enc(event(1, "")), "X-CRM-Token", tok),
				add("event: the crm_token as a bearer token", form, "", enc(event(1, "")), "Authorization", "Bearer "+tok),
				add("event: JSON with the crm_token as a number", "application/json", "",
					[]byte(`{"cmd":"event","type":"INCOMING","phone":"79161234567","crm_token":123}`)),
				add("event: JSON with the crm_token in a list", "application/json", "",
					[]byte(`{"cmd":"event","type":"INCOMING","phone":"79161234567","crm_token":["`+tok+`"]}`)),
			}
			for _, err := range steps {
				if err != nil {
					return nil, err
				}
			}
			return out, nil
		},
		Secrets: []string{DefaultAPIKey, DefaultCRMToken},
	}
}
