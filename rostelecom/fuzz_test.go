package rostelecom

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
)

// FuzzParseCallEvent: no input panics, and a decoded event is consistent.
func FuzzParseCallEvent(f *testing.F) {
	for _, name := range []string{"manual_new.json", "manual_connected.json", "manual_disconnected.json", "manual_end.json",
		"r3_outbound_disconnected.json", "manual_get_number_info.json", "history_file_completed.json"} {
		f.Add(readFixture(f, "notifications/"+name))
	}
	f.Add([]byte(`{"state":"end","timestamp":"99999999999999","from_number":"sip:@;","session_id":1e400}`))
	f.Add([]byte(`{"timestamp":"2024-13-45 25:61:61.999"}`))
	loc := time.FixedZone("X", 3*3600)
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := ParseCallEvent(body, loc)
		if err != nil {
			return
		}
		if e.Provider != Name || e.DedupeKey == "" || e.At.IsZero() || e.Raw == nil {
			t.Fatalf("incomplete event %+v", e)
		}
		if e.At.Location() != loc {
			t.Fatalf("At in %v", e.At.Location())
		}
		if e.Type == pbx.EventCallEnded && e.Outcome != pbx.OutcomeUnknown {
			t.Fatal("end without call_info must stay unknown")
		}
		if e.TalkDuration != 0 || e.CallDuration != 0 {
			t.Fatal("notifications carry no duration")
		}
		if len(e.Phone) > 32 {
			t.Fatalf("Phone of %d characters", len(e.Phone))
		}
	})
}

// FuzzWebhook: signed arbitrary bodies on every path never panic and always
// get an answer.
func FuzzWebhook(f *testing.F) {
	f.Add("call_events", readFixture(f, "notifications/manual_end.json"))
	f.Add("get_number_info", readFixture(f, "notifications/manual_get_number_info.json"))
	f.Add("history_file_completed", readFixture(f, "notifications/history_file_completed.json"))
	c, err := New(Config{ClientID: manualID, SignKey: manualKey, Domain: "d", RouteTimeout: 10 * time.Millisecond})
	if err != nil {
		f.Fatal(err)
	}
	h := c.WebhookHandler(nil, nil)
	f.Fuzz(func(t *testing.T, path string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "http://x/hook/", strings.NewReader(string(body)))
		r.URL.Path = "/hook/" + path // any path, even one no client could send
		r.Header.Set("X-Client-ID", manualID)
		r.Header.Set("X-Client-Sign", Sign(manualID, body, manualKey))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code == 0 || w.Body.Len() == 0 {
			t.Fatal("no answer")
		}
	})
}

// FuzzParseCallHistory: no file panics; rows always have a session id.
func FuzzParseCallHistory(f *testing.F) {
	for _, name := range []string{"manual_semicolon.csv", "header_comma.csv", "short_layout.csv"} {
		b := readFixture(f, "history/"+name)
		f.Add(b)
		f.Add(zipped(f, "a.csv", b))
		f.Add(gzipped(f, b))
	}
	f.Add([]byte("\"a;1;1;1;;;;;;;;;\n"))
	f.Add([]byte("session_id\n\n\n"))
	f.Fuzz(func(t *testing.T, file []byte) {
		rows, err := ParseCallHistory(file, nil)
		if err != nil {
			return
		}
		for _, r := range rows {
			if r.SessionID == "" {
				t.Fatal("a row without a session id")
			}
			if r.Duration < 0 {
				t.Fatal("negative duration")
			}
			rec := r.CallRecord()
			if rec.CallDuration < 0 || rec.TalkDuration != 0 {
				t.Fatalf("durations of a history row: call %v, talk %v", rec.CallDuration, rec.TalkDuration)
			}
			if _, ok := rec.Raw.(*HistoryRow); !ok {
				t.Fatalf("Raw is %T", rec.Raw)
			}
		}
	})
}
