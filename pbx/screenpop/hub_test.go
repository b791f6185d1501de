package screenpop_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/screenpop"
)

func TestNewRefuses(t *testing.T) {
	j := journal.New(journal.NewMemoryStore())
	tests := []struct {
		name string
		j    *journal.Journal
		cfg  screenpop.Config
	}{
		{"no journal", nil, screenpop.Config{Secret: secret}},
		{"no secret", j, screenpop.Config{}},
		{"empty secret", j, screenpop.Config{Secret: []byte{}}},
		{"bad incoming moment", j, screenpop.Config{Secret: secret, Incoming: screenpop.Never + 1}},
		{"bad outgoing moment", j, screenpop.Config{Secret: secret, Outgoing: 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := screenpop.New(tt.j, tt.cfg)
			if err == nil {
				h.Close()
				t.Fatal("New accepted it")
			}
		})
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t, screenpop.Config{})
	good := token("101")
	tests := []struct {
		name   string
		method string
		query  string
		header map[string]string
		want   int
	}{
		{"token in query", "GET", "?token=" + good, nil, 200},
		{"bearer header", "GET", "", map[string]string{"Authorization": "Bearer " + good}, 200},
		{"bearer scheme case", "GET", "", map[string]string{"Authorization": "bearer " + good}, 200},
		{"no token", "GET", "", nil, 401},
		{"empty token", "GET", "?token=", nil, 401},
		{"garbage", "GET", "?token=abc", nil, 401},
		{"expired", "GET", "?token=" + screenpop.Token(secret, "101", time.Now().Add(-time.Second)), nil, 401},
		{"zero expiry", "GET", "?token=" + screenpop.Token(secret, "101", time.Time{}), nil, 401},
		{"other secret", "GET", "?token=" + screenpop.Token([]byte("other"), "101", time.Now().Add(time.Hour)), nil, 401},
		{"extension swapped", "GET", "?token=" + swapExtension(good, "102"), nil, 401},
		{"expiry extended", "GET", "?token=" + extendExpiry(good), nil, 401},
		{"basic scheme", "GET", "", map[string]string{"Authorization": "Basic " + good}, 401},
		{"header wins over query", "GET", "?token=" + good, map[string]string{"Authorization": "Bearer x"}, 401},
		{"post", "POST", "?token=" + good, nil, 405},
		{"bad moment", "GET", "?token=" + good + "&incoming=sometimes", nil, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, tt.method, e.srv.URL+"/screenpop"+tt.query, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == 200 {
				for k, v := range map[string]string{
					"Content-Type":      "text/event-stream; charset=utf-8",
					"X-Accel-Buffering": "no",
					"Cache-Control":     "no-store",
				} {
					if got := resp.Header.Get(k); got != v {
						t.Errorf("%s: %q, want %q", k, got, v)
					}
				}
				return
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
			if strings.Contains(resp.Header.Get("Content-Type"), "event-stream") || strings.Contains(string(body), "data:") {
				t.Fatalf("a refused request got a stream: %q", body)
			}
			if tt.want == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

// swapExtension replaces the extension part of a token, keeping its MAC.
func swapExtension(tok, ext string) string {
	parts := strings.SplitN(tok, ".", 3)
	fresh := strings.SplitN(screenpop.Token(secret, ext, time.Now().Add(time.Hour)), ".", 3)
	return fresh[0] + "." + parts[1] + "." + parts[2]
}

// extendExpiry moves a token's expiry a year later, keeping its MAC.
func extendExpiry(tok string) string {
	parts := strings.SplitN(tok, ".", 3)
	n, _ := strconv.ParseInt(parts[1], 10, 64)
	return parts[0] + "." + strconv.FormatInt(n+365*24*3600, 10) + "." + parts[2]
}

func TestVerifyToken(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name    string
		secret  []byte
		token   string
		want    string
		wantErr error
	}{
		{"valid", secret, screenpop.Token(secret, "101", now.Add(time.Minute)), "101", nil},
		{"login extension", secret, screenpop.Token(secret, "ivanov.p@крм", now.Add(time.Minute)), "ivanov.p@крм", nil},
		{"expired", secret, screenpop.Token(secret, "101", now.Add(-time.Minute)), "", screenpop.ErrTokenExpired},
		{"expires now", secret, screenpop.Token(secret, "101", now), "", screenpop.ErrTokenExpired},
		{"wrong secret", []byte("x"), screenpop.Token(secret, "101", now.Add(time.Minute)), "", screenpop.ErrBadToken},
		{"empty secret", nil, screenpop.Token(nil, "101", now.Add(time.Minute)), "", screenpop.ErrBadToken},
		{"empty extension", secret, screenpop.Token(secret, "", now.Add(time.Minute)), "", screenpop.ErrBadToken},
		{"too long extension", secret, screenpop.Token(secret, strings.Repeat("1", screenpop.MaxExtensionLen+1), now.Add(time.Minute)), "", screenpop.ErrBadToken},
		{"empty", secret, "", "", screenpop.ErrBadToken},
		{"two parts", secret, "MTAx.123", "", screenpop.ErrBadToken},
		{"short mac", secret, "MTAx.99999999999.AAAA", "", screenpop.ErrBadToken},
		{"too long", secret, strings.Repeat("a", screenpop.MaxTokenLen+1), "", screenpop.ErrBadToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := screenpop.VerifyToken(tt.secret, tt.token, now)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), tt.token) && tt.token != "" {
				t.Fatal("the error repeats the token")
			}
		})
	}
}

