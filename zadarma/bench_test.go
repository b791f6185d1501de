package zadarma

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
)

// discardWriter is a reusable ResponseWriter, so the benchmarks measure the
// handler, not httptest.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }

// body is a request body that can be read again.
type body struct{ bytes.Reader }

func (*body) Close() error { return nil }

// benchRequest builds a signed notification request whose body is rewound
// before each run.
func benchRequest(fields url.Values) (*http.Request, *body, []byte) {
	raw := []byte(fields.Encode())
	n, _ := ParseNotification(raw, "")
	signed, _ := n.SignedString()
	b := &body{}
	r := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: "/zadarma"}, Body: b, ContentLength: int64(len(raw)),
		Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Signature": {SignNotification(signed, testSecret)}}}
	return r, b, raw
}

func BenchmarkSign(b *testing.B) {
	params := url.Values{"from": {"101"}, "to": {"79991234567"}, "sip": {"101"}, "format": {"json"}}
	b.ReportAllocs()
	for b.Loop() {
		_ = Sign("/v1/request/callback/", params, testSecret)
	}
}

// BenchmarkWebhookEvent is one NOTIFY_END: read, verify, decode, map, hand
// over.
func BenchmarkWebhookEvent(b *testing.B) {
	c := newTestClient(b, "")
	var n int
	h := c.WebhookHandler(pbx.EventHandlerFunc(func(context.Context, pbx.CallEvent) error { n++; return nil }), nil)
	r, rb, raw := benchRequest(endFields())
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		rb.Reset(raw)
		h.ServeHTTP(w, r)
	}
	if w.code != http.StatusOK || n == 0 {
		b.Fatalf("status %d, %d events", w.code, n)
	}
}

// memoryRouter is an in-memory responsible-manager directory.
type memoryRouter map[string]pbx.Route

func (m memoryRouter) Route(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) {
	return m[q.Phone], nil
}

// BenchmarkWebhookStart is one NOTIFY_START: the event handed over while a
// directory of 1,000 callers answers the routing question.
func BenchmarkWebhookStart(b *testing.B) {
	c := newTestClient(b, "", func(c *Config) { c.RouteTimeout = time.Second })
	router := memoryRouter{}
	for i := range 1000 {
		router[phone.Normalize(fmt.Sprintf("8903%07d", i))] = pbx.Route{Extension: "101", DisplayName: "ООО Ромашка"}
	}
	var n int
	h := c.WebhookHandler(pbx.EventHandlerFunc(func(context.Context, pbx.CallEvent) error { n++; return nil }), router)
	f := startFields()
	f.Set("caller_id", "89030000042")
	r, rb, raw := benchRequest(f)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		rb.Reset(raw)
		w.n = 0
		h.ServeHTTP(w, r)
	}
	if w.code != http.StatusOK || w.n == 0 || n == 0 {
		b.Fatalf("status %d, %d bytes, %d events", w.code, w.n, n)
	}
}

// BenchmarkWebhookEcho is Zadarma's zd_echo check of the URL.
func BenchmarkWebhookEcho(b *testing.B) {
	c := newTestClient(b, "")
	h := c.WebhookHandler(nil, nil)
	r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/zadarma", RawQuery: "zd_echo=a1b2c3d4e5"}, Header: http.Header{}, Body: http.NoBody}
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
	if w.code != http.StatusOK {
		b.Fatalf("status %d", w.code)
	}
}
