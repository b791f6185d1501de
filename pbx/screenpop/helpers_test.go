package screenpop_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/screenpop"
)

var secret = []byte("test-secret-0123456789")

const (
	testProvider = "test"
	clientPhone  = "79161234567"
	companyLine  = "74951234567"
	// wait bounds every wait for something that should happen at once:
	// generous, it only proves "did not hang".
	wait = 10 * time.Second
)

// env is a journal, a hub over it and a server with the hub at /screenpop.
type env struct {
	t   *testing.T
	j   *journal.Journal
	hub *screenpop.Hub
	srv *httptest.Server

	mu  sync.Mutex
	now time.Time
}

func newEnv(t *testing.T, cfg screenpop.Config) *env {
	t.Helper()
	return newEnvOn(t, journal.New(journal.NewMemoryStore()), cfg)
}

func newEnvOn(t *testing.T, j *journal.Journal, cfg screenpop.Config) *env {
	t.Helper()
	if cfg.Secret == nil {
		cfg.Secret = secret
	}
	hub, err := screenpop.New(j, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/screenpop", hub)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		hub.Close()
		srv.Close()
	})
	// Events start half an hour ago, one second apart.
	start := time.Now().Add(-30 * time.Minute).Truncate(time.Second).In(time.FixedZone("MSK", 3*3600))
	return &env{t: t, j: j, hub: hub, srv: srv, now: start}
}

// tick returns a time one second after the previous one: events get
// distinct, growing times, so the journal folds them in the order given.
func (e *env) tick() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(time.Second)
	return e.now
}

// emit stores events in the journal, as a provider's webhook would.
func (e *env) emit(events ...pbx.CallEvent) {
	e.t.Helper()
	for _, ev := range events {
		if ev.Provider == "" {
			ev.Provider = testProvider
		}
		if ev.At.IsZero() {
			ev.At = e.tick()
		}
		if ev.Line == "" {
			ev.Line = companyLine
		}
		if err := e.j.HandleEvent(context.Background(), ev); err != nil {
			e.t.Fatal(err)
		}
	}
}

func ev(typ pbx.EventType, id string, dir pbx.Direction, ext, phone string) pbx.CallEvent {
	return pbx.CallEvent{Type: typ, CallID: id, Direction: dir, Extension: ext, Phone: phone}
}

// answeredIn plays an incoming call that rings ext, which answers.
func (e *env) answeredIn(id, ext, phone string) {
	e.emit(
		ev(pbx.EventRinging, id, pbx.Inbound, ext, phone),
		ev(pbx.EventAnswered, id, pbx.Inbound, ext, phone),
		pbx.CallEvent{Type: pbx.EventCallEnded, CallID: id, Direction: pbx.Inbound, Extension: ext, Phone: phone,
			Outcome: pbx.OutcomeAnswered, TalkDuration: 42 * time.Second},
	)
}

// missedIn plays an incoming call that rings exts, nobody answering.
func (e *env) missedIn(id, phone string, exts ...string) {
	for _, x := range exts {
		e.emit(ev(pbx.EventRinging, id, pbx.Inbound, x, phone))
	}
	e.emit(pbx.CallEvent{Type: pbx.EventCallEnded, CallID: id, Direction: pbx.Inbound, Phone: phone, Outcome: pbx.OutcomeMissed})
}

// answeredOut plays an outgoing call from ext that the client answers.
func (e *env) answeredOut(id, ext, phone string) {
	e.emit(
		ev(pbx.EventRinging, id, pbx.Outbound, ext, phone),
		ev(pbx.EventAnswered, id, pbx.Outbound, ext, phone),
		pbx.CallEvent{Type: pbx.EventCallEnded, CallID: id, Direction: pbx.Outbound, Extension: ext, Phone: phone,
			Outcome: pbx.OutcomeAnswered, TalkDuration: 30 * time.Second},
	)
}

// sse is one event read from a stream.
type sse struct {
	Event, ID, Data string
	HasID           bool
}

func (s sse) card(t *testing.T) screenpop.Card {
	t.Helper()
	var c screenpop.Card
	if err := json.Unmarshal([]byte(s.Data), &c); err != nil {
		t.Fatalf("card %q: %v", s.Data, err)
	}
	return c
}

