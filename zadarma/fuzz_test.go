package zadarma

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// FuzzWebhook feeds arbitrary requests to the handler. Nothing may panic;
// the status is one of the documented ones; the zd_echo answer is exactly
// a sane value; and nothing reaches the EventHandler or the Router unless
// the request carried the signature of its event type's signed fields.
func FuzzWebhook(f *testing.F) {
	for _, fields := range []url.Values{startFields(), endFields(),
		{"event": {EventIVR}, "caller_id": {"1"}, "called_did": {"2"}, "call_start": {"3"}, "wait_dtmf[digits]": {"12"}},
		{"event": {EventRecord}, "pbx_call_id": {"in_1"}, "call_id_with_rec": {"1.2"}},
		{"event": {EventOutEnd}, "internal": {"101"}, "destination": {"+7 903"}, "call_start": {"x"}, "duration": {"1e9"}, "disposition": {"busy"}},
	} {
		n, _ := ParseNotification([]byte(fields.Encode()), "")
		signed, _ := n.SignedString()
		f.Add([]byte(fields.Encode()), "", SignNotification(signed, testSecret), "application/x-www-form-urlencoded")
	}
	f.Add([]byte(`{"event":"NOTIFY_START","caller_id":1,"called_did":null,"call_start":"x"}`), "", "", "application/json")
	f.Add([]byte(""), "zd_echo=abc", "", "")
	f.Add([]byte("event=NOTIFY_START"), "zd_echo=%3C", "x", "")
	f.Add([]byte("event=X&wait_dtmf=%7B%22digits%22%3A%5B%5D%7D"), "", "x", "")

	c, err := New(Config{Key: testKey, Secret: testSecret, Location: msk, RouteTimeout: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, query, sig, ct string) {
		var reached atomic.Int32
		events := pbx.EventHandlerFunc(func(_ context.Context, e pbx.CallEvent) error {
			reached.Add(1)
			if e.Provider != Name {
				t.Fatal("provider name not set")
			}
			if _, ok := e.Raw.(*Notification); !ok {
				t.Fatal("Raw is not a *Notification")
			}
			for _, tm := range []time.Time{e.At, e.StartedAt, e.AnsweredAt, e.EndedAt} {
				if !tm.IsZero() && tm.Location() != msk {
					t.Fatal("a time not in the configured location")
				}
			}
			if e.TalkDuration < 0 || e.CallDuration < 0 || e.TalkDuration > e.CallDuration {
				t.Fatal("durations out of order")
			}
			return nil
		})
		router := pbx.RouterFunc(func(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) {
			reached.Add(1)
			return pbx.Route{Extension: q.Phone, DisplayName: q.Digits}, nil
		})
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		req.URL.RawQuery = query
		if sig != "" {
			req.Header.Set("Signature", sig)
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		w := httptest.NewRecorder()
		c.WebhookHandler(events, router).ServeHTTP(w, req)
		switch w.Code {
		case 200, 400, 401, 405, 413, 500:
		default:
			t.Fatalf("status %d", w.Code)
		}
		if strings.Contains(w.Body.String(), testSecret) {
			t.Fatal("the secret in an answer")
		}
		if echo, ok := queryValue(query, "zd_echo"); ok {
			if reached.Load() != 0 {
				t.Fatal("a zd_echo check reached user code")
			}
			if w.Code == 200 && (w.Body.String() != echo || !saneEcho(echo)) {
				t.Fatalf("zd_echo %q answered %q", echo, w.Body.String())
			}
			return
		}
		if reached.Load() == 0 {
			return
		}
		n, err := ParseNotification(body, ct)
		if err != nil {
			t.Fatal("user code reached by a body that does not parse")
		}
		signed, known := n.SignedString()
		if !known {
			t.Fatal("user code reached by an unknown event type")
		}
		mac := hmac.New(sha1.New, []byte(testSecret))
		mac.Write([]byte(signed))
		sum := mac.Sum(nil)
		s := strings.TrimSpace(sig)
		if s != SignNotification(signed, testSecret) && s != base64.StdEncoding.EncodeToString(sum) {
			t.Fatal("user code reached without the right signature")
		}
		if w.Code == 200 && w.Body.Len() > 0 {
			var a routeAnswer
			if json.Unmarshal(w.Body.Bytes(), &a) != nil || a.Redirect == "" {
				t.Fatalf("a routing answer that is not a redirect: %q", w.Body.String())
			}
		}
	})
}

// FuzzParseStatistics: any body either fails or gives rows whose records
// keep the invariants.
func FuzzParseStatistics(f *testing.F) {
	f.Add([]byte(`{"status":"success","version":2,"stats":[{"call_id":1.5,"sip":101,"callstart":"2026-03-01 10:00:00","clid":7916,` +
		`"destination":"0-1","disposition":"answered","seconds":"1:05","is_recorded":"1","pbx_call_id":"out_1"}]}`))
	f.Add([]byte(`{"stats":[{"seconds":-5,"callstart":1772348400}]}`))
	f.Add([]byte(`{"stats":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseStatistics(b, msk)
		if err != nil {
			return
		}
		for i := range p.Stats {
			rec := p.Stats[i].CallRecord()
			if rec.Raw != &p.Stats[i] {
				t.Fatal("Raw is not the row")
			}
			if rec.CallDuration < 0 || rec.TalkDuration != 0 {
				t.Fatal("durations")
			}
			if !rec.StartedAt.IsZero() && rec.StartedAt.Location() != msk {
				t.Fatal("zone")
			}
		}
	})
}

// FuzzAnswer: the API answer classifier accepts only a 2xx JSON answer
// whose status is success, and never panics.
func FuzzAnswer(f *testing.F) {
	f.Add(200, []byte(`{"status":"success"}`), "")
	f.Add(401, []byte(`{"status":"error","message":"Not authorized"}`), "")
	f.Add(429, []byte(`x`), "120")
	f.Add(200, []byte(`{"status":["success"]}`), "")
	f.Fuzz(func(t *testing.T, status int, body []byte, retryAfter string) {
		resp := &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {retryAfter}}}
		e := answerError("op", resp, body)
		if e == nil {
			if status < 200 || status > 299 {
				t.Fatal("a non-2xx accepted")
			}
			var a answer
			if json.Unmarshal(body, &a) != nil {
				t.Fatal("a non-JSON answer accepted")
			}
			return
		}
		_ = e.Error()
		if e.RetryAfter < 0 {
			t.Fatal("negative RetryAfter")
		}
	})
}

// FuzzRateLimitHeaders: any header values are read without panicking, and
// a request is never held longer than it may wait.
func FuzzRateLimitHeaders(f *testing.F) {
	f.Add("0", "100", "1")
	f.Add("0", "", "99999999999999999999")
	f.Add("-1", "x", "1772348400")
	f.Fuzz(func(t *testing.T, remaining, limit, reset string) {
		l := newLimiter()
		l.observe(bucketGeneral, http.Header{"X-Ratelimit-Remaining": {remaining}, "X-Ratelimit-Limit": {limit}, "X-Ratelimit-Reset": {reset}})
		_ = l.get(bucketGeneral)
		if d := l.resetIn(bucketGeneral); d < 0 {
			t.Fatal("negative reset")
		}
		start := time.Now()
		_ = l.wait(context.Background(), "op", bucketGeneral, 10*time.Millisecond)
		if time.Since(start) > time.Second {
			t.Fatal("waited past maxWait")
		}
	})
}

// FuzzEncodeQuery: the RFC 1738 query reads back as the values it encodes,
// and holds only the characters RFC 1738 allows unescaped.
func FuzzEncodeQuery(f *testing.F) {
	f.Add("message", "Привет, a~b*c'd(e)!")
	f.Add("", " ")
	f.Add("a[b]", "%zz+&=")
	f.Fuzz(func(t *testing.T, k, v string) {
		q := EncodeQuery(url.Values{k: {v}})
		for i := 0; i < len(q); i++ {
			c := q[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.+%=&", c) >= 0) {
				t.Fatalf("unescaped %q in %q", c, q)
			}
		}
		back, err := url.ParseQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		if got := back[k]; len(got) != 1 || got[0] != v {
			t.Fatalf("%q=%q came back as %q", k, v, got)
		}
	})
}

// FuzzOpenDSN: any DSN opens or fails with an error that does not show its
// password.
func FuzzOpenDSN(f *testing.F) {
	f.Add("zadarma://key:secret-value@/?timeout=1s&location=Europe/Moscow")
	f.Add("zadarma://key:secret-value@/?base_url=http%3A%2F%2Fx%3Asecret-value%40h")
	f.Add("zadarma://:@/?%zz")
	f.Fuzz(func(t *testing.T, dsn string) {
		_, err := provider.Open(dsn)
		if err == nil {
			return
		}
		if u, perr := url.Parse(dsn); perr == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok && len(pw) >= 6 && strings.Contains(err.Error(), pw) {
				t.Fatalf("the password in %q", err.Error())
			}
		}
	})
}
