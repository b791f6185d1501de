package prostiezvonki

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
)

// benchServe runs body through h b.N times with a reused request and writer.
func benchServe(b *testing.B, h http.Handler, body []byte, want int) {
	b.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://crm.example/pz", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	rd := bytes.NewReader(body)
	req.Body = io.NopCloser(rd)
	req.ContentLength = int64(len(body))
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rd.Reset(body)
		w.reset()
		h.ServeHTTP(w, req)
		if w.status != want {
			b.Fatalf("status %d: %s", w.status, w.body.String())
		}
	}
}

// BenchmarkWebhookEvent: the spec's INCOMING event through the handler to a
// no-op EventHandler.
func BenchmarkWebhookEvent(b *testing.B) {
	c := newClient(b, Config{})
	events := pbx.EventHandlerFunc(func(context.Context, pbx.CallEvent) error { return nil })
	benchServe(b, c.WebhookHandler(events, nil), unquote(fixture(b, "01_incoming_answered_event_incoming.json")), http.StatusOK)
}

// BenchmarkWebhookHistory: the spec's answered history (times, duration,
// link) through the handler.
func BenchmarkWebhookHistory(b *testing.B) {
	c := newClient(b, Config{})
	events := pbx.EventHandlerFunc(func(context.Context, pbx.CallEvent) error { return nil })
	benchServe(b, c.WebhookHandler(events, nil), unquote(fixture(b, "03_incoming_answered_history.json")), http.StatusOK)
}

// BenchmarkWebhookContact: the spec's smart-transfer question answered by an
// in-memory router over 10,000 clients (phone.Index, last 10 digits).
func BenchmarkWebhookContact(b *testing.B) {
	idx, err := phone.NewIndex[string](10)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 10000; i++ {
		idx.Add(fmt.Sprintf("7999%07d", 1230000+i), fmt.Sprintf("%d", 100+i%50))
	}
	router := pbx.RouterFunc(func(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) {
		if m := idx.Lookup(q.Phone); len(m) > 0 {
			return pbx.Route{Extension: m[0]}, nil
		}
		return pbx.Route{}, nil
	})
	c := newClient(b, Config{})
	h := c.WebhookHandler(nil, router)
	body := unquote(fixture(b, "09_smart_transfer_contact.json"))
	benchServe(b, h, body, http.StatusOK)
}

// BenchmarkDecode: decoding alone.
func BenchmarkDecode(b *testing.B) {
	body := unquote(fixture(b, "03_incoming_answered_history.json"))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var n Notification
		if _, _, err := decodeRequest(body, "", &n); err != nil {
			b.Fatal(err)
		}
	}
}
