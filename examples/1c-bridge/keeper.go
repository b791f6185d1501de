package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/provider"
)

// Timing of the journal's background work (as in examples/webhook-server).
const (
	idleEvery       = time.Minute
	reconcileEvery  = time.Hour
	startWindow     = 24 * time.Hour // reconciled on start: the calls missed while the bridge was down
	reconcileWindow = 2 * time.Hour  // reconciled every reconcileEvery
	reconcileLimit  = 10 * time.Minute
)

// keeper does the journal's periodic work: it closes idle calls and
// reconciles the journal with the call log of every provider that exports
// one. A call that reconciliation adds or corrects is delivered to 1C by
// the outbox like any other. Its errors are logged, never fatal.
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
