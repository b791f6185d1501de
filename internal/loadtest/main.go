// Command loadtest measures pbxkit's webhook handlers under load on loopback
// and compares each with a bare net/http handler (read the body, answer 200
// {}) driven by the same client with the same settings: the physical limit of
// the machine.
//
//	go run ./internal/loadtest -duration 5s -concurrency 32
//
// Four paths are measured: Rostelecom call_events (signed), Rostelecom
// get_number_info and Prostie Zvonki contact (both answered by
// routing.Responsible over a directory of 1,000,000 contacts), and a Sipuni
// event (token-authenticated GET). For each it prints requests/s, p50, p99
// and max latency, and the ratio of its requests/s to the bare handler's on
// the same requests. It listens on 127.0.0.1 only and stops by itself.
package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/prostiezvonki"
	"github.com/pbxkit/pbxkit/prostiezvonki/pztest"
	"github.com/pbxkit/pbxkit/rostelecom"
	"github.com/pbxkit/pbxkit/routing"
	"github.com/pbxkit/pbxkit/sipuni"
)

func main() {
	duration := flag.Duration("duration", 3*time.Second, "measured time per run")
	concurrency := flag.Int("concurrency", 8, "concurrent client connections")
	rounds := flag.Int("rounds", 3, "alternating pbxkit/bare runs per path; the median run of each is reported")
	contacts := flag.Int("contacts", 1_000_000, "directory size for the routing paths")
	warmup := flag.Duration("warmup", 500*time.Millisecond, "unmeasured warm-up before each run")
	flag.Parse()
	if *concurrency < 1 || *duration <= 0 || *contacts < 1 || *rounds < 1 {
		fmt.Fprintln(os.Stderr, "loadtest: -concurrency, -duration, -contacts and -rounds must be positive")
		os.Exit(2)
	}
	if err := run(os.Stdout, *duration, *warmup, *concurrency, *contacts, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

const (
	rtClientID = "000003C405E6525C64C184258C44EC99"
	rtSignKey  = "loadtest-sign-key"
	rtDomain   = "loadtest.rt.ru"
	sipAccount = "012345"
	sipSecret  = "0.loadtest"
	sipToken   = "loadtest-token"
	pzToken    = "loadtest-crm-token"
	bodies     = 1024 // distinct pre-built requests per path
)

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

// discard takes events and drops them, as a handler that queues would.
var discard = pbx.EventHandlerFunc(func(context.Context, pbx.CallEvent) error { return nil })

type path struct {
	name    string
	handler http.Handler
	build   func(base string, i int) (*http.Request, error)
	check   func([]byte) error
}

func run(out io.Writer, duration, warmup time.Duration, concurrency, contacts, rounds int) error {
	dir, buildTime, err := buildDirectory(contacts)
	if err != nil {
		return err
	}
	router := routing.Responsible(dir, routing.WithDefault("100"))

	rt, err := rostelecom.New(rostelecom.Config{ClientID: rtClientID, SignKey: rtSignKey, Domain: rtDomain, BaseURL: "http://127.0.0.1:1/"})
	if err != nil {
		return err
	}
	sip, err := sipuni.New(sipuni.Config{Account: sipAccount, Secret: sipSecret, WebhookToken: sipToken, BaseURL: "http://127.0.0.1:1/"})
	if err != nil {
		return err
	}
	pz, err := prostiezvonki.New(prostiezvonki.Config{APIKey: "k", CRMToken: pzToken, BaseURL: "http://127.0.0.1:1/"})
	if err != nil {
		return err
	}

	// Pre-built bodies, so the client does the same cheap work for pbxkit
	// and for the bare handler.
	rtEvents := make([][]byte, bodies)
	rtInfo := make([][]byte, bodies)
	pzContact := make([][]byte, bodies)
	sipQuery := make([]string, bodies)
	for i := range bodies {
		caller := directoryPhone((i * 7919) % contacts)
		rtEvents[i] = fmt.Appendf(nil, `{"state":"calling","type":"incoming","session_id":"%d","timestamp":"2024-05-01 12:00:00.%03d","from_number":"sip:%s@%s","request_number":"sip:74951234567@%s","request_pin":"101"}`,
			1_000_000+i, i%1000, caller, rtDomain, rtDomain)
		rtInfo[i] = fmt.Appendf(nil, `{"domain":%q,"from_number":%q,"request_number":"74951234567"}`, rtDomain, caller)
		pzContact[i] = pztest.ContactBody(caller, pzToken)
		sipQuery[i] = url.Values{
			"event": {"1"}, "call_id": {"17" + strconv.Itoa(1_000_000+i) + ".1"}, "src_num": {caller}, "src_type": {"1"},
			"short_src_num": {caller}, "dst_num": {sipAccount + "101"}, "dst_type": {"2"}, "short_dst_num": {"101"},
			"timestamp": {strconv.Itoa(1714554000 + i)}, "token": {sipToken},
		}.Encode()
	}
	rtPost := func(op string, set [][]byte) func(string, int) (*http.Request, error) {
		signs := make([]string, len(set))
		for i, b := range set {
			signs[i] = rostelecom.Sign(rtClientID, b, rtSignKey)
		}
		return func(base string, i int) (*http.Request, error) {
			b := set[i%len(set)]
			req, err := http.NewRequest(http.MethodPost, base+"/"+op, bytes.NewReader(b))
			if err != nil {
				return nil, err
			}
			req.Header["Content-Type"] = []string{"application/json"}
			req.Header["X-Client-Id"] = []string{rtClientID}
			req.Header["X-Client-Sign"] = []string{signs[i%len(set)]}
			return req, nil
		}
	}
	contains := func(want string) func([]byte) error {
		return func(b []byte) error {
			if !bytes.Contains(b, []byte(want)) {
				return fmt.Errorf("answer %.120q lacks %s", b, want)
			}
			return nil
		}
	}
	dirLabel := fmt.Sprintf(" (%d contacts)", contacts)
	paths := []path{
		{"rostelecom call_events", rt.WebhookHandler(discard, router), rtPost("call_events", rtEvents), contains(`"result":"0"`)},
		{"rostelecom get_number_info" + dirLabel, rt.WebhookHandler(discard, router), rtPost("get_number_info", rtInfo), contains(`"PIN":"1`)},
		{"sipuni event", sip.WebhookHandler(discard, router), func(base string, i int) (*http.Request, error) {
			return http.NewRequest(http.MethodGet, base+"/?"+sipQuery[i%bodies], nil)
		}, contains(`"success":true`)},
		{"prostiezvonki contact" + dirLabel, pz.WebhookHandler(discard, router), func(base string, i int) (*http.Request, error) {
			req, err := http.NewRequest(http.MethodPost, base+"/", bytes.NewReader(pzContact[i%bodies]))
			if err == nil {
				req.Header["Content-Type"] = []string{"application/json"}
			}
			return req, err
		}, contains(`"responsible":"1`)},
	}

	fmt.Fprintf(out, "pbxkit load test: %s, %d CPUs, GOMAXPROCS %d, %s\n", runtime.Version(), runtime.NumCPU(), runtime.GOMAXPROCS(0), time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(out, "concurrency %d, %d alternating rounds of %s (after %s warm-up) per handler, median round shown;\ndirectory of %d contacts built in %s\n\n",
		concurrency, rounds, duration, warmup, contacts, buildTime.Round(time.Millisecond))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "path\thandler\treq/s\tp50\tp99\tmax\terrors\tratio\t")
	var failed []error
	for _, p := range paths {
		// Alternate the two handlers so that drifts of a shared machine
		// (other processes, CPU frequency) hit both alike.
		var mines, bases []result
		for range rounds {
			mine, err := drive(target{name: p.name, handler: p.handler, newRequest: p.build, check: p.check}, concurrency, duration, warmup)
			if err != nil {
				return err
			}
			base, err := drive(target{name: p.name + " (bare)", handler: bare(), newRequest: p.build}, concurrency, duration, warmup)
			if err != nil {
				return err
			}
			for _, r := range []result{mine, base} {
				if r.firstErr != nil {
					failed = append(failed, fmt.Errorf("%s: %d errors, first: %w", r.name, r.errors, r.firstErr))
				}
			}
			mines, bases = append(mines, mine), append(bases, base)
		}
		mine, base := median(mines), median(bases)
		fmt.Fprintf(tw, "%s\tpbxkit\t%.0f\t%s\t%s\t%s\t%d\t%.2f\t\n", p.name, mine.rps(), ms(mine.p50), ms(mine.p99), ms(mine.max), mine.errors, mine.rps()/base.rps())
		fmt.Fprintf(tw, "\tbare\t%.0f\t%s\t%s\t%s\t%d\t\t\n", base.rps(), ms(base.p50), ms(base.p99), ms(base.max), base.errors)
	}
	tw.Flush()
	return errors.Join(failed...)
}

// median returns the run with the median requests/s.
func median(rs []result) result {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b result) int { return cmp.Compare(a.rps(), b.rps()) })
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
