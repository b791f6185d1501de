package journal

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// MemoryStore is a [Store] in memory, for tests and demos: everything is
// lost when the process ends. It is the reference implementation of the
// Store contract and passes the conformance suite in package journaltest.
// Queries scan every call, which is fine for thousands of calls, not for
// millions.
type MemoryStore struct {
	mu sync.Mutex
	// entries holds the log in chunks of chunkSize, in Seq order: Seq n
	// is entry n-1. Chunks keep appends from copying the whole log.
	entries [][]Entry
	n       int
	dedupe  map[dedupeID]int
	byCall  map[callID][]int
	calls   map[callID]Call
	state   map[string]StateItem
	// wake is closed and replaced on every append.
	wake chan struct{}
}

const chunkSize = 4096

// entry returns entry i (Seq i+1). s.mu must be held.
func (s *MemoryStore) entry(i int) *Entry { return &s.entries[i/chunkSize][i%chunkSize] }

// push appends e to the log. s.mu must be held.
func (s *MemoryStore) push(e Entry) {
	if s.n%chunkSize == 0 {
		s.entries = append(s.entries, make([]Entry, 0, chunkSize))
	}
	last := len(s.entries) - 1
	s.entries[last] = append(s.entries[last], e)
	s.n++
}

type dedupeID struct{ provider, key string }
type callID struct{ provider, id string }

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		dedupe: make(map[dedupeID]int),
		byCall: make(map[callID][]int),
		calls:  make(map[callID]Call),
		state:  make(map[string]StateItem),
		wake:   make(chan struct{}),
	}
}

var _ Store = (*MemoryStore)(nil)

// Append implements [Store.Append].
func (s *MemoryStore) Append(ctx context.Context, e Entry, fold FoldFunc) (Entry, bool, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, false, err
	}
	if e.Event.DedupeKey == "" {
		return Entry{}, false, errors.New("journal: memory store: empty DedupeKey")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dk := dedupeID{e.Event.Provider, e.Event.DedupeKey}
	if i, ok := s.dedupe[dk]; ok {
		return *s.entry(i), false, nil
	}
	e.Seq = int64(s.n) + 1
	i := s.n
	var c Call
	ck := callID{e.Event.Provider, e.Event.CallID}
	if e.Event.CallID != "" {
		idx := append(s.byCall[ck][:len(s.byCall[ck]):len(s.byCall[ck])], i)
		all := make([]Entry, 0, len(idx))
		for _, j := range idx[:len(idx)-1] {
			all = append(all, *s.entry(j))
		}
		all = append(all, e)
		c = fold(all) // before any change: a panicking fold stores nothing
		c.Legs = slices.Clone(c.Legs)
		s.byCall[ck] = idx
		s.calls[ck] = c
	}
	s.push(e)
	s.dedupe[dk] = i
	close(s.wake)
	s.wake = make(chan struct{})
	return e, true, nil
}

// Entries implements [Store.Entries].
func (s *MemoryStore) Entries(ctx context.Context, after int64, limit int) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit < 1 {
		return nil, fmt.Errorf("journal: memory store: limit %d < 1", limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if after < 0 {
		after = 0
	}
	if after >= int64(s.n) {
		return []Entry{}, nil
	}
	page := make([]Entry, 0, min(limit, s.n-int(after)))
	for i := int(after); i < s.n && len(page) < limit; i++ {
		page = append(page, *s.entry(i))
	}
	return page, nil
}

// CallEntries implements [Store.CallEntries].
func (s *MemoryStore) CallEntries(ctx context.Context, provider, id string) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := s.byCall[callID{provider, id}]
	out := make([]Entry, len(idx))
	for k, i := range idx {
		out[k] = *s.entry(i)
	}
	return out, nil
}

// LastSeq implements [Store.LastSeq].
func (s *MemoryStore) LastSeq(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(s.n), nil
}

