package pbxtest

import "io"

// The generated recording: an empty ID3v2.4 tag, then MPEG-1 Layer III
// frames (128 kbit/s, 44.1 kHz, 417 bytes, header FF FB 90 64) with a
// deterministic payload. The bytes are produced while they are read, so a
// recording of any size streams without being allocated. It is not audio.

// MP3FrameLen is the length of one generated frame; MP3TagLen the length of
// the ID3 tag before the first frame.
const (
	MP3FrameLen = 417
	MP3TagLen   = 10
)

var (
	mp3Tag = []byte("ID3\x04\x00\x00\x00\x00\x00\x00")
	// mp3Frames is 16 frames with xorshift payloads; the stream after the tag
	// repeats it.
	mp3Frames = func() []byte {
		b := make([]byte, 16*MP3FrameLen)
		x := uint32(2463534242)
		for i := range b {
			switch i % MP3FrameLen {
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

// NewMP3Reader returns a reader of size bytes of the generated recording (none when size <= 0). Two readers
// of the same size give the same bytes.
func NewMP3Reader(size int64) io.Reader { return &mp3Reader{left: max(size, 0)} }

// MP3Bytes returns size bytes of the same stream, for small recordings kept in
// memory.
func MP3Bytes(size int) []byte {
	b := make([]byte, max(size, 0))
	_, _ = io.ReadFull(NewMP3Reader(int64(len(b))), b)
	return b
}

type mp3Reader struct {
	pos, left int64
}

func (r *mp3Reader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := 0
	for n < len(p) {
		var src []byte
		if r.pos < MP3TagLen {
			src = mp3Tag[r.pos:]
		} else {
			src = mp3Frames[(r.pos-MP3TagLen)%int64(len(mp3Frames)):]
		}
		c := copy(p[n:], src)
		n += c
		r.pos += int64(c)
	}
	r.left -= int64(n)
	return n, nil
}
