package phone

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"only spaces", "   ", ""},
		{"only symbols", "+()- .", ""},
		{"plus seven", "+74951234567", "74951234567"},
		{"seven", "74951234567", "74951234567"},
		{"eight", "84951234567", "74951234567"},
		{"eight formatted", "8 (495) 123-45-67", "74951234567"},
		{"plus seven formatted", "+7 (495) 123-45-67", "74951234567"},
		{"ten digits", "9991234567", "79991234567"},
		{"ten digits formatted", "(999) 123 45 67", "79991234567"},
		{"dots", "+7.999.123.45.67", "79991234567"},
		{"no-break spaces", "+7\u00a0999\u00a0123\u00a045\u00a067", "79991234567"},
		{"tab and padding", "\t 8 999 1234567 ", "79991234567"},
		{"trailing newline", "+79991234567\r\n", "79991234567"},
		{"leading no-break space", "\u00a0+79991234567", "79991234567"},
		{"sip uri", "sip:+74951234567@1.2.3.4;tgrp=x", "74951234567"},
		{"sip uri with port", "sip:84951234567@pbx.example.ru:5060", "74951234567"},
		{"sips uri upper case", "SIPS:+74951234567@host", "74951234567"},
		{"tel uri", "tel:+7-495-123-45-67;ext=1", "74951234567"},
		{"sip extension", "sip:101@domain.rt.ru", "101"},
		{"display name and brackets", `"Ivan" <sip:+79991234567@host>`, "79991234567"},
		{"extension", "101", "101"},
		{"short extension", "5", "5"},
		{"extension with spaces", " 1001 ", "1001"},
		{"login", "ivan.petrov", "ivan.petrov"},
		{"sip login", "sip:ivan@domain.rt.ru", "sip:ivan@domain.rt.ru"},
		{"login with digits", "user_101", "user_101"},
		{"cyrillic text", "Иван", "Иван"},
		{"international", "+49 30 1234567", "49301234567"},
		{"twelve digits", "380441234567", "380441234567"},
		{"eleven digits starting with 9", "99912345678", "99912345678"},
		{"twenty digits", "12345678901234567890", "12345678901234567890"},
		{"twenty digits formatted", "+1234 5678 9012 3456 7890", "12345678901234567890"},
		{"leading zeros kept", "0012", "0012"},
		{"eight in short number", "8800", "8800"},
		{"eight hundred number", "8 800 555-35-35", "78005553535"},
		{"MaxDigits digits kept", strings.Repeat("2", MaxDigits), strings.Repeat("2", MaxDigits)},
		{"MaxDigits digits formatted", "+" + strings.Repeat("1234 5678 ", MaxDigits/8), strings.Repeat("12345678", MaxDigits/8)},
		{"one digit too many", strings.Repeat("1", MaxDigits+1), ""},
		{"one digit too many, formatted", "+7 (" + strings.Repeat("9", MaxDigits-1) + ") 5", ""},
		{"sixty-five digits", strings.Repeat("1", 65), ""},
		{"too long in a sip uri", "sip:+" + strings.Repeat("7", MaxDigits+1) + "@host", ""},
		{"digits of the host and params do not count", "sip:+74951234567@10.20.30.40;tgrp=" + strings.Repeat("1", MaxDigits), "74951234567"},
		{"login with MaxDigits digits kept", "user" + strings.Repeat("5", MaxDigits), "user" + strings.Repeat("5", MaxDigits)},
		{"login with too many digits", "user" + strings.Repeat("5", MaxDigits+1), ""},
		{"login with too many digits, spread", strings.Repeat("a1", MaxDigits+1), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Normalize(tt.in))
		})
	}
}

func TestNormalizerOtherCountries(t *testing.T) {
	tests := []struct {
		name string
		n    Normalizer
		in   string
		want string
	}{
		{"kazakhstan 8", Kazakhstan, "8 727 123 45 67", "77271234567"},
		{"kazakhstan 10", Kazakhstan, "7271234567", "77271234567"},
		{"uzbekistan national", Uzbekistan, "90 123 45 67", "998901234567"},
		{"uzbekistan international", Uzbekistan, "+998 90 123-45-67", "998901234567"},
		{"uzbekistan extension", Uzbekistan, "101", "101"},
		{"uzbekistan russian number untouched", Uzbekistan, "+74951234567", "74951234567"},
		{"trunk 0 to longer code", Normalizer{CountryCode: "380", TrunkPrefix: "0", NationalLength: 9}, "044 123 4567", "380441234567"},
		{"trunk 0 national", Normalizer{CountryCode: "380", TrunkPrefix: "0", NationalLength: 9}, "441234567", "380441234567"},
		{"uzbekistan too long", Uzbekistan, strings.Repeat("9", MaxDigits+1), ""},
		{"country code makes it too long", Normalizer{CountryCode: "999", NationalLength: MaxDigits - 1}, strings.Repeat("1", MaxDigits-1), ""},
		{"country code up to MaxDigits", Normalizer{CountryCode: "9", NationalLength: MaxDigits - 1}, strings.Repeat("1", MaxDigits-1), "9" + strings.Repeat("1", MaxDigits-1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.n.Normalize(tt.in))
		})
	}
}

func TestNormalizeDoesNotAllocateOnNormalForm(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		_ = Normalize("74951234567")
		_ = Normalize("101")
		_ = Normalize("ivan.petrov")
	})
	assert.Zero(t, allocs)
}

// TestNormalizeHugeInput: a 900,000-digit "number" (as a number, a SIP URI
// and inside a login) gives "" without copying it: the check stops at the
// first digit too many.
func TestNormalizeHugeInput(t *testing.T) {
	digits := strings.Repeat("7", 900_000)
	for name, s := range map[string]string{
		"digits":    digits,
		"formatted": "+7 (" + digits + ")",
		"sip uri":   "sip:" + digits + "@host",
		"login":     "id" + digits,
	} {
		assert.Equal(t, "", Normalize(s), name)
		assert.Equal(t, "", Uzbekistan.Normalize(s), name)
		allocs := testing.AllocsPerRun(10, func() { _ = Normalize(s) })
		assert.Zero(t, allocs, name)
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"", "+7 (495) 123-45-67", "84951234567", "9991234567", "sip:+74951234567@1.2.3.4;tgrp=x",
		"<sip:101@h>", "ivan", "\u00a0", "\xc2", "sip:", "tel:;", "12345678901234567890",
		strings.Repeat("9", MaxDigits), strings.Repeat("9", MaxDigits+1), "a" + strings.Repeat("1", MaxDigits+1)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Normalize(s)
		if got != s {
			// Rewritten: it must be a digit string, and stable.
			for i := 0; i < len(got); i++ {
				if got[i] < '0' || got[i] > '9' {
					t.Fatalf("Normalize(%q) = %q: rewritten output has a non-digit", s, got)
				}
			}
		}
		if moreDigitsThan(got, MaxDigits) {
			t.Fatalf("Normalize(%q) = %q: more than MaxDigits digits", s, got)
		}
		if again := Normalize(got); again != got {
			t.Fatalf("not idempotent: Normalize(%q) = %q, Normalize(%q) = %q", s, got, got, again)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("Normalize(%q) = %q: broke UTF-8", s, got)
		}
	})
}
