package megafon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
)

// discardWriter is a reusable http.ResponseWriter that keeps the status.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// benchServe runs the form body through h b.N times with a reused request
// and writer.
func benchServe(b *testing.B, h http.Handler, body []byte) {
	b.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://crm.example/pbx/megafon", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
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

func benchClient(b *testing.B) *Client {
	c, err := New(Config{CRMToken: testToken, Location: msk, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

var noop = pbx.EventHandlerFunc(func(context.Context, pbx.CallEvent) error { return nil })

// BenchmarkWebhookEvent: a live-like form-encoded INCOMING event (user with
// the domain, group, z-flag) through the handler to a no-op EventHandler.
func BenchmarkWebhookEvent(b *testing.B) {
	body := url.Values{"cmd": {"event"}, "type": {"INCOMING"}, "direction": {"in"}, "user": {"callcenter@vats000000.megapbx.ru"},
		"ext": {"702"}, "phone": {"79173996537"}, "diversion": {"79223562839"}, "groupRealName": {"CallCenter"},
		"callid": {"1ce30f7a-2d1b-4a77-9f1e-5f8f3c2a7b10"}, "z-flag": {"0"}, "crm_token": {testToken}}.Encode()
	benchServe(b, benchClient(b).WebhookHandler(noop, nil), []byte(body))
}

// BenchmarkWebhookHistory: a form-encoded history with start, duration,
// wait and the recording link.
func BenchmarkWebhookHistory(b *testing.B) {
	body := url.Values{"cmd": {"history"}, "type": {"in"}, "status": {"Success"}, "user": {"admin@vats000000.megapbx.ru"},
		"ext": {"101"}, "phone": {"79161234567"}, "diversion": {"74951234567"}, "start": {"20260323T085626Z"},
		"duration": {"28"}, "wait": {"5"}, "callid": {"1ce30f7a-2d1b-4a77-9f1e-5f8f3c2a7b10"},
		"link":      {"https://records.megapbx.ru/record/vats000000.megapbx.ru/2026-03-23/1ce30f7a-2d1b-4a77-9f1e-5f8f3c2a7b10/admin_in_2026_03_23-08_56_26_79161234567.mp3"},
		"crm_token": {testToken}}.Encode()
	benchServe(b, benchClient(b).WebhookHandler(noop, nil), []byte(body))
}

// BenchmarkWebhookContact: the contact question answered by an in-memory
// router over 10,000 clients (phone.Index, last 10 digits).
func BenchmarkWebhookContact(b *testing.B) {
	idx, err := phone.NewIndex[string](10)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 10000; i++ {
		idx.Add(fmt.Sprintf("7916%07d", 1230000+i), fmt.Sprintf("%d", 100+i%50))
	}
	router := pbx.RouterFunc(func(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) {
		if m := idx.Lookup(q.Phone); len(m) > 0 {
			return pbx.Route{Extension: m[0]}, nil
		}
		return pbx.Route{}, nil
	})
	body := "cmd=contact&phone=79161234567&diversion=74951234567&callid=1ce30f7a-2d1b-4a77-9f1e-5f8f3c2a7b10&crm_token=" + testToken
	benchServe(b, benchClient(b).WebhookHandler(nil, router), []byte(body))
}

// BenchmarkHistoryReader: parsing the call-log export, per row.
func BenchmarkHistoryReader(b *testing.B) {
	const row = `{"uid":"1ce30f7a-2d1b-4a77-9f1e-5f8f3c2a7b10","type":"in","status":"success","client":"79260001122","user":"admin","user_name":"Иванова Мария","group_name":"Техподдержка","diversion":"74950000001","start":"2026-04-05T12:00:00Z","wait":5,"duration":23,"record":"https://records.megapbx.ru/record/vats.megapbx.ru/2026-04-05/1ce30f7a/admin_in.mp3"}`
	body := []byte("[" + strings.Repeat(row+",", 99) + row + "]")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)) / 100)
	b.ResetTimer()
	for i := 0; i < b.N; i += 100 {
		hr := NewHistoryReader(bytes.NewReader(body), msk)
		for {
			if _, err := hr.Next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}
