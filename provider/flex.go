package provider

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// String is a JSON string that also accepts numbers and booleans (kept as
// written) and null (""). Vendors send ids and phone numbers both ways.
type String string

// UnmarshalJSON implements json.Unmarshaler.
func (s *String) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return fmt.Errorf("provider.String: empty JSON value")
	case b[0] == '"' && plainString(b):
		*s = String(b[1 : len(b)-1])
	case b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = String(v)
	case string(b) == "null":
		*s = ""
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9') || string(b) == "true" || string(b) == "false":
		if b[0] != 't' && b[0] != 'f' && !json.Valid(b) {
			return fmt.Errorf("provider.String: invalid number %q", b)
		}
		*s = String(b)
	default:
		return fmt.Errorf("provider.String: want a string or number, got %.20q", b)
	}
	return nil
}

// plainString reports whether the JSON string b (quotes included) has no
// escapes, control characters or invalid UTF-8, so that its text is its
// value: the common case, which then costs one copy and no decoding.
func plainString(b []byte) bool {
	if len(b) < 2 || b[len(b)-1] != '"' {
		return false
	}
	inner := b[1 : len(b)-1]
	for _, c := range inner {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return utf8.Valid(inner)
}

// Int is a JSON integer that also accepts a string holding one ("42", " 42
// "), an empty string and null (0), and a number with a zero fraction
// (42.0).
type Int int64

// UnmarshalJSON implements json.Unmarshaler.
func (n *Int) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*n = 0
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := ParseInt(s)
		if err != nil {
			return err
		}
		*n = Int(v)
		return nil
	}
	v, err := ParseInt(string(b))
	if err != nil {
		return err
	}
	*n = Int(v)
	return nil
}

// ParseInt parses a vendor integer: surrounding space is ignored, "" is 0,
// and a zero fraction ("42.0", "42.000") is accepted.
func ParseInt(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, nil
	}
	if i := strings.IndexByte(s, '.'); i > 0 && strings.Trim(s[i+1:], "0") == "" {
		if v, err := strconv.ParseInt(s[:i], 10, 64); err == nil {
			return v, nil
		}
	}
	return 0, fmt.Errorf("provider: not an integer: %.20q", s)
}

// Bool is a JSON boolean that also accepts the strings "true"/"false" in any
// case, "1"/"0", "yes"/"no", "" (false), the numbers 1/0 and null (false).
type Bool bool

// UnmarshalJSON implements json.Unmarshaler.
func (v *Bool) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	x, err := ParseBool(s)
	if err != nil {
		return err
	}
	*v = Bool(x)
	return nil
}

// ParseBool parses a vendor boolean: true/false in any case, 1/0, yes/no,
// "" and "null" (false), with surrounding space ignored.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes", "y", "on":
		return true, nil
	case "false", "0", "no", "n", "off", "", "null":
		return false, nil
	}
	return false, fmt.Errorf("provider: not a boolean: %.20q", s)
}

// maxSeconds bounds ParseSeconds: about 34 years, far beyond any call.
const maxSeconds = 1 << 30

// ParseSeconds reads a vendor duration: whole seconds ("95", "95.0"), or
// "H:MM:SS" / "MM:SS" as call-log exports write them; "" is 0. Negative,
// malformed and absurdly long values are errors.
func ParseSeconds(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	parts := strings.Split(s, ":")
	if len(parts) > 3 {
		return 0, fmt.Errorf("provider: not a duration: %.40q", s)
	}
	var total int64
	for _, p := range parts {
		n, err := ParseInt(p)
		if err != nil || n < 0 || n > maxSeconds || (len(parts) > 1 && strings.TrimSpace(p) == "") {
			return 0, fmt.Errorf("provider: not a duration in seconds: %.40q", s)
		}
		total = total*60 + n
	}
	if total > maxSeconds {
		return 0, fmt.Errorf("provider: duration out of range: %.40q", s)
	}
	return time.Duration(total) * time.Second, nil
}

// ParseUnix reads a vendor Unix timestamp into loc: seconds, or milliseconds
// when it has 13 or 14 digits (some PBXs and clients send those). "", "0",
// negative, non-numeric and out-of-range values give false.
func ParseUnix(s string, loc *time.Location) (time.Time, bool) {
	n, err := ParseInt(s)
	switch {
	case err != nil || n <= 0:
		return time.Time{}, false
	case n < 1e12:
		return time.Unix(n, 0).In(loc), true
	case n < 1e14:
		return time.UnixMilli(n).In(loc), true
	}
	return time.Time{}, false
}
