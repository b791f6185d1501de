package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// migrations[v-1] brings a database from schema version v-1 to v. A new
// version appends a step; a released step never changes.
var migrations = []string{
	// 1: the log, the calls, their legs, the key-value state.
	`
CREATE TABLE entries (
	seq         INTEGER PRIMARY KEY,  -- journal.Entry.Seq: max+1, never reused (nothing is deleted)
	provider    TEXT    NOT NULL,
	dedupe_key  TEXT    NOT NULL,
	call_id     TEXT    NOT NULL,     -- '' for an entry of no call
	received_at TEXT    NOT NULL,     -- RFC 3339 with nanoseconds and the offset
	source      INTEGER NOT NULL,     -- journal.Source
	event       TEXT    NOT NULL      -- the pbx.CallEvent as JSON
);
CREATE UNIQUE INDEX entries_dedupe ON entries (provider, dedupe_key);
CREATE INDEX entries_call ON entries (provider, call_id, seq) WHERE call_id <> '';

-- Times are Unix nanoseconds, 0 for a zero time.
CREATE TABLE calls (
	provider       TEXT    NOT NULL,
	call_id        TEXT    NOT NULL,
	started_at     INTEGER NOT NULL,
	last_event_at  INTEGER NOT NULL,
	called_back_at INTEGER NOT NULL,
	direction      INTEGER NOT NULL,  -- pbx.Direction
	outcome        INTEGER NOT NULL,  -- pbx.Outcome
	missed         INTEGER NOT NULL,  -- 0 or 1
	closed_by      INTEGER NOT NULL,  -- journal.CloseReason
	phone_key      TEXT    NOT NULL,  -- journal.PhoneKey(phone): reversed digits
	call           TEXT    NOT NULL,  -- the journal.Call as JSON
	PRIMARY KEY (provider, call_id)
);
-- Newest first, day ranges, paging: every list walks one of these backwards.
CREATE INDEX calls_started ON calls (started_at, provider, call_id);
CREATE INDEX calls_missed ON calls (started_at, provider, call_id) WHERE missed = 1;
CREATE INDEX calls_outcome ON calls (outcome, started_at, provider, call_id);
CREATE INDEX calls_phone ON calls (phone_key, started_at) WHERE phone_key <> '';
CREATE INDEX calls_open ON calls (last_event_at) WHERE closed_by = 0;

-- One row per extension with a leg in the call; started_at copies the
-- call's, so that "calls of extension X in a period" is one index range.
CREATE TABLE call_legs (
	provider   TEXT    NOT NULL,
	call_id    TEXT    NOT NULL,
	extension  TEXT    NOT NULL,
	started_at INTEGER NOT NULL,
	PRIMARY KEY (provider, call_id, extension)
) WITHOUT ROWID;
CREATE INDEX call_legs_extension ON call_legs (extension, started_at, provider, call_id);

CREATE TABLE state (
	key     TEXT    NOT NULL PRIMARY KEY,
	value   BLOB    NOT NULL,
	version INTEGER NOT NULL
);
`,
}

// migrate creates or upgrades the schema in one transaction, or refuses a
// newer one.
func migrate(ctx context.Context, db *sql.DB, path string) (err error) {
	fail := func(err error) error { return fmt.Errorf("sqlitestore: open %s: schema: %w", path, err) }
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: one migrating process at a time
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fail(err)
	}
	var v int
	err = tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		v = 0
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return fail(err)
		}
	case err != nil:
		return fail(err)
	}
	if v > len(migrations) {
		return fmt.Errorf("sqlitestore: open %s: schema version %d, this pbxkit knows up to %d: %w", path, v, len(migrations), ErrSchemaTooNew)
	}
	for ; v < len(migrations); v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fail(fmt.Errorf("migrate to version %d: %w", v+1, err))
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, v); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return nil
}
