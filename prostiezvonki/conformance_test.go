package prostiezvonki_test

import (
	"testing"

	"github.com/pbxkit/pbxkit/prostiezvonki/prostiezvonkitest"
	"github.com/pbxkit/pbxkit/provider/providertest"
)

// TestConformance runs the suite every pbxkit provider passes.
func TestConformance(t *testing.T) { providertest.Run(t, prostiezvonkitest.Harness()) }
