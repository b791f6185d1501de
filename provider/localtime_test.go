package provider

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseLocalTime(t *testing.T) {
	msk := time.FixedZone("MSK", 3*3600)
	at := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, msk)
	}
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"   ", time.Time{}},
		{"2024-03-05 14:07:09", at(2024, 3, 5, 14, 7, 9, 0)},
		{"2024-3-5 14:07:09", at(2024, 3, 5, 14, 7, 9, 0)},
		{"2024-03-05T14:07:09", at(2024, 3, 5, 14, 7, 9, 0)},
		{"2024-03-05 14:07:09.250", at(2024, 3, 5, 14, 7, 9, 250e6)},
		{" 05.03.2024 14:07:09 ", at(2024, 3, 5, 14, 7, 9, 0)},
		{"05.03.2024 14:07", at(2024, 3, 5, 14, 7, 0, 0)},
		{"05.03.2024", at(2024, 3, 5, 0, 0, 0, 0)},
		{"20240305T140709", at(2024, 3, 5, 14, 7, 9, 0)},
		{"20240305T110709Z", at(2024, 3, 5, 14, 7, 9, 0)},
		{"2024-03-05T11:07:09Z", at(2024, 3, 5, 14, 7, 9, 0)},
		{"2024-03-05T14:07:09+03:00", at(2024, 3, 5, 14, 7, 9, 0)},
		{"1709636829", at(2024, 3, 5, 14, 7, 9, 0)},
		{"1709636829000", at(2024, 3, 5, 14, 7, 9, 0)},
	} {
		got, err := ParseLocalTime(tc.in, msk)
		require.NoError(t, err, tc.in)
		assert.True(t, tc.want.Equal(got), "%q: got %v want %v", tc.in, got, tc.want)
		if !got.IsZero() {
			assert.Equal(t, msk, got.Location(), "%q comes back in loc", tc.in)
		}
	}
	for _, bad := range []string{"yesterday", "2024-13-05 14:07:09", "31.02.2024", "20240305T250709", "12:00", "-5"} {
		_, err := ParseLocalTime(bad, msk)
		assert.Error(t, err, bad)
	}
	_, err := ParseLocalTime(strings.Repeat("x", 1000), msk)
	require.Error(t, err)
	assert.LessOrEqual(t, len(err.Error()), 80, "the error quotes at most 40 bytes")
	got, err := ParseLocalTime("2024-03-05 14:07:09", nil)
	require.NoError(t, err)
	assert.Equal(t, DefaultLocation(), got.Location(), "nil loc means the default")
}

func FuzzParseLocalTime(f *testing.F) {
	for _, s := range []string{"2024-03-05 14:07:09", "05.03.2024", "20240305T110709Z", "1709636829", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseLocalTime(s, time.UTC)
		if err != nil && !got.IsZero() {
			t.Fatalf("error with a non-zero time for %q", s)
		}
	})
}

func BenchmarkParseLocalTime(b *testing.B) {
	loc := DefaultLocation()
	for _, s := range []string{"20230908T015640", "2024-03-05 14:07:09.250", "05.03.2024 14:07:09"} {
		b.Run(s, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseLocalTime(s, loc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
