package operator_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/pbxkit/pbxkit/examples/internal/operator"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/pbx/screenpop"
	"github.com/pbxkit/pbxkit/provider"
	_ "github.com/pbxkit/pbxkit/sipuni"            // registers the provider
	_ "github.com/pbxkit/pbxkit/sipuni/sipunitest" // registers the fake
)

// chromiumPath is where Debian installs Chromium (.ci/chromium.sh).
const chromiumPath = "/usr/bin/chromium"

// envScreenshot, when set, makes TestBrowser save its screenshot of the
// page with cards shown to docs/operator-page.png.
const envScreenshot = "PBXKIT_OPERATOR_SCREENSHOT"

// browserEnv is the whole chain in one process: a fake Sipuni, the
// provider's webhook, a journal, the hub and the page, and a headless
// Chromium looking at the page as employee 101.
type browserEnv struct {
	t    *testing.T
	fake pbxtest.Fake
	srv  *httptest.Server
	ctx  context.Context // the browser tab
	hook string
}

const (
	alfaPhone  = "79161234567" // a client whose responsible manager is 102
	orlovPhone = "79035550101" // a client whose responsible manager is 101
	newPhone   = "74997770000" // a number nobody knows
)

func newBrowserEnv(t *testing.T) *browserEnv {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("chromium not found at %s: install Debian's chromium package (.ci/chromium.sh does) to run the operator page's browser test", chromiumPath)
	}
	fake, err := pbxtest.Start("sipuni", pbxtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	p, err := provider.Open(fake.DSN())
	if err != nil {
		t.Fatal(err)
	}

	j := journal.New(journal.NewMemoryStore())
	directory := map[string][2]string{
		alfaPhone:  {"ООО «Альфа»", "102"},
		orlovPhone: {"Орлов Александр Владимирович", "101"},
	}
	hub, err := screenpop.New(j, screenpop.Config{
		Secret:   secret,
		MissedTo: "103",
		Lookup: func(_ context.Context, phone string) (string, string, error) {
			d := directory[phone]
			return d[0], d[1], nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, e := range pbxtest.Employees() {
		names[e.Extension] = e.Name
	}
	page, err := operator.New(operator.Config{
		Hub: hub, Journal: j, Callers: operator.CallersOf(p), MissedTo: "103", Names: names,
		Location: dayZone(),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/pbx/sipuni", p.WebhookHandler(j, nil))
	mux.Handle("/", page)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		hub.Close() // ends the streams, so Close does not wait for them
		srv.Close()
	})
	hook := srv.URL + "/pbx/sipuni"
	fake.SetWebhook(hook) // a click-to-call comes back as an outbound call

	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
		chromedp.Env("TZ=Europe/Moscow", "LANG=ru_RU.UTF-8"),
	)
	t.Cleanup(cancel)
	ctx, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(cancelTab)

	// A JavaScript error on the page fails the test.
	var mu sync.Mutex
	var jsErrors []string
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			mu.Lock()
			jsErrors = append(jsErrors, (&chromedp.ExceptionError{ExceptionDetails: e.ExceptionDetails}).Error())
			mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range jsErrors {
			t.Errorf("JavaScript error on the page: %s", e)
		}
	})
	return &browserEnv{t: t, fake: fake, srv: srv, ctx: ctx, hook: hook}
}

// dayZone is the zone of the page's "today": Moscow, unless Moscow is
// near midnight, when calls played minutes apart could fall on two days;
// then a zone where it is not.
func dayZone() *time.Location {
	msk := provider.DefaultLocation()
	now := time.Now().In(msk)
	if m := now.Hour()*60 + now.Minute(); m > 20 && m < 24*60-20 {
		return msk
	}
	return time.FixedZone("UTC+1", 3600)
}

