package providertest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/provider/providertest"
)

// The suite's own controls: a minimal correct provider ("toy") passes it,
// and the same provider with one defect fails it where the defect is.

const toyToken = "toy-webhook-token-3f9c"

// toy is a minimal provider: MakeCall posts to BaseURL+"/call", Subscribers
// gets BaseURL+"/subscribers"; its webhook takes POST /event and POST
// /route with the X-Toy-Token header. defect names one thing it does wrong
// ("" for none).
type toy struct {
	base    string
	hc      *provider.Client
	plain   *http.Client
	log     *slog.Logger
	timeout time.Duration
	defect  string
}

func (p *toy) Name() string { return "toy" }

func (p *toy) String() string {
	if p.defect == "prints its token" {
		return "toy{token:" + toyToken + "}"
	}
	return "toy{}"
}

func (p *toy) GoString() string { return p.String() }

func (p *toy) MakeCall(ctx context.Context, req pbx.CallRequest) (pbx.CallResult, error) {
	body, _ := json.Marshal(map[string]string{"ext": req.Extension, "phone": req.Phone})
	var resp *http.Response
	var err error
	switch p.defect {
	case "follows redirects":
		hreq, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/call", bytes.NewReader(body))
		hreq.Header.Set("X-Toy-Token", toyToken)
		resp, err = p.plain.Do(hreq)
	default:
		policy := provider.PolicyAction
		if p.defect == "retries make-call" {
			policy = provider.PolicyRead
		}
		resp, err = p.hc.Do(ctx, provider.Request{Operation: "call", Policy: policy, URL: p.base + "/call",
			Header: http.Header{"X-Toy-Token": {toyToken}}, Body: body})
	}
	if err != nil {
		return pbx.CallResult{}, err
	}
	if _, err := provider.ReadResponse("toy", "call", resp, 1<<10); err != nil {
		return pbx.CallResult{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return pbx.CallResult{}, &provider.APIError{Provider: "toy", Operation: "call", StatusCode: resp.StatusCode,
			RetryAfter: provider.RetryAfter(resp)}
	}
	return pbx.CallResult{}, nil
}

// Subscribers lists the toy's employees: GET /subscribers, a JSON array.
func (p *toy) Subscribers(ctx context.Context) ([]pbx.Subscriber, error) {
	subs, err := p.subscribers(ctx)
	if err == nil && p.defect == "reads twice" {
		// The defect: the read sent once more after it succeeded.
		_, _ = p.subscribers(ctx)
	}
	return subs, err
}

func (p *toy) subscribers(ctx context.Context) ([]pbx.Subscriber, error) {
	resp, err := p.hc.Do(ctx, provider.Request{Operation: "subscribers", Policy: provider.PolicyRead, URL: p.base + "/subscribers",
		Header: http.Header{"X-Toy-Token": {toyToken}}})
	if err != nil {
		return nil, err
	}
	b, err := provider.ReadResponse("toy", "subscribers", resp, 1<<10)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &provider.APIError{Provider: "toy", Operation: "subscribers", StatusCode: resp.StatusCode,
			RetryAfter: provider.RetryAfter(resp)}
	}
	var list []struct{ Ext, Name string }
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("toy: subscribers: %w", err)
	}
	subs := make([]pbx.Subscriber, len(list))
	for i, e := range list {
		subs[i] = pbx.Subscriber{Extension: e.Ext, Name: e.Name}
	}
	return subs, nil
}

func (p *toy) WebhookHandler(events pbx.EventHandler, router pbx.Router) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.defect == "logs its token" {
			p.log.Debug("toy webhook", "token", r.Header.Get("X-Toy-Token"))
		}
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		if p.defect != "accepts anyone" && !provider.SecretEqual(r.Header.Get("X-Toy-Token"), toyToken) {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		var in struct{ CallID, Phone string }
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<10)).Decode(&in); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		switch r.URL.Path {
		case "/event":
			if events != nil {
				if err := events.HandleEvent(r.Context(), pbx.CallEvent{Provider: "toy", Type: pbx.EventCallStarted, CallID: in.CallID, Phone: in.Phone}); err != nil {
					http.Error(w, "handler failed", http.StatusInternalServerError)
					return
				}
			}
			_, _ = io.WriteString(w, `{"ok":true}`)
		case "/route":
			q := pbx.RouteQuery{Provider: "toy", Phone: in.Phone}
			var route pbx.Route
			if p.defect == "waits for the router" {
				route, _ = router.Route(r.Context(), q)
			} else {
				route, _ = provider.AskRouter(r.Context(), router, q, p.timeout)
			}
			_ = json.NewEncoder(w).Encode(map[string]string{"ext": route.Extension, "name": route.DisplayName})
		default:
			http.NotFound(w, r)
		}
	})
}

