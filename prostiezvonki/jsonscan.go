package prostiezvonki

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Value kinds reported by walkObject.
const (
	kindString    = 's' // a JSON string, unescaped
	kindScalar    = 'n' // a number, true or false, as written
	kindNull      = 'z' // null, reported as ""
	kindComposite = 'c' // an object or array, as raw JSON text
)

// walkObject calls fn for each member of the JSON object s, in order. s must
// be valid JSON (checked with json.Valid) whose first byte is '{'. Values
// without escapes are substrings of s, so a notification costs one string
// conversion of its body instead of one allocation per field.
func walkObject(s string, fn func(key, val string, kind byte)) {
	i := skipSpace(s, 1) // past '{'
	for i < len(s) && s[i] != '}' {
		var key string
		key, i = readString(s, i)
		i = skipSpace(s, i)
		i = skipSpace(s, i+1) // past ':'
		var (
			val  string
			kind byte
		)
		switch c := s[i]; {
		case c == '"':
			val, i = readString(s, i)
			kind = kindString
		case c == '{' || c == '[':
			j := skipComposite(s, i)
			val, i, kind = s[i:j], j, kindComposite
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(",}] \t\r\n", rune(s[j])) {
				j++
			}
			val, i, kind = s[i:j], j, kindScalar
			if val == "null" {
				val, kind = "", kindNull
			}
		}
		fn(key, val, kind)
		i = skipSpace(s, i)
		if i < len(s) && s[i] == ',' {
			i = skipSpace(s, i+1)
		}
	}
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// readString reads the JSON string starting at s[i] == '"' and returns it
// unescaped and the index after its closing quote. Escapes and invalid
// UTF-8 go through encoding/json, so the result is what it would give.
func readString(s string, i int) (string, int) {
	j := i + 1
	escaped := false
	for j < len(s) && s[j] != '"' {
		if s[j] == '\\' {
			escaped = true
			j++
		}
		j++
	}
	end := j + 1
	if end > len(s) { // cannot happen for valid JSON
		return "", len(s)
	}
	raw := s[i:end]
	if !escaped && utf8.ValidString(raw) {
		return raw[1 : len(raw)-1], end
	}
	var out string
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		return "", end
	}
	return out, end
}

// skipComposite returns the index after the object or array starting at
// s[i].
func skipComposite(s string, i int) int {
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return j + 1
			}
		case '"':
			_, next := readString(s, j)
			j = next - 1
		}
	}
	return len(s)
}
