package routing

import (
	"strings"
	"unicode/utf8"
)

// translitLower maps а (U+0430) to я (U+044F) to Latin by ICAO Doc 9303, the
// table of Russian international passports since 2014. ь gives "".
var translitLower = [32]string{
	"a", "b", "v", "g", "d", "e", "zh", "z", "i", "i", "k", "l", "m", "n", "o", "p", // а-п
	"r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "ie", "y", "", "e", "iu", "ia", // р-я
}

// translitUpper holds the same table in capitals, for letters in an
// all-capitals word ("ЩУКИН" gives "SHCHUKIN").
var translitUpper = [32]string{
	"A", "B", "V", "G", "D", "E", "ZH", "Z", "I", "I", "K", "L", "M", "N", "O", "P",
	"R", "S", "T", "U", "F", "KH", "TS", "CH", "SH", "SHCH", "IE", "Y", "", "E", "IU", "IA",
}

// translitTitle holds the table with only the first letter a capital, for a
// capital letter followed by a small one ("Щукин" gives "Shchukin").
var translitTitle = [32]string{
	"A", "B", "V", "G", "D", "E", "Zh", "Z", "I", "I", "K", "L", "M", "N", "O", "P",
	"R", "S", "T", "U", "F", "Kh", "Ts", "Ch", "Sh", "Shch", "Ie", "Y", "", "E", "Iu", "Ia",
}

// Translit writes the Russian letters of s in Latin by the ICAO Doc 9303
// table used in Russian international passports since 2014: "Альфа" gives
// "Alfa", "Щукин" gives "Shchukin", "Наталья" gives "Natalia" (ь is dropped),
// "объект" gives "obieekt" (ъ gives "ie"), ё is written as e, й as i, х as kh,
// ц as ts, ю as iu and я as ia.
//
// Letter case is kept: a capital letter whose Latin form has several letters
// is written in capitals inside an all-capitals word ("ЩУКИН" gives
// "SHCHUKIN") and with only its first letter a capital otherwise ("Щукин").
// Everything that is not a Russian letter (Latin letters, digits,
// punctuation, other scripts) is kept as it is, except that each run of
// bytes that is not valid UTF-8 becomes U+FFFD, so the result is always valid
// UTF-8. The result is deterministic, and a valid s with no Russian letter is
// returned as it is, without allocating.
//
// PBX softphones that cannot show Cyrillic use it for the caller's name (see
// [WithTranslit]).
func Translit(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	first := firstRussian(s)
	if first < 0 {
		return s
	}
	var b strings.Builder
	// A Russian letter takes 2 bytes in UTF-8 and gives at most 4 (щ).
	b.Grow(len(s) + (len(s)-first)/2*2)
	// Bytes from start to i are not Russian letters and are copied as they
	// are. Russian letters are found byte by byte: their lead byte 0xD0 or
	// 0xD1 is never a continuation byte.
	start := 0
	for i := first; i < len(s); {
		k, upper, ok := russianAt(s, i)
		if !ok {
			i++
			continue
		}
		if start < i {
			b.WriteString(s[start:i])
		}
		switch out := translitLower[k]; {
		case len(out) == 1 && !upper:
			b.WriteByte(out[0])
		case len(out) == 1:
			b.WriteByte(out[0] - 'a' + 'A')
		case !upper:
			b.WriteString(out)
		case out == "": // Ь
		default:
			// Capitals when the next letter is a capital, or when this is
			// the last letter of a capitalised word ("КЛЮЧ" gives "KLIUCH").
			nextUpper, nextLetter := letterAt(s, i+2)
			if nextUpper || (!nextLetter && prevUpper(s, i)) {
				b.WriteString(translitUpper[k])
			} else {
				b.WriteString(translitTitle[k])
			}
		}
		i += 2
		start = i
	}
	b.WriteString(s[start:])
	return b.String()
}

// firstRussian returns the byte offset of the first Russian letter in s, or
// -1.
func firstRussian(s string) int {
	for i := 0; i < len(s); i++ {
		if _, _, ok := russianAt(s, i); ok {
			return i
		}
	}
	return -1
}

// russianAt reports whether s[i:] starts with a Russian letter, with its
// table index and whether it is a capital. ё and Ё share е's entry.
func russianAt(s string, i int) (k int, upper, ok bool) {
	if i+1 >= len(s) {
		return 0, false, false
	}
	c, d := s[i], s[i+1]
	switch {
	case c == 0xD0 && d >= 0x90 && d <= 0xAF: // А-Я
		return int(d - 0x90), true, true
	case c == 0xD0 && d >= 0xB0 && d <= 0xBF: // а-п
		return int(d - 0xB0), false, true
	case c == 0xD1 && d >= 0x80 && d <= 0x8F: // р-я
		return int(d-0x80) + 16, false, true
	case c == 0xD0 && d == 0x81: // Ё
		return 'е' - 'а', true, true
	case c == 0xD1 && d == 0x91: // ё
		return 'е' - 'а', false, true
	}
	return 0, false, false
}

// letterAt reports whether s[i:] starts with a Latin or Russian letter and
// whether it is a capital.
func letterAt(s string, i int) (upper, letter bool) {
	if i >= len(s) {
		return false, false
	}
	if c := s[i]; c < utf8.RuneSelf {
		return c >= 'A' && c <= 'Z', (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
	}
	_, upper, letter = russianAt(s, i)
	return upper, letter
}

// prevUpper reports whether the character before s[i:] is a capital Latin
// or Russian letter.
func prevUpper(s string, i int) bool {
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	if r >= 'A' && r <= 'Z' {
		return true
	}
	_, upper, ok := russian(r)
	return ok && upper
}

// russian returns the table index of a Russian letter and whether it is a
// capital; ok is false for any other rune. ё and Ё share е's entry.
func russian(r rune) (k int, upper, ok bool) {
	switch {
	case r >= 'а' && r <= 'я':
		return int(r - 'а'), false, true
	case r >= 'А' && r <= 'Я':
		return int(r - 'А'), true, true
	case r == 'ё':
		return 'е' - 'а', false, true
	case r == 'Ё':
		return 'Е' - 'А', true, true
	}
	return 0, false, false
}