// do runs browser actions, bounded in time.
func (b *browserEnv) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression on the page.
func eval[T any](b *browserEnv, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor waits until the JavaScript condition holds on the page. Right
// after a navigation the page's JavaScript context may be replaced under a
// poll ("Cannot find context with specified id", "Execution context was
// destroyed"): that is the browser between two documents, not a failure, so
// the poll starts again, within the same 15 s.
func (b *browserEnv) waitFor(what, cond string) {
	b.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	b.do(what, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for {
			_, err := chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingInterval(50*time.Millisecond),
				chromedp.WithPollingTimeout(time.Until(deadline)))(ctx, t)
			if err == nil || !contextReplaced(err) || time.Now().After(deadline) {
				return err
			}
			time.Sleep(50 * time.Millisecond)
		}
	}))
}

// contextReplaced reports whether err says the page's JavaScript context
// went away during a navigation.
func contextReplaced(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Cannot find context with specified id") ||
		strings.Contains(msg, "Execution context was destroyed") ||
		strings.Contains(msg, "Inspected target navigated or closed")
}

// play plays a call at the webhook and returns its id.
func (b *browserEnv) play(c pbxtest.Call) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	played, err := b.fake.Play(ctx, b.hook, c)
	if err != nil || played.Err != nil {
		b.t.Fatalf("play %v: %v %v", c.Scenario, err, played.Err)
	}
	return played.CallID
}

// cardKeys returns the "provider|call id" of every card on the page, in
// page order (duplicates included).
func (b *browserEnv) cardKeys() []string {
	b.t.Helper()
	return eval[[]string](b, `Array.from(document.querySelectorAll('#cards .card')).map(e => e.dataset.call)`)
}

func (b *browserEnv) waitOnline() {
	b.t.Helper()
	b.waitFor("the stream to connect", `document.getElementById('status').dataset.state === 'online' && Number(document.body.dataset.loaded || 0) > 0`)
}

