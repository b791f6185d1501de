package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// SchemaVersion is the journal schema version this package writes and
// reads.
const SchemaVersion = 1

// migrations[v-1] brings a schema from version v-1 to v. A new version
// appends a step; a released step never changes. Text that is compared or
// ordered is COLLATE "C": byte-wise, as the Store contract orders calls.
var migrations = []string{
	// 1: the log, the calls, their legs, the key-value state, the counter.
	`
CREATE TABLE pbxkit_journal_seq (
	id   boolean PRIMARY KEY DEFAULT true CHECK (id),
	last bigint  NOT NULL
);
INSERT INTO pbxkit_journal_seq (last) VALUES (0);

CREATE TABLE pbxkit_journal_entries (
	seq         bigint   PRIMARY KEY,
	provider    text     COLLATE "C" NOT NULL,
	dedupe_key  text     COLLATE "C" NOT NULL,
	call_id     text     COLLATE "C" NOT NULL,  -- '' for an entry of no call
	received_at text     NOT NULL,              -- RFC 3339 with nanoseconds and the offset
	source      smallint NOT NULL,              -- journal.Source
	event       json     NOT NULL               -- the pbx.CallEvent (json keeps the text as written)
);
CREATE UNIQUE INDEX pbxkit_journal_entries_dedupe ON pbxkit_journal_entries (provider, dedupe_key);
CREATE INDEX pbxkit_journal_entries_call ON pbxkit_journal_entries (provider, call_id, seq) WHERE call_id <> '';

-- Times are Unix nanoseconds, 0 for a zero time.
CREATE TABLE pbxkit_journal_calls (
	provider       text     COLLATE "C" NOT NULL,
	call_id        text     COLLATE "C" NOT NULL,
	started_at     bigint   NOT NULL,
	last_event_at  bigint   NOT NULL,
	called_back_at bigint   NOT NULL,
	direction      smallint NOT NULL,  -- pbx.Direction
	outcome        smallint NOT NULL,  -- pbx.Outcome
	missed         boolean  NOT NULL,
	closed_by      smallint NOT NULL,  -- journal.CloseReason
	phone_key      text     COLLATE "C" NOT NULL,  -- journal.PhoneKey(phone): reversed digits
	call           json     NOT NULL,  -- the journal.Call
	PRIMARY KEY (provider, call_id)
);
CREATE INDEX pbxkit_journal_calls_started ON pbxkit_journal_calls (started_at, provider, call_id);
CREATE INDEX pbxkit_journal_calls_missed ON pbxkit_journal_calls (started_at, provider, call_id) WHERE missed;
CREATE INDEX pbxkit_journal_calls_outcome ON pbxkit_journal_calls (outcome, started_at, provider, call_id);
CREATE INDEX pbxkit_journal_calls_phone ON pbxkit_journal_calls (phone_key, started_at) WHERE phone_key <> '';
CREATE INDEX pbxkit_journal_calls_open ON pbxkit_journal_calls (last_event_at) WHERE closed_by = 0;

-- One row per extension with a leg in the call; started_at copies the
-- call's, so that "calls of extension X in a period" is one index range.
CREATE TABLE pbxkit_journal_legs (
	provider   text   COLLATE "C" NOT NULL,
	call_id    text   COLLATE "C" NOT NULL,
	extension  text   COLLATE "C" NOT NULL,
	started_at bigint NOT NULL,
	PRIMARY KEY (provider, call_id, extension)
);
CREATE INDEX pbxkit_journal_legs_extension ON pbxkit_journal_legs (extension, started_at, provider, call_id);

-- Keys are bytea: any bytes, ordered byte-wise.
CREATE TABLE pbxkit_journal_state (
	key     bytea  PRIMARY KEY,
	value   bytea  NOT NULL,
	version bigint NOT NULL
);
`,
}

// migrate creates or upgrades the schema in one transaction, one replica
// at a time, or refuses a newer one.
func (s *Store) migrate(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Serialise replicas starting together. The key is this schema's:
		// journals in other schemas migrate independently.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('pbxkit_journal/' || current_schema(), 0))`); err != nil {
			return s.wrap("open: schema lock", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS pbxkit_journal_schema (version integer NOT NULL)`); err != nil {
			return s.wrap("open: schema", err)
		}
		var v int
		err := tx.QueryRow(ctx, `SELECT version FROM pbxkit_journal_schema`).Scan(&v)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			v = 0
			if _, err := tx.Exec(ctx, `INSERT INTO pbxkit_journal_schema (version) VALUES (0)`); err != nil {
				return s.wrap("open: schema", err)
			}
		case err != nil:
			return s.wrap("open: schema", err)
		}
		if v > len(migrations) {
			return fmt.Errorf("pgstore: open: schema %q is at journal schema version %d, this pbxkit knows up to %d: %w",
				s.schema, v, len(migrations), ErrSchemaTooNew)
		}
		for ; v < len(migrations); v++ {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return s.wrap(fmt.Sprintf("open: migrate to version %d", v+1), err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE pbxkit_journal_schema SET version = $1`, v); err != nil {
			return s.wrap("open: schema", err)
		}
		return nil
	})
	var safe *safeError
	if err == nil || errors.As(err, &safe) || errors.Is(err, ErrSchemaTooNew) {
		return err
	}
	return s.wrap("open: schema", err) // begin or commit
}
