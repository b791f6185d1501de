package mango_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/mango"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
)

// FuzzCallNotification: any json value decodes or fails, never panics, and
// a decoded one maps to an event of the entry it names.
func FuzzCallNotification(f *testing.F) {
	for _, s := range []string{
		ivrJSON("E1", "L1"),
		`{"call_id":"MToxMDA3MTYxNToxNjE6Nzc2MTY1NjA4OjE=","entry_id":"232wc3e3w3s222","timestamp":"1399906976","seq":"1","call_state":"Disconnected","location":"abonent","from":{"number":"79000000000","extension":101},"to":{"number":"sip:a@b","line_number":"78001234567"},"disconnect_reason":"1120"}`,
		`{"entry_id":1,"call_state":"OnHold","seq":1e3,"timestamp":-5}`,
		`{"from":null,"to":[],"dct":{"type":"x"}}`,
		`[]`, `"x"`, `{`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, js string) {
		n, err := mango.DecodeCallNotification(js)
		if err != nil {
			return
		}
		e := n.CallEvent(nil, time.Unix(1700000000, 0))
		if e.CallID != strings.TrimSpace(string(n.EntryID)) {
			t.Fatalf("CallID %q, entry_id %q", e.CallID, n.EntryID)
		}
		_ = n.RouteQuery()
		_ = n.Routable()
	})
}

// FuzzWebhook: any body to any notification path is answered, never
// panics, and nothing unsigned reaches the handler.
func FuzzWebhook(f *testing.F) {
	f.Add("events/call", signedBody(ivrJSON("E1", "L1")), true)
	f.Add("events/summary", signedBody(`{"entry_id":"E","talk_time":"0","end_time":"x"}`), true)
	f.Add("result/route", signedBody(`{"command_id":"c","result":"1000"}`), true)
	f.Add("events/dtmf", "json=%7B%7D&sign=00&vpbx_api_key=k", false)
	f.Add("events/call", "%zz", false)
	c, err := mango.New(mango.Config{APIKey: key, APISalt: salt, BaseURL: "http://127.0.0.1:1/vpbx"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, path, body string, sign bool) {
		if sign {
			body = signedBody(body)
		}
		var rec pbxtest.Recorder
		req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
		req.URL.Path = "/hook/" + path
		w := httptest.NewRecorder()
		c.WebhookHandler(&rec, nil).ServeHTTP(w, req)
		if w.Code == 0 {
			t.Fatal("no answer")
		}
		if len(rec.Events()) > 0 {
			// Whatever reached the handler carried the key and a valid
			// signature of its json.
			form, err := url.ParseQuery(body)
			if err != nil || form.Get("vpbx_api_key") != key || !strings.EqualFold(form.Get("sign"), mango.Sign(key, form.Get("json"), salt)) {
				t.Fatalf("an unauthenticated body reached the handler: %q", body)
			}
		}
	})
}

// FuzzParseStats: any CSV parses or fails, never panics, and every row
// maps to a record.
func FuzzParseStats(f *testing.F) {
	f.Add("[r1,r2];1700000000;1700000070;1700000010;;79161234567;101;x;1100;74951234567;abonent;E1\r\n")
	f.Add(";;;;;;;;;;;\n\n\r\n;0;0;0;101;;;;Busy")
	f.Add("records;start\n[;]];-1;99999999999999999999")
	f.Fuzz(func(t *testing.T, csv string) {
		for row, err := range mango.ParseStats(bytes.NewReader([]byte(csv)), mango.StatsFields, nil) {
			if err != nil {
				return
			}
			rec := row.CallRecord()
			if rec.TalkDuration < 0 || rec.CallDuration < 0 {
				t.Fatalf("negative duration: %+v", rec)
			}
		}
	})
}
