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

// isPostgres reports whether the -journal value is a PostgreSQL DSN.
func isPostgres(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// journalStore is a journal.Store that must be closed when done.
type journalStore interface {
	journal.Store
	io.Closer
}

// openJournal opens the journal the -journal value names: a SQLite file or
// a postgres:// DSN. The bridge has no "off": the journal is what makes
// delivery to 1C durable. Its errors never carry the DSN's password.
func openJournal(ctx context.Context, c config, logger *slog.Logger) (*journal.Journal, journalStore, error) {
	var store journalStore
	var err error
	if isPostgres(c.journal) {
		store, err = pgstore.Open(ctx, c.journal)
		if err != nil {
			return nil, nil, fmt.Errorf("journal %s: %w", provider.RedactURL(c.journal), err)
		}
		logger.Info("journal opened", "store", "postgres", "db", provider.RedactURL(c.journal))
	} else {
		store, err = sqlitestore.Open(ctx, c.journal)
		if err != nil {
			return nil, nil, fmt.Errorf("journal %s: %w", c.journal, err)
		}
		logger.Info("journal opened", "store", "sqlite", "file", c.journal)
	}
	return journal.New(store, journal.WithDigits(c.digits), journal.WithLogger(logger)), store, nil
}

// eventHandler is what every provider's webhook handler gets: the journal,
// then a debug line. When the journal fails, the error goes back to the
// provider, which answers the PBX with a 5xx so that the PBX redelivers.
func eventHandler(j *journal.Journal, logger *slog.Logger) pbx.EventHandler {
	return pbx.EventHandlerFunc(func(ctx context.Context, e pbx.CallEvent) error {
		if err := j.HandleEvent(ctx, e); err != nil {
			return err
		}
		logger.LogAttrs(ctx, slog.LevelDebug, "call event",
			slog.String("provider", e.Provider), slog.String("type", e.Type.String()),
			slog.String("call_id", e.CallID), slog.String("phone", e.Phone), slog.String("extension", e.Extension))
		return nil
	})
}
