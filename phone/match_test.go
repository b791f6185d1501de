package phone

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSuffix(t *testing.T) {
	tests := []struct {
		number string
		n      int
		want   string
	}{
		{"89991234567", 7, "1234567"}, // the Prostie Zvonki spec's example
		{"+7 999 123-45-67", 10, "9991234567"},
		{"9991234567", 10, "9991234567"}, // normalised to 79991234567 first
		{"101", 10, "101"},
		{"1234567", 7, "1234567"},
		{"sip:+74951234567@host", 5, "34567"},
		{"ivan", 5, ""},
		{"", 5, ""},
		{"89991234567", 0, ""},
		{"89991234567", 21, ""},
		{"12345678901234567890123", 20, "45678901234567890123"},
		{"8" + strings.Repeat("0", MaxDigits-11) + "9991234567", 10, "9991234567"}, // MaxDigits digits
		{"8" + strings.Repeat("0", MaxDigits-10) + "9991234567", 10, ""},           // one too many
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.number, tt.n), func(t *testing.T) {
			assert.Equal(t, tt.want, Suffix(tt.number, tt.n))
		})
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name             string
		incoming, stored string
		n                int
		want             bool
	}{
		{"spec example", "89991234567", "+7 (999) 123-45-67", 7, true},
		{"spec example, other prefix", "89991234567", "84951234567", 7, true},
		{"last seven differ", "89991234567", "89991234568", 7, false},
		{"stored shorter than n", "89991234567", "234567", 7, false},
		{"stored is the suffix itself", "89991234567", "1234567", 7, true},
		{"short incoming equal", "1234567", "1234567", 7, true},
		{"short incoming, longer stored", "1234567", "89991234567", 7, false},
		{"extension equal", "101", "101", 10, true},
		{"extension differs", "101", "102", 10, false},
		{"extension vs number ending in it", "101", "74950000101", 3, false},
		{"8 vs +7 with n 10", "8 999 123 45 67", "+79991234567", 10, true},
		{"8 vs +7 with n 11", "8 999 123 45 67", "+79991234567", 11, true},
		{"ten digits vs eleven", "9991234567", "89991234567", 11, true},
		{"logins never match", "ivan", "ivan", 5, false},
		{"empty never matches", "", "", 5, false},
		{"n zero", "89991234567", "89991234567", 0, false},
		{"n too big", "89991234567", "89991234567", 21, false},
		{"twenty digits equal", "12345678901234567890", "12345678901234567890", 20, true},
		{"twenty-one digits by last twenty", "912345678901234567890", "812345678901234567890", 20, true},
		{"MaxDigits incoming by last ten", strings.Repeat("0", MaxDigits-10) + "9991234567", "89991234567", 10, true},
		{"too long incoming never matches", strings.Repeat("0", MaxDigits-9) + "9991234567", "89991234567", 10, false},
		{"too long stored never matches", "89991234567", strings.Repeat("0", MaxDigits-9) + "9991234567", 10, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Match(tt.incoming, tt.stored, tt.n))
		})
	}
}

func TestNewIndexRejectsBadDigits(t *testing.T) {
	for _, n := range []int{-1, 0, 21, 100} {
		_, err := NewIndex[int](n)
		assert.Error(t, err, "n=%d", n)
	}
	x, err := NewIndex[int](20)
	require.NoError(t, err)
	assert.Equal(t, 20, x.Digits())
}

func TestIndexLookup(t *testing.T) {
	x, err := NewIndex[string](7)
	require.NoError(t, err)
	x.Add("+7 (999) 123-45-67", "alpha")
	x.Add("8 495 000 11 22", "beta")
	x.Add("84951234567", "gamma") // same last 7 digits as alpha
	x.Add("1234567", "delta")     // exactly n digits: reachable both ways
	x.Add("101", "ext")
	x.Add("ivan", "login ignored")
	x.Add("", "empty ignored")

	tests := []struct {
		incoming string
		want     []string
	}{
		{"89991234567", []string{"alpha", "gamma", "delta"}},
		{"+7 000 123-45-67", []string{"alpha", "gamma", "delta"}},
		{"1234567", []string{"delta"}},
		{"74950001122", []string{"beta"}},
		{"101", []string{"ext"}},
		{"0101", nil},
		{"102", nil},
		{"ivan", nil},
		{"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.incoming, func(t *testing.T) {
			assert.Equal(t, tt.want, x.Lookup(tt.incoming))
		})
	}
	assert.Equal(t, 6, x.Len()) // delta counts twice: it has two keys
}

