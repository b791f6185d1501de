// Package fakemp3 generates bytes that look like an MP3 file, for the vendor
// fakes' recordings: an empty ID3v2.4 tag, then MPEG-1 Layer III frames
// (128 kbit/s, 44.1 kHz, 417 bytes, header FF FB 90 64) with a deterministic
// payload. The bytes are produced while they are read, so a recording of any
// size streams without being allocated. It is not audio.
package fakemp3

import "io"

// FrameLen is the length of one frame; TagLen the length of the ID3 tag.
const (
	FrameLen = 417
	TagLen   = 10
)

var (
	tag = []byte("ID3\x04\x00\x00\x00\x00\x00\x00")
	// frames is 16 frames with xorshift payloads; the stream after the tag
	// repeats it.
	frames = func() []byte {
		b := make([]byte, 16*FrameLen)
		x := uint32(2463534242)
		for i := range b {
			switch i % FrameLen {
			case 0:
				b[i] = 0xFF
			case 1:
				b[i] = 0xFB
			case 2:
				b[i] = 0x90
			case 3:
				b[i] = 0x64
			default:
				x ^= x << 13
				x ^= x >> 17
				x ^= x << 5
				b[i] = byte(x)
			}
		}
		return b
	}()
)

// NewReader returns a reader of size bytes (none when size <= 0). Two readers
// of the same size give the same bytes.
func NewReader(size int64) io.Reader { return &reader{left: max(size, 0)} }

// Bytes returns size bytes of the same stream, for small recordings kept in
// memory.
func Bytes(size int) []byte {
	b := make([]byte, max(size, 0))
	_, _ = io.ReadFull(NewReader(int64(len(b))), b)
	return b
}

type reader struct {
	pos, left int64
}

func (r *reader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := 0
	for n < len(p) {
		var src []byte
		if r.pos < TagLen {
			src = tag[r.pos:]
		} else {
			src = frames[(r.pos-TagLen)%int64(len(frames)):]
		}
		c := copy(p[n:], src)
		n += c
		r.pos += int64(c)
	}
	r.left -= int64(n)
	return n, nil
}