// client is one open stream.
type client struct {
	t        *testing.T
	resp     *http.Response
	events   chan sse
	mu       sync.Mutex
	comments int
	lastID   string
	cancel   context.CancelFunc
}

// token returns a valid token for ext.
func token(ext string) string {
	return screenpop.Token(secret, ext, time.Now().Add(time.Hour))
}

// connect opens a stream for ext; query is added to the URL; header
// values are set on the request.
func (e *env) connect(ext, query string, header map[string]string) *client {
	e.t.Helper()
	c := dial(e.t, e.srv.URL+"/screenpop?token="+token(ext)+query, header)
	if c.resp.StatusCode != http.StatusOK {
		e.t.Fatalf("connect %s: status %d", ext, c.resp.StatusCode)
	}
	return c
}

func dial(t *testing.T, url string, header map[string]string) *client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c := &client{t: t, resp: resp, events: make(chan sse, 4096), cancel: cancel}
	t.Cleanup(c.close)
	if resp.StatusCode == http.StatusOK {
		go c.read()
	} else {
		close(c.events)
	}
	return c
}

func (c *client) close() {
	c.cancel()
	c.resp.Body.Close()
}

// read parses the stream the way EventSource does (enough of it for these
// tests): fields until a blank line, comments counted.
func (c *client) read() {
	defer close(c.events)
	r := bufio.NewReader(c.resp.Body)
	var cur sse
	var data []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if cur.HasID {
				c.mu.Lock()
				c.lastID = cur.ID
				c.mu.Unlock()
			}
			if len(data) > 0 {
				cur.Data = strings.Join(data, "\n")
				c.events <- cur
			}
			cur, data = sse{}, nil
		case strings.HasPrefix(line, ":"):
			c.mu.Lock()
			c.comments++
			c.mu.Unlock()
		default:
			name, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch name {
			case "event":
				cur.Event = value
			case "data":
				data = append(data, value)
			case "id":
				cur.ID, cur.HasID = value, true
			}
		}
	}
}

// LastID is the latest id the stream carried, as EventSource keeps it.
func (c *client) LastID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastID
}

// next returns the next event that is not a position event.
func (c *client) next() sse {
	c.t.Helper()
	for {
		select {
		case s, ok := <-c.events:
			if !ok {
				c.t.Fatal("stream ended")
			}
			if s.Event == "position" {
				continue
			}
			return s
		case <-time.After(wait):
			c.t.Fatal("no event in time")
		}
	}
}

// nextCard returns the next card.
func (c *client) nextCard() screenpop.Card {
	c.t.Helper()
	return c.next().card(c.t)
}

// position waits for the next position event and returns its id.
func (c *client) position() string {
	c.t.Helper()
	for {
		select {
		case s, ok := <-c.events:
			if !ok {
				c.t.Fatal("stream ended")
			}
			if s.Event == "position" {
				return s.ID
			}
			c.t.Fatalf("want a position event, got %s %s", s.Event, s.Data)
		case <-time.After(wait):
			c.t.Fatal("no position event in time")
		}
	}
}

// cardsUntil reads cards until one of call id sentinel arrives (that one
// included) and returns them.
func (c *client) cardsUntil(sentinel string) []screenpop.Card {
	c.t.Helper()
	var out []screenpop.Card
	for range 10000 {
		card := c.nextCard()
		out = append(out, card)
		if card.CallID == sentinel {
			return out
		}
	}
	c.t.Fatal("too many cards")
	return nil
}

// summary is "callid:kind" of each card.
func summary(cards []screenpop.Card) []string {
	out := make([]string, len(cards))
	for i, c := range cards {
		out[i] = c.CallID + ":" + c.Kind
	}
	return out
}

// dialSlow opens a stream for the token that, once open, stops reading.
// It returns the connection
// once the stream is registered (its first position event read).
func dialSlow(t *testing.T, baseURL, tok string) net.Conn {
	t.Helper()
	u, err := url.Parse(baseURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /screenpop?token=%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", tok, u.Host)
	conn.SetReadDeadline(time.Now().Add(wait))
	var seen []byte
	buf := make([]byte, 1)
	for !strings.Contains(string(seen), "event: position") {
		if _, err := conn.Read(buf); err != nil {
			t.Fatalf("slow stream: %v after %q", err, seen)
		}
		seen = append(seen, buf[0])
	}
	conn.SetReadDeadline(time.Time{})
	return conn
}