// toyHarness describes the toy with defect.
func toyHarness(defect string) providertest.Harness {
	post := func(url, token, body string) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		if token != "" {
			req.Header.Set("X-Toy-Token", token)
		}
		return req, nil
	}
	return providertest.Harness{
		Name: "toy",
		// The toy passes Settings.OnRetry to provider.Options; the defect
		// "undeclared OnRetry" does so without saying it.
		OnRetry: defect != "undeclared OnRetry",
		New: func(s providertest.Settings) (pbx.Provider, error) {
			if s.RouteTimeout == 0 {
				s.RouteTimeout = time.Second
			}
			hc := s.HTTPClient
			if hc == nil {
				hc = provider.DefaultHTTPClient()
			}
			onRetry := s.OnRetry
			if defect == "ignores OnRetry" {
				onRetry = nil // while the harness says the toy takes it
			}
			p := &toy{base: strings.TrimRight(s.BaseURL, "/"), plain: hc, log: s.Logger, timeout: s.RouteTimeout, defect: defect,
				hc: provider.NewClient(provider.Options{Provider: "toy", HTTPClient: s.HTTPClient, Logger: s.Logger, OnRetry: onRetry, Timeout: s.Timeout})}
			if p.log == nil {
				p.log = slog.New(slog.DiscardHandler)
			}
			return p, nil
		},
		StartFake: func(providertest.FakeOptions) (*providertest.Fake, error) {
			var lists atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("X-Toy-Token") != toyToken {
					http.Error(w, "no", http.StatusForbidden)
					return
				}
				switch r.URL.Path {
				case "/call":
					_, _ = io.WriteString(w, `{}`)
				case "/subscribers":
					if defect == "slow fake" && lists.Add(1) == 1 {
						// Not the toy's defect but the machine's: the
						// first answer comes after the suite's client
						// gave up waiting for it.
						time.Sleep(700 * time.Millisecond)
					}
					_, _ = io.WriteString(w, `[{"Ext":"101","Name":"Иванова"},{"Ext":"102","Name":"Петров"}]`)
				default:
					http.Error(w, "no", http.StatusNotFound)
				}
			}))
			return &providertest.Fake{URL: srv.URL, Subscribers: 2, Close: srv.Close}, nil
		},
		Call: pbx.CallRequest{Extension: "101", Phone: "79161234567"},
		RouteQuestion: func(base, phone string) (*http.Request, error) {
			return post(base+"/route", toyToken, fmt.Sprintf(`{"Phone":%q}`, phone))
		},
		ParseRoute: func(status int, body []byte) (pbx.Route, error) {
			var a struct{ Ext, Name string }
			if status != http.StatusOK || json.Unmarshal(body, &a) != nil {
				return pbx.Route{}, fmt.Errorf("HTTP %d: %.100s", status, body)
			}
			return pbx.Route{Extension: a.Ext, DisplayName: a.Name}, nil
		},
		CallEvent: func(base string, n int) (*http.Request, error) {
			return post(base+"/event", toyToken, fmt.Sprintf(`{"CallID":"c%d","Phone":"79161234567"}`, n))
		},
		Forgeries: func(base string) ([]providertest.Forgery, error) {
			wrong, err := post(base+"/event", toyToken+"x", `{"CallID":"f1"}`)
			if err != nil {
				return nil, err
			}
			return []providertest.Forgery{{Name: "wrong token", Request: wrong}}, nil
		},
		Secrets: []string{toyToken},
	}
}

// TestToyConforms: a minimal provider built on provider.Client and
// provider.AskRouter passes the suite (the checks it has no capability for
// are skipped).
func TestToyConforms(t *testing.T) {
	providertest.Run(t, toyHarness(""))
}