func FuzzVerifyToken(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	f.Add(screenpop.Token(secret, "101", now.Add(time.Hour)))
	f.Add(screenpop.Token(secret, "101", now.Add(-time.Hour)))
	f.Add("MTAx.1.")
	f.Add("..")
	f.Add("MTAx.-1.AAAA")
	f.Fuzz(func(t *testing.T, tok string) {
		ext, err := screenpop.VerifyToken(secret, tok, now)
		if err != nil {
			if ext != "" {
				t.Fatal("an extension with an error")
			}
			if !errors.Is(err, screenpop.ErrBadToken) && !errors.Is(err, screenpop.ErrTokenExpired) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		// Accepted: it must be exactly the token we would issue.
		parts := strings.Split(tok, ".")
		unix, perr := strconv.ParseInt(parts[1], 10, 64)
		if perr != nil || screenpop.Token(secret, ext, time.Unix(unix, 0)) != tok {
			t.Fatalf("accepted %q for %q, which Token would not issue", tok, ext)
		}
	})
}

func TestTokenForOneExtensionNeverShowsAnother(t *testing.T) {
	e := newEnv(t, screenpop.Config{})
	c101 := e.connect("101", "", nil)
	c101.position()
	c102 := e.connect("102", "", nil)
	c102.position()

	e.answeredIn("for-102", "102", "79990000102")
	e.missedIn("missed-102", "79990000103", "102")
	e.answeredIn("for-101", "101", clientPhone)
	e.emit(ev(pbx.EventRinging, "end", pbx.Inbound, "102", clientPhone))

	got := c101.cardsUntil("for-101")
	if want := []string{"for-101:ringing"}; !slices.Equal(summary(got), want) {
		t.Fatalf("101 got %v, want %v", summary(got), want)
	}
	for _, c := range got {
		if c.Extension != "101" {
			t.Fatalf("101's stream carried a card for %q", c.Extension)
		}
	}
	got = c102.cardsUntil("end")
	if want := []string{"for-102:ringing", "missed-102:ringing", "missed-102:missed", "end:ringing"}; !slices.Equal(summary(got), want) {
		t.Fatalf("102 got %v, want %v", summary(got), want)
	}
}

func TestMoments(t *testing.T) {
	tests := []struct {
		name     string
		cfg      screenpop.Config
		query    string
		wantIn   []string // kinds of the incoming call's cards
		wantOut  []string // kinds of the outgoing call's cards
		wantSnap bool
	}{
		{"default: on ring", screenpop.Config{}, "", []string{"ringing"}, []string{"ringing"}, true},
		{"on answer", screenpop.Config{Incoming: screenpop.OnAnswer, Outgoing: screenpop.OnAnswer}, "", []string{"answered"}, []string{"answered"}, true},
		{"on end", screenpop.Config{Incoming: screenpop.OnEnd, Outgoing: screenpop.OnEnd}, "", []string{"ended"}, []string{"ended"}, false},
		{"never", screenpop.Config{Incoming: screenpop.Never, Outgoing: screenpop.Never}, "", nil, nil, false},
		{"query overrides", screenpop.Config{Incoming: screenpop.Never, Outgoing: screenpop.OnEnd}, "&incoming=answer&outgoing=never", []string{"answered"}, nil, true},
		{"query overrides one", screenpop.Config{}, "&outgoing=end", []string{"ringing"}, []string{"ended"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			c := e.connect("101", tt.query, nil)
			c.position()
			e.answeredIn("in", "101", clientPhone)
			e.answeredOut("out", "101", "79997654321")
			e.missedIn("sentinel", "79990000000", "101") // missed cards pass every moment
			var in, out []string
			for _, card := range c.cardsUntil("sentinel") {
				switch card.CallID {
				case "in":
					in = append(in, card.Kind)
					if card.Kind == screenpop.KindEnded && (card.Outcome != pbx.OutcomeAnswered || card.TalkDuration != 42*time.Second) {
						t.Errorf("ended card: outcome %v, talk %v", card.Outcome, card.TalkDuration)
					}
				case "out":
					out = append(out, card.Kind)
					if card.Direction != pbx.Outbound {
						t.Errorf("outgoing card with direction %v", card.Direction)
					}
				}
			}
			if !slices.Equal(in, tt.wantIn) || !slices.Equal(out, tt.wantOut) {
				t.Fatalf("incoming %v, outgoing %v; want %v, %v", in, out, tt.wantIn, tt.wantOut)
			}

			// A fresh connection during an answered call: the snapshot
			// shows it when the moment has passed (ring or answer).
			e.emit(ev(pbx.EventRinging, "open", pbx.Inbound, "101", clientPhone),
				ev(pbx.EventAnswered, "open", pbx.Inbound, "101", clientPhone))
			waitPosition(t, e.hub, e.j)
			c2 := e.connect("101", tt.query, nil)
			var snap []string
			for {
				s := <-c2.events
				if s.Event == "position" {
					break
				}
				snap = append(snap, s.card(t).CallID+":"+s.Event)
			}
			want := []string(nil)
			if tt.wantSnap {
				want = []string{"open:answered"}
			}
			if !slices.Equal(snap, want) {
				t.Fatalf("snapshot %v, want %v", snap, want)
			}
		})
	}
}

// waitPosition waits until the hub has fanned out the journal's last entry.
func waitPosition(t *testing.T, h *screenpop.Hub, j *journal.Journal) {
	t.Helper()
	last, err := j.LastSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	for h.Stats().Position < last {
		if time.Now().After(deadline) {
			t.Fatalf("hub at %d, journal at %d", h.Stats().Position, last)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSnapshotOfOpenCalls(t *testing.T) {
	e := newEnv(t, screenpop.Config{})
	e.emit(ev(pbx.EventRinging, "ringing", pbx.Inbound, "101", "79990000001"))
	e.emit(ev(pbx.EventRinging, "talking", pbx.Inbound, "101", "79990000002"),
		ev(pbx.EventAnswered, "talking", pbx.Inbound, "101", "79990000002"))
	e.answeredIn("over", "101", "79990000003")
	e.emit(ev(pbx.EventRinging, "other", pbx.Inbound, "102", "79990000004"))
	// 101 rang, then the call went on to 102: 101's part is over.
	e.emit(ev(pbx.EventRinging, "moved", pbx.Inbound, "101", "79990000005"),
		ev(pbx.EventLegEnded, "moved", pbx.Inbound, "101", "79990000005"),
		ev(pbx.EventRinging, "moved", pbx.Inbound, "102", "79990000005"))

	// The PBX never sent the end of this one, three hours ago.
	stale := ev(pbx.EventRinging, "stale", pbx.Inbound, "101", "79990000006")
	stale.At = time.Now().Add(-3 * time.Hour)
	e.emit(stale)

	c := e.connect("101", "", nil)
	var got []string
	for {
		s := <-c.events
		if s.Event == "position" {
			last, _ := e.j.LastSeq(context.Background())
			if s.ID != strconv.FormatInt(last, 10) {
				t.Errorf("position after the snapshot %s, want %d", s.ID, last)
			}
			break
		}
		card := s.card(t)
		if s.HasID {
			t.Errorf("a snapshot card carries an id")
		}
		got = append(got, card.CallID+":"+card.Kind)
	}
	if want := []string{"ringing:ringing", "talking:answered"}; !slices.Equal(got, want) {
		t.Fatalf("snapshot %v, want %v", got, want)
	}
	// And then the live ones.
	e.emit(ev(pbx.EventRinging, "new", pbx.Inbound, "101", "79990000001"))
	if s := c.next(); s.Event != "ringing" || s.card(t).CallID != "new" {
		t.Fatalf("live: %s %s", s.Event, s.Data)
	}
}

func TestReconnectWithLastEventID(t *testing.T) {
	for _, tt := range []struct {
		name   string
		replay int
		how    string
	}{
		{"from memory, header", 0, "header"},
		{"from memory, query", 0, "query"},
		{"from the journal, header", 1, "header"},
		{"from the journal, query", 1, "query"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, screenpop.Config{ReplayBuffer: tt.replay, Incoming: screenpop.OnRing})
			c := e.connect("101", "", nil)
			c.position()
			e.answeredIn("a", "101", clientPhone)
			e.missedIn("b", "79990000002", "101", "102")
			got := c.cardsUntil("b")
			// The missed card of b is the last card of the entry that also
			// closed the call: wait for it.
			if got[len(got)-1].Kind != screenpop.KindRinging {
				t.Fatalf("unexpected %v", summary(got))
			}
			got = append(got, c.nextCard())
			last := c.LastID()
			c.close()

			// While away: cards of entries after last, for 101 and others.
			e.answeredIn("c", "101", "79990000003")
			e.answeredIn("x", "102", "79990000004")
			e.missedIn("d", "79990000005", "101")
			e.answeredIn("e", "101", "79990000006") // sentinel: after the reconnect
			waitPosition(t, e.hub, e.j)

			var c2 *client
			if tt.how == "header" {
				c2 = e.connect("101", "", map[string]string{"Last-Event-ID": last})
			} else {
				c2 = e.connect("101", "&last_event_id="+last, nil)
			}
			got = append(got, c2.cardsUntil("e")...)
			want := []string{"a:ringing", "b:ringing", "b:missed", "c:ringing", "d:ringing", "d:missed", "e:ringing"}
			if !slices.Equal(summary(got), want) {
				t.Fatalf("cards %v, want %v", summary(got), want)
			}
			seqs := map[string]bool{}
			for _, card := range got {
				k := card.CallID + card.Kind + strconv.FormatInt(card.Seq, 10)
				if seqs[k] {
					t.Fatalf("card twice: %v", k)
				}
				seqs[k] = true
			}
			// Live after the replay, nothing twice.
			e.answeredIn("f", "101", "79990000007")
			if card := c2.nextCard(); card.CallID != "f" {
				t.Fatalf("after the replay: %s %s", card.CallID, card.Kind)
			}
		})
	}
}

func TestReplayMatchesLive(t *testing.T) {
	// The cards a stream gets live and the cards a reconnect from 0 gets
	// from the journal are the same.
	e := newEnv(t, screenpop.Config{ReplayBuffer: 1, Incoming: screenpop.OnRing})
	live := e.connect("101", "", nil)
	live.position()
	e.answeredIn("a", "101", clientPhone)
	e.missedIn("b", clientPhone, "101", "102")
	e.answeredOut("c", "101", clientPhone) // calls b back
	e.answeredIn("d", "101", "79990000004")
	liveCards := live.cardsUntil("d")
	waitPosition(t, e.hub, e.j)

	again := e.connect("101", "&last_event_id=0", nil)
	replayed := again.cardsUntil("d")
	a, _ := json.Marshal(liveCards)
	b, _ := json.Marshal(replayed)
	if string(a) != string(b) {
		t.Fatalf("live:\n%s\nreplayed:\n%s", a, b)
	}
}

func TestSlowStreamIsClosedOthersKeepReceiving(t *testing.T) {
	// A lookup with a long name makes each card about 45 KiB, so a stream
	// that does not read soon fills the socket buffers and then its own
	// small buffer.
	name := strings.Repeat("Очень длинное название клиента ", 800)
	e := newEnv(t, screenpop.Config{
		Buffer:       4,
		WriteTimeout: 2 * time.Second,
		Lookup: func(context.Context, string) (string, string, error) {
			return name, "", nil
		},
	})
	slow := dialSlow(t, e.srv.URL, token("101"))
	fast1 := e.connect("101", "", nil)
	fast1.position()
	fast2 := e.connect("101", "", nil)
	fast2.position()

	// Calls one after the other, each read by the fast streams before the
	// next, until the hub gives up on the slow one (bounded in count and
	// time); then a few more.
	deadline := time.Now().Add(30 * time.Second)
	extra := -1
	for i := 0; extra != 0; i++ {
		if i == 5000 || time.Now().After(deadline) {
			t.Fatalf("the slow stream was still open after %d cards", i)
		}
		id := "call-" + strconv.Itoa(i)
		e.emit(ev(pbx.EventRinging, id, pbx.Inbound, "101", clientPhone))
		for _, c := range []*client{fast1, fast2} {
			if card := c.nextCard(); card.CallID != id {
				t.Fatalf("a fast stream got %s, want %s", card.CallID, id)
			}
		}
		switch {
		case extra > 0:
			extra--
		case extra < 0 && e.hub.Stats().Dropped > 0:
			extra = 20
		}
	}
	if s := e.hub.Stats(); s.Dropped != 1 || s.Streams != 2 {
		t.Fatalf("stats %+v, want the slow stream dropped and two left", s)
	}
	// The slow stream ends: reading it now gives what was buffered, then EOF.
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, slow)
		done <- err
	}()
	select {
	case <-done:
	case <-time.After(wait + 5*time.Second):
		t.Fatal("the slow stream was not closed")
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		name            string
		lookup          func(ctx context.Context, phone string) (string, string, error)
		wantContact     string
		wantResponsible string
	}{
		{"answers", func(_ context.Context, p string) (string, string, error) {
			if p != clientPhone {
				return "", "", errors.New("wrong number asked")
			}
			return "ООО «Альфа»", "102", nil
		}, "ООО «Альфа»", "102"},
		{"fails", func(context.Context, string) (string, string, error) {
			return "x", "y", errors.New("1C is down")
		}, "", ""},
		{"honours the deadline but is slow", func(ctx context.Context, _ string) (string, string, error) {
			<-ctx.Done()
			return "late", "", ctx.Err()
		}, "", ""},
		{"ignores the deadline", func(context.Context, string) (string, string, error) {
			time.Sleep(3 * time.Second)
			return "late", "102", nil
		}, "", ""},
		{"panics", func(context.Context, string) (string, string, error) {
			panic("bug in user code")
		}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, screenpop.Config{Lookup: tt.lookup, LookupTimeout: 100 * time.Millisecond})
			c := e.connect("101", "", nil)
			c.position()
			start := time.Now()
			e.emit(ev(pbx.EventRinging, "a", pbx.Inbound, "101", clientPhone))
			card := c.nextCard()
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("the card waited %v for the lookup", d)
			}
			if card.Contact != tt.wantContact || card.Responsible != tt.wantResponsible {
				t.Fatalf("contact %q, responsible %q", card.Contact, card.Responsible)
			}
		})
	}
}

