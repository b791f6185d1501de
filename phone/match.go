package phone

// DefaultLastDigits is the default number of last digits compared by the
// matching rule. The Prostie Zvonki settings allow 1 to 20 (the spec's own default is
// 5, which matches too many numbers in a real directory; 10 identifies a
// Russian subscriber without its country code or trunk prefix).
const DefaultLastDigits = 10

// MinLastDigits and MaxLastDigits bound the number of last digits n that
// the matching rule compares (the Prostie Zvonki setting allows 1 to 20).
const (
	MinLastDigits = 1
	MaxLastDigits = 20
)

// Suffix returns the lookup key of number under the matching rule with n last
// digits: the last n digits of the normalised number when it is longer than
// n, else the whole normalised number. A login, a number with more than
// [MaxDigits] digits, or an n out of range (1 to 20), gives "".
//
// For example Suffix("89991234567", 7) is "1234567", the Prostie Zvonki
// spec's own example.
func Suffix(number string, n int) string {
	if n < MinLastDigits || n > MaxLastDigits {
		return ""
	}
	var buf [bufDigits]byte
	d, k := Russia.appendDigits(buf[:0], number)
	if k != kindNumber {
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
// fewer, only a stored number equal to it matches. Logins, empty numbers
// and numbers with more than [MaxDigits] digits never match.
func Match(incoming, stored string, n int) bool {
	if n < MinLastDigits || n > MaxLastDigits {
		return false
	}
	var bi, bs [bufDigits]byte
	in, k := Russia.appendDigits(bi[:0], incoming)
	if k != kindNumber || len(in) == 0 {
		return false
	}
	st, k := Russia.appendDigits(bs[:0], stored)
	if k != kindNumber {
		return false
	}
	if len(in) <= n {
		return string(st) == string(in)
	}
	return len(st) >= n && string(st[len(st)-n:]) == string(in[len(in)-n:])
}
