package rostelecom

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pbxkit/pbxkit/pbx"
)

func BenchmarkSign(b *testing.B) {
	body := readFixture(b, "notifications/manual_end.json") // a typical call_events body
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		_ = Sign(manualID, body, manualKey)
	}
}

// reusableBody is a request body that can be rewound without allocating.
type reusableBody struct{ bytes.Reader }

func (*reusableBody) Close() error { return nil }

// discardWriter is a ResponseWriter that keeps nothing but the status.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// benchWebhook drives one signed notification through the handler.
func benchWebhook(b *testing.B, h http.Handler, path string, body []byte) {
	b.Helper()
	r := httptest.NewRequest(http.MethodPost, path, nil)
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Client-ID", manualID)
	r.Header.Set("X-Client-Sign", Sign(manualID, body, manualKey))
	r.ContentLength = int64(len(body))
	rb := &reusableBody{}
	r.Body = rb
	w := &discardWriter{h: make(http.Header)}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		rb.Reset(body)
		clear(w.h)
		w.code = 0
		h.ServeHTTP(w, r)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}

func BenchmarkWebhookCallEvents(b *testing.B) {
	c, err := New(Config{ClientID: manualID, SignKey: manualKey, Domain: "example_domain.ru"})
	if err != nil {
		b.Fatal(err)
	}
	events := pbx.EventHandlerFunc(func(context.Context, pbx.CallEvent) error { return nil })
	benchWebhook(b, c.WebhookHandler(events, nil), "/pbx/rostelecom/call_events", readFixture(b, "notifications/manual_connected.json"))
}

func BenchmarkWebhookGetNumberInfo(b *testing.B) {
	c, err := New(Config{ClientID: manualID, SignKey: manualKey, Domain: "test_domain.14.rt.ru"})
	if err != nil {
		b.Fatal(err)
	}
	routes := map[string]pbx.Route{"74959561111": {Extension: "765", DisplayName: "Иванов Сергей Петрович"}}
	router := pbx.RouterFunc(func(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) { return routes[q.Phone], nil })
	benchWebhook(b, c.WebhookHandler(nil, router), "/pbx/rostelecom/get_number_info", readFixture(b, "notifications/manual_get_number_info.json"))
}
