package zadarma_test

import (
	"testing"

	"github.com/pbxkit/pbxkit/provider/providertest"
	"github.com/pbxkit/pbxkit/zadarma/zadarmatest"
)

// TestConformance runs the conformance suite every vendor passes against
// this provider and its fake.
func TestConformance(t *testing.T) { providertest.Run(t, zadarmatest.Harness()) }
