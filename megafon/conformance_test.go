package megafon_test

import (
	"testing"

	"github.com/pbxkit/pbxkit/megafon/megafontest"
	"github.com/pbxkit/pbxkit/provider/providertest"
)

// TestConformance runs the conformance suite every vendor passes.
func TestConformance(t *testing.T) { providertest.Run(t, megafontest.Harness()) }
