package phone

import "fmt"

// Index finds the values stored under numbers that match an incoming number
// under the matching rule (see [Match]) with a fixed number of last digits.
//
// Build it with [NewIndex] and [Index.Add], then call [Index.Lookup]. Add must
// not run concurrently with anything else; once building is done, Lookup is
// safe for concurrent use, allocates nothing and costs O(1) whatever the
// directory size.
type Index[V any] struct {
	n int
	// Keys map to an index in vals, or multiFlag|index in multi. Indexes
	// with n <= 18 pack keys into a uint64 (faster to hash and compare);
	// n = 19 and 20 need the wider key.
	small map[uint64]uint32
	keys  map[key]uint32
	vals  []V // values of keys that have exactly one value
	// multi holds the values of keys added more than once, in Add order.
	multi [][]V
}

const multiFlag = 1 << 31

// key is a digit string of at most MaxLastDigits digits, packed: the value of its
// last 19 digits, the digit before them (for 20-digit keys), its length (so
// leading zeros count) and whether it is an exact-match key or a suffix key.
type key struct {
	lo     uint64
	hi     uint8
	length uint8
	exact  bool
}

// maxSmallDigits is the longest key packSmall takes.
const maxSmallDigits = 18

// packSmall packs a key of at most 18 digits into a uint64: a leading 1
// followed by the digits, read as a decimal number (so leading zeros count;
// below 2*10^18 < 2^61), with bit 62 set for exact-match keys.
func packSmall(d []byte, exact bool) uint64 {
	v := uint64(1)
	for _, c := range d {
		v = v*10 + uint64(c-'0')
	}
	if exact {
		v |= 1 << 62
	}
	return v
}

func makeKey(d []byte, exact bool) key {
	k := key{length: uint8(len(d)), exact: exact}
	start := 0
	if len(d) > 19 {
		k.hi = d[0] - '0'
		start = len(d) - 19
	}
	for _, c := range d[start:] {
		k.lo = k.lo*10 + uint64(c-'0')
	}
	return k
}

// NewIndex returns an empty index that compares n last digits. n must be 1 to
// 20 ([MinLastDigits] to [MaxLastDigits]).
func NewIndex[V any](n int) (*Index[V], error) {
	if n < MinLastDigits || n > MaxLastDigits {
		return nil, fmt.Errorf("phone: number of last digits must be %d to %d, got %d", MinLastDigits, MaxLastDigits, n)
	}
	x := &Index[V]{n: n}
	if n <= maxSmallDigits {
		x.small = make(map[uint64]uint32)
	} else {
		x.keys = make(map[key]uint32)
	}
	return x, nil
}

// Digits returns the number of last digits the index compares.
func (x *Index[V]) Digits() int { return x.n }

// Len returns the number of (number, value) pairs added, not counting numbers
// that were ignored.
func (x *Index[V]) Len() int {
	total := 0
	count := func(i uint32) {
		if i&multiFlag != 0 {
			total += len(x.multi[i&^multiFlag])
		} else {
			total++
		}
	}
	for _, i := range x.small {
		count(i)
	}
	for _, i := range x.keys {
		count(i)
	}
	return total
}

// Add stores v under number. The number is normalised first; a login, a
// text with no digits and a number with more than [MaxDigits] digits are
// ignored. Adding the same value under several numbers of one contact is
// the normal use; adding it twice under numbers that share their last n
// digits makes Lookup return it twice.
func (x *Index[V]) Add(number string, v V) {
	var buf [bufDigits]byte
	d, k := Russia.appendDigits(buf[:0], number)
	if k != kindNumber || len(d) == 0 {
		return
	}
	// A stored number is found by incoming numbers longer than n through its
	// last n digits, and by incoming numbers of n digits or fewer only when
	// they are equal to it. A number of exactly n digits is reachable both
	// ways, so it gets both keys.
	if len(d) >= x.n {
		x.put(d[len(d)-x.n:], false, v)
	}
	if len(d) <= x.n {
		x.put(d, true, v)
	}
}

func (x *Index[V]) put(d []byte, exact bool, v V) {
	var i uint32
	var ok bool
	var set func(uint32)
	if x.small != nil {
		k := packSmall(d, exact)
		i, ok = x.small[k]
		set = func(j uint32) { x.small[k] = j }
	} else {
		k := makeKey(d, exact)
		i, ok = x.keys[k]
		set = func(j uint32) { x.keys[k] = j }
	}
	switch {
	case !ok:
		set(uint32(len(x.vals)))
		x.vals = append(x.vals, v)
	case i&multiFlag != 0:
		m := i &^ multiFlag
		x.multi[m] = append(x.multi[m], v)
	default:
		set(uint32(len(x.multi)) | multiFlag)
		x.multi = append(x.multi, []V{x.vals[i], v})
	}
}

// Lookup returns every value whose number matches incoming, in Add order, or
// nil (always for a login or a number with more than [MaxDigits] digits).
// The returned slice belongs to the index: the caller must not modify
// its elements (appending to it is safe; it has no spare capacity).
func (x *Index[V]) Lookup(incoming string) []V {
	var buf [bufDigits]byte
	d, k := Russia.appendDigits(buf[:0], incoming)
	if k != kindNumber || len(d) == 0 {
		return nil
	}
	exact := len(d) <= x.n
	if !exact {
		d = d[len(d)-x.n:]
	}
	var i uint32
	var ok bool
	if x.small != nil {
		i, ok = x.small[packSmall(d, exact)]
	} else {
		i, ok = x.keys[makeKey(d, exact)]
	}
	switch {
	case !ok:
		return nil
	case i&multiFlag != 0:
		m := x.multi[i&^multiFlag]
		return m[:len(m):len(m)]
	default:
		return x.vals[i : i+1 : i+1]
	}
}
