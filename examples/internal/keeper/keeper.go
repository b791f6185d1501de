// Package keeper runs a call journal's periodic work for the example
// programs (webhook-server and 1c-bridge): closing idle calls every minute,
// and reconciling the journal with each provider's call log on start and
// every hour, so the calls missed while the program was down are caught up.
package keeper

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/provider"
)

// Timing of the journal's background work.
const (
	IdleEvery       = time.Minute
	ReconcileEvery  = time.Hour
	StartWindow     = 24 * time.Hour // reconciled on start: the calls missed while the program was down
	ReconcileWindow = 2 * time.Hour  // reconciled every ReconcileEvery
	reconcileLimit  = 10 * time.Minute
)

// Keeper does the journal's periodic work: it closes idle calls and
// reconciles the journal with the call log of every provider that exports
// one. Its errors are logged, never fatal.
type Keeper struct {
	j         *journal.Journal
	providers []pbx.Provider
	logger    *slog.Logger
	now       func() time.Time

	// IdleEvery and ReconcileEvery are the loops' intervals;
	// StartWindow and ReconcileWindow how far back the reconciliation on
	// start and the hourly one look. New sets the package's defaults;
	// tests shorten them before Start.
	IdleEvery, ReconcileEvery    time.Duration
	StartWindow, ReconcileWindow time.Duration
}

// New returns a Keeper of j over providers, logging to logger.
func New(j *journal.Journal, providers []pbx.Provider, logger *slog.Logger) *Keeper {
	return &Keeper{
		j: j, providers: providers, logger: logger, now: time.Now,
		IdleEvery: IdleEvery, ReconcileEvery: ReconcileEvery,
		StartWindow: StartWindow, ReconcileWindow: ReconcileWindow,
	}
}

// Start runs the loops in the background until ctx ends; wait returns once
// they have stopped.
func (k *Keeper) Start(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	wg.Go(func() { k.every(ctx, k.IdleEvery, k.closeIdle) })
	wg.Go(func() {
		k.reconcileAll(ctx, k.StartWindow)
		k.every(ctx, k.ReconcileEvery, func(ctx context.Context) { k.reconcileAll(ctx, k.ReconcileWindow) })
	})
	return wg.Wait
}

// every calls f every d until ctx ends.
func (k *Keeper) every(ctx context.Context, d time.Duration, f func(context.Context)) {
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

func (k *Keeper) closeIdle(ctx context.Context) {
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
func (k *Keeper) reconcileAll(ctx context.Context, window time.Duration) {
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

func (k *Keeper) reconcile(parent context.Context, p pbx.Provider, window time.Duration) {
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
