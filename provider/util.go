package provider

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"
)

var (
	moscowOnce sync.Once
	moscow     *time.Location
)

// DefaultLocation returns Europe/Moscow, the zone of the local times Russian
// PBXs send without a zone. When the system has no time zone database it
// falls back to a fixed UTC+3 zone named "MSK" (Moscow has kept UTC+3 since
// 2014).
func DefaultLocation() *time.Location {
	moscowOnce.Do(func() {
		loc, err := time.LoadLocation("Europe/Moscow")
		if err != nil {
			loc = time.FixedZone("MSK", 3*60*60)
		}
		moscow = loc
	})
	return moscow
}

// DedupeKey returns a short hex digest of parts, for pbx.CallEvent.DedupeKey:
// the same parts (for example the same raw notification body) give the same
// key, different parts a different one.
func DedupeKey(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
		h.Write([]byte{0})
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}