// TestHugeNumbers: a 900,000-digit "number" is no number for Match, Suffix
// and Index, which neither panic nor allocate on it.
func TestHugeNumbers(t *testing.T) {
	huge := strings.Repeat("9", 900_000)
	hugeLogin := "x" + huge
	x, err := NewIndex[int](10)
	require.NoError(t, err)
	wide, err := NewIndex[int](MaxLastDigits)
	require.NoError(t, err)
	for _, s := range []string{huge, hugeLogin, "+" + huge, strings.Repeat("9", MaxDigits+1)} {
		assert.False(t, Match(s, s, 10))
		assert.False(t, Match(s, "79999999999", 10))
		assert.False(t, Match("79999999999", s, 10))
		assert.Equal(t, "", Suffix(s, 10))
		x.Add(s, 1)
		wide.Add(s, 1)
		assert.Nil(t, x.Lookup(s))
		assert.Nil(t, wide.Lookup(s))
	}
	assert.Zero(t, x.Len(), "nothing stored")
	assert.Zero(t, wide.Len(), "nothing stored")
	x.Add("79999999999", 2)
	assert.Nil(t, x.Lookup(huge), "not found by its last digits either")
	allocs := testing.AllocsPerRun(10, func() {
		_ = Match(huge, huge, 10)
		_ = Suffix(huge, 10)
		_ = x.Lookup(huge)
	})
	assert.Zero(t, allocs)
}

// TestMaxDigitsNumbersInIndex: numbers of up to MaxDigits digits are kept
// and found under every n.
func TestMaxDigitsNumbersInIndex(t *testing.T) {
	long := strings.Repeat("1", MaxDigits-11) + "79991234567"
	for n := MinLastDigits; n <= MaxLastDigits; n++ {
		x, err := NewIndex[int](n)
		require.NoError(t, err)
		x.Add(long, 1)
		assert.Equal(t, []int{1}, x.Lookup(long), "n=%d", n)
		assert.Equal(t, []int{1}, x.Lookup("9"+long[1:]), "n=%d: by the last n digits", n)
	}
}

func TestIndexLookupSliceIsSafeToAppend(t *testing.T) {
	x, _ := NewIndex[int](10)
	x.Add("79991234567", 1)
	x.Add("79990000001", 2)
	got := x.Lookup("89991234567")
	_ = append(got, 99)
	assert.Equal(t, []int{1}, x.Lookup("89991234567"))
	assert.Equal(t, []int{2}, x.Lookup("89990000001"))
}

// TestIndexAgreesWithMatch checks the index against the rule as Match states
// it, over random numbers of many lengths and every n.
func TestIndexAgreesWithMatch(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	randNumber := func() string {
		l := 1 + r.IntN(MaxDigits+3) // up to past MaxDigits
		var b strings.Builder
		for range l {
			b.WriteByte(byte('0' + r.IntN(3))) // few distinct digits: many collisions
		}
		return b.String()
	}
	for n := MinLastDigits; n <= MaxLastDigits; n++ {
		stored := make([]string, 300)
		x, err := NewIndex[int](n)
		require.NoError(t, err)
		for i := range stored {
			stored[i] = randNumber()
			x.Add(stored[i], i)
		}
		for range 300 {
			in := randNumber()
			if r.IntN(3) == 0 {
				in = stored[r.IntN(len(stored))]
			}
			var want []int
			for i, s := range stored {
				if Match(in, s, n) {
					want = append(want, i)
				}
			}
			got := slices.Clone(x.Lookup(in))
			slices.Sort(got)
			got = slices.Compact(got) // a number of exactly n digits is stored under two keys
			require.Equal(t, want, got, "n=%d incoming=%s", n, in)
		}
	}
}

func TestIndexLookupDoesNotAllocate(t *testing.T) {
	x, _ := NewIndex[int](10)
	for i := range 1000 {
		x.Add("7999"+strconv.Itoa(1000000+i), i)
	}
	x.Add("79991000000", -1)
	allocs := testing.AllocsPerRun(1000, func() {
		_ = x.Lookup("+7 (999) 100-00-00")
		_ = x.Lookup("89991000500")
		_ = x.Lookup("sip:101@host")
		_ = x.Lookup("nobody")
	})
	assert.Zero(t, allocs)
}

func FuzzIndexAgreesWithMatch(f *testing.F) {
	f.Add("89991234567", "+79991234567", "1234567", uint8(7))
	f.Add("101", "101", "0101", uint8(3))
	f.Fuzz(func(t *testing.T, incoming, a, b string, n uint8) {
		digits := int(n%MaxLastDigits) + 1
		x, err := NewIndex[int](digits)
		if err != nil {
			t.Fatal(err)
		}
		x.Add(a, 0)
		x.Add(b, 1)
		got := x.Lookup(incoming)
		for i, s := range []string{a, b} {
			if Match(incoming, s, digits) != slices.Contains(got, i) {
				t.Fatalf("n=%d incoming=%q stored=%q: Match=%v, Lookup=%v", digits, incoming, s, Match(incoming, s, digits), got)
			}
		}
	})
}
