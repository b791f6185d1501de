package mangotest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/mango"
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider/providertest"
)

// WebhookPath is where Harness's requests reach the webhook: the address
// given to Mango, to which it appends events/call and the others.
const WebhookPath = "/pbx/mango"

// CallNotificationJSON returns the json value of an events/call
// notification: leg n of a call ringing extension 101 (Appeared at an
// employee, so no routing starts).
func CallNotificationJSON(n int) string {
	return fmt.Sprintf(`{"entry_id":"harness-entry-%d","call_id":"harness-leg-%d","timestamp":%d,"seq":1,`+
		`"call_state":"Appeared","location":"abonent","from":{"number":%q},`+
		`"to":{"extension":"101","number":"sip:ivanova@vpbx400100100.mangosip.ru","line_number":%q}}`,
		n, n, time.Now().Unix(), pbxtest.DefaultCaller, pbxtest.DefaultLine)
}

// NotificationRequest returns the POST Mango sends to the webhook at base
// (WebhookPath appended) for path ("events/call") with the form body form.
func NotificationRequest(base, path, form string) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, strings.TrimRight(base, "/")+WebhookPath+"/"+path, strings.NewReader(form))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req, nil
}

// Harness describes the mango provider and this fake to the conformance
// suite (providertest.Run) and to programs that speak to its webhook: the
// provider is built with the fake's credentials; call events are signed
// events/call notifications; the forgeries carry a missing, wrong or
// misplaced key or signature.
//
// RouteQuestion is nil: Mango asks no question, it routes by command after
// a call appears in the IVR, which the mango package tests itself (the
// suite's routing deadline check needs a question answered in the HTTP
// reply).
func Harness() providertest.Harness {
	const (
		key  = DefaultAPIKey
		salt = DefaultAPISalt
	)
	event := func(base string, n int) (*http.Request, error) {
		return NotificationRequest(base, mango.NotifyCall, mango.SignedForm(key, salt, CallNotificationJSON(n)).Encode())
	}
	return providertest.Harness{
		Name:    mango.Name,
		OnRetry: true, // Config.OnRetry is passed through
		New: func(s providertest.Settings) (pbx.Provider, error) {
			return mango.New(mango.Config{
				APIKey: key, APISalt: salt,
				BaseURL: s.BaseURL, HTTPClient: s.HTTPClient, Logger: s.Logger, OnRetry: s.OnRetry,
				RouteTimeout: s.RouteTimeout, Timeout: s.Timeout,
				HistoryPoll: 10 * time.Millisecond,
			})
		},
		StartFake: func(o providertest.FakeOptions) (*providertest.Fake, error) {
			fake := NewServer(Options{RecordingSize: o.RecordingSize, StatsNotReady: 1})
			rec := "harness-recording"
			fake.AddRecording(rec, o.RecordingSize)
			now := time.Now()
			// Two calls, the second with two legs (one row each): three
			// rows, two calls.
			fake.AddHistory(HistoryEntry{Caller: "79031234567", Line: pbxtest.DefaultLine, Extension: "101",
				Start: now.Add(-2 * time.Hour), Ring: 5 * time.Second, Talk: time.Minute, Records: []string{rec}})
			second := fake.AddHistory(HistoryEntry{Caller: "79031234568", Line: pbxtest.DefaultLine, Extension: "102",
				Start: now.Add(-time.Hour), Ring: 20 * time.Second})
			fake.AddHistory(HistoryEntry{EntryID: second, Caller: "79031234568", Line: pbxtest.DefaultLine, Extension: "103",
				Start: now.Add(-time.Hour), Ring: 20 * time.Second})
			return &providertest.Fake{
				URL:          fake.URL(),
				Recording:    rec,
				History:      pbx.HistoryQuery{From: now.Add(-3 * time.Hour), To: now},
				HistoryCalls: 2,
				Subscribers:  len(fake.Employees()),
				Close:        fake.Close,
			}, nil
		},
		Call:      pbx.CallRequest{Extension: "101", Phone: "+7 999 123-45-67"},
		CallEvent: event,
		Forgeries: func(base string) ([]providertest.Forgery, error) {
			js := CallNotificationJSON(1)
			other := strings.Replace(js, `"Appeared"`, `"Connected"`, 1)
			sign := mango.Sign(key, js, salt)
			type spec struct {
				name string
				form url.Values
			}
			specs := []spec{
				{"no sign", url.Values{"vpbx_api_key": {key}, "json": {js}}},
				{"no vpbx_api_key", url.Values{"sign": {sign}, "json": {js}}},
				{"another key", url.Values{"vpbx_api_key": {"a" + key[1:]}, "sign": {mango.Sign("a"+key[1:], js, salt)}, "json": {js}}},
				{"signed with another salt", mango.SignedForm(key, "x"+salt[1:], js)},
				{"the signature of another json", url.Values{"vpbx_api_key": {key}, "sign": {mango.Sign(key, other, salt)}, "json": {js}}},
				{"json changed after signing", url.Values{"vpbx_api_key": {key}, "sign": {sign}, "json": {other}}},
				{"a truncated signature", url.Values{"vpbx_api_key": {key}, "sign": {sign[:32]}, "json": {js}}},
				{"an HMAC instead of the hash", url.Values{"vpbx_api_key": {key}, "sign": {hmacLike(js)}, "json": {js}}},
				{"a second json after the signed one", url.Values{"vpbx_api_key": {key}, "sign": {sign}, "json": {js, other}}},
				{"a second sign", url.Values{"vpbx_api_key": {key}, "sign": {"0", sign}, "json": {js}}},
			}
			var out []providertest.Forgery
			var errs []error
			for _, sp := range specs {
				req, err := NotificationRequest(base, mango.NotifyCall, sp.form.Encode())
				errs = append(errs, err)
				out = append(out, providertest.Forgery{Name: sp.name, Request: req})
			}
			// The signed fields in the URL's query, an empty body: only
			// the body counts.
			q := mango.SignedForm(key, salt, js).Encode()
			inQuery, err := http.NewRequest(http.MethodPost, strings.TrimRight(base, "/")+WebhookPath+"/"+mango.NotifyCall+"?"+q, nil)
			errs = append(errs, err)
			if err == nil {
				inQuery.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			out = append(out, providertest.Forgery{Name: "credentials in the URL's query", Request: inQuery})
			// A signed notification as a GET.
			get, err := http.NewRequest(http.MethodGet, strings.TrimRight(base, "/")+WebhookPath+"/"+mango.NotifyCall+"?"+q, nil)
			errs = append(errs, err)
			out = append(out, providertest.Forgery{Name: "a signed notification as a GET", Request: get})
			if err := errors.Join(errs...); err != nil {
				return nil, err
			}
			return out, nil
		},
		Secrets: []string{key, salt},
	}
}

// hmacLike is the signature of the wrong construction a public page
// describes: an HMAC-SHA256 keyed with the salt, over key and json.
func hmacLike(js string) string {
	m := hmac.New(sha256.New, []byte(DefaultAPISalt))
	m.Write([]byte(DefaultAPIKey + js))
	return hex.EncodeToString(m.Sum(nil))
}
