package phone

import "strings"

// Normalizer normalises numbers for one country's numbering plan.
//
// A number whose digits are exactly the national length gets the country code
// in front; a number of trunk prefix + national length digits that starts
// with the trunk prefix has the prefix replaced by the country code. Every
// other digit string (extensions, numbers already in international form,
// foreign numbers) is kept as it is.
type Normalizer struct {
	// CountryCode is the international calling code, digits only ("7").
	CountryCode string
	// TrunkPrefix is the national dialling prefix, digits only ("8" in
	// Russia); empty when the country has none or it is not used.
	TrunkPrefix string
	// NationalLength is the number of digits of a national significant
	// number (10 in Russia).
	NationalLength int
}

// Predefined numbering plans.
var (
	// Russia: +7, trunk prefix 8, 10 national digits. Normalize uses it.
	Russia = Normalizer{CountryCode: "7", TrunkPrefix: "8", NationalLength: 10}
	// Kazakhstan shares zone +7 and the Russian rules.
	Kazakhstan = Russia
	// Uzbekistan: +998, 9 national digits. Its old trunk prefix 8 is
	// ambiguous with other forms and is not rewritten.
	Uzbekistan = Normalizer{CountryCode: "998", NationalLength: 9}
)

// MaxDigits is the most digits a telephone number can have. E.164 allows
// 15; the margin covers prefixes that PBXs prepend and extensions written
// after the number. A text with more digits is not a telephone number, but
// a value that could make whoever keeps it keep megabytes: [Normalize]
// returns "" for it, [Match] and [Suffix] treat it as no number, and an
// [Index] neither stores nor finds it.
const MaxDigits = 32

// bufDigits is the size of the stack buffers the allocation-free paths
// normalise into: MaxDigits digits, and room for a country code a
// Normalizer may add.
const bufDigits = MaxDigits + 8

// kind says what appendDigits found.
type kind uint8

const (
	// kindNumber: s is a telephone number (possibly with no digits at all).
	kindNumber kind = iota
	// kindLogin: s is not a number (a login or other text).
	kindLogin
	// kindTooLong: s is a number with more than MaxDigits digits.
	kindTooLong
)

// Normalize normalises s by the Russian rules ([Russia]).
//
// It keeps the digits and drops "+", spaces, brackets, dashes and dots; from
// a SIP or tel URI it takes the user part, dropping the scheme, the "@host"
// part and ";params" ("sip:+74951234567@1.2.3.4;tgrp=x" gives "74951234567").
// 11 digits starting with 8 become 7..., 10 digits become 7 + the 10.
// Short internal numbers stay as they are ("101"). Text that is not a number
// (a login such as "ivan.petrov") comes back unchanged, and text with no
// digits at all, such as "" or "+()-", gives "".
//
// A number with more than [MaxDigits] digits, or a text that is not a
// number but holds more than MaxDigits digits, gives "": no telephone
// number is that long. Checking it costs no allocation and stops at the
// first digit too many.
//
// Normalize does not allocate when s is already in normal form.
func Normalize(s string) string { return Russia.Normalize(s) }

// Normalize normalises s by the rules of n; see the package function
// [Normalize] for what is kept and dropped. It also gives "" when the
// normalised number would have more than [MaxDigits] digits.
func (n Normalizer) Normalize(s string) string {
	var buf [bufDigits]byte
	d, k := n.appendDigits(buf[:0], s)
	switch k {
	case kindTooLong:
		return ""
	case kindLogin:
		if moreDigitsThan(s, MaxDigits) {
			return ""
		}
		return s
	}
	if string(d) == s {
		return s
	}
	if len(d) == 0 {
		return ""
	}
	return string(d)
}

// moreDigitsThan reports whether s holds more than limit ASCII digits,
// without allocating; it stops at digit limit+1.
func moreDigitsThan(s string, limit int) bool {
	count := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= '0' && c <= '9' {
			count++
			if count > limit {
				return true
			}
		}
	}
	return false
}

// appendDigits appends the normalised digits of s to dst. The kind is
// kindLogin when s is not a telephone number (a login) and kindTooLong when it
// is one with more than MaxDigits digits, before or after normalisation;
// then dst is returned unchanged. It stops reading s at the first digit too
// many, so a huge s costs no more than a real number.
func (n Normalizer) appendDigits(dst []byte, s string) (out []byte, k kind) {
	s = userPart(s)
	start := len(dst)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if len(dst)-start >= MaxDigits {
				return dst[:start], kindTooLong
			}
			dst = append(dst, c)
		case c == '+' || c == ' ' || c == '-' || c == '(' || c == ')' || c == '.' || c == '\t':
		case c == 0xC2 && i+1 < len(s) && s[i+1] == 0xA0: // U+00A0 no-break space
			i++
		default:
			return dst[:start], kindLogin
		}
	}
	d := dst[start:]
	switch {
	case n.NationalLength > 0 && len(d) == n.NationalLength:
		// National significant number: prepend the country code.
		dst = append(dst, n.CountryCode...) // grow by len(cc)
		copy(dst[start+len(n.CountryCode):], d[:n.NationalLength])
		copy(dst[start:], n.CountryCode)
	case n.TrunkPrefix != "" && len(d) == len(n.TrunkPrefix)+n.NationalLength && string(d[:len(n.TrunkPrefix)]) == n.TrunkPrefix:
		// Trunk prefix + national number: swap the prefix for the code.
		rest := len(d) - len(n.TrunkPrefix)
		if len(n.CountryCode) == len(n.TrunkPrefix) {
			copy(dst[start:], n.CountryCode)
		} else {
			tmp := make([]byte, 0, len(n.CountryCode)+rest)
			tmp = append(tmp, n.CountryCode...)
			tmp = append(tmp, d[len(n.TrunkPrefix):]...)
			dst = append(dst[:start], tmp...)
		}
	}
	if len(dst)-start > MaxDigits {
		// Only a Normalizer whose country code plus national length
		// exceeds MaxDigits gets here.
		return dst[:start], kindTooLong
	}
	return dst, kindNumber
}

// userPart extracts the user part of a SIP/tel URI (with an optional display
// name and angle brackets); other text is returned trimmed of spaces.
func userPart(s string) string {
	if len(s) > 0 && (maybeSpace(s[0]) || maybeSpace(s[len(s)-1])) {
		s = strings.TrimSpace(s)
	}
	if len(s) == 0 || s[0] == '+' || (s[0] >= '0' && s[0] <= '9') {
		return s // the common case: a plain number
	}
	if i := strings.IndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			s = s[i+1 : i+j]
		}
	}
	if len(s) > 4 {
		switch {
		case hasPrefixFold(s, "sips:"):
			s = s[5:]
		case hasPrefixFold(s, "sip:"), hasPrefixFold(s, "tel:"):
			s = s[4:]
		default:
			return s
		}
		if i := strings.IndexByte(s, '@'); i >= 0 {
			s = s[:i]
		}
		if i := strings.IndexByte(s, ';'); i >= 0 {
			s = s[:i]
		}
	}
	return s
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// maybeSpace reports whether c may start or end white space: an ASCII space
// character, or a byte of a multi-byte rune (U+00A0 and other Unicode
// spaces, which strings.TrimSpace then decides on).
func maybeSpace(c byte) bool {
	return c == ' ' || (c >= '\t' && c <= '\r') || c >= 0x80
}
