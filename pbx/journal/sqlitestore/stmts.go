package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
)

// Statements are prepared once, at Open: parsing SQL costs more than
// running these statements does.

type writeStmt int

// The writer's statements.
const (
	wDedupe writeStmt = iota
	wInsertEntry
	wCallEntries
	wUpsertCall
	wDeleteLegs
	wInsertLeg
	wStateVersion
	wStateDelete
	wStateInsert
	wStateUpdate
	numWriteStmts
)

const entryColumns = `seq, received_at, source, event`

var writeSQL = [numWriteStmts]string{
	wDedupe:      `SELECT ` + entryColumns + ` FROM entries WHERE provider = ? AND dedupe_key = ?`,
	wInsertEntry: `INSERT INTO entries (provider, dedupe_key, call_id, received_at, source, event) VALUES (?, ?, ?, ?, ?, ?)`,
	// The call_id <> '' term lets SQLite use the partial index entries_call.
	wCallEntries: `SELECT ` + entryColumns + ` FROM entries WHERE provider = ? AND call_id = ? AND call_id <> '' ORDER BY seq`,
	wUpsertCall: `INSERT INTO calls (provider, call_id, started_at, last_event_at, called_back_at,
			direction, outcome, missed, closed_by, phone_key, call)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (provider, call_id) DO UPDATE SET
			started_at = excluded.started_at, last_event_at = excluded.last_event_at,
			called_back_at = excluded.called_back_at, direction = excluded.direction,
			outcome = excluded.outcome, missed = excluded.missed, closed_by = excluded.closed_by,
			phone_key = excluded.phone_key, call = excluded.call`,
	wDeleteLegs:   `DELETE FROM call_legs WHERE provider = ? AND call_id = ?`,
	wInsertLeg:    `INSERT OR IGNORE INTO call_legs (provider, call_id, extension, started_at) VALUES (?, ?, ?, ?)`,
	wStateVersion: `SELECT version FROM state WHERE key = ?`,
	wStateDelete:  `DELETE FROM state WHERE key = ?`,
	wStateInsert:  `INSERT INTO state (key, value, version) VALUES (?, ?, 1)`,
	wStateUpdate:  `UPDATE state SET value = ?, version = ? WHERE key = ?`,
}

type readStmt int

// The readers' statements.
const (
	rEntries readStmt = iota
	rCallEntries
	rLastSeq
	rCall
	rState
	numReadStmts
)

var readSQL = [numReadStmts]string{
	rEntries:     `SELECT ` + entryColumns + ` FROM entries WHERE seq > ? ORDER BY seq LIMIT ?`,
	rCallEntries: writeSQL[wCallEntries],
	rLastSeq:     `SELECT COALESCE(MAX(seq), 0) FROM entries`,
	rCall:        `SELECT call FROM calls WHERE provider = ? AND call_id = ?`,
	rState:       `SELECT value, version FROM state WHERE key = ?`,
}

// prepare prepares the statements on their databases.
func (s *Store) prepare(ctx context.Context) error {
	for i, q := range writeSQL {
		st, err := s.wdb.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("sqlitestore: prepare %q: %w", q, err)
		}
		s.wstmts[i] = st
	}
	for i, q := range readSQL {
		st, err := s.rdb.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("sqlitestore: prepare %q: %w", q, err)
		}
		s.rstmts[i] = st
	}
	return nil
}

// wtx is the writer's transaction, with the prepared statements bound to
// it as they are first used.
type wtx struct {
	ctx      context.Context
	tx       *sql.Tx
	prepared *[numWriteStmts]*sql.Stmt
	bound    [numWriteStmts]*sql.Stmt
}

func (w *wtx) stmt(id writeStmt) *sql.Stmt {
	if w.bound[id] == nil {
		w.bound[id] = w.tx.StmtContext(w.ctx, w.prepared[id])
	}
	return w.bound[id]
}

func (w *wtx) exec(id writeStmt, args ...any) (sql.Result, error) {
	return w.stmt(id).ExecContext(w.ctx, args...)
}

func (w *wtx) queryRow(id writeStmt, args ...any) *sql.Row {
	return w.stmt(id).QueryRowContext(w.ctx, args...)
}

func (w *wtx) query(id writeStmt, args ...any) (*sql.Rows, error) {
	return w.stmt(id).QueryContext(w.ctx, args...)
}
