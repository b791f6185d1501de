package rostelecomtest

import "io"

// mp3Frame is one MPEG-1 Layer III frame (128 kbit/s, 44.1 kHz, joint
// stereo, 417 bytes) with a fixed pseudo-random payload.
var mp3Frame = func() []byte {
	f := make([]byte, 417)
	copy(f, []byte{0xFF, 0xFB, 0x90, 0x64})
	x := uint32(2463534242)
	for i := 4; i < len(f); i++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		f[i] = byte(x)
	}
	return f
}()

// id3Header is an empty ID3v2.4 tag.
var id3Header = []byte("ID3\x04\x00\x00\x00\x00\x00\x00")

// NewMP3Reader returns a reader of size bytes that look like an MP3 file
// (an ID3 tag, then repeated frames), generated as they are read: it holds
// no buffer, whatever the size.
func NewMP3Reader(size int64) io.Reader { return &mp3Reader{left: size} }

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
		if r.pos < int64(len(id3Header)) {
			src = id3Header[r.pos:]
		} else {
			src = mp3Frame[(r.pos-int64(len(id3Header)))%int64(len(mp3Frame)):]
		}
		c := copy(p[n:], src)
		n += c
		r.pos += int64(c)
	}
	r.left -= int64(n)
	return n, nil
}
