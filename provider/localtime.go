package provider

import (
	"fmt"
	"strings"
	"time"
)

// ParseLocalTime reads a vendor time written without a zone, in loc, and
// returns it in loc. It is the one reader every vendor package uses, so the
// same text means the same instant whichever vendor sent it. Accepted:
//
//   - "2006-01-02 15:04:05" and "2006-01-02T15:04:05", unpadded months and
//     days allowed, with an optional fraction of a second (Rostelecom);
//   - "02.01.2006 15:04:05", "02.01.2006 15:04" and "02.01.2006" (Sipuni's
//     export, 1C);
//   - "20060102T150405" in loc and "20060102T150405Z" in UTC (the ITooLabs
//     family: Prostie Zvonki, MegaFon);
//   - RFC 3339 with its own offset;
//   - Unix seconds or milliseconds as digits (see [ParseUnix]).
//
// Surrounding space is ignored. "" gives the zero time and no error; any
// other text that fits no form is an error that quotes at most 40 bytes of
// it.
func ParseLocalTime(s string, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = DefaultLocation()
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if allDigits(s) && len(s) != len(compactLayout) {
		if t, ok := ParseUnix(s, loc); ok {
			return t, nil
		}
		return time.Time{}, fmt.Errorf("unreadable time %.40q", s)
	}
	// Pick the layouts by the text's shape, so a webhook's time costs one
	// parse, not a failed parse (and its error allocation) per layout.
	var layouts []string
	switch {
	case len(s) == len(compactLayout)+1 && s[8] == 'T' && (s[len(s)-1] == 'Z' || s[len(s)-1] == 'z'):
		if t, err := time.ParseInLocation(compactLayout, s[:len(s)-1], time.UTC); err == nil {
			return t.In(loc), nil
		}
	case len(s) == len(compactLayout) && s[8] == 'T':
		layouts = compactLayouts
	case len(s) > 4 && s[4] == '-':
		layouts = isoLayouts
		if strings.HasSuffix(s, "Z") || strings.LastIndexAny(s, "+-") > 10 {
			layouts = nil // an offset: RFC 3339 below
		}
	default:
		layouts = dottedLayouts
	}
	for _, layout := range layouts {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.In(loc), nil
	}
	return time.Time{}, fmt.Errorf("unreadable time %.40q", s)
}

const compactLayout = "20060102T150405"

// The layouts by shape. time.Parse reads a fraction of a second after the
// seconds when the layout has none, and "1"/"2" accept two-digit months and
// days.
var (
	compactLayouts = []string{compactLayout}
	isoLayouts     = []string{"2006-1-2 15:04:05", "2006-1-2T15:04:05"}
	dottedLayouts  = []string{"2.1.2006 15:04:05", "2.1.2006 15:04", "2.1.2006"}
)
