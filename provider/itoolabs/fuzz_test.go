package itoolabs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
)

// FuzzDecode feeds arbitrary bodies and queries to Decode, the mapping and
// the handler of both dialects. Nothing may panic; the token never lands
// in the Notification; for a JSON object the decoded text fields agree
// with encoding/json; the mapped events keep their invariants; and every
// answer is a documented status with a JSON body that holds no token.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"cmd":"event","type":"INCOMING","direction":"in","user":"100","ext":"100","phone":"89991234567","diversion":"3333333","callid":"1","crm_token":"` + testToken + `"}`,
		"cmd=history&type=in&status=Success&start=20260323T085626Z&duration=28&wait=5&callid=a&link=https%3A%2F%2Fx%2Fr.mp3&crm_token=" + testToken,
		"cmd=contact&phone=79161234567&callid=a&crm_token=" + testToken,
		`{"cmd":"history","duration":{},"crm_token":"x"}`, "", "[]", "{", "'{\"cmd\":\"rating\"}'",
		`{"cmd":"event","phone":"\u0412\"x","extra":{"a":[1,{"b":null}]},"callid":null,"call_id":"z"}`,
		"cmd=history&duration=%zz", "\xEF\xBB\xBF{}",
	} {
		f.Add([]byte(s), "")
	}
	f.Add([]byte(""), "cmd=contact&phone=89991234567&crm_token="+testToken)
	f.Add([]byte(`{"cmd":"event"}`), "crm_token="+testToken+"&ext=1")

	router := pbx.RouterFunc(func(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) {
		if q.Phone == "" {
			return pbx.Route{DisplayName: "Без номера"}, nil
		}
		return pbx.Route{Extension: "101", DisplayName: "Имя"}, nil
	})
	events := pbx.EventHandlerFunc(func(_ context.Context, e pbx.CallEvent) error {
		checkEvent(e)
		return nil
	})
	handlers := []http.Handler{
		NewHandler(HandlerConfig{Dialect: localDialect, Verify: verifyToken, Location: msk, RouteTimeout: time.Second}, events, router),
		NewHandler(HandlerConfig{Dialect: utcDialect, Verify: verifyToken, Location: msk, RouteTimeout: time.Second}, events, router),
	}

	f.Fuzz(func(t *testing.T, body []byte, query string) {
		var n Notification
		_, err := Decode(body, query, &n)
		if !errors.Is(err, ErrSyntax) {
			if _, ok := n.Extra["crm_token"]; ok {
				t.Fatal("crm_token kept in Extra")
			}
			agreeWithEncodingJSON(t, body, query, &n)
			for _, d := range []*Dialect{localDialect, utcDialect} {
				if e, err := n.CallEvent(d, msk, time.Now()); err == nil {
					checkEvent(e)
				}
				_ = n.RouteQuery(d)
			}
		}
		target := "/"
		if query != "" && !strings.ContainsAny(query, " #\x00\r\n") {
			target += "?" + query
		}
		req, rerr := http.NewRequest(http.MethodPost, "http://crm.test"+target, bytes.NewReader(body))
		if rerr != nil {
			return
		}
		for _, h := range handlers {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req.Clone(context.Background()))
			req.Body = nil
			switch w.Code {
			case 200, 400, 401, 413, 500:
			default:
				t.Fatalf("unexpected status %d", w.Code)
			}
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("answer is not JSON: %q", w.Body.Bytes())
			}
			if strings.Contains(w.Body.String(), testToken) {
				t.Fatalf("the answer holds the token: %q", w.Body.String())
			}
			req, _ = http.NewRequest(http.MethodPost, "http://crm.test"+target, bytes.NewReader(body))
		}
	})
}

// checkEvent panics when a mapped event breaks an invariant.
func checkEvent(e pbx.CallEvent) {
	for _, tm := range []time.Time{e.At, e.StartedAt, e.EndedAt, e.AnsweredAt} {
		if !tm.IsZero() && tm.Location() != msk {
			panic("time not in the receiver's location")
		}
	}
	if _, ok := e.Raw.(*Notification); !ok {
		panic("Raw is not a *Notification")
	}
	if e.TalkDuration < 0 || e.CallDuration < 0 || e.TalkDuration > e.CallDuration {
		panic("durations out of order")
	}
	if e.TalkDuration > 0 && e.Outcome != pbx.OutcomeAnswered {
		panic("talk time on an unanswered call")
	}
	if e.HasRecording != (e.RecordingURL != "") {
		panic("HasRecording disagrees with RecordingURL")
	}
	if e.DedupeKey == "" {
		panic("no DedupeKey")
	}
}

func toJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// agreeWithEncodingJSON checks, for a JSON object body without a query,
// that every string field holds what encoding/json reads (the last of
// duplicate keys, as encoding/json keeps).
func agreeWithEncodingJSON(t *testing.T, body []byte, query string, n *Notification) {
	b := trimBody(body)
	if query != "" || len(b) == 0 || b[0] != '{' {
		return
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(toJSON(t, n)), &got); err != nil {
		t.Fatal(err)
	}
	for k, v := range m {
		s, ok := v.(string)
		if !ok || k == "crm_token" || k == "call_id" || k == "callid" {
			continue
		}
		var want Notification
		if !want.SetField(k, s) {
			if n.Extra[k] != s {
				t.Fatalf("extra field %q: got %q, encoding/json reads %q", k, n.Extra[k], s)
			}
			continue
		}
		var wantMap map[string]any
		if err := json.Unmarshal([]byte(toJSON(t, &want)), &wantMap); err != nil {
			t.Fatal(err)
		}
		if got[k] != wantMap[k] {
			t.Fatalf("field %q: got %v, encoding/json reads %q", k, got[k], s)
		}
	}
}

// FuzzWalkForm: the form reader agrees with url.ParseQuery: a strict walk
// fails exactly when ParseQuery reports an error, a lenient one reads what
// ParseQuery keeps, and each key's value is its first.
func FuzzWalkForm(f *testing.F) {
	for _, s := range []string{"a=1&b=2&a=3", "a=%41%2b+b", "x=%zz&y=1", "a;b=1&c=2", "&&=&a", "%=1", "a=1&", "k=v=w", "user=a%40b.ru&link=https%3A%2F%2Fx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, werr := url.ParseQuery(s)
		got := map[string]string{}
		fn := func(k, v string) { got[k] = v }
		ok := walkForm(s, true, fn)
		if ok != (werr == nil) {
			t.Fatalf("strict walk ok=%v, ParseQuery error %v", ok, werr)
		}
		if !ok {
			clear(got)
			walkForm(s, false, fn)
		}
		if len(got) != len(want) {
			t.Fatalf("%d keys, ParseQuery has %d", len(got), len(want))
		}
		for k, vs := range want {
			if got[k] != vs[0] {
				t.Fatalf("key %q: %q, ParseQuery's first value %q", k, got[k], vs[0])
			}
		}
	})
}
