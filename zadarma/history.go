package zadarma

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
	"github.com/pbxkit/pbxkit/provider"
)

// StatisticsPage is one answer of GET /v1/statistics/pbx/ (version 2).
type StatisticsPage struct {
	// Start and End are the period the answer covers, as Zadarma wrote
	// it. Zadarma shortens a period longer than a month to 30 days.
	Start, End string
	// Version is the format version (2).
	Version int
	// Stats are the rows, at most 1,000.
	Stats []StatsRow
}

// StatsRow is one row of the PBX statistics, the Raw of the pbx.CallRecord
// [StatsRow.CallRecord] makes from it. The fields are the row's, as
// written.
type StatsRow struct {
	// CallID is the recording's id ("call_id", a JSON number such as
	// 1439981389.2702773, kept as written): the call_id of
	// pbx/record/request.
	CallID string `json:"call_id,omitempty"`
	// SIP is the SIP number (extension) used for the call.
	SIP string `json:"sip,omitempty"`
	// CallStart is when the call started, "2006-01-02 15:04:05" in the
	// account's zone.
	CallStart string `json:"callstart,omitempty"`
	// CLID is the CallerID used for the call.
	CLID string `json:"clid,omitempty"`
	// Destination is where the call went: an extension or a scenario on
	// an incoming call, the number called on an outgoing one.
	Destination string `json:"destination,omitempty"`
	// Disposition is how the call ended, as in the notifications.
	Disposition string `json:"disposition,omitempty"`
	// Seconds is the call's duration in seconds (see
	// StatsRow.CallRecord for what it is read as).
	Seconds string `json:"seconds,omitempty"`
	// IsRecorded says whether the call was recorded.
	IsRecorded bool `json:"is_recorded,omitempty"`
	// PBXCallID is the call's permanent id, the CallID of its events.
	PBXCallID string `json:"pbx_call_id,omitempty"`
	// Start is CallStart read in the client's Location; zero when it did
	// not parse.
	Start time.Time `json:"start,omitzero"`
}

// statsJSON is the wire form: every field tolerant of strings and numbers.
type statsJSON struct {
	Status  provider.String `json:"status"`
	Start   provider.String `json:"start"`
	End     provider.String `json:"end"`
	Version provider.Int    `json:"version"`
	Stats   []struct {
		CallID      provider.String `json:"call_id"`
		SIP         provider.String `json:"sip"`
		CallStart   provider.String `json:"callstart"`
		CLID        provider.String `json:"clid"`
		Destination provider.String `json:"destination"`
		Disposition provider.String `json:"disposition"`
		Seconds     provider.String `json:"seconds"`
		IsRecorded  provider.Bool   `json:"is_recorded"`
		PBXCallID   provider.String `json:"pbx_call_id"`
	} `json:"stats"`
}

// ParseStatistics reads an answer of statistics/pbx (version 2), reading
// its times in loc (nil means Europe/Moscow). It fails only for a body
// that is not such a JSON object; a row's field of an unexpected kind is
// kept as text, and a time that does not parse leaves StatsRow.Start zero.
func ParseStatistics(b []byte, loc *time.Location) (*StatisticsPage, error) {
	if loc == nil {
		loc = provider.DefaultLocation()
	}
	var raw statsJSON
	if err := json.Unmarshal(bytes.TrimSpace(b), &raw); err != nil {
		return nil, errors.New("zadarma: statistics: the answer is not the expected JSON object")
	}
	p := &StatisticsPage{Start: string(raw.Start), End: string(raw.End), Version: int(raw.Version), Stats: make([]StatsRow, len(raw.Stats))}
	for i, s := range raw.Stats {
		r := StatsRow{
			CallID:      string(s.CallID),
			SIP:         string(s.SIP),
			CallStart:   string(s.CallStart),
			CLID:        string(s.CLID),
			Destination: string(s.Destination),
			Disposition: string(s.Disposition),
			Seconds:     string(s.Seconds),
			IsRecorded:  bool(s.IsRecorded),
			PBXCallID:   string(s.PBXCallID),
		}
		if t, err := time.ParseInLocation(callTimeLayout, strings.TrimSpace(r.CallStart), loc); err == nil {
			r.Start = t
		} else if t, err := provider.ParseLocalTime(r.CallStart, loc); err == nil {
			r.Start = t
		}
		p.Stats[i] = r
	}
	return p, nil
}

// CallRecord maps the row to the neutral form, with r itself as its Raw.
//
// CallID is pbx_call_id (the CallID of the call's events; the recording's
// call_id stays in Raw). The direction is the pbx_call_id's prefix ("in_",
// "out_"). On an incoming call Phone is clid and Extension the
// destination when it is an extension (not a scenario such as "0-1"); on
// an outgoing one Extension is sip, Phone the destination and Line the
// clid when it is a telephone number. These readings of sip, clid and
// destination are inferred from their one-line descriptions.
//
// seconds ("call duration in seconds") is read as CallDuration, like the
// notifications' duration, and TalkDuration stays zero: whether it counts
// the ringing is not documented.
func (r *StatsRow) CallRecord() pbx.CallRecord {
	rec := pbx.CallRecord{
		CallID:       strings.TrimSpace(r.PBXCallID),
		Direction:    idDirection(r.PBXCallID),
		StartedAt:    r.Start,
		Outcome:      DispositionOutcome(r.Disposition),
		HasRecording: r.IsRecorded,
		Raw:          r,
	}
	clid, dst, sip := strings.TrimSpace(r.CLID), strings.TrimSpace(r.Destination), strings.TrimSpace(r.SIP)
	switch rec.Direction {
	case pbx.Outbound:
		if isShortNumber(sip) {
			rec.Extension = sip
		}
		rec.Phone = phone.Normalize(dst)
		if clid != "" && !isShortNumber(clid) {
			rec.Line = phone.Normalize(clid)
		}
	default:
		rec.Phone = phone.Normalize(clid)
		if isShortNumber(dst) {
			rec.Extension = dst
		}
	}
	if d, err := provider.ParseSeconds(r.Seconds); err == nil && d > 0 {
		rec.CallDuration = d
	}
	return rec
}
