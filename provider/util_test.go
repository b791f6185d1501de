package provider

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestDefaultLocationIsUTCPlus3(t *testing.T) {
	ts := time.Date(2024, 7, 1, 12, 0, 0, 0, DefaultLocation())
	_, off := ts.Zone()
	assert.Equal(t, 3*3600, off)
}

func TestDedupeKey(t *testing.T) {
	a := DedupeKey([]byte("event=1&call_id=x"))
	assert.Len(t, a, 32)
	assert.Equal(t, a, DedupeKey([]byte("event=1&call_id=x")))
	assert.NotEqual(t, a, DedupeKey([]byte("event=1&call_id=y")))
	assert.NotEqual(t, DedupeKey([]byte("ab"), []byte("c")), DedupeKey([]byte("a"), []byte("bc")))
}