// Wait implements [Store.Wait].
func (s *MemoryStore) Wait(ctx context.Context, after int64) error {
	s.mu.Lock()
	last, wake := int64(s.n), s.wake
	s.mu.Unlock()
	if last > after {
		return nil
	}
	select {
	case <-wake:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Call implements [Store.Call].
func (s *MemoryStore) Call(ctx context.Context, provider, id string) (Call, error) {
	if err := ctx.Err(); err != nil {
		return Call{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.calls[callID{provider, id}]
	if !ok {
		return Call{}, fmt.Errorf("journal: call %s/%s: %w", provider, id, ErrNotFound)
	}
	c.Legs = slices.Clone(c.Legs)
	return c, nil
}

// Calls implements [Store.Calls] by scanning every call.
func (s *MemoryStore) Calls(ctx context.Context, f Filter) ([]Call, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.Limit < 1 {
		return nil, fmt.Errorf("journal: memory store: limit %d < 1", f.Limit)
	}
	s.mu.Lock()
	var out []Call
	for _, c := range s.calls {
		if f.match(c) {
			c.Legs = slices.Clone(c.Legs)
			out = append(out, c)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Call) int {
		if a.Key().Less(b.Key()) {
			return -1
		}
		return 1 // keys are unique
	})
	if len(out) > f.Limit {
		out = out[:f.Limit]
	}
	if out == nil {
		out = []Call{}
	}
	return out, nil
}

// match reports whether c satisfies every condition of f (Limit aside).
func (f *Filter) match(c Call) bool {
	switch {
	case !f.From.IsZero() && c.StartedAt.Before(f.From),
		!f.To.IsZero() && !c.StartedAt.Before(f.To),
		f.Provider != "" && c.Provider != f.Provider,
		f.Direction != 0 && c.Direction != f.Direction,
		f.Outcome != 0 && c.Outcome != f.Outcome,
		f.Missed && !c.Missed,
		f.NotCalledBack && !c.CalledBackAt.IsZero(),
		f.Open && c.ClosedBy != CallOpen,
		!f.IdleBefore.IsZero() && !c.LastEventAt.Before(f.IdleBefore),
		f.After != nil && !f.After.Less(c.Key()):
		return false
	}
	if f.PhoneKey != "" {
		k := PhoneKey(c.Phone)
		if f.PhonePrefix && !strings.HasPrefix(k, f.PhoneKey) || !f.PhonePrefix && k != f.PhoneKey {
			return false
		}
	}
	if f.Extension != "" && !slices.ContainsFunc(c.Legs, func(l Leg) bool { return l.Extension == f.Extension }) {
		return false
	}
	return true
}

// State implements [Store.State].
func (s *MemoryStore) State(ctx context.Context, key string) ([]byte, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.state[key]
	if !ok {
		return nil, 0, nil
	}
	return slices.Clone(it.Value), it.Version, nil
}

// SetState implements [Store.SetState].
func (s *MemoryStore) SetState(ctx context.Context, key string, value []byte, version int64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if key == "" || len(key) > 200 {
		return 0, fmt.Errorf("journal: memory store: state key length %d not in 1..200", len(key))
	}
	if len(value) > 1<<20 {
		return 0, fmt.Errorf("journal: memory store: state value of %d bytes exceeds 1 MiB", len(value))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.state[key].Version; cur != version {
		return 0, fmt.Errorf("journal: state %q is at version %d, not %d: %w", key, cur, version, ErrConflict)
	}
	if value == nil {
		delete(s.state, key)
		return 0, nil
	}
	it := StateItem{Key: key, Value: slices.Clone(value), Version: version + 1}
	s.state[key] = it
	return it.Version, nil
}

// ListState implements [Store.ListState].
func (s *MemoryStore) ListState(ctx context.Context, prefix, after string, limit int) ([]StateItem, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit < 1 {
		return nil, fmt.Errorf("journal: memory store: limit %d < 1", limit)
	}
	s.mu.Lock()
	out := []StateItem{}
	for k, it := range s.state {
		if strings.HasPrefix(k, prefix) && k > after {
			it.Value = slices.Clone(it.Value)
			out = append(out, it)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b StateItem) int { return strings.Compare(a.Key, b.Key) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