func TestSlowLookupIsAskedAgain(t *testing.T) {
	// The ringing card went without the name because the lookup was slow
	// then; the missed card of the same call asks again and reaches the
	// responsible manager rather than MissedTo.
	var calls atomic.Int32
	e := newEnv(t, screenpop.Config{
		MissedTo:      "103",
		LookupTimeout: 100 * time.Millisecond,
		Lookup: func(ctx context.Context, _ string) (string, string, error) {
			if calls.Add(1) == 1 {
				<-ctx.Done()
				return "", "", ctx.Err()
			}
			return "Альфа", "102", nil
		},
	})
	c101 := e.connect("101", "", nil)
	c101.position()
	c102 := e.connect("102", "", nil)
	c102.position()
	e.emit(ev(pbx.EventRinging, "m", pbx.Inbound, "101", clientPhone))
	if card := c101.nextCard(); card.Kind != screenpop.KindRinging || card.Contact != "" {
		t.Fatalf("ringing card: %+v", card)
	}
	e.emit(pbx.CallEvent{Type: pbx.EventCallEnded, CallID: "m", Direction: pbx.Inbound, Phone: clientPhone, Outcome: pbx.OutcomeMissed})
	if card := c102.nextCard(); card.Kind != screenpop.KindMissed || card.Contact != "Альфа" || card.Responsible != "102" {
		t.Fatalf("missed card: %+v", card)
	}
}

