package sipunitest

import (
	"io"

	"github.com/pbxkit/pbxkit/internal/fakemp3"
)

// RecordingReader returns the bytes the fake serves for a recording of size
// bytes: an empty ID3v2 tag followed by MPEG-1 Layer III frames (128 kbit/s,
// 44.1 kHz, 417-byte frames) with a deterministic payload, produced on the
// fly so that any size streams without being allocated, and tests can
// compare what they downloaded with what was sent.
func RecordingReader(size int64) io.Reader { return fakemp3.NewReader(size) }
