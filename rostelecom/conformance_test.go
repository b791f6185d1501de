package rostelecom_test

import (
	"testing"

	"github.com/pbxkit/pbxkit/provider/providertest"
	"github.com/pbxkit/pbxkit/rostelecom/rostelecomtest"
)

// TestConformance runs the guarantees every pbxkit provider keeps
// (provider/providertest) against the rostelecom provider and its fake.
func TestConformance(t *testing.T) { providertest.Run(t, rostelecomtest.Harness()) }
