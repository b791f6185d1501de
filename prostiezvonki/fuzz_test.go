package prostiezvonki

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
)

// FuzzDecodeNotification feeds arbitrary bodies and queries to the decoder
// and the handler. Nothing may panic; the answer is always one of the
// documented ones; the token never lands in the Notification; and for a
// JSON object the decoded fields agree with encoding/json.
func FuzzDecodeNotification(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "spec", "0*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
	}
	for _, s := range []string{
		incoming, "", "[]", "{", `{"cmd":"history","duration":{},"crm_token":"token123"}`,
		`{"cmd":"history","duration":"5e1","start":"20230908T015640Z","wait":"9","crm_token":"token123"}`,
		`{"cmd":"event","type":"INCOMING","phone":"\u0412\"x","crm_token":"token123","extra":{"a":[1,{"b":null}]}}`,
		"cmd=event&type=CANCELLED&crm_token=token123", "cmd=history&duration=%zz", "'{\"cmd\":\"rating\",\"crm_token\":\"token123\"}'",
	} {
		f.Add([]byte(s), "")
	}
	f.Add([]byte(""), "cmd=contact&phone=89991234567&crm_token=token123")
	f.Add([]byte(`{"cmd":"event"}`), "crm_token=token123&ext=1")

	loc := time.FixedZone("MSK", 3*3600)
	c, err := New(Config{CRMToken: testToken, Location: loc, RouteTimeout: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	router := pbx.RouterFunc(func(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) {
		return pbx.Route{Extension: q.Phone}, nil
	})
	events := pbx.EventHandlerFunc(func(_ context.Context, e pbx.CallEvent) error {
		if e.Provider != Name {
			panic("provider name not set")
		}
		for _, tm := range []time.Time{e.At, e.StartedAt, e.EndedAt, e.AnsweredAt} {
			if !tm.IsZero() && tm.Location() != loc {
				panic("time not in the configured location")
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
		return nil
	})
	h := c.WebhookHandler(events, router)

	f.Fuzz(func(t *testing.T, body []byte, query string) {
		var n Notification
		token, _, err := decodeRequest(body, query, &n)
		if err == nil {
			if _, ok := n.Extra["crm_token"]; ok {
				t.Fatal("crm_token kept in Extra")
			}
			if token != "" && strings.Contains(toJSON(t, &n), `"crm_token"`) {
				t.Fatal("crm_token kept in the Notification")
			}
			agreeWithEncodingJSON(t, body, query, &n)
			if e, err := n.CallEvent(loc, time.Now()); err == nil && e.Raw != &n {
				t.Fatal("Raw is not the Notification")
			}
			_ = n.RouteQuery()
		}

		target := "/"
		if query != "" && !strings.ContainsAny(query, " #\x00\r\n") {
			target += "?" + query
		}
		req, rerr := http.NewRequest(http.MethodPost, "http://pz.test"+target, bytes.NewReader(body))
		if rerr != nil {
			return
		}
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, req)
		switch w.status {
		case 200, 400, 401, 413, 500:
		default:
			t.Fatalf("unexpected status %d", w.status)
		}
		if !json.Valid(w.body.Bytes()) {
			t.Fatalf("answer is not JSON: %q", w.body.Bytes())
		}
	})
}

func toJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// agreeWithEncodingJSON checks, for a JSON object body without a query,
// that every string field holds what encoding/json reads.
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
		if !want.set(k, s) {
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

// FuzzParseAnswer: the makecall answer parser never panics and keeps its
// text short.
func FuzzParseAnswer(f *testing.F) {
	for _, s := range []string{`{"result":"ok"}`, `{"callid":"a"}`, `{"error":"x"}`, `{"errors":[{"message":"a"},"b",[1,[2]]]}`,
		`{"result":"error"}`, `<html>`, ``, `OK`, `{"error":{"code":1}}`, `{"result":false}`, `{"message":null,"error":false}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a := parseAnswer(b)
		if len(a.text) > 256 {
			t.Fatalf("text of %d bytes", len(a.text))
		}
		if a.failed && a.text == "" {
			t.Fatal("a failure without text")
		}
	})
}
