package journal

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
)

// Query selects calls. Zero fields do not filter; all fields set must hold.
type Query struct {
	// From and To: calls whose StartedAt is in [From, To); a zero bound is
	// open.
	From, To time.Time
	// Provider: calls of this provider ("rostelecom").
	Provider string
	// Extension: calls in which this extension had a leg (rang, answered,
	// or called out).
	Extension string
	// Phone: calls with the external party's number matching it by the
	// last-digits rule (see phone.Match and [WithDigits]). A login or a
	// text without digits matches nothing.
	Phone string
	// Direction and Outcome: calls with this direction, this outcome.
	Direction pbx.Direction
	Outcome   pbx.Outcome
	// Missed: only missed calls ([Call].Missed: inbound, over, nobody
	// answered, whatever the vendor's word for it).
	Missed bool
	// NotCalledBack: only calls not called back ([Call].CalledBackAt is
	// zero). With Missed: the missed calls still waiting for a call-back.
	NotCalledBack bool
	// Open: only calls still in progress (ClosedBy is CallOpen).
	Open bool
	// Limit: at most this many calls; 0 is no limit.
	Limit int
}

// filter translates q for the store; ok is false when q can match nothing.
func (j *Journal) filter(q Query) (f Filter, ok bool, err error) {
	if q.Limit < 0 {
		return Filter{}, false, fmt.Errorf("journal: negative query limit %d", q.Limit)
	}
	if !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From) {
		return Filter{}, false, fmt.Errorf("journal: query period ends (%s) before it starts (%s)", q.To, q.From)
	}
	f = Filter{
		From: q.From, To: q.To, Provider: q.Provider, Extension: q.Extension,
		Direction: q.Direction, Outcome: q.Outcome, Missed: q.Missed,
		NotCalledBack: q.NotCalledBack, Open: q.Open,
	}
	if q.Phone != "" {
		f.PhoneKey, f.PhonePrefix, ok = j.phoneFilter(q.Phone)
		if !ok {
			return Filter{}, false, nil
		}
	}
	return f, true, nil
}

// phoneFilter returns the PhoneKey condition matching the numbers that
// phone.Match(number, stored, digits) accepts: with more than n digits, the
// same last n digits (a prefix of the reversed digits); with n or fewer,
// the same number. ok is false for a login or a text without digits.
func (j *Journal) phoneFilter(number string) (key string, prefix, ok bool) {
	k := PhoneKey(number)
	if k == "" {
		return "", false, false
	}
	if len(k) > j.digits {
		return k[:j.digits], true, true
	}
	return k, false, true
}

// Calls returns the calls matching q, newest first (by StartedAt). The
// store is read in pages, so a long iteration holds no transaction. A
// store error is yielded once and ends the sequence.
func (j *Journal) Calls(ctx context.Context, q Query) iter.Seq2[Call, error] {
	return func(yield func(Call, error) bool) {
		f, ok, err := j.filter(q)
		if err != nil {
			yield(Call{}, err)
			return
		}
		if !ok {
			return
		}
		left := q.Limit
		for {
			f.Limit = pageSize
			if q.Limit > 0 {
				f.Limit = min(pageSize, left)
			}
			page, err := j.store.Calls(ctx, f)
			if err != nil {
				yield(Call{}, fmt.Errorf("journal: query calls: %w", err))
				return
			}
			for _, c := range page {
				if !yield(c, nil) {
					return
				}
			}
			left -= len(page)
			if len(page) < f.Limit || (q.Limit > 0 && left <= 0) {
				return
			}
			last := page[len(page)-1].Key()
			f.After = &last
		}
	}
}

// EmployeeStats is one extension's line of [Journal.Stats].
type EmployeeStats struct {
	// Extension is the employee's internal number.
	Extension string `json:"extension"`
	// Offered: calls in which this extension had a leg (its phone rang, it
	// answered, or it called out).
	Offered int `json:"offered"`
	// Answered: answered calls in which this extension answered.
	Answered int `json:"answered"`
	// Missed: missed calls ([Call].Missed) that rang it.
	Missed int `json:"missed"`
	// TalkDuration: the talk time of the calls it answered (its own leg's
	// when a call was answered by several, as after a transfer). Written
	// to JSON as talk_seconds.
	TalkDuration time.Duration `json:"-"`
}

// MarshalJSON writes s with the talk time as talk_seconds.
func (s EmployeeStats) MarshalJSON() ([]byte, error) {
	type plain EmployeeStats
	return json.Marshal(struct {
		plain
		TalkSeconds pbx.Seconds `json:"talk_seconds"`
	}{plain(s), pbx.Seconds(s.TalkDuration)})
}

// Stats returns per-extension figures over the calls matching q (q.Limit
// ignored), sorted by extension (numbers by value). With q.Extension set,
// only that extension's line is returned (empty when it had no calls).
func (j *Journal) Stats(ctx context.Context, q Query) ([]EmployeeStats, error) {
	q.Limit = 0
	byExt := make(map[string]*EmployeeStats)
	for c, err := range j.Calls(ctx, q) {
		if err != nil {
			return nil, err
		}
		answeredLegs := 0
		for _, l := range c.Legs {
			if l.Answered {
				answeredLegs++
			}
		}
		seen := make(map[string]bool, len(c.Legs))
		for _, l := range c.Legs {
			if seen[l.Extension] || (q.Extension != "" && l.Extension != q.Extension) {
				continue
			}
			seen[l.Extension] = true
			s := byExt[l.Extension]
			if s == nil {
				s = &EmployeeStats{Extension: l.Extension}
				byExt[l.Extension] = s
			}
			s.Offered++
			if c.Missed {
				s.Missed++
			}
			if c.Outcome == pbx.OutcomeAnswered && l.Answered {
				s.Answered++
				switch {
				case answeredLegs == 1 || l.Extension == c.AnsweredBy && (l.AnsweredAt.IsZero() || l.EndedAt.IsZero()):
					s.TalkDuration += c.TalkDuration
				case !l.AnsweredAt.IsZero() && l.EndedAt.After(l.AnsweredAt):
					s.TalkDuration += l.EndedAt.Sub(l.AnsweredAt)
				}
			}
		}
	}
	out := make([]EmployeeStats, 0, len(byExt))
	for _, s := range byExt {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b EmployeeStats) int { return compareExtensions(a.Extension, b.Extension) })
	return out, nil
}

// compareExtensions orders numbers by value ("99" before "101"), then
// anything else by text.
func compareExtensions(a, b string) int {
	if isDigits(a) && isDigits(b) && len(a) != len(b) {
		return cmp.Compare(len(a), len(b))
	}
	return cmp.Compare(a, b)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
