package mango_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pbxkit/pbxkit/mango"
	"github.com/pbxkit/pbxkit/pbx"
)

// BenchmarkSign signs a typical events/call json value.
func BenchmarkSign(b *testing.B) {
	js := ivrJSON("MToxMDA3MTYxNToxNjE6Nzc2MTY1NjA4OjE=", "MToxMDA3MTYxNToxNjE6Nzc2MTY1NjA4OjI=")
	b.ReportAllocs()
	b.SetBytes(int64(len(js)))
	for b.Loop() {
		_ = mango.Sign(key, js, salt)
	}
}

// BenchmarkEventPath is the webhook's whole path for one events/call
// notification: read the body, parse the form, verify the signature,
// decode, map, hand over to a handler that does nothing, answer.
func BenchmarkEventPath(b *testing.B) {
	c, err := mango.New(mango.Config{APIKey: key, APISalt: salt, BaseURL: "http://127.0.0.1:1/vpbx"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	h := c.WebhookHandler(pbx.EventHandlerFunc(func(context.Context, pbx.CallEvent) error { return nil }), nil)
	body := signedBody(callJSON(map[string]any{"entry_id": "MToxMDA3MTYxNToxNjE6Nzc2MTY1NjA4OjE=",
		"call_id": "MToxMDA3MTYxNToxNjE6Nzc2MTY1NjA4OjI=", "call_state": "Appeared", "location": "abonent",
		"from": map[string]any{"number": "79161234567"},
		"to":   map[string]any{"extension": "101", "number": "sip:ivanova@vpbx400100100.mangosip.ru", "line_number": "74951234567"}}))
	req := httptest.NewRequest(http.MethodPost, "/pbx/mango/events/call", nil)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := &discardWriter{h: http.Header{}}
	r := strings.NewReader(body)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r.Reset(body)
		req.Body = io.NopCloser(r)
		req.ContentLength = int64(len(body))
		w.code = 0
		h.ServeHTTP(w, req)
		if w.code != http.StatusOK {
			b.Fatalf("HTTP %d", w.code)
		}
	}
}

// BenchmarkParseStats reads a 1,000-row call-log export.
func BenchmarkParseStats(b *testing.B) {
	row := "[rec1];1700000000;1700000070;1700000010;;79161234567;101;sip:ivanova@x;1100;74951234567;abonent;MToxMDA3MTYxNToxNjE6Nzc2MTY1NjA4OjE=\r\n"
	csv := strings.Repeat(row, 1000)
	b.ReportAllocs()
	b.SetBytes(int64(len(csv)))
	for b.Loop() {
		n := 0
		for r, err := range mango.ParseStats(strings.NewReader(csv), mango.StatsFields, nil) {
			if err != nil {
				b.Fatal(err)
			}
			_ = r.CallRecord()
			n++
		}
		if n != 1000 {
			b.Fatalf("%d rows", n)
		}
	}
}

// discardWriter is an http.ResponseWriter that keeps only the status.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return len(p), nil
}
func (w *discardWriter) WriteHeader(code int) { w.code = code }