func TestMissedGoesToResponsibleElseMissedTo(t *testing.T) {
	lookup := func(_ context.Context, p string) (string, string, error) {
		if p == "79990000001" {
			return "Альфа", "102", nil
		}
		return "", "", nil
	}
	tests := []struct {
		name     string
		missedTo string
		phone    string
		want     string // the extension that gets the missed card
	}{
		{"responsible", "103", "79990000001", "102"},
		{"nobody responsible: MissedTo", "103", "79990000002", "103"},
		{"nobody at all: the phone that rang", "", "79990000002", "101"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, screenpop.Config{Lookup: lookup, MissedTo: tt.missedTo})
			streams := map[string]*client{}
			for _, x := range []string{"101", "102", "103"} {
				streams[x] = e.connect(x, "", nil)
				streams[x].position()
			}
			e.missedIn("m", tt.phone, "101")
			// The sentinel: a call ringing every phone.
			for x := range streams {
				e.emit(ev(pbx.EventRinging, "sentinel", pbx.Inbound, x, "79990000009"))
			}
			for x, c := range streams {
				var got []string
				for _, card := range c.cardsUntil("sentinel") {
					if card.Kind == screenpop.KindMissed {
						got = append(got, card.CallID+":"+card.Extension+":"+card.Responsible)
					}
				}
				var want []string
				if x == tt.want {
					resp := ""
					if tt.want == "102" {
						resp = "102"
					}
					want = []string{"m:" + x + ":" + resp}
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s got %v, want %v", x, got, want)
				}
			}
		})
	}
}

