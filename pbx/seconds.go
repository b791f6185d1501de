package pbx

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Seconds is a time.Duration written to JSON as a number of seconds: an
// integer when the duration is whole seconds, a decimal fraction otherwise
// ("42", "1.5"). pbxkit's JSON is read by 1C and JavaScript, which know
// seconds, not Go's nanoseconds.
//
// It is the JSON form of [CallEvent.TalkDuration], [CallEvent.CallDuration]
// and the same fields of [CallRecord]; packages that publish durations in
// their own JSON use it too.
type Seconds time.Duration

// IsZero reports whether s is zero, so that `omitzero` omits it.
func (s Seconds) IsZero() bool { return s == 0 }

// MarshalJSON writes s as a JSON number of seconds.
func (s Seconds) MarshalJSON() ([]byte, error) {
	d := time.Duration(s)
	if d%time.Second == 0 {
		return strconv.AppendInt(nil, int64(d/time.Second), 10), nil
	}
	return strconv.AppendFloat(nil, d.Seconds(), 'f', -1, 64), nil
}

// UnmarshalJSON reads a JSON number of seconds (integer or fraction),
// rounded to the nanosecond. null leaves s unchanged.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	str := string(b)
	if str == "null" {
		return nil
	}
	if n, err := strconv.ParseInt(str, 10, 64); err == nil {
		if n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
			return fmt.Errorf("pbx: seconds out of range: %s", str)
		}
		*s = Seconds(time.Duration(n) * time.Second)
		return nil
	}
	f, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return fmt.Errorf("pbx: seconds must be a JSON number, got %.20q", str)
	}
	ns := math.Round(f * 1e9)
	if math.IsNaN(ns) || ns > math.MaxInt64 || ns < math.MinInt64 {
		return fmt.Errorf("pbx: seconds out of range: %.20q", str)
	}
	*s = Seconds(time.Duration(ns))
	return nil
}
