package providertest_test

// The vendors' harnesses used to run from here. Each now lives in its fake
// package (rostelecomtest.Harness(), sipunitest.Harness(), ...) and runs from
// its vendor's own conformance_test.go.
