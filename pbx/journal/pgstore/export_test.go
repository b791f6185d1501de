package pgstore

// StartListener starts the listening connection and returns a channel
// closed once it listens.
func (s *Store) StartListener() <-chan struct{} { return s.startListener() }

// Notified is the greatest Seq the store learnt of by notification (or by
// a re-read of the last Seq).
func (s *Store) Notified() int64 { return s.notified.Load() }

// CallsQuery exposes callsQuery to the tests (query plans).
var CallsQuery = callsQuery
