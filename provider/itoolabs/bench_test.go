package itoolabs

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
)

// discardWriter is a reusable http.ResponseWriter that keeps the status.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// benchServe runs body through h b.N times with a reused request and
// writer.
func benchServe(b *testing.B, h http.Handler, ctype string, body []byte) {
	b.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://crm.example/pbx", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	rd := bytes.NewReader(body)
	req.Body = io.NopCloser(rd)
	req.ContentLength = int64(len(body))
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rd.Reset(body)
		clear(w.h)
		w.status = 0
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}

var (
	benchEventForm   = []byte("cmd=event&type=INCOMING&direction=in&user=callcenter%40vats.megapbx.ru&ext=101&phone=79161234567&diversion=74951234567&groupRealName=CallCenter&callid=1ce30f7a-2d1b-4a77-9f1e-5f8f3c2a7b10&z-flag=0&crm_token=" + testToken)
	benchHistoryForm = []byte("cmd=history&type=in&status=Success&user=admin&ext=101&phone=79161234567&diversion=74951234567&start=20260323T085626Z&duration=28&wait=5&callid=1ce30f7a-2d1b-4a77-9f1e-5f8f3c2a7b10&link=https%3A%2F%2Frecords.megapbx.ru%2Frecord%2Fvats.megapbx.ru%2F2026-03-23%2F1ce30f7a%2Fr.mp3&crm_token=" + testToken)
	benchEventJSON   = []byte(`{"cmd": "event", "type": "INCOMING", "direction": "in", "user": "100", "ext": "100", "phone": "89991234567", "diversion": "3333333", "callid": "1659685427407907141", "crm_token": "` + testToken + `"}`)
)

func benchHandler(d *Dialect, router pbx.Router) http.Handler {
	events := pbx.EventHandlerFunc(func(context.Context, pbx.CallEvent) error { return nil })
	return NewHandler(HandlerConfig{Dialect: d, Verify: verifyToken, Location: msk, RouteTimeout: time.Second}, events, router)
}

// BenchmarkHandlerEventForm: a MegaFon-style form-encoded INCOMING event.
func BenchmarkHandlerEventForm(b *testing.B) {
	benchServe(b, benchHandler(utcDialect, nil), form, benchEventForm)
}

// BenchmarkHandlerEventJSON: Prostie Zvonki's JSON INCOMING event.
func BenchmarkHandlerEventJSON(b *testing.B) {
	benchServe(b, benchHandler(localDialect, nil), "application/json", benchEventJSON)
}

// BenchmarkHandlerHistoryForm: a MegaFon-style form-encoded history.
func BenchmarkHandlerHistoryForm(b *testing.B) {
	benchServe(b, benchHandler(utcDialect, nil), form, benchHistoryForm)
}

// BenchmarkHandlerContactForm: a contact question answered by a router
// that knows the caller.
func BenchmarkHandlerContactForm(b *testing.B) {
	router := pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
		return pbx.Route{Extension: "101"}, nil
	})
	benchServe(b, benchHandler(utcDialect, router), form, []byte("cmd=contact&phone=79161234567&diversion=74951234567&callid=1ce30f7a&crm_token="+testToken))
}

// BenchmarkDecodeJSON and BenchmarkDecodeForm: decoding alone.
func BenchmarkDecodeJSON(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var n Notification
		if _, err := Decode(benchEventJSON, "", &n); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeForm(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var n Notification
		if _, err := Decode(benchHistoryForm, "", &n); err != nil {
			b.Fatal(err)
		}
	}
}
