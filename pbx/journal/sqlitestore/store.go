package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx/journal"
)

// Limits of the key-value state, as the Store contract states them.
const (
	maxStateKey   = 200
	maxStateValue = 1 << 20
)

// Append implements [journal.Store.Append]. Concurrent appends are
// committed together, one fsync for the group; see the package doc.
func (s *Store) Append(ctx context.Context, e journal.Entry, fold journal.FoldFunc) (journal.Entry, bool, error) {
	if e.Event.DedupeKey == "" {
		return journal.Entry{}, false, errors.New("sqlitestore: append: empty DedupeKey")
	}
	if fold == nil {
		return journal.Entry{}, false, errors.New("sqlitestore: append: nil fold")
	}
	e.Seq = 0
	receivedAt, event, err := encodeEntry(e)
	if err != nil {
		return journal.Entry{}, false, fmt.Errorf("sqlitestore: append: %w", err)
	}
	var (
		stored   journal.Entry
		appended bool
	)
	err = s.write(ctx, func(w *wtx) (int64, error) {
		stored, appended = journal.Entry{}, false
		old, err := scanEntry(w.queryRow(wDedupe, e.Event.Provider, e.Event.DedupeKey))
		if err == nil {
			stored = old
			return 0, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, err
		}
		res, err := w.exec(wInsertEntry,
			e.Event.Provider, e.Event.DedupeKey, e.Event.CallID, receivedAt, int64(e.Source), string(event))
		if err != nil {
			return 0, err
		}
		seq, err := res.LastInsertId()
		if err != nil {
			return 0, err
		}
		stored = e
		stored.Seq = seq
		if e.Event.CallID != "" {
			rows, err := w.query(wCallEntries, e.Event.Provider, e.Event.CallID)
			if err != nil {
				return 0, err
			}
			all, err := scanEntries(rows)
			if err != nil {
				return 0, err
			}
			c := fold(all)
			if err := putCall(w, e.Event.Provider, e.Event.CallID, c); err != nil {
				return 0, err
			}
		}
		appended = true
		return seq, nil
	})
	if err != nil {
		if errors.Is(err, ErrClosed) || ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return journal.Entry{}, false, err
		}
		return journal.Entry{}, false, fmt.Errorf("sqlitestore: append %s %s: %w", e.Event.Type, e.Event.CallID, err)
	}
	if !appended {
		return stored, false, nil
	}
	return stored, true, nil
}

