package main

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/routing"
)

// journalReport checks that the journal holds every call the vendors
// placed or received exactly once, with the right outcome, and nothing
// else; then it writes today's per-employee figures and missed calls (not
// in JSON mode). It returns the failed checks.
func journalReport(ctx context.Context, out *console, jr *journal.Journal, dir *routing.MemoryDirectory, reports []*report, today time.Time) []error {
	var failed []error
	fail := func(err error) {
		failed = append(failed, err)
		out.printf("  FAIL  %s\n", err)
	}

	out.printf("\nJournal: every call placed or received, once, with its outcome\n")
	wantMissed := 0
	for _, r := range reports {
		calls, err := collect(jr.Calls(ctx, journal.Query{Provider: r.vendor}))
		if err != nil {
			fail(fmt.Errorf("%s: reading the journal: %w", r.vendor, err))
			continue
		}
		if errs := checkOnce(r, calls); len(errs) > 0 {
			for _, err := range errs {
				fail(err)
			}
			continue
		}
		for _, e := range r.expected {
			if e.dir == pbx.Inbound && !e.answered {
				wantMissed++
			}
		}
		out.printf("  %-13s %3d calls in the journal: the %d played, each once, as played\n", r.vendor, len(calls), len(r.expected))
	}

	stats, err := jr.Stats(ctx, journal.Query{From: today})
	if err != nil {
		fail(fmt.Errorf("journal stats: %w", err))
	} else {
		out.stats(stats)
	}

	missed, err := collect(jr.Calls(ctx, journal.Query{From: today, Missed: true}))
	if err != nil {
		fail(fmt.Errorf("journal missed calls: %w", err))
		return failed
	}
	out.missed(ctx, missed, dir)
	if len(failed) == 0 && len(missed) != wantMissed {
		fail(fmt.Errorf("expected %d missed calls today in the journal, it lists %d", wantMissed, len(missed)))
	}
	return failed
}

// checkOnce checks a vendor's calls in the journal against the calls it
// played: each there exactly once and folded as played, and no other.
func checkOnce(r *report, calls []journal.Call) []error {
	var errs []error
	seen := map[string]int{}
	for _, c := range calls {
		seen[c.CallID]++
	}
	want := map[string]bool{}
	for _, e := range r.expected {
		want[e.callID] = true
		i := slices.IndexFunc(calls, func(c journal.Call) bool { return c.CallID == e.callID })
		switch n := seen[e.callID]; {
		case n == 0:
			errs = append(errs, fmt.Errorf("%s: %s (call %s) is not in the journal", r.vendor, e.what, e.callID))
		case n > 1:
			errs = append(errs, fmt.Errorf("%s: %s (call %s) is in the journal %d times", r.vendor, e.what, e.callID, n))
		default:
			if err := e.matches(calls[i]); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r.vendor, err))
			}
		}
	}
	var extra []string
	for _, c := range calls {
		if !want[c.CallID] {
			extra = append(extra, fmt.Sprintf("%s (%s %s)", c.CallID, c.Direction, c.Outcome))
		}
	}
	if len(extra) > 0 {
		errs = append(errs, fmt.Errorf("%s: the journal holds %d calls nobody played: %s", r.vendor, len(extra), strings.Join(extra, ", ")))
	}
	return errs
}

// collect reads a sequence of calls into a slice, stopping at the first
// error.
func collect(seq iter.Seq2[journal.Call, error]) ([]journal.Call, error) {
	var out []journal.Call
	for c, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
	return out, nil
}

// stats writes today's per-employee table (not in JSON mode).
func (c *console) stats(rows []journal.EmployeeStats) {
	c.printf("\nToday's calls per employee (journal.Stats)\n")
	c.printf("  %-4s  %-26s  %7s  %8s  %6s  %s\n", "ext", "employee", "offered", "answered", "missed", "talk")
	for _, s := range rows {
		c.printf("  %-4s  %-26s  %7d  %8d  %6d  %s\n", s.Extension, dash(staffName(s.Extension)), s.Offered, s.Answered, s.Missed, s.TalkDuration.Round(time.Second))
	}
	if len(rows) == 0 {
		c.printf("  (no calls)\n")
	}
}

// missed writes today's missed calls, newest first, with the caller's
// name from the directory (not in JSON mode).
func (c *console) missed(ctx context.Context, calls []journal.Call, dir *routing.MemoryDirectory) {
	c.printf("\nToday's missed calls (journal.Calls, Query{Missed: true})\n")
	c.printf("  %-8s  %-13s  %-11s  %-4s  %s\n", "time", "vendor", "phone", "rang", "caller")
	for _, call := range calls {
		var rang []string
		for _, l := range call.Legs {
			rang = append(rang, l.Extension)
		}
		who := "unknown caller"
		if found, err := dir.Lookup(ctx, call.Phone); err == nil && len(found) > 0 {
			who = found[0].Name
		}
		c.printf("  %-8s  %-13s  %-11s  %-4s  %s\n", call.StartedAt.Local().Format(time.TimeOnly), call.Provider, dash(call.Phone), dash(strings.Join(rang, ",")), who)
	}
	if len(calls) == 0 {
		c.printf("  (none)\n")
	}
}
