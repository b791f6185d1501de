package sipuni

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
)

// FuzzWebhook sends arbitrary authenticated queries and bodies through the
// webhook handler: it must never panic, must always answer in Sipuni's
// shapes, and every event it passes on must be well formed.
func FuzzWebhook(f *testing.F) {
	f.Add(ring1, []byte(nil), false)
	f.Add("event=2&call_id=1.1&status=ANSWER&call_start_timestamp=1774372584&call_answer_timestamp=1774372594&timestamp=1774372602&last_called=201,202&call_record_link=https%253A%252F%252Fsipuni.com", []byte(nil), false)
	f.Add("", []byte(ring1), false)
	f.Add("", []byte(`{"event":4,"timestamp":"17e8","last_called":[1,[2]],"src_type":null}`), true)
	f.Add("fromnum=89031234567&tonum=74996477948&time=2026-03-24+10:15:00", []byte(nil), false)
	f.Add("event=1&src_type=1&dst_type=1&treeName=%D0%92%D1%85%D0%BE%D0%B4%D1%8F%D1%89%D0%B0%D1%8F&dst_num=1_id2&timestamp=-1", []byte(nil), false)
	f.Add("event=%zz&&=&channel=a;b", []byte("%"), false)
	loc := time.FixedZone("X", 7*3600)
	c, err := New(Config{Account: testAccount, Secret: testSecret, WebhookToken: "T", Location: loc, RouteTimeout: 50 * time.Millisecond})
	if err != nil {
		f.Fatal(err)
	}
	var got []pbx.CallEvent
	events := pbx.EventHandlerFunc(func(_ context.Context, e pbx.CallEvent) error {
		got = append(got, e)
		return nil
	})
	router := pbx.RouterFunc(func(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) {
		return pbx.Route{Extension: q.Digits, DisplayName: q.Phone}, nil
	})
	h := c.WebhookHandler(events, router)
	f.Fuzz(func(t *testing.T, query string, body []byte, isJSON bool) {
		got = got[:0]
		r := &http.Request{
			Method: http.MethodGet,
			URL:    &url.URL{Path: "/", RawQuery: "token=T&" + query},
			Header: http.Header{},
			Body:   http.NoBody,
		}
		if len(body) > 0 {
			r.Method = http.MethodPost
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if isJSON {
				r.Header.Set("Content-Type", "application/json")
			}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code == http.StatusBadRequest {
			// Only a body meant as JSON that is not a JSON object is
			// refused, and nothing of it reaches the handler.
			t2 := bytes.TrimSpace(body)
			var m map[string]json.RawMessage
			if !(isJSON || (len(t2) > 0 && t2[0] == '{')) || (json.Unmarshal(t2, &m) == nil && m != nil) {
				t.Fatalf("400 for body %q", body)
			}
			if len(got) != 0 || w.Body.String() != string(answerMalformed) {
				t.Fatalf("400 answered %q after %d events", w.Body.String(), len(got))
			}
			return
		}
		if w.Code != http.StatusOK {
			t.Fatalf("status %d for an authenticated request", w.Code)
		}
		var answer map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil {
			t.Fatalf("answer is not JSON: %q", w.Body.String())
		}
		if choice, ok := answer["choice"]; ok {
			if choice != 0.0 && choice != 1.0 {
				t.Fatalf("choice %v", choice)
			}
			if len(got) != 0 {
				t.Fatal("a routing question reached the event handler")
			}
			return
		}
		if answer["success"] != true {
			t.Fatalf("answer %q", w.Body.String())
		}
		if len(got) > 1 {
			t.Fatalf("%d events for one request", len(got))
		}
		for _, e := range got {
			checkEvent(t, e, loc)
		}
	})
}

func checkEvent(t *testing.T, e pbx.CallEvent, loc *time.Location) {
	t.Helper()
	if e.Provider != Name || e.DedupeKey == "" {
		t.Fatalf("provider %q, dedupe key %q", e.Provider, e.DedupeKey)
	}
	if strings.HasPrefix(e.Type.String(), "EventType(") || strings.HasPrefix(e.Direction.String(), "Direction(") ||
		strings.HasPrefix(e.Outcome.String(), "Outcome(") {
		t.Fatalf("invalid enum in %+v", e)
	}
	if e.At.IsZero() || e.At.Location() != loc {
		t.Fatalf("At %v not in the configured zone", e.At)
	}
	for _, tm := range []time.Time{e.StartedAt, e.AnsweredAt, e.EndedAt} {
		if !tm.IsZero() && tm.Location() != loc {
			t.Fatalf("time %v not in the configured zone", tm)
		}
	}
	if e.TalkDuration < 0 || e.CallDuration < 0 {
		t.Fatalf("negative duration: talk %v, call %v", e.TalkDuration, e.CallDuration)
	}
	if e.CallDuration != 0 && e.TalkDuration > e.CallDuration {
		t.Fatalf("talk %v longer than the call %v", e.TalkDuration, e.CallDuration)
	}
	if !e.AnsweredAt.IsZero() && ((!e.StartedAt.IsZero() && e.AnsweredAt.Before(e.StartedAt)) ||
		(!e.EndedAt.IsZero() && e.AnsweredAt.After(e.EndedAt))) {
		t.Fatalf("answered at %v, outside [%v, %v]", e.AnsweredAt, e.StartedAt, e.EndedAt)
	}
	if e.HasRecording != (e.RecordingURL != "") {
		t.Fatalf("HasRecording %v with link %q", e.HasRecording, e.RecordingURL)
	}
	raw, ok := e.Raw.(*Event)
	if !ok {
		t.Fatalf("Raw is %T", e.Raw)
	}
	if _, ok := raw.Params["token"]; ok {
		t.Fatal("the token reached Raw")
	}
}

// FuzzStatistics parses arbitrary CSV: no panic, and every row it accepts
// maps to a record with its times in the configured zone.
func FuzzStatistics(f *testing.F) {
	for _, name := range []string{"testdata/export_2015.csv", "testdata/export_full.csv"} {
		b, err := readFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("Тип;Время;Длительность звонка, сек\nВходящий;01.03.2026 10:00;1:2:3\n"))
	f.Add([]byte("\uFEFFВремя;\"Откуда\n\"x;y\n"))
	loc := time.FixedZone("X", 5*3600)
	f.Fuzz(func(t *testing.T, data []byte) {
		sr := NewStatisticsReader(bytes.NewReader(data), loc)
		for range 10000 {
			row, err := sr.Next()
			if err != nil {
				if _, err2 := sr.Next(); err2 != err {
					t.Fatalf("error not final: %v then %v", err, err2)
				}
				return
			}
			if !row.Time.IsZero() && row.Time.Location() != loc {
				t.Fatalf("time %v not in the zone", row.Time)
			}
			if row.CallDuration < 0 || row.TalkDuration < 0 || row.AnswerDelay < 0 {
				t.Fatalf("negative duration in %+v", row)
			}
			rec := row.CallRecord()
			if rec.StartedAt != row.Time || rec.TalkDuration != row.TalkDuration || rec.CallDuration != row.CallDuration {
				t.Fatalf("record %+v from row %+v", rec, row)
			}
		}
		t.Fatal("more rows than bytes")
	})
}

// FuzzOperators parses arbitrary operator lists without panicking.
func FuzzOperators(f *testing.F) {
	b, err := readFile("testdata/operators.csv")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("\uFEFF101;Иван\n"))
	f.Add([]byte("extension;name\n\"1;2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ops, err := ParseOperators(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, o := range ops {
			if o.Extension != "" && o.Extension == o.Login && !allDigits(o.Login) {
				t.Fatalf("non-numeric login %q taken as extension", o.Login)
			}
		}
	})
}
