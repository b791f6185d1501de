package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pbxkit/pbxkit/pbx/journal"
)

// Limits of the key-value state, as the Store contract states them.
const (
	maxStateKey   = 200
	maxStateValue = 1 << 20
)

const (
	entryColumns = `seq, received_at, source, event`
	lastSeqSQL   = `SELECT COALESCE(MAX(seq), 0) FROM pbxkit_journal_entries`
)

// queueCall queues the statements that replace the stored call and its
// legs.
func queueCall(b *pgx.Batch, provider, callID string, c journal.Call) error {
	doc, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode call: %w", err)
	}
	started := unixNano(c.StartedAt)
	b.Queue(`
		INSERT INTO pbxkit_journal_calls (provider, call_id, started_at, last_event_at, called_back_at,
			direction, outcome, missed, closed_by, phone_key, call)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (provider, call_id) DO UPDATE SET
			started_at = excluded.started_at, last_event_at = excluded.last_event_at,
			called_back_at = excluded.called_back_at, direction = excluded.direction,
			outcome = excluded.outcome, missed = excluded.missed, closed_by = excluded.closed_by,
			phone_key = excluded.phone_key, call = excluded.call`,
		provider, callID, started, unixNano(c.LastEventAt), unixNano(c.CalledBackAt),
		int16(c.Direction), int16(c.Outcome), c.Missed, int16(c.ClosedBy), journal.PhoneKey(c.Phone), doc)
	exts := make([]string, 0, len(c.Legs))
	for _, l := range c.Legs {
		exts = append(exts, l.Extension)
	}
	b.Queue(`DELETE FROM pbxkit_journal_legs WHERE provider = $1 AND call_id = $2`, provider, callID)
	if len(exts) > 0 {
		b.Queue(`
			INSERT INTO pbxkit_journal_legs (provider, call_id, extension, started_at)
			SELECT $1, $2, x, $4 FROM unnest($3::text[]) AS x
			ON CONFLICT DO NOTHING`,
			provider, callID, exts, started)
	}
	return nil
}

// unixNano is t in Unix nanoseconds, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func scanEntry(r pgx.Row) (journal.Entry, error) {
	var (
		e          journal.Entry
		receivedAt string
		source     int16
		event      []byte
	)
	if err := r.Scan(&e.Seq, &receivedAt, &source, &event); err != nil {
		return journal.Entry{}, err
	}
	if err := e.ReceivedAt.UnmarshalText([]byte(receivedAt)); err != nil {
		return journal.Entry{}, fmt.Errorf("entry %d: receive time: %w", e.Seq, err)
	}
	e.Source = journal.Source(source)
	if err := json.Unmarshal(event, &e.Event); err != nil {
		return journal.Entry{}, fmt.Errorf("entry %d: decode event: %w", e.Seq, err)
	}
	return e, nil
}