func TestRecentCalls(t *testing.T) {
	e := newEnv(t, screenpop.Config{RecentCalls: 2})
	e.answeredIn("old1", "102", clientPhone)
	e.missedIn("old2", clientPhone, "103")
	e.answeredIn("old3", "101", "+7 916 123-45-67") // the same number, written otherwise
	e.emit(pbx.CallEvent{Type: pbx.EventCallEnded, CallID: "old3", Direction: pbx.Inbound, Phone: clientPhone,
		Outcome: pbx.OutcomeAnswered, RecordingURL: "https://pbx.example/rec?id=1&hash=SIGNED"})
	e.answeredIn("other", "101", "79990000000")
	c := e.connect("101", "", nil)
	c.position()
	e.emit(ev(pbx.EventRinging, "now", pbx.Inbound, "101", clientPhone))
	card := c.nextCard()
	var got []string
	for _, rc := range card.RecentCalls {
		got = append(got, rc.CallID)
	}
	if want := []string{"old3", "old2"}; !slices.Equal(got, want) {
		t.Fatalf("recent calls %v, want %v", got, want)
	}
	if b, _ := json.Marshal(card); strings.Contains(string(b), "SIGNED") || strings.Contains(string(b), "legs") {
		t.Fatalf("a recent call carries its recording link or legs: %s", b)
	}
}

