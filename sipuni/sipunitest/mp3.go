package sipunitest

import "io"

// The generated recordings are an empty ID3v2 tag followed by MPEG-1 Layer
// III frame headers (128 kbit/s, 44.1 kHz, 417-byte frames) with a
// deterministic payload: enough for a client to recognise MP3 bytes, and
// produced on the fly so that any size streams without being allocated.
const frameLen = 417

var (
	id3Header = []byte{'I', 'D', '3', 4, 0, 0, 0, 0, 0, 0}
	// period is 16 frames; the stream after the tag repeats it.
	period = func() []byte {
		b := make([]byte, 16*frameLen)
		for i := range b {
			switch i % frameLen {
			case 0:
				b[i] = 0xFF
			case 1:
				b[i] = 0xFB
			case 2:
				b[i] = 0x90
			case 3:
				b[i] = 0x64
			default:
				b[i] = byte(i * 7)
			}
		}
		return b
	}()
)

// RecordingReader returns the bytes the fake serves for a recording of size
// bytes. It allocates nothing per call beyond the reader itself, whatever
// the size, so tests can compare what they downloaded with what was sent.
func RecordingReader(size int64) io.Reader {
	if size < 0 {
		size = 0
	}
	return &mp3Reader{size: size}
}

type mp3Reader struct {
	size, off int64
}

func (m *mp3Reader) Read(p []byte) (int, error) {
	if m.off >= m.size {
		return 0, io.EOF
	}
	if rem := m.size - m.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	n := 0
	for n < len(p) {
		var c int
		if m.off < int64(len(id3Header)) {
			c = copy(p[n:], id3Header[m.off:])
		} else {
			c = copy(p[n:], period[(m.off-int64(len(id3Header)))%int64(len(period)):])
		}
		n += c
		m.off += int64(c)
	}
	return n, nil
}