// TestBrowser drives the page in headless Chromium: a played incoming call
// makes its card appear; the call-back button makes the fake PBX receive
// exactly one call request; a missed call appears in the missed list and,
// once called back, says who called back; and a page that was away (then
// reloaded) shows every card once, none lost, none twice.
func TestBrowser(t *testing.T) {
	b := newBrowserEnv(t)
	link := operator.Link(b.srv.URL, secret, "101", time.Now().Add(time.Hour))
	b.do("open the page", chromedp.Navigate(link))
	b.waitOnline()
	if u := eval[string](b, `location.href`); strings.Contains(u, "token=") {
		t.Errorf("the token stays in the address bar: %s", u)
	}
	if who := eval[string](b, `document.getElementById('who').textContent`); !strings.Contains(who, "101") {
		t.Errorf("header: %q", who)
	}

	// 1. An incoming call to 101 pops its card up.
	alfa := b.play(pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, Caller: alfaPhone, Extensions: []string{"101"}})
	sel := fmt.Sprintf(`#cards .card[data-call="sipuni|%s"]`, alfa)
	b.waitFor("the card of the incoming call", fmt.Sprintf(`document.querySelector(%q) !== null`, sel))
	text := eval[string](b, fmt.Sprintf(`document.querySelector(%q).innerText`, sel))
	for _, want := range []string{"Входящий звонок", "+7 916 123-45-67", "ООО «Альфа»", "доб. 102"} {
		if !strings.Contains(text, want) {
			t.Errorf("the card lacks %q:\n%s", want, text)
		}
	}

	// 2. A missed call from a client whose manager is 101: its card turns
	// into a missed notice and the call is in the missed list.
	// It happened a few minutes ago: the call-back must come after it (the
	// vendor's times are in whole seconds).
	orlov := b.play(pbxtest.Call{Scenario: pbxtest.MissedIncoming, Caller: orlovPhone, Extensions: []string{"101"},
		Start: time.Now().Add(-3 * time.Minute)})
	missedItem := fmt.Sprintf(`#missed li[data-call="sipuni|%s"]`, orlov)
	b.waitFor("the missed call in the list", fmt.Sprintf(`document.querySelector(%q) !== null`, missedItem))
	b.waitFor("the missed card", fmt.Sprintf(`document.querySelector('#cards .card[data-call="sipuni|%s"]')?.dataset.kind === 'missed'`, orlov))

	// 3. "Перезвонить" in the missed list: exactly one call request to the
	// PBX, and the list says who called back.
	before := len(callRequests(b.fake))
	b.do("click the call-back button", chromedp.Click(chromedp.CSS(missedItem+" button.callback")))
	b.waitFor("the call-back to be ordered", fmt.Sprintf(`(document.querySelector(%q + ' .result')?.textContent || '').includes('Звонок заказан') || document.querySelector(%q + '.called-back') !== null`, missedItem, missedItem))
	b.waitFor("the missed call marked called back", fmt.Sprintf(`document.querySelector(%q)?.classList.contains('called-back')`, missedItem))
	done := eval[string](b, fmt.Sprintf(`document.querySelector(%q + ' .done').textContent`, missedItem))
	if !strings.Contains(done, "Перезвонил доб. 101") {
		t.Errorf("the missed call says %q", done)
	}
	// A second click cannot happen (the button is disabled, then gone);
	// give a stray request time to arrive before counting.
	time.Sleep(300 * time.Millisecond)
	reqs := callRequests(b.fake)[before:]
	if len(reqs) != 1 {
		t.Fatalf("the PBX received %d call requests, want 1", len(reqs))
	}
	if q := string(reqs[0].Body) + reqs[0].Query; !strings.Contains(q, orlovPhone) || !strings.Contains(q, "101") {
		t.Errorf("the call request does not ask 101 to call %s: %s", orlovPhone, q)
	}

	// The screenshot: a few more calls so that every part shows something.
	b.play(pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, Caller: newPhone, Extensions: []string{"102"}})
	again := b.play(pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, Caller: alfaPhone, Extensions: []string{"101"}})
	b.waitFor("the second card of Альфа", fmt.Sprintf(`document.querySelector('#cards .card[data-call="sipuni|%s"] .recent') !== null`, again))
	b.waitFor("the chart", `document.querySelectorAll('#chart svg rect').length >= 6`)
	shot := b.screenshot()
	if os.Getenv(envScreenshot) != "" {
		dst := filepath.Join("..", "..", "..", "docs", "operator-page.png")
		if err := os.WriteFile(dst, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot saved to %s", dst)
	}

	// 4. Away and back: calls while the page is closed come in on return,
	// from the stored position; nothing twice.
	shown := b.cardKeys()
	b.do("leave the page", chromedp.Navigate("about:blank"))
	away := b.play(pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, Caller: newPhone, Extensions: []string{"101"}})
	b.do("come back", chromedp.Navigate(b.srv.URL+"/"))
	b.waitOnline()
	b.waitFor("the card of the call while away", fmt.Sprintf(`document.querySelector('#cards .card[data-call="sipuni|%s"]') !== null`, away))
	checkOnce(t, b.cardKeys(), append(slices.Clone(shown), "sipuni|"+away))

	// 5. A reload: the same cards, once each.
	shown = b.cardKeys()
	b.do("reload", chromedp.Reload())
	b.waitOnline()
	after := b.play(pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, Caller: alfaPhone, Extensions: []string{"101"}})
	b.waitFor("the card after the reload", fmt.Sprintf(`document.querySelector('#cards .card[data-call="sipuni|%s"]') !== null`, after))
	checkOnce(t, b.cardKeys(), append(slices.Clone(shown), "sipuni|"+after))
}

// checkOnce fails unless got holds every key of want exactly once and
// nothing else.
func checkOnce(t *testing.T, got, want []string) {
	t.Helper()
	count := map[string]int{}
	for _, k := range got {
		count[k]++
	}
	for _, k := range want {
		if count[k] != 1 {
			t.Errorf("card %s shown %d times; page has %v", k, count[k], got)
		}
		delete(count, k)
	}
	for k := range count {
		t.Errorf("unexpected card %s; page has %v", k, got)
	}
}

// callRequests are the click-to-call requests the fake received.
func callRequests(f pbxtest.Fake) []pbxtest.Request {
	var out []pbxtest.Request
	for _, r := range f.Requests() {
		if strings.Contains(r.Operation, "call_number") {
			out = append(out, r)
		}
	}
	return out
}

// screenshot captures the whole page as PNG.
func (b *browserEnv) screenshot() []byte {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if len(png) < 8 || string(png[1:4]) != "PNG" {
		b.t.Fatal("the screenshot is not a PNG")
	}
	return png
}
