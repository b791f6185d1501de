package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider/providertest"
	"github.com/pbxkit/pbxkit/routing"
)

// bodies is how many distinct requests are pre-built per path.
const bodies = 1024

// path is one webhook path under load: a pbxkit handler, the requests it
// gets, and what to verify once its rounds are over.
type path struct {
	name    string
	handler http.Handler
	// newRequest builds request i; the bare handler gets the same ones.
	newRequest func(base string, i int) (*http.Request, error)
	// check validates the pbxkit handler's answer (nil: any 2xx).
	check func(status int, body []byte) error
	// verify, when set, is called after the rounds with the number of
	// requests the pbxkit handler acknowledged in all of them.
	verify func(acked int) error
	// note is printed under the table, when set.
	note string
}

// template is a request a harness built, kept to be sent again to any
// server: building it once keeps the client's work per request small and
// the same for pbxkit and the bare handler.
type template struct {
	method string
	uri    string // path and query
	header http.Header
	body   []byte
}

// placeholder is the base URL the templates are built with; only the path
// and query are kept.
const placeholder = "http://127.0.0.1"

func capture(req *http.Request, err error) (template, error) {
	if err != nil {
		return template{}, err
	}
	var body []byte
	if req.Body != nil {
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return template{}, err
		}
	}
	if req.URL.User != nil {
		return template{}, errors.New("the harness put credentials into the URL; the load program cannot resend them")
	}
	return template{method: req.Method, uri: req.URL.RequestURI(), header: req.Header, body: body}, nil
}

func (t template) request(base string) (*http.Request, error) {
	req, err := http.NewRequest(t.method, base+t.uri, bytes.NewReader(t.body))
	if err != nil {
		return nil, err
	}
	req.Header = t.header.Clone()
	return req, nil
}

// templates builds n requests with build and returns a newRequest that
// cycles through them.
func templates(n int, build func(i int) (*http.Request, error)) (func(string, int) (*http.Request, error), error) {
	ts := make([]template, n)
	for i := range ts {
		t, err := capture(build(i))
		if err != nil {
			return nil, err
		}
		ts[i] = t
	}
	return func(base string, i int) (*http.Request, error) { return ts[i%len(ts)].request(base) }, nil
}

// counter is a pbx.EventHandler that counts the events it passes on to
// next (or drops, when next is nil) and next accepted.
type counter struct {
	next pbx.EventHandler
	n    atomic.Int64
}

func (c *counter) HandleEvent(ctx context.Context, e pbx.CallEvent) error {
	if c.next != nil {
		if err := c.next.HandleEvent(ctx, e); err != nil {
			return err
		}
	}
	c.n.Add(1)
	return nil
}

// newProvider builds h's provider for the load: webhook only, with an API
// base URL on a closed loopback port, so that nothing could leave the
// machine if a handler called the API, and a silent logger.
func newProvider(h providertest.Harness) (pbx.Provider, error) {
	p, err := h.New(providertest.Settings{
		BaseURL: "http://127.0.0.1:1",
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, fmt.Errorf("%s: New: %w", h.Name, err)
	}
	return p, nil
}

// directoryPhone is the number of contact i: 7 + 10 digits.
func directoryPhone(i int) string { return "79" + fmt.Sprintf("%09d", i) }

func buildDirectory(n int) (*routing.MemoryDirectory, time.Duration, error) {
	start := time.Now()
	cs := make([]routing.Contact, n)
	for i := range cs {
		cs[i] = routing.Contact{
			ID:          strconv.Itoa(i),
			Name:        "ООО Клиент " + strconv.Itoa(i),
			Phones:      []string{directoryPhone(i)},
			Responsible: strconv.Itoa(100 + i%50),
		}
	}
	dir, err := routing.NewMemoryDirectory(cs, 10)
	return dir, time.Since(start), err
}

// harnessPaths returns the paths of one harness: its call event into a
// handler that drops it, and, when the vendor asks one, its routing
// question answered by router over the directory of contacts.
func harnessPaths(h providertest.Harness, router pbx.Router, contacts int) ([]path, error) {
	p, err := newProvider(h)
	if err != nil {
		return nil, err
	}
	events := &counter{}
	eventReqs, err := templates(bodies, func(i int) (*http.Request, error) { return h.CallEvent(placeholder, i) })
	if err != nil {
		return nil, fmt.Errorf("%s: CallEvent: %w", h.Name, err)
	}
	out := []path{{
		name:       h.Name + " event",
		handler:    p.WebhookHandler(events, nil),
		newRequest: eventReqs,
		verify:     atLeast(h.Name+" event", &events.n),
	}}
	if h.RouteQuestion == nil {
		return out, nil
	}
	questions, err := templates(bodies, func(i int) (*http.Request, error) {
		return h.RouteQuestion(placeholder, directoryPhone((i*7919)%contacts))
	})
	if err != nil {
		return nil, fmt.Errorf("%s: RouteQuestion: %w", h.Name, err)
	}
	return append(out, path{
		name:       fmt.Sprintf("%s routing (%d contacts)", h.Name, contacts),
		handler:    p.WebhookHandler(&counter{}, router),
		newRequest: questions,
		check: func(status int, body []byte) error {
			route, err := h.ParseRoute(status, body)
			if err != nil {
				return err
			}
			if route.Extension == "" {
				return fmt.Errorf("no decision for a caller in the directory: %.200s", body)
			}
			return nil
		},
	}), nil
}

// atLeast checks that every acknowledged request handed at least one event
// to the EventHandler, as the harness contract says.
func atLeast(name string, events *atomic.Int64) func(int) error {
	return func(acked int) error {
		if n := events.Load(); n < int64(acked) {
			return fmt.Errorf("%s: %d requests acknowledged, only %d events reached the EventHandler", name, acked, n)
		}
		return nil
	}
}
