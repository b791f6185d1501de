package providertest

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
)

// decision is the route the recording router answers in the webhook checks.
var decision = pbx.Route{Extension: "102", DisplayName: "Кузнецов Андрей"}

// serveWebhook serves p's webhook handler with rec as EventHandler and
// Router on loopback for t, and returns its URL and a client for it.
func (s *suite) serveWebhook(t *testing.T, rec *pbxtest.Recorder) (string, *http.Client) {
	t.Helper()
	p := s.newProvider(t, s.settings(t))
	srv := httptest.NewServer(p.WebhookHandler(rec, rec))
	t.Cleanup(srv.Close)
	client := loopbackClient(t, 0)
	client.Timeout = 10 * time.Second
	return srv.URL, client
}

// testWebhook: an authenticated call event reaches the EventHandler and is
// answered 2xx, an EventHandler error is answered 5xx; an authenticated
// routing question reaches the Router and its decision reaches the PBX,
// a router error gives "no decision"; and no request without valid
// credentials (the harness's forgeries, and requests with none at all)
// reaches the EventHandler or the Router: each gets a 4xx. No answer shows
// a secret.
func (s *suite) testWebhook(t *testing.T) {
	t.Run("CallEvent", func(t *testing.T) {
		rec := &pbxtest.Recorder{}
		base, client := s.serveWebhook(t, rec)
		req, err := s.h.CallEvent(base, 1)
		if err != nil {
			t.Fatalf("CallEvent: %v", err)
		}
		status, body := s.do(t, client, req)
		if status < 200 || status > 299 {
			t.Errorf("an authenticated call event was answered HTTP %d: %.200s", status, body)
		}
		if len(rec.Events()) == 0 {
			t.Error("an authenticated call event did not reach the EventHandler")
		}
		if n := len(rec.Queries()); n != 0 {
			t.Errorf("a call event reached the Router %d times", n)
		}
	})
	t.Run("HandlerError", func(t *testing.T) {
		rec := &pbxtest.Recorder{Err: errors.New("providertest: the journal is down")}
		base, client := s.serveWebhook(t, rec)
		req, err := s.h.CallEvent(base, 2)
		if err != nil {
			t.Fatalf("CallEvent: %v", err)
		}
		status, body := s.do(t, client, req)
		if status < 500 || status > 599 {
			t.Errorf("a call event the EventHandler failed to take was answered HTTP %d, want 5xx: %.200s", status, body)
		}
	})
	t.Run("RouteQuestion", func(t *testing.T) {
		if s.h.RouteQuestion == nil {
			t.Skip("Harness.RouteQuestion is nil: the vendor asks no routing question")
		}
		rec := &pbxtest.Recorder{Router: pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
			return decision, nil
		})}
		base, client := s.serveWebhook(t, rec)
		req, err := s.h.RouteQuestion(base, pbxtest.DefaultCaller)
		if err != nil {
			t.Fatalf("RouteQuestion: %v", err)
		}
		status, body := s.do(t, client, req)
		qs := rec.Queries()
		if len(qs) != 1 {
			t.Fatalf("an authenticated routing question reached the Router %d times, want once (HTTP %d %.200s)", len(qs), status, body)
		}
		if want := pbxtest.DefaultCaller[1:]; !strings.HasSuffix(qs[0].Phone, want) {
			t.Errorf("RouteQuery.Phone = %q, want the caller's number (ending in %s)", qs[0].Phone, want)
		}
		if qs[0].Provider != s.h.Name {
			t.Errorf("RouteQuery.Provider = %q, want %q", qs[0].Provider, s.h.Name)
		}
		route, err := s.h.ParseRoute(status, body)
		if err != nil {
			t.Fatalf("the answer is not one the PBX accepts: %v", err)
		}
		if route.Extension != decision.Extension {
			t.Errorf("the PBX was told extension %q, the Router said %q (HTTP %d %.200s)", route.Extension, decision.Extension, status, body)
		}
		if n := len(rec.Events()); n != 0 {
			t.Errorf("a routing question reached the EventHandler %d times", n)
		}
	})
	t.Run("RouterError", func(t *testing.T) {
		if s.h.RouteQuestion == nil {
			t.Skip("Harness.RouteQuestion is nil: the vendor asks no routing question")
		}
		rec := &pbxtest.Recorder{Router: pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
			return decision, errors.New("providertest: the directory is down")
		})}
		base, client := s.serveWebhook(t, rec)
		req, err := s.h.RouteQuestion(base, pbxtest.DefaultCaller)
		if err != nil {
			t.Fatalf("RouteQuestion: %v", err)
		}
		status, body := s.do(t, client, req)
		route, err := s.h.ParseRoute(status, body)
		if err != nil {
			t.Fatalf("a router error was answered with something the PBX does not accept: %v", err)
		}
		if !route.IsZero() {
			t.Errorf("a router error was answered %+v, want no decision", route)
		}
	})
	t.Run("Forgeries", func(t *testing.T) {
		rec := &pbxtest.Recorder{Router: pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
			return decision, nil
		})}
		base, client := s.serveWebhook(t, rec)
		forged, err := s.forgeries(base)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range forged {
			before := len(rec.Events()) + len(rec.Queries())
			status, body := s.do(t, client, f.Request)
			if status < 400 || status > 499 {
				t.Errorf("%s (%s %s): HTTP %d, want 4xx: %.200s", f.Name, f.Request.Method, f.Request.URL.Path, status, body)
			}
			if after := len(rec.Events()) + len(rec.Queries()); after != before {
				t.Errorf("%s reached user code", f.Name)
			}
		}
		t.Logf("%d forged requests refused", len(forged))
	})
}

// forgeries returns the harness's forgeries and requests with no
// credentials at all, to the paths of the call event and of the routing
// question.
func (s *suite) forgeries(base string) ([]Forgery, error) {
	var out []Forgery
	if s.h.Forgeries != nil {
		fs, err := s.h.Forgeries(base)
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
	}
	var urls []string
	ev, err := s.h.CallEvent(base, 3)
	if err != nil {
		return nil, err
	}
	urls = append(urls, bareURL(ev))
	if s.h.RouteQuestion != nil {
		rq, err := s.h.RouteQuestion(base, pbxtest.DefaultCaller)
		if err != nil {
			return nil, err
		}
		if u := bareURL(rq); u != urls[0] {
			urls = append(urls, u)
		}
	}
	for _, u := range urls {
		post, err := http.NewRequest(http.MethodPost, u, bytes.NewReader([]byte(`{}`)))
		if err != nil {
			return nil, err
		}
		post.Header.Set("Content-Type", "application/json")
		get, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		form, err := http.NewRequest(http.MethodPost, u, strings.NewReader("event=1&fromnum=79161234567"))
		if err != nil {
			return nil, err
		}
		form.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		out = append(out,
			Forgery{Name: "no credentials: POST {}", Request: post},
			Forgery{Name: "no credentials: GET", Request: get},
			Forgery{Name: "no credentials: POST form", Request: form})
	}
	return out, nil
}

// do sends req and returns the answer, failing t when it cannot be sent
// and when the answer shows a secret.
func (s *suite) do(t *testing.T, client *http.Client, req *http.Request) (int, []byte) {
	t.Helper()
	status, body, err := send(client, req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	s.noSecret(t, "the webhook's answer", string(body))
	return status, body
}
