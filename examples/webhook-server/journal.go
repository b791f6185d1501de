package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/journal/pgstore"
	"github.com/pbxkit/pbxkit/pbx/journal/sqlitestore"
	"github.com/pbxkit/pbxkit/provider"
)

// journalOff is the -journal value that turns the journal off.
const journalOff = "off"

// isPostgres reports whether the -journal value is a PostgreSQL DSN.
func isPostgres(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// journalStore is a journal.Store that must be closed when done: a
// sqlitestore.Store or a pgstore.Store.
type journalStore interface {
	journal.Store
	io.Closer
}

// openJournal opens the journal the -journal value names: a SQLite file, a
// postgres:// DSN, or "off" (nil journal, nil store). Its errors never carry
// the DSN's password.
func openJournal(ctx context.Context, c config, logger *slog.Logger) (*journal.Journal, journalStore, error) {
	var store journalStore
	var err error
	switch {
	case strings.EqualFold(c.journal, journalOff):
		logger.Info("journal off")
		return nil, nil, nil
	case isPostgres(c.journal):
		store, err = pgstore.Open(ctx, c.journal)
		if err != nil {
			return nil, nil, fmt.Errorf("journal %s: %w", provider.RedactURL(c.journal), err)
		}
		logger.Info("journal opened", "store", "postgres", "db", provider.RedactURL(c.journal))
	default:
		store, err = sqlitestore.Open(ctx, c.journal)
		if err != nil {
			return nil, nil, fmt.Errorf("journal %s: %w", c.journal, err)
		}
		logger.Info("journal opened", "store", "sqlite", "file", c.journal)
	}
	j := journal.New(store, journal.WithDigits(c.digits), journal.WithLogger(logger))
	return j, store, nil
}

// eventHandler is what every provider's webhook handler gets: the journal
// first, then the event log. When the journal fails, the event is not
// logged as taken and the error goes back to the provider, which answers
// the PBX with a 5xx so that the PBX redelivers.
func eventHandler(j *journal.Journal, logger *slog.Logger) pbx.EventHandler {
	events := eventLogger(logger)
	if j == nil {
		return events
	}
	return pbx.EventHandlerFunc(func(ctx context.Context, e pbx.CallEvent) error {
		if err := j.HandleEvent(ctx, e); err != nil {
			return err
		}
		return events.HandleEvent(ctx, e)
	})
}

// Timing of the journal's background work.
const (
	idleEvery       = time.Minute
	reconcileEvery  = time.Hour
	startWindow     = 24 * time.Hour // reconciled on start
	reconcileWindow = 2 * time.Hour  // reconciled every reconcileEvery
	reconcileLimit  = 10 * time.Minute
)

// keeper does the journal's periodic work: it closes idle calls and
// reconciles the journal with the call log of every provider that exports
// one. Its errors are logged, never fatal.
type keeper struct {
	j         *journal.Journal
	providers []pbx.Provider
	logger    *slog.Logger
	now       func() time.Time

	idleEvery, reconcileEvery    time.Duration
	startWindow, reconcileWindow time.Duration
}

func newKeeper(j *journal.Journal, providers []pbx.Provider, logger *slog.Logger) *keeper {
	return &keeper{
		j: j, providers: providers, logger: logger, now: time.Now,
		idleEvery: idleEvery, reconcileEvery: reconcileEvery,
		startWindow: startWindow, reconcileWindow: reconcileWindow,
	}
}

// start runs the loops in the background until ctx ends; wait returns once
// they have stopped.
func (k *keeper) start(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	wg.Go(func() { k.every(ctx, k.idleEvery, k.closeIdle) })
	wg.Go(func() {
		k.reconcileAll(ctx, k.startWindow)
		k.every(ctx, k.reconcileEvery, func(ctx context.Context) { k.reconcileAll(ctx, k.reconcileWindow) })
	})
	return wg.Wait
}

// every calls f every d until ctx ends.
func (k *keeper) every(ctx context.Context, d time.Duration, f func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f(ctx)
		}
	}
}

func (k *keeper) closeIdle(ctx context.Context) {
	n, err := k.j.CloseIdle(ctx, k.now())
	switch {
	case err != nil && ctx.Err() == nil:
		k.logger.Warn("journal: closing idle calls failed", "error", err.Error())
	case n > 0:
		k.logger.Info("journal: idle calls closed", "calls", n)
	}
}

// reconcileAll reconciles every provider with a history export over the
// last window.
func (k *keeper) reconcileAll(ctx context.Context, window time.Duration) {
	for _, p := range k.providers {
		if ctx.Err() != nil {
			return
		}
		if _, ok := p.(pbx.HistoryExporter); !ok {
			continue
		}
		k.reconcile(ctx, p, window)
	}
}

func (k *keeper) reconcile(parent context.Context, p pbx.Provider, window time.Duration) {
	ctx, cancel := context.WithTimeout(parent, reconcileLimit)
	defer cancel()
	to := k.now()
	q := pbx.HistoryQuery{From: to.Add(-window), To: to}
	start := time.Now()
	rep, err := k.j.Reconcile(ctx, p, q)
	if err != nil {
		if parent.Err() != nil {
			return // shutting down: the next start catches up
		}
		k.logger.Warn("journal: reconcile failed", "provider", p.Name(),
			"from", q.From.Format(time.RFC3339), "to", q.To.Format(time.RFC3339),
			"read", rep.Read, "added", rep.Added, "updated", rep.Updated,
			"error", provider.ScrubError(err).Error())
		return
	}
	k.logger.Info("journal: reconciled", "provider", p.Name(),
		"from", q.From.Format(time.RFC3339), "to", q.To.Format(time.RFC3339),
		"read", rep.Read, "added", rep.Added, "updated", rep.Updated, "skipped", rep.Skipped,
		"took", time.Since(start).Round(time.Millisecond).String())
}
