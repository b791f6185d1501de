// Command loadtest measures pbxkit's webhook handlers under load on
// loopback, on your machine, and compares each with a bare net/http handler
// (read the body, answer 200 {}) driven by the same client with the same
// settings and requests: the machine's limit.
//
//	go run ./examples/loadtest                      # concurrency 8, 3 rounds of 3 s per handler
//	go run ./examples/loadtest -concurrency 32
//	go run ./examples/loadtest -postgres 'postgres://user:pass@127.0.0.1/db'
//
// It knows no vendor: it takes every vendor's webhook requests from the
// conformance harnesses the vendors' fake packages register
// (providertest.Harnesses). For each vendor it measures
//
//   - "<vendor> event": an authenticated call event (Harness.CallEvent) into
//     an EventHandler that drops it, as a handler that queues would;
//   - "<vendor> routing": an authenticated routing question
//     (Harness.RouteQuestion), for the vendors that ask one, answered by
//     routing.Responsible over a directory of 1,000,000 contacts;
//
// and, for one vendor (-journal-vendor, Sipuni by default), its call event
// written into the call journal (pbx/journal): in a SQLite file
// (pbx/journal/sqlitestore, WAL with synchronous=FULL: every acknowledged
// event is on the disk), and in PostgreSQL (pbx/journal/pgstore, in a schema
// of its own, dropped at the end) when -postgres or PBXKIT_TEST_POSTGRES
// names a database. Each journal request is a new call, so the journal stores
// every one.
//
// The pbxkit handler and the bare one alternate for -rounds rounds, so that
// drifts of a shared machine hit both alike, and the median round of each
// is shown: requests/s, p50, p99 and max latency, and the ratio of pbxkit's
// requests/s to the bare handler's. The program listens on 127.0.0.1 only,
// sends nothing elsewhere, and stops by itself.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	_ "github.com/pbxkit/pbxkit/examples/internal/vendors" // every vendor's fake, which registers its harness
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider/providertest"
	"github.com/pbxkit/pbxkit/routing"
)

// config is what the flags set.
type config struct {
	duration, warmup time.Duration
	concurrency      int
	rounds           int
	contacts         int
	// journalVendor names the harness whose call events go into the
	// journal; "" or "off": no journal paths.
	journalVendor string
	// sqliteDir is where the SQLite journal file goes ("" for the
	// system's temporary directory).
	sqliteDir string
	// postgres is a PostgreSQL DSN for the PostgreSQL journal path; "" for
	// none.
	postgres string
}

func main() {
	var c config
	flag.DurationVar(&c.duration, "duration", 3*time.Second, "measured time per run")
	flag.IntVar(&c.concurrency, "concurrency", 8, "concurrent client connections")
	flag.IntVar(&c.rounds, "rounds", 3, "alternating pbxkit/bare runs per path; the median run of each is reported")
	flag.IntVar(&c.contacts, "contacts", 1_000_000, "directory size for the routing paths")
	flag.DurationVar(&c.warmup, "warmup", 500*time.Millisecond, "unmeasured warm-up before each run")
	flag.StringVar(&c.journalVendor, "journal-vendor", "sipuni", `vendor whose call events are written into the journal ("off": no journal paths)`)
	flag.StringVar(&c.sqliteDir, "sqlite-dir", "", "directory for the SQLite journal file (default: the system's temporary directory); put it on the disk your receiver will use")
	flag.StringVar(&c.postgres, "postgres", os.Getenv("PBXKIT_TEST_POSTGRES"), "PostgreSQL DSN for the PostgreSQL journal path (default $PBXKIT_TEST_POSTGRES; empty: skipped)")
	flag.Parse()
	if c.concurrency < 1 || c.duration <= 0 || c.warmup < 0 || c.contacts < 1 || c.rounds < 1 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "loadtest: -concurrency, -duration, -contacts and -rounds must be positive, and no arguments are taken")
		os.Exit(2)
	}
	if err := run(context.Background(), os.Stdout, c); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// run measures every path and writes the report to out. It fails when a
