package mango_test

import (
	"testing"

	"github.com/pbxkit/pbxkit/mango/mangotest"
	"github.com/pbxkit/pbxkit/provider/providertest"
)

// TestConformance runs the suite every vendor passes (routing deadline
// skipped: Mango routes by command; see routing_test.go).
func TestConformance(t *testing.T) { providertest.Run(t, mangotest.Harness()) }
