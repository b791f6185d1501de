package journal_test

import (
	"testing"

	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/journal/journaltest"
)

// TestMemoryStore runs the conformance suite against the in-memory store.
func TestMemoryStore(t *testing.T) {
	journaltest.Run(t, func(t *testing.T) journal.Store { return journal.NewMemoryStore() })
}