func TestCardJSON(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.FixedZone("MSK", 3*3600))
	c := screenpop.Card{
		Seq: 7, Kind: screenpop.KindEnded, CallID: "c1", Provider: "sipuni", Direction: pbx.Inbound,
		Phone: clientPhone, Line: companyLine, Extension: "101", Contact: "Альфа", Responsible: "102",
		At: at, Outcome: pbx.OutcomeAnswered, TalkDuration: 42500 * time.Millisecond,
		RecentCalls: []journal.Call{{Provider: "sipuni", CallID: "c0", StartedAt: at.Add(-time.Hour)}},
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"seq": 7.0, "kind": "ended", "call_id": "c1", "provider": "sipuni", "direction": "inbound",
		"phone": clientPhone, "line": companyLine, "extension": "101", "contact": "Альфа",
		"responsible": "102", "at": "2026-03-02T10:00:00+03:00", "outcome": "answered", "talk_seconds": 42.5,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s: %v, want %v", k, m[k], v)
		}
	}
	if rc, ok := m["recent_calls"].([]any); !ok || len(rc) != 1 {
		t.Errorf("recent_calls: %v", m["recent_calls"])
	}
	if len(m) != len(want)+1 {
		t.Errorf("unexpected fields in %s", b)
	}
	var back screenpop.Card
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.TalkDuration != c.TalkDuration || back.Seq != 7 || !back.At.Equal(at) || back.RecentCalls[0].CallID != "c0" {
		t.Fatalf("round trip: %+v", back)
	}
	// Empty values are left out, but the identity always is there.
	b, _ = json.Marshal(screenpop.Card{Kind: "ringing"})
	if string(b) != `{"seq":0,"kind":"ringing","call_id":"","provider":""}` {
		t.Fatalf("zero card: %s", b)
	}
}

