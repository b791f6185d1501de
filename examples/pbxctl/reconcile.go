package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/journal/pgstore"
	"github.com/pbxkit/pbxkit/pbx/journal/sqlitestore"
	"github.com/pbxkit/pbxkit/provider"
)

// reconcileCommand is pbxctl reconcile.
var reconcileCommand = &command{
	name: "reconcile", synopsis: "-journal FILE|DSN -from DATE [-to DATE]",
	summary: "catch a call journal up with the PBX's call log",
	details: "Reads the PBX's call log between -from and -to (default: now) and adds to\n" +
		"the journal the calls it never saw, closed by history, and corrects the\n" +
		"ones it knows where the log knows better (pbx/journal Reconcile). Running\n" +
		"it twice adds nothing the second time. The journal is a SQLite FILE (the\n" +
		"one webhook-server keeps, pbxkit.db by default; it must exist) or a\n" +
		"postgres:// DSN.\n" +
		"DATE is as for history. It prints what it read, added, updated and skipped\n" +
		"(rows without a call id).",
	parse: parseReconcile,
}

func parseReconcile(fs *flag.FlagSet, args []string, env environment) (action, error) {
	dsn := fs.String("journal", "", "the journal: a SQLite `FILE` or a postgres:// DSN (required)")
	from := fs.String("from", "", "start `DATE` (required)")
	to := fs.String("to", "", "end `DATE` (default now; a bare date means the end of that day)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if *dsn == "" || *from == "" || len(pos) != 0 {
		return nil, usageError{msg: "reconcile wants -journal FILE|DSN -from DATE [-to DATE]"}
	}
	q, err := historyPeriod(*from, *to, env)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, p pbx.Provider, _ string) error {
		if _, ok := p.(pbx.HistoryExporter); !ok {
			return lacks(p, "export call history, so its journal cannot be caught up")
		}
		store, err := openJournalStore(ctx, *dsn)
		if err != nil {
			return err
		}
		defer store.Close()
		rep, err := journal.New(store).Reconcile(ctx, p, q)
		// What was done before an error stays done: say it either way.
		fmt.Fprintf(env.stdout, "%s %s – %s: read %d, added %d, updated %d, skipped %d\n",
			p.Name(), q.From.Format(time.RFC3339), q.To.Format(time.RFC3339), rep.Read, rep.Added, rep.Updated, rep.Skipped)
		return provider.ScrubError(err)
	}, nil
}

// historyPeriod reads -from and -to as history does: -to defaults to now,
// a bare -to date means the end of that day.
func historyPeriod(from, to string, env environment) (pbx.HistoryQuery, error) {
	loc := provider.DefaultLocation()
	var q pbx.HistoryQuery
	var err error
	if q.From, err = parseDate(from, loc); err != nil {
		return q, usageError{msg: err.Error()}
	}
	if to == "" {
		q.To = env.clock().In(loc)
	} else {
		if q.To, err = parseDate(to, loc); err != nil {
			return q, usageError{msg: err.Error()}
		}
		if len(to) == len("2006-01-02") {
			q.To = q.To.AddDate(0, 0, 1).Add(-time.Second)
		}
	}
	if !q.To.After(q.From) {
		if to == "" {
			return q, usageError{msg: "-from is in the future (-to defaults to now)"}
		}
		return q, usageError{msg: "-to must be after -from"}
	}
	return q, nil
}

// journalStore is a journal.Store to close when done.
type journalStore interface {
	journal.Store
	io.Closer
}

// openJournalStore opens a SQLite file or, for a postgres:// or
// postgresql:// DSN, a PostgreSQL journal. Its errors carry no password.
func openJournalStore(ctx context.Context, dsn string) (journalStore, error) {
	l := strings.ToLower(dsn)
	if strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://") {
		s, err := pgstore.Open(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("journal %s: %w", provider.RedactURL(dsn), err)
		}
		return s, nil
	}
	// A missing file is a mistake (a typo, another directory), not a new
	// journal to fill: webhook-server creates the file.
	if _, err := os.Stat(dsn); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("journal %s does not exist (webhook-server creates it)", dsn)
	}
	s, err := sqlitestore.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", dsn, err)
	}
	return s, nil
}