// scanEntries reads rows of entryColumns and closes them.
func scanEntries(rows pgx.Rows) ([]journal.Entry, error) {
	defer rows.Close()
	out := []journal.Entry{}
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Entries implements [journal.Store.Entries].
func (s *Store) Entries(ctx context.Context, after int64, limit int) ([]journal.Entry, error) {
	if limit < 1 {
		return nil, fmt.Errorf("pgstore: entries: limit %d < 1", limit)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+entryColumns+` FROM pbxkit_journal_entries WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
	if err != nil {
		return nil, s.wrap("entries", err)
	}
	out, err := scanEntries(rows)
	if err != nil {
		return nil, s.wrap("entries", err)
	}
	return out, nil
}

// CallEntries implements [journal.Store.CallEntries].
func (s *Store) CallEntries(ctx context.Context, provider, callID string) ([]journal.Entry, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+entryColumns+` FROM pbxkit_journal_entries
		WHERE provider = $1 AND call_id = $2 AND call_id <> '' ORDER BY seq`, provider, callID)
	if err != nil {
		return nil, s.wrap("call entries", err)
	}
	out, err := scanEntries(rows)
	if err != nil {
		return nil, s.wrap("call entries", err)
	}
	return out, nil
}

// LastSeq implements [journal.Store.LastSeq].
func (s *Store) LastSeq(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, lastSeqSQL).Scan(&n); err != nil {
		return 0, s.wrap("last seq", err)
	}
	return n, nil
}

// Call implements [journal.Store.Call].
func (s *Store) Call(ctx context.Context, provider, callID string) (journal.Call, error) {
	var doc []byte
	err := s.pool.QueryRow(ctx, `SELECT call FROM pbxkit_journal_calls WHERE provider = $1 AND call_id = $2`, provider, callID).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return journal.Call{}, fmt.Errorf("pgstore: call %s/%s: %w", provider, callID, journal.ErrNotFound)
	}
	if err != nil {
		return journal.Call{}, s.wrap("call", err)
	}
	var c journal.Call
	if err := json.Unmarshal(doc, &c); err != nil {
		return journal.Call{}, fmt.Errorf("pgstore: call %s/%s: decode: %w", provider, callID, err)
	}
	return c, nil
}

// Calls implements [journal.Store.Calls]. Every condition is a WHERE term
// on an indexed column; the order and the page position walk the index on
// started_at (or the one of missed calls, or the legs' index when
// f.Extension is set) backwards.
func (s *Store) Calls(ctx context.Context, f journal.Filter) ([]journal.Call, error) {
	if f.Limit < 1 {
		return nil, fmt.Errorf("pgstore: calls: limit %d < 1", f.Limit)
	}
	query, args := callsQuery(f)
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, s.wrap("calls", err)
	}
	defer rows.Close()
	out := make([]journal.Call, 0, min(f.Limit, 128))
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, s.wrap("calls", err)
		}
		var c journal.Call
		if err := json.Unmarshal(doc, &c); err != nil {
			return nil, fmt.Errorf("pgstore: calls: decode: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("calls", err)
	}
	return out, nil
}

// callsQuery builds the SELECT for f. With an extension, the legs table
// drives (its index gives the extension's calls in order) and the range
// and order use its copy of started_at. Boolean conditions are written as
// literals, so that the planner can use the partial indexes.
func callsQuery(f journal.Filter) (string, []any) {
	var (
		b     strings.Builder
		args  []any
		where []string
	)
	k := "c" // the table whose (started_at, provider, call_id) orders
	if f.Extension != "" {
		k = "l"
		b.WriteString(`SELECT c.call FROM pbxkit_journal_legs l JOIN pbxkit_journal_calls c ON c.provider = l.provider AND c.call_id = l.call_id`)
	} else {
		b.WriteString(`SELECT c.call FROM pbxkit_journal_calls c`)
	}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Extension != "" {
		where = append(where, "l.extension = "+arg(f.Extension))
	}
	if !f.From.IsZero() {
		where = append(where, k+".started_at >= "+arg(f.From.UnixNano()))
	}
	if !f.To.IsZero() {
		where = append(where, k+".started_at < "+arg(f.To.UnixNano()))
	}
	if f.Provider != "" {
		where = append(where, "c.provider = "+arg(f.Provider))
	}
	if f.PhoneKey != "" {
		if f.PhonePrefix {
			where = append(where, "c.phone_key >= "+arg(f.PhoneKey), "c.phone_key < "+arg(f.PhoneKey+":"))
		} else {
			where = append(where, "c.phone_key = "+arg(f.PhoneKey))
		}
		where = append(where, "c.phone_key <> ''")
	}
	if f.Direction != 0 {
		where = append(where, "c.direction = "+arg(int16(f.Direction)))
	}
	if f.Outcome != 0 {
		where = append(where, "c.outcome = "+arg(int16(f.Outcome)))
	}
	if f.Missed {
		where = append(where, "c.missed")
	}
	if f.NotCalledBack {
		where = append(where, "c.called_back_at = 0")
	}
	if f.Open {
		where = append(where, "c.closed_by = 0")
	}
	if !f.IdleBefore.IsZero() {
		where = append(where, "c.last_event_at < "+arg(f.IdleBefore.UnixNano()))
	}
	if f.After != nil {
		where = append(where, "("+k+".started_at, "+k+".provider, "+k+".call_id) < ("+
			arg(unixNano(f.After.StartedAt))+", "+arg(f.After.Provider)+", "+arg(f.After.CallID)+")")
	}
	if len(where) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(where, " AND "))
	}
	b.WriteString(" ORDER BY " + k + ".started_at DESC, " + k + ".provider DESC, " + k + ".call_id DESC LIMIT " + arg(f.Limit))
	return b.String(), args
}

// State implements [journal.Store.State].
func (s *Store) State(ctx context.Context, key string) ([]byte, int64, error) {
	var (
		value   []byte
		version int64
	)
	err := s.pool.QueryRow(ctx, `SELECT value, version FROM pbxkit_journal_state WHERE key = $1`, []byte(key)).Scan(&value, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, s.wrap("state", err)
	}
	if value == nil {
		value = []byte{}
	}
	return value, version, nil
}

// SetState implements [journal.Store.SetState] with one conditional
// statement: atomic across connections and replicas.
func (s *Store) SetState(ctx context.Context, key string, value []byte, version int64) (int64, error) {
	if key == "" || len(key) > maxStateKey {
		return 0, fmt.Errorf("pgstore: state key length %d not in 1..%d", len(key), maxStateKey)
	}
	if len(value) > maxStateValue {
		return 0, fmt.Errorf("pgstore: state value of %d bytes exceeds 1 MiB", len(value))
	}
	if version < 0 {
		return 0, s.conflict(ctx, key, version)
	}
	k := []byte(key)
	var (
		sql  string
		args []any
	)
	switch {
	case value == nil && version == 0:
		// Deleting a key that must not exist: a no-op when it does not.
		var exists bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pbxkit_journal_state WHERE key = $1)`, k).Scan(&exists); err != nil {
			return 0, s.wrap("set state", err)
		}
		if exists {
			return 0, s.conflict(ctx, key, version)
		}
		return 0, nil
	case value == nil:
		sql, args = `DELETE FROM pbxkit_journal_state WHERE key = $1 AND version = $2`, []any{k, version}
	case version == 0:
		sql, args = `INSERT INTO pbxkit_journal_state (key, value, version) VALUES ($1, $2, 1) ON CONFLICT (key) DO NOTHING`, []any{k, nonNil(value)}
	default:
		sql, args = `UPDATE pbxkit_journal_state SET value = $2, version = version + 1 WHERE key = $1 AND version = $3`, []any{k, nonNil(value), version}
	}
	tag, err := s.pool.Exec(ctx, sql, args...)
	if err != nil {
		return 0, s.wrap("set state", err)
	}
	if tag.RowsAffected() != 1 {
		return 0, s.conflict(ctx, key, version)
	}
	if value == nil {
		return 0, nil
	}
	return version + 1, nil
}

