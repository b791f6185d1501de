package rostelecomtest

import (
	"io"

	"github.com/pbxkit/pbxkit/internal/fakemp3"
)

// NewMP3Reader returns a reader of size bytes that look like an MP3 file
// (an ID3 tag, then repeated 417-byte frames), generated as they are read: it
// holds no buffer, whatever the size.
func NewMP3Reader(size int64) io.Reader { return fakemp3.NewReader(size) }
