package fakemp3

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStreamShape(t *testing.T) {
	const size = 20 * FrameLen
	b, err := io.ReadAll(NewReader(size))
	require.NoError(t, err)
	require.Len(t, b, size)
	assert.Equal(t, "ID3", string(b[:3]))
	for off := TagLen; off+4 <= size; off += FrameLen {
		assert.Equal(t, []byte{0xFF, 0xFB, 0x90, 0x64}, b[off:off+4], "frame header at %d", off)
	}
	assert.Equal(t, b[:1000], Bytes(1000), "Bytes is a prefix of the same stream")
	// Read in odd chunk sizes, the stream is the same.
	odd, err := io.ReadAll(iotest.OneByteReader(NewReader(size)))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(b, odd))
}

func TestSizes(t *testing.T) {
	for _, size := range []int64{-5, 0, 1, TagLen, TagLen + 1, 1 << 20} {
		n, err := io.Copy(io.Discard, NewReader(size))
		require.NoError(t, err)
		assert.Equal(t, max(size, 0), n)
	}
}

func TestLargeReaderAllocatesNothingPerRead(t *testing.T) {
	r := NewReader(1 << 40)
	buf := make([]byte, 32<<10)
	allocs := testing.AllocsPerRun(100, func() { _, _ = r.Read(buf) })
	assert.Zero(t, allocs)
}
