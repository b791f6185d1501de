package routing

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/phone"
)

func ids(cs []Contact) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func TestMemoryDirectoryLookup(t *testing.T) {
	contacts := []Contact{
		{ID: "alfa", Name: "Альфа", Phones: []string{"+7 (385) 255-74-75", "8 999 123-45-67"}, Responsible: "101"},
		{ID: "orlov", Name: "Орлов Александр Владимирович", Phones: []string{"79833574337"}, Responsible: "102"},
		// Shares a number with alfa (a contact person of the partner).
		{ID: "balabanova", Name: "Балабанова Наталья Игнатьевна", Phones: []string{"89991234567"}},
		// The same number twice in two forms, and a login that is ignored.
		{ID: "twice", Phones: []string{"+7 495 000-11-22", "84950001122", "ivan.petrov"}},
		{ID: "ext", Phones: []string{"101"}},
		{ID: "nophones"},
	}
	d, err := NewMemoryDirectory(contacts, 10)
	require.NoError(t, err)
	assert.Equal(t, 6, d.Len())
	assert.Equal(t, 10, d.Digits())

	tests := []struct {
		incoming string
		want     []string
	}{
		{"73852557475", []string{"alfa"}},
		{"sip:+73852557475@pbx.rt.ru", []string{"alfa"}},
		{"3852557475", []string{"alfa"}},
		{"89833574337", []string{"orlov"}},
		{"+7 999 123 45 67", []string{"alfa", "balabanova"}},
		{"74950001122", []string{"twice"}},
		{"101", []string{"ext"}},
		{"102", nil},
		{"ivan.petrov", nil},
		{"", nil},
		{"74950000000", nil},
		// Another country code, same last 10 digits: the rule matches it.
		{"+3 385 255 74 75", []string{"alfa"}},
	}
	for _, tt := range tests {
		t.Run(tt.incoming, func(t *testing.T) {
			got, err := d.Lookup(context.Background(), tt.incoming)
			require.NoError(t, err)
			if tt.want == nil {
				assert.Empty(t, got)
				return
			}
			assert.Equal(t, tt.want, ids(got))
		})
	}

	// The directory copied the slice: changing the caller's copy does not
	// change answers.
	contacts[1].Responsible = "999"
	got, _ := d.Lookup(context.Background(), "79833574337")
	require.Len(t, got, 1)
	assert.Equal(t, "102", got[0].Responsible)
}

func TestMemoryDirectoryDigits(t *testing.T) {
	contacts := []Contact{
		{ID: "a", Phones: []string{"89991234567"}},
		{ID: "b", Phones: []string{"84951234567"}},
		{ID: "c", Phones: []string{"1234567"}},
	}
	tests := []struct {
		digits   int
		incoming string
		want     []string
	}{
		// The Prostie Zvonki spec's example: 7 last digits.
		{7, "89991234567", []string{"a", "b", "c"}},
		{7, "1234567", []string{"c"}},
		{10, "89991234567", []string{"a"}},
		{0, "89991234567", []string{"a"}}, // 0 means phone.DefaultLastDigits
		{11, "89991234567", []string{"a"}},
		{20, "79991234567", []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d/%s", tt.digits, tt.incoming), func(t *testing.T) {
			d, err := NewMemoryDirectory(contacts, tt.digits)
			require.NoError(t, err)
			got, err := d.Lookup(context.Background(), tt.incoming)
			require.NoError(t, err)
			assert.Equal(t, tt.want, ids(got))
		})
	}
	for _, n := range []int{-1, 21} {
		_, err := NewMemoryDirectory(contacts, n)
		assert.Error(t, err, "digits %d", n)
	}
}

// TestMemoryDirectorySameContactTwiceUnderOneKey: a contact whose two
// numbers share their last n digits is returned once, alone or with others.
func TestMemoryDirectorySameContactTwiceUnderOneKey(t *testing.T) {
	d, err := NewMemoryDirectory([]Contact{
		{ID: "a", Phones: []string{"1234567", "89991234567", "84951234567"}},
		{ID: "b", Phones: []string{"74951234567"}},
		{ID: "c", Phones: []string{"7654321", "87654321"}},
	}, 7)
	require.NoError(t, err)
	got, _ := d.Lookup(context.Background(), "83831234567")
	assert.Equal(t, []string{"a", "b"}, ids(got))
	got, _ = d.Lookup(context.Background(), "1234567")
	assert.Equal(t, []string{"a"}, ids(got))
	got, _ = d.Lookup(context.Background(), "97654321")
	assert.Equal(t, []string{"c"}, ids(got))
}

// TestMemoryDirectoryMatchesRule checks random directories against
// phone.Match, the rule the directory promises to apply.
func TestMemoryDirectoryMatchesRule(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	randNumber := func() string {
		// Few distinct digits so that numbers collide often.
		n := 1 + rng.IntN(13)
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + rng.IntN(3))
		}
		if rng.IntN(4) == 0 {
			return "8" + string(b)
		}
		return string(b)
	}
	for round := 0; round < 30; round++ {
		digits := 1 + rng.IntN(12)
		contacts := make([]Contact, 40)
		for i := range contacts {
			contacts[i].ID = strconv.Itoa(i)
			for range rng.IntN(4) {
				contacts[i].Phones = append(contacts[i].Phones, randNumber())
			}
		}
		d, err := NewMemoryDirectory(contacts, digits)
		require.NoError(t, err)
		for range 200 {
			in := randNumber()
			var want []string
			for _, c := range contacts {
				if slices.ContainsFunc(c.Phones, func(p string) bool { return phone.Match(in, p, digits) }) {
					want = append(want, c.ID)
				}
			}
			got, err := d.Lookup(context.Background(), in)
			require.NoError(t, err)
			require.Equal(t, want, nilIfEmpty(ids(got)), "digits=%d incoming=%q", digits, in)
		}
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestMemoryDirectoryLookupDoesNotAllocate(t *testing.T) {
	d, err := NewMemoryDirectory([]Contact{
		{ID: "a", Phones: []string{"89991234567"}},
		{ID: "b", Phones: []string{"84951234567", "84951234567"}},
		{ID: "c", Phones: []string{"74951234567"}},
	}, 10)
	require.NoError(t, err)
	ctx := context.Background()
	n := 0
	allocs := testing.AllocsPerRun(100, func() {
		a, _ := d.Lookup(ctx, "+7 999 123-45-67")
		b, _ := d.Lookup(ctx, "84951234567")
		c, _ := d.Lookup(ctx, "74950000000")
		n = len(a) + len(b) + len(c)
	})
	assert.Zero(t, allocs)
	assert.Equal(t, 3, n)
}