// TestToyDefective runs the suite on a defective toy; it runs only as a
// child process of TestSuiteCatchesDefects, which expects it to fail.
func TestToyDefective(t *testing.T) {
	defect := os.Getenv("PROVIDERTEST_TOY_DEFECT")
	if defect == "" {
		t.Skip("runs only as a child of TestSuiteCatchesDefects")
	}
	providertest.Run(t, toyHarness(defect))
}

// runToy runs the suite's checks that match run on the toy with defect,
// in a child process (TestToyDefective), and returns its output and
// whether it passed.
func runToy(t *testing.T, defect, run string) ([]byte, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestToyDefective$/"+run, "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "PROVIDERTEST_TOY_DEFECT="+defect)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running the toy that %s: %v\n%s", defect, err, out)
	}
	return out, err == nil
}

// TestSuiteCatchesDefects: the suite fails a provider with any one of
// these defects, in the check meant for it, saying what is wrong.
func TestSuiteCatchesDefects(t *testing.T) {
	if os.Getenv("PROVIDERTEST_TOY_DEFECT") != "" {
		t.Skip("child process")
	}
	tests := []struct {
		defect, run, want string
	}{
		{"retries make-call", "MakeCall/^500$", "MakeCall reached the server 4 times, want exactly once"},
		{"follows redirects", "MakeCall/redirect-307-other-host", "MakeCall reached another host 1 times after a redirect"},
		{"follows redirects", "MakeCall/redirect-308-same-host", "times, want exactly once"},
		{"accepts anyone", "Webhook/Forgeries", "wrong token (POST /event): HTTP 200, want 4xx"},
		{"accepts anyone", "Webhook/Forgeries", "no credentials: POST {} reached user code"},
		{"prints its token", "Secrets/Printed", "the provider printed with %v shows Secrets[0]"},
		{"logs its token", "Webhook/CallEvent", "log line shows Secrets[0]"},
		{"waits for the router", "RoutingDeadline/RouterHonoursContext", "want no decision, got"},
		{"ignores OnRetry", "Reads/Subscribers/^500$/transient", "Config.OnRetry was called 0 times, want 1"},
		{"ignores OnRetry", "Reads/Subscribers/^500$/persistent", "Config.OnRetry was called 0 times, want 3"},
		{"undeclared OnRetry", "Reads/Subscribers/^500$/transient", "Settings.OnRetry was called 1 times, but Harness.OnRetry is false"},
		{"reads twice", "Reads/Subscribers/^500$/transient", "3 requests to /subscribers at the server, want exactly 2"},
		{"reads twice", "Reads/Subscribers/^500$/transient", "2 requests to /subscribers reached the fake and were answered, want exactly 1"},
	}
	for _, tc := range tests {
		t.Run(tc.defect+"/"+tc.run, func(t *testing.T) {
			t.Parallel()
			out, passed := runToy(t, tc.defect, tc.run)
			if passed {
				t.Fatalf("the suite passed a toy that %s:\n%s", tc.defect, out)
			}
			if !bytes.Contains(out, []byte(tc.want)) {
				t.Errorf("the suite failed a toy that %s, but not saying %q:\n%s", tc.defect, tc.want, out)
			}
		})
	}
}

// TestSuiteAllowsLateAnswers: an answer of the fake that reaches the
// provider after the suite's client gave up waiting (a loaded machine) is
// rightly sent again, with one more OnRetry; the exact counts of a read
// retried after a transient fault allow for it, and still pass a correct
// provider.
func TestSuiteAllowsLateAnswers(t *testing.T) {
	if os.Getenv("PROVIDERTEST_TOY_DEFECT") != "" {
		t.Skip("child process")
	}
	out, passed := runToy(t, "slow fake", "Reads/Subscribers/^500$/transient")
	if !passed {
		t.Fatalf("the suite failed a correct toy whose fake answered late once:\n%s", out)
	}
	for _, want := range []string{"1 answer(s) of the fake reached the client after its header timeout", "--- PASS: TestToyDefective/Reads/Subscribers/500/transient"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("the run does not say %q:\n%s", want, out)
		}
	}
}
