package phone

// DefaultDigits is the default number of last digits compared by the matching
// rule. The Prostie Zvonki settings allow 1 to 20 (the spec's own default is
// 5, which matches too many numbers in a real directory; 10 identifies a
// Russian subscriber without its country code or trunk prefix).
const DefaultDigits = 10

// MinDigits and MaxDigits bound the number of last digits n.
const (
	MinDigits = 1
	MaxDigits = 20
)

// Suffix returns the lookup key of number under the matching rule with n last
// digits: the last n digits of the normalised number when it is longer than
// n, else the whole normalised number. A login, or an n out of range
// (1 to 20), gives "".
//
// For example Suffix("89991234567", 7) is "1234567", the Prostie Zvonki
// spec's own example.
func Suffix(number string, n int) string {
	if n < MinDigits || n > MaxDigits {
		return ""
	}
	var buf [maxDigits]byte
	d, ok := Russia.appendDigits(buf[:0], number)
	if !ok {
		return ""
	}
	if len(d) > n {
		d = d[len(d)-n:]
	}
	return string(d)
}

// Match reports whether the stored number matches the incoming one under the
// matching rule with n last digits (1 to 20; any other n never matches).
// Both are normalised first.
//
// When the incoming number has more than n digits, stored matches if its last
// n digits equal the incoming number's last n digits (so a stored number
// shorter than n never matches). When the incoming number has n digits or
// fewer, only a stored number equal to it matches. Logins and empty numbers
// never match.
func Match(incoming, stored string, n int) bool {
	if n < MinDigits || n > MaxDigits {
		return false
	}
	var bi, bs [maxDigits]byte
	in, ok := Russia.appendDigits(bi[:0], incoming)
	if !ok || len(in) == 0 {
		return false
	}
	st, ok := Russia.appendDigits(bs[:0], stored)
	if !ok {
		return false
	}
	if len(in) <= n {
		return string(st) == string(in)
	}
	return len(st) >= n && string(st[len(st)-n:]) == string(in[len(in)-n:])
}
