package megafon

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
)

// FuzzHistoryReader: the call-log parser never panics, ends, never yields a
// row after an error, and every row maps to a record whose durations are in
// order and whose times are in the reader's zone.
func FuzzHistoryReader(f *testing.F) {
	for _, s := range []string{
		`[{"uid":"call-001","type":"in","status":"success","client":"79260001122","user":"admin","diversion":"74950000001","start":"2026-04-05T12:00:00Z","wait":5,"duration":23,"record":"https://example.com/record.mp3"}]`,
		`[{"uid":1,"type":"missed","status":"no_answer","start":"20260405T130000Z","wait":"x","duration":-3,"n":{"a":[1]}},{}]`,
		``, `null`, `[]`, `{"message":"x"}`, `[null]`, `[1,2]`, `[{"uid":"1"}`, `[{"start":"2026-13-45T99:99:99Z"}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		hr := NewHistoryReader(bytes.NewReader(b), msk)
		failed := false
		for i := 0; i <= len(b)+1; i++ {
			r, err := hr.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				if failed {
					t.Fatal("an error after an error")
				}
				failed = true
				continue
			}
			if failed {
				t.Fatal("a row after an error")
			}
			rec := r.CallRecord()
			if rec.TalkDuration < 0 || rec.CallDuration < 0 || (rec.CallDuration > 0 && rec.TalkDuration > rec.CallDuration) {
				t.Fatalf("durations out of order: %+v", rec)
			}
			if rec.TalkDuration > 0 && rec.Outcome != pbx.OutcomeAnswered {
				t.Fatal("talk time on an unanswered call")
			}
			if !rec.StartedAt.IsZero() && rec.StartedAt.Location() != msk {
				t.Fatal("time not in the reader's zone")
			}
			if rec.Raw != r {
				t.Fatal("Raw is not the row")
			}
		}
		if !failed {
			t.Fatal("the reader did not end")
		}
	})
}

// FuzzAnswerError: the API answer parser never panics, keeps its text
// short, and gives a failure a text.
func FuzzAnswerError(f *testing.F) {
	for _, s := range []string{`{"callid":"a"}`, `{"message":"x"}`, `{"error":"x"}`, `{"errors":[{"message":"a"},"b",[1,[2]]]}`,
		`<html>`, ``, `OK`, `{"error":{"code":1}}`, `{"error":0}`, `{"message":null,"error":false}`, `[1]`} {
		f.Add([]byte(s), 200)
		f.Add([]byte(s), 500)
	}
	f.Fuzz(func(t *testing.T, b []byte, status int) {
		if status < 100 || status > 999 {
			return
		}
		e := answerError("op", &http.Response{StatusCode: status, Header: http.Header{}}, b)
		if e == nil {
			if status < 200 || status > 299 {
				t.Fatal("a non-2xx status is an error")
			}
			return
		}
		if len(e.Message) > 300 || len(e.Body) > 300 {
			t.Fatalf("text of %d/%d bytes", len(e.Message), len(e.Body))
		}
		if e.Message == "" && status >= 200 && status <= 299 {
			t.Fatal("a failed 2xx without text")
		}
	})
}

// FuzzWebhook: MegaFon's handler answers every input with a documented
// status and a JSON body, and what reaches user code keeps the invariants.
func FuzzWebhook(f *testing.F) {
	for _, s := range []string{
		"cmd=event&type=INCOMING&direction=in&user=a%40vats.megapbx.ru&ext=101&phone=79161234567&callid=x&crm_token=" + testToken,
		"cmd=history&type=in&status=Success&start=20260323T085626Z&duration=28&wait=5&callid=x&link=https%3A%2F%2Fr&crm_token=" + testToken,
		"cmd=contact&phone=79161234567&crm_token=" + testToken,
		`{"cmd":"history","duration":"5","wait":"9","status":"success","crm_token":"` + testToken + `"}`,
		"cmd=history&duration=%zz", "", "[]",
	} {
		f.Add([]byte(s), "application/x-www-form-urlencoded")
	}
	c, err := New(Config{CRMToken: testToken, Location: msk, RouteTimeout: time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	events := pbx.EventHandlerFunc(func(_ context.Context, e pbx.CallEvent) error {
		if e.Provider != Name {
			panic("provider name not set")
		}
		if _, ok := e.Raw.(*Notification); !ok {
			panic("Raw is not a *megafon.Notification")
		}
		if e.TalkDuration < 0 || e.TalkDuration > e.CallDuration {
			panic("durations out of order")
		}
		return nil
	})
	router := pbx.RouterFunc(func(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) {
		if _, ok := q.Raw.(*Notification); !ok {
			panic("Raw is not a *megafon.Notification")
		}
		return pbx.Route{Extension: "101"}, nil
	})
	h := c.WebhookHandler(events, router)
	f.Fuzz(func(t *testing.T, body []byte, ctype string) {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		if !strings.ContainsAny(ctype, "\r\n\x00") {
			req.Header.Set("Content-Type", ctype)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case 200, 400, 401, 413, 500:
		default:
			t.Fatalf("status %d", w.Code)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("answer is not JSON: %q", w.Body.Bytes())
		}
		if strings.Contains(w.Body.String(), testToken) {
			t.Fatal("the token in the answer")
		}
	})
}
