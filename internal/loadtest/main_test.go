package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunSmoke runs every path briefly over a small directory: the requests
// must all be accepted (run fails on any error answer) and the report must
// name every path with a ratio.
func TestRunSmoke(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(&out, 150*time.Millisecond, 20*time.Millisecond, 4, 2000, 1))
	report := out.String()
	for _, name := range []string{"rostelecom call_events", "rostelecom get_number_info", "sipuni event", "prostiezvonki contact"} {
		assert.Contains(t, report, name)
	}
	assert.Equal(t, 4, strings.Count(report, " pbxkit "), report)
	assert.Equal(t, 4, strings.Count(report, " bare "), report)
}
