package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

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