// encodeEntry gives the stored forms of e's receive time and event. The
// time is written like encoding/json writes it (RFC 3339, nanoseconds, the
// offset), so entries and calls read back alike.
func encodeEntry(e journal.Entry) (receivedAt string, event []byte, err error) {
	b, err := e.ReceivedAt.MarshalText()
	if err != nil {
		return "", nil, fmt.Errorf("receive time: %w", err)
	}
	event, err = json.Marshal(e.Event)
	if err != nil {
		return "", nil, fmt.Errorf("encode event: %w", err)
	}
	return string(b), event, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanEntry(r scanner) (journal.Entry, error) {
	var (
		e          journal.Entry
		receivedAt string
		source     int64
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
func scanEntries(rows *sql.Rows) ([]journal.Entry, error) {
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

// unixNano is t in Unix nanoseconds, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// putCall replaces the stored call (provider, callID) and its legs.
func putCall(w *wtx, provider, callID string, c journal.Call) error {
	doc, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode call: %w", err)
	}
	missed := 0
	if c.Missed {
		missed = 1
	}
	started := unixNano(c.StartedAt)
	// The JSON goes in as TEXT (a string, not []byte, which would be a
	// BLOB): SQLite's json functions then read it.
	_, err = w.exec(wUpsertCall,
		provider, callID, started, unixNano(c.LastEventAt), unixNano(c.CalledBackAt),
		int64(c.Direction), int64(c.Outcome), missed, int64(c.ClosedBy), journal.PhoneKey(c.Phone), string(doc))
	if err != nil {
		return err
	}
	if _, err := w.exec(wDeleteLegs, provider, callID); err != nil {
		return err
	}
	for _, l := range c.Legs {
		// INSERT OR IGNORE: a repeated extension is kept once.
		if _, err := w.exec(wInsertLeg, provider, callID, l.Extension, started); err != nil {
			return err
		}
	}
	return nil
}

// Entries implements [journal.Store.Entries].
func (s *Store) Entries(ctx context.Context, after int64, limit int) ([]journal.Entry, error) {
	if limit < 1 {
		return nil, fmt.Errorf("sqlitestore: entries: limit %d < 1", limit)
	}
	rows, err := s.rstmts[rEntries].QueryContext(ctx, after, limit)
	if err != nil {
		return nil, s.readErr(ctx, "entries", err)
	}
	out, err := scanEntries(rows)
	if err != nil {
		return nil, s.readErr(ctx, "entries", err)
	}
	return out, nil
}

// CallEntries implements [journal.Store.CallEntries].
func (s *Store) CallEntries(ctx context.Context, provider, callID string) ([]journal.Entry, error) {
	rows, err := s.rstmts[rCallEntries].QueryContext(ctx, provider, callID)
	if err != nil {
		return nil, s.readErr(ctx, "call entries", err)
	}
	out, err := scanEntries(rows)
	if err != nil {
		return nil, s.readErr(ctx, "call entries", err)
	}
	return out, nil
}

// LastSeq implements [journal.Store.LastSeq].
func (s *Store) LastSeq(ctx context.Context) (int64, error) {
	var n int64
	if err := s.rstmts[rLastSeq].QueryRowContext(ctx).Scan(&n); err != nil {
		return 0, s.readErr(ctx, "last seq", err)
	}
	return n, nil
}

// readErr wraps a read error: ctx's own error as is, a closed store as
// ErrClosed.
func (s *Store) readErr(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return err
	}
	select {
	case <-s.quit:
		return fmt.Errorf("sqlitestore: %s: %w", what, ErrClosed)
	default:
	}
	return fmt.Errorf("sqlitestore: %s: %w", what, err)
}

// Call implements [journal.Store.Call].
func (s *Store) Call(ctx context.Context, provider, callID string) (journal.Call, error) {
	var doc []byte
	err := s.rstmts[rCall].QueryRowContext(ctx, provider, callID).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return journal.Call{}, fmt.Errorf("sqlitestore: call %s/%s: %w", provider, callID, journal.ErrNotFound)
	}
	if err != nil {
		return journal.Call{}, s.readErr(ctx, "call", err)
	}
	var c journal.Call
	if err := json.Unmarshal(doc, &c); err != nil {
		return journal.Call{}, fmt.Errorf("sqlitestore: call %s/%s: decode: %w", provider, callID, err)
	}
	return c, nil
}

// Calls implements [journal.Store.Calls]. Every condition is a WHERE term
// on an indexed column; the order and the page position walk the index
// calls_started (or calls_missed, or call_legs_extension when f.Extension
// is set) backwards.
func (s *Store) Calls(ctx context.Context, f journal.Filter) ([]journal.Call, error) {
	if f.Limit < 1 {
		return nil, fmt.Errorf("sqlitestore: calls: limit %d < 1", f.Limit)
	}
	query, args := callsQuery(f)
	rows, err := s.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.readErr(ctx, "calls", err)
	}
	defer rows.Close()
	out := make([]journal.Call, 0, min(f.Limit, 128))
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, s.readErr(ctx, "calls", err)
		}
		var c journal.Call
		if err := json.Unmarshal(doc, &c); err != nil {
			return nil, fmt.Errorf("sqlitestore: calls: decode: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr(ctx, "calls", err)
	}
	return out, nil
}

// callsQuery builds the SELECT for f. With an extension, the legs table
// drives (its index gives the extension's calls in order) and the range
// and order use its copy of started_at.
func callsQuery(f journal.Filter) (string, []any) {
	var (
		b     strings.Builder
		args  []any
		where []string
	)
	k := "c" // the table whose (started_at, provider, call_id) orders
	if f.Extension != "" {
		k = "l"
		b.WriteString(`SELECT c.call FROM call_legs l JOIN calls c ON c.provider = l.provider AND c.call_id = l.call_id`)
		where = append(where, "l.extension = ?")
		args = append(args, f.Extension)
	} else {
		b.WriteString(`SELECT c.call FROM calls c`)
	}
	cond := func(term string, a ...any) {
		where = append(where, term)
		args = append(args, a...)
	}
	if !f.From.IsZero() {
		cond(k+".started_at >= ?", f.From.UnixNano())
	}
	if !f.To.IsZero() {
		cond(k+".started_at < ?", f.To.UnixNano())
	}
	if f.Provider != "" {
		cond("c.provider = ?", f.Provider)
	}
	if f.PhoneKey != "" {
		if f.PhonePrefix {
			cond("c.phone_key >= ? AND c.phone_key < ?", f.PhoneKey, f.PhoneKey+":")
		} else {
			cond("c.phone_key = ?", f.PhoneKey)
		}
		cond("c.phone_key <> ''") // the partial index calls_phone
	}
	if f.Direction != 0 {
		cond("c.direction = ?", int64(f.Direction))
	}
	if f.Outcome != 0 {
		cond("c.outcome = ?", int64(f.Outcome))
	}
	if f.Missed {
		cond("c.missed = 1") // literally so: the partial index calls_missed
	}
	if f.NotCalledBack {
		cond("c.called_back_at = 0")
	}
	if f.Open {
		cond("c.closed_by = 0") // the partial index calls_open
	}
	if !f.IdleBefore.IsZero() {
		cond("c.last_event_at < ?", f.IdleBefore.UnixNano())
	}
	if f.After != nil {
		cond("("+k+".started_at, "+k+".provider, "+k+".call_id) < (?, ?, ?)",
			unixNano(f.After.StartedAt), f.After.Provider, f.After.CallID)
	}
	if len(where) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(where, " AND "))
	}
	b.WriteString(" ORDER BY " + k + ".started_at DESC, " + k + ".provider DESC, " + k + ".call_id DESC LIMIT ?")
	args = append(args, f.Limit)
	return b.String(), args
}