func TestHeartbeatMovesThePosition(t *testing.T) {
	e := newEnv(t, screenpop.Config{Heartbeat: 30 * time.Millisecond})
	c := e.connect("101", "", nil)
	first := c.position()
	// Entries that give 101 nothing still move its position.
	e.answeredIn("x", "102", clientPhone)
	last, _ := e.j.LastSeq(context.Background())
	deadline := time.Now().Add(wait)
	for {
		if p := c.position(); p == strconv.FormatInt(last, 10) {
			break
		} else if p == first {
			t.Fatalf("position event without progress")
		}
		if time.Now().After(deadline) {
			t.Fatal("position never reached the journal's end")
		}
	}
	c.mu.Lock()
	n := c.comments
	c.mu.Unlock()
	if n < 2 {
		t.Fatalf("%d comments", n)
	}
}

func TestCloseEndsStreams(t *testing.T) {
	e := newEnv(t, screenpop.Config{})
	c := e.connect("101", "", nil)
	c.position()
	if err := e.hub.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-c.events:
		if ok {
			t.Fatal("event after Close")
		}
	case <-time.After(wait):
		t.Fatal("stream still open after Close")
	}
	resp, err := http.Get(e.srv.URL + "/screenpop?token=" + token("101"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("after Close: %d", resp.StatusCode)
	}
}

// countingStore counts the journal reads that wait for new entries.
type countingStore struct {
	*journal.MemoryStore
	mu            sync.Mutex
	waiting, peak int
}

func (s *countingStore) Wait(ctx context.Context, after int64) error {
	s.mu.Lock()
	s.waiting++
	s.peak = max(s.peak, s.waiting)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.waiting--
		s.mu.Unlock()
	}()
	return s.MemoryStore.Wait(ctx, after)
}

func TestOneSubscriptionForAllStreams(t *testing.T) {
	store := &countingStore{MemoryStore: journal.NewMemoryStore()}
	e := newEnvOn(t, journal.New(store), screenpop.Config{})
	var streams []*client
	for i := range 20 {
		c := e.connect(strconv.Itoa(100+i%5), "", nil)
		c.position()
		streams = append(streams, c)
	}
	e.answeredIn("a", "101", clientPhone)
	for _, c := range streams[1:2] {
		if card := c.nextCard(); card.CallID != "a" {
			t.Fatalf("got %s", card.CallID)
		}
	}
	waitPosition(t, e.hub, e.j)
	store.mu.Lock()
	peak := store.peak
	store.mu.Unlock()
	if peak != 1 {
		t.Fatalf("%d journal subscriptions waited at once for 20 streams, want 1", peak)
	}
}

// flakyStore fails the next reads it is told to.
type flakyStore struct {
	*journal.MemoryStore
	failEntries, failCallEntries atomic.Int32
}

var errFlaky = errors.New("database is restarting")

func (s *flakyStore) Entries(ctx context.Context, after int64, limit int) ([]journal.Entry, error) {
	if s.failEntries.Add(-1) >= 0 {
		return nil, errFlaky
	}
	return s.MemoryStore.Entries(ctx, after, limit)
}

func (s *flakyStore) CallEntries(ctx context.Context, provider, id string) ([]journal.Entry, error) {
	if s.failCallEntries.Add(-1) >= 0 {
		return nil, errFlaky
	}
	return s.MemoryStore.CallEntries(ctx, provider, id)
}

func TestJournalErrorsLoseNothing(t *testing.T) {
	store := &flakyStore{MemoryStore: journal.NewMemoryStore()}
	e := newEnvOn(t, journal.New(store), screenpop.Config{})
	c := e.connect("101", "", nil)
	c.position()

	store.failEntries.Store(2) // the subscription fails twice
	e.emit(ev(pbx.EventRinging, "a", pbx.Inbound, "101", clientPhone))
	if card := c.nextCard(); card.CallID != "a" {
		t.Fatalf("got %s", card.CallID)
	}
	store.failCallEntries.Store(2) // computing the cards fails twice
	e.emit(ev(pbx.EventRinging, "b", pbx.Inbound, "101", clientPhone))
	e.emit(ev(pbx.EventRinging, "c", pbx.Inbound, "101", clientPhone))
	if got := summary(c.cardsUntil("c")); !slices.Equal(got, []string{"b:ringing", "c:ringing"}) {
		t.Fatalf("got %v", got)
	}
}