// path could not be set up or a request was answered wrongly.
func run(ctx context.Context, out io.Writer, c config) (err error) {
	harnesses := providertest.Harnesses()
	if len(harnesses) == 0 {
		return errors.New("no vendor harness is registered (the vendors' fake packages register theirs when imported)")
	}
	dir, buildTime, err := buildDirectory(c.contacts)
	if err != nil {
		return err
	}
	router := routing.Responsible(dir, routing.WithDefault("100"))

	var paths []path
	for _, h := range harnesses {
		ps, err := harnessPaths(h, router, c.contacts)
		if err != nil {
			return err
		}
		paths = append(paths, ps...)
	}
	jps, closeJournals, err := journalPaths(ctx, harnesses, c)
	defer func() { err = errors.Join(err, closeJournals()) }()
	if err != nil {
		return err
	}
	paths = append(paths, jps...)

	fmt.Fprintf(out, "pbxkit load test: %s, %s/%s, %d CPUs, GOMAXPROCS %d, %s%s\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0),
		time.Now().UTC().Format(time.RFC3339), loadAverage())
	fmt.Fprintf(out, "concurrency %d, %d alternating rounds of %s (after %s warm-up) per handler, median round shown;\ndirectory of %d contacts built in %s\n",
		c.concurrency, c.rounds, c.duration, c.warmup, c.contacts, buildTime.Round(time.Millisecond))
	for _, w := range missingHarnesses(harnesses) {
		fmt.Fprintln(out, "warning:", w)
	}
	fmt.Fprintln(out)

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "path\thandler\treq/s\tp50\tp99\tmax\terrors\tratio\t")
	var failed []error
	var notes []string
	for _, p := range paths {
		var mines, bases []result
		acked := 0
		for range c.rounds {
			mine, err := drive(target{name: p.name, handler: p.handler, newRequest: p.newRequest, check: p.check}, c.concurrency, c.duration, c.warmup)
			if err != nil {
				return err
			}
			base, err := drive(target{name: p.name + " (bare)", handler: bare(), newRequest: p.newRequest}, c.concurrency, c.duration, c.warmup)
			if err != nil {
				return err
			}
			for _, r := range []result{mine, base} {
				if r.firstErr != nil {
					failed = append(failed, fmt.Errorf("%s: %d errors, first: %w", r.name, r.errors, r.firstErr))
				}
			}
			acked += mine.acked
			mines, bases = append(mines, mine), append(bases, base)
		}
		if p.verify != nil {
			if err := p.verify(acked); err != nil {
				failed = append(failed, err)
			}
		}
		mine, base := median(mines), median(bases)
		ratio := "-"
		if base.rps() > 0 {
			ratio = fmt.Sprintf("%.2f", mine.rps()/base.rps())
		}
		fmt.Fprintf(tw, "%s\tpbxkit\t%.0f\t%s\t%s\t%s\t%d\t%s\t\n", p.name, mine.rps(), ms(mine.p50), ms(mine.p99), ms(mine.max), mine.errors, ratio)
		fmt.Fprintf(tw, "\tbare\t%.0f\t%s\t%s\t%s\t%d\t\t\n", base.rps(), ms(base.p50), ms(base.p99), ms(base.max), base.errors)
		if p.note != "" {
			notes = append(notes, p.note)
		}
	}
	tw.Flush()
	if len(notes) > 0 {
		fmt.Fprintln(out)
		for _, n := range notes {
			fmt.Fprintln(out, n)
		}
	}
	return errors.Join(failed...)
}

// journalPaths opens the journals c asks for and returns their paths and a
// function that closes them (and removes what they created).
func journalPaths(ctx context.Context, harnesses []providertest.Harness, c config) ([]path, func() error, error) {
	var backends []*journalBackend
	closeAll := func() error {
		var errs []error
		for _, b := range backends {
			errs = append(errs, b.close())
		}
		return errors.Join(errs...)
	}
	if c.journalVendor == "" || c.journalVendor == "off" {
		return nil, closeAll, nil
	}
	var h *providertest.Harness
	var names []string
	for i := range harnesses {
		names = append(names, harnesses[i].Name)
		if harnesses[i].Name == c.journalVendor {
			h = &harnesses[i]
		}
	}
	if h == nil {
		return nil, closeAll, fmt.Errorf("-journal-vendor %q: no such harness (registered: %s)", c.journalVendor, strings.Join(names, ", "))
	}
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b, err := openSQLite(octx, c.sqliteDir)
	if err != nil {
		return nil, closeAll, err
	}
	backends = append(backends, b)
	if c.postgres != "" {
		b, err := openPostgres(octx, c.postgres)
		if err != nil {
			return nil, closeAll, err
		}
		backends = append(backends, b)
	}
	var next atomic.Int64
	var out []path
	for _, b := range backends {
		p, err := journalPath(*h, b, &next)
		if err != nil {
			return nil, closeAll, err
		}
		out = append(out, p)
	}
	return out, closeAll, nil
}

// missingHarnesses names the vendors whose fake is registered with pbxtest
// but whose harness is not registered with providertest: the load program
// cannot measure them.
func missingHarnesses(hs []providertest.Harness) []string {
	have := map[string]bool{}
	for _, h := range hs {
		have[h.Name] = true
	}
	var out []string
	for _, v := range pbxtest.Vendors() {
		if !have[v.Name] {
			out = append(out, fmt.Sprintf("%s has a fake but no registered harness (its fake package's init should call providertest.Register(Harness())): not measured", v.Name))
		}
	}
	return out
}

// loadAverage returns ", load average X Y Z" from /proc/loadavg, or "" where
// there is none: a loaded machine measures its neighbours too.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return ", load average " + strings.Join(f[:3], " ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