// State implements [journal.Store.State].
func (s *Store) State(ctx context.Context, key string) ([]byte, int64, error) {
	var (
		value   []byte
		version int64
	)
	err := s.rstmts[rState].QueryRowContext(ctx, key).Scan(&value, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, s.readErr(ctx, "state", err)
	}
	if value == nil {
		value = []byte{}
	}
	return value, version, nil
}

// SetState implements [journal.Store.SetState].
func (s *Store) SetState(ctx context.Context, key string, value []byte, version int64) (int64, error) {
	if key == "" || len(key) > maxStateKey {
		return 0, fmt.Errorf("sqlitestore: state key length %d not in 1..%d", len(key), maxStateKey)
	}
	if len(value) > maxStateValue {
		return 0, fmt.Errorf("sqlitestore: state value of %d bytes exceeds 1 MiB", len(value))
	}
	var newVersion int64
	err := s.write(ctx, func(w *wtx) (int64, error) {
		var cur int64
		err := w.queryRow(wStateVersion, key).Scan(&cur)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return 0, err
		}
		if cur != version {
			return 0, fmt.Errorf("sqlitestore: state %q is at version %d, not %d: %w", key, cur, version, journal.ErrConflict)
		}
		switch {
		case value == nil:
			newVersion = 0
			if cur != 0 {
				_, err = w.exec(wStateDelete, key)
			}
		case cur == 0:
			newVersion = 1
			_, err = w.exec(wStateInsert, key, nonNil(value))
		default:
			newVersion = cur + 1
			_, err = w.exec(wStateUpdate, nonNil(value), newVersion, key)
		}
		return 0, err
	})
	if err != nil {
		if errors.Is(err, journal.ErrConflict) || errors.Is(err, ErrClosed) || ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return 0, err
		}
		return 0, fmt.Errorf("sqlitestore: set state %q: %w", key, err)
	}
	return newVersion, nil
}

// nonNil makes an empty value a zero-length blob, never NULL.
func nonNil(b []byte) []byte {
	if len(b) == 0 {
		return []byte{}
	}
	return b
}

// ListState implements [journal.Store.ListState].
func (s *Store) ListState(ctx context.Context, prefix, after string, limit int) ([]journal.StateItem, error) {
	if limit < 1 {
		return nil, fmt.Errorf("sqlitestore: list state: limit %d < 1", limit)
	}
	// Keys compare byte-wise (SQLite's BINARY collation), so the keys with
	// the prefix are exactly the range [prefix, successor(prefix)).
	query := `SELECT key, value, version FROM state WHERE key > ? AND key >= ?`
	args := []any{after, prefix}
	if end, ok := successor(prefix); ok {
		query += ` AND key < ?`
		args = append(args, end)
	}
	query += ` ORDER BY key LIMIT ?`
	args = append(args, limit)
	rows, err := s.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.readErr(ctx, "list state", err)
	}
	defer rows.Close()
	out := []journal.StateItem{}
	for rows.Next() {
		var it journal.StateItem
		if err := rows.Scan(&it.Key, &it.Value, &it.Version); err != nil {
			return nil, s.readErr(ctx, "list state", err)
		}
		if it.Value == nil {
			it.Value = []byte{}
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr(ctx, "list state", err)
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