// conflict is the error of a SetState whose version is not the stored one.
func (s *Store) conflict(ctx context.Context, key string, version int64) error {
	_, cur, err := s.State(ctx, key)
	if err != nil {
		return fmt.Errorf("pgstore: state %q is not at version %d: %w", key, version, journal.ErrConflict)
	}
	return fmt.Errorf("pgstore: state %q is at version %d, not %d: %w", key, cur, version, journal.ErrConflict)
}

// nonNil makes an empty value an empty bytea, never NULL.
func nonNil(b []byte) []byte {
	if len(b) == 0 {
		return []byte{}
	}
	return b
}

// ListState implements [journal.Store.ListState].
func (s *Store) ListState(ctx context.Context, prefix, after string, limit int) ([]journal.StateItem, error) {
	if limit < 1 {
		return nil, fmt.Errorf("pgstore: list state: limit %d < 1", limit)
	}
	// bytea compares byte-wise, so the keys with the prefix are exactly
	// the range [prefix, successor(prefix)).
	query := `SELECT key, value, version FROM pbxkit_journal_state WHERE key > $1 AND key >= $2`
	args := []any{[]byte(after), []byte(prefix)}
	if end, ok := successor(prefix); ok {
		query += ` AND key < $3`
		args = append(args, []byte(end))
	}
	query += ` ORDER BY key LIMIT ` + strconv.Itoa(limit)
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, s.wrap("list state", err)
	}
	defer rows.Close()
	out := []journal.StateItem{}
	for rows.Next() {
		var (
			it  journal.StateItem
			key []byte
		)
		if err := rows.Scan(&key, &it.Value, &it.Version); err != nil {
			return nil, s.wrap("list state", err)
		}
		it.Key = string(key)
		if it.Value == nil {
			it.Value = []byte{}
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("list state", err)
	}
	return out, nil
}

// successor returns the least string greater than every string with the
// given prefix, and false when there is none (empty prefix, or all 0xFF).
func successor(prefix string) (string, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xFF {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}
