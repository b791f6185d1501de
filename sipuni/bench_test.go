package sipuni

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
)

func readFile(name string) ([]byte, error) { return os.ReadFile(name) }

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

func BenchmarkSign(b *testing.B) {
	params := url.Values{"antiaon": {"0"}, "phone": {"79031234567"}, "reverse": {"0"}, "sipnumber": {"201"}, "user": {"012345"}}
	b.ReportAllocs()
	for b.Loop() {
		_ = Sign(params, testSecret)
	}
}

func BenchmarkWebhookEvent(b *testing.B) {
	c, err := New(Config{Account: testAccount, Secret: testSecret, WebhookToken: hookToken})
	if err != nil {
		b.Fatal(err)
	}
	var n int
	h := c.WebhookHandler(pbx.EventHandlerFunc(func(context.Context, pbx.CallEvent) error { n++; return nil }), nil)
	const query = "token=" + hookToken + "&event=2&call_id=1774372584.533596&status=ANSWER&call_start_timestamp=1774372584" +
		"&call_answer_timestamp=1774372594&timestamp=1774372602&last_called=201" +
		"&call_record_link=https%3A%2F%2Fsipuni.com%2Fapi%2Fcrm%2Frecord%3Fid%3D1774372584.533596%26hash%3D93247a3b%26user%3D070196" +
		"&src_type=2&src_num=070196201&short_src_num=201&dst_type=1&dst_num=998948867473&short_dst_num=998948867473" +
		"&pbxdstnum=%2B998948867473&channel=SIP%2F070196998783337125-000471d4&user_id=070196" +
		"&treeName=%D0%98%D1%81%D1%85%D0%BE%D0%B4%D1%8F%D1%89%D0%B0%D1%8F&treeNumber=000-1734445"
	r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/sipuni", RawQuery: query}, Header: http.Header{}, Body: http.NoBody}
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
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

func BenchmarkWebhookRoute(b *testing.B) {
	c, err := New(Config{Account: testAccount, Secret: testSecret, WebhookToken: hookToken, RouteTimeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	router := memoryRouter{}
	for i := range 1000 {
		router[phone.Normalize(fmt.Sprintf("8903%07d", i))] = pbx.Route{Extension: "101", DisplayName: "ООО Ромашка"}
	}
	h := c.WebhookHandler(nil, router)
	r := &http.Request{Method: http.MethodGet, Header: http.Header{}, Body: http.NoBody,
		URL: &url.URL{Path: "/sipuni", RawQuery: "token=" + hookToken + "&fromnum=89030000042&tonum=74996477948&dtmf=&label=main&time=1774372584"}}
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
	if w.code != http.StatusOK || w.n == 0 {
		b.Fatalf("status %d", w.code)
	}
}
