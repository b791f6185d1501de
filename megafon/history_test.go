package megafon

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
)

var msk = time.FixedZone("MSK", 3*3600)

func readAll(t *testing.T, body string) ([]*HistoryRow, error) {
	t.Helper()
	hr := NewHistoryReader(strings.NewReader(body), msk)
	var rows []*HistoryRow
	for i := 0; i < 100000; i++ {
		r, err := hr.Next()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return rows, err
		}
		rows = append(rows, r)
	}
	t.Fatal("reader did not end")
	return nil, nil
}

// TestHistoryReaderShapes: the export's array, with the fields as public
// clients show them, and the tolerated variants.
func TestHistoryReaderShapes(t *testing.T) {
	body := `[
	  {"uid":"call-001","type":"in","status":"success","client":"79260001122","user":"admin","group_name":"Техподдержка",
	   "diversion":"74950000001","start":"2026-04-05T12:00:00Z","wait":5,"duration":23,"record":"https://example.com/record.mp3","missedStatus":2},
	  {"uid":"call-002","type":"out","status":"missed","client":"+7 926 000-11-23","user":"petrov","start":"20260405T130000Z","wait":"12","duration":"0","record":null},
	  {"uid":42,"type":"missed","status":"no_answer","client":"79260001124","start":"2026-04-05 14:00:00","nested":{"a":[1]}}
	]`
	rows, err := readAll(t, body)
	require.NoError(t, err)
	require.Len(t, rows, 3)

	r := rows[0]
	assert.Equal(t, "call-001", r.UID)
	assert.Equal(t, "Техподдержка", r.GroupName)
	assert.Equal(t, map[string]string{"missedStatus": "2"}, r.Extra)
	assert.True(t, r.Time.Equal(time.Date(2026, 4, 5, 12, 0, 0, 0, time.UTC)))
	assert.Equal(t, msk, r.Time.Location())
	rec := r.CallRecord()
	assert.Equal(t, pbx.CallRecord{CallID: "call-001", Direction: pbx.Inbound, Phone: "79260001122", Line: "74950000001",
		StartedAt: r.Time, TalkDuration: 23 * time.Second, CallDuration: 28 * time.Second, Outcome: pbx.OutcomeAnswered,
		HasRecording: true, Raw: r}, rec)

	r = rows[1]
	assert.True(t, r.Time.Equal(time.Date(2026, 4, 5, 13, 0, 0, 0, time.UTC)), "the notification's form is read too")
	rec = r.CallRecord()
	assert.Equal(t, pbx.OutcomeMissed, rec.Outcome)
	assert.Equal(t, pbx.Outbound, rec.Direction)
	assert.Equal(t, "79260001123", rec.Phone)
	assert.Zero(t, rec.TalkDuration, "no talk on a missed call")
	assert.Equal(t, 12*time.Second, rec.CallDuration, "wait + duration")
	assert.False(t, rec.HasRecording)

	r = rows[2]
	assert.Equal(t, "42", r.UID, "a number is kept as written")
	assert.Equal(t, `{"a":[1]}`, r.Extra["nested"])
	assert.True(t, r.Time.Equal(time.Date(2026, 4, 5, 14, 0, 0, 0, time.UTC)), "a zone-less start is UTC")
	rec = r.CallRecord()
	assert.Equal(t, pbx.OutcomeMissed, rec.Outcome, "no_answer")
	assert.Equal(t, pbx.Inbound, rec.Direction, "a missed call is incoming")
	assert.Zero(t, rec.CallDuration, "no wait: the whole call is not known")
}

// TestHistoryRowOutcomes: statuses in any case, the webhook's too.
func TestHistoryRowOutcomes(t *testing.T) {
	for status, want := range map[string]pbx.Outcome{
		"success": pbx.OutcomeAnswered, "Success": pbx.OutcomeAnswered, "missed": pbx.OutcomeMissed,
		"NoAnswer": pbx.OutcomeMissed, "Busy": pbx.OutcomeBusy, "cancel": pbx.OutcomeCancelled,
		"NotAvailable": pbx.OutcomeFailed, "weird": pbx.OutcomeUnknown,
	} {
		assert.Equal(t, want, (&HistoryRow{Type: "in", Status: status}).Outcome(), status)
	}
}

// TestHistoryReaderEnds: empty answers are empty exports; what is not an
// array of objects is an error that ends the reader.
func TestHistoryReaderEnds(t *testing.T) {
	for _, body := range []string{"", "  ", "null", "[]", " [ ] "} {
		rows, err := readAll(t, body)
		assert.NoError(t, err, "%q", body)
		assert.Empty(t, rows)
	}
	for _, body := range []string{`{"message":"x"}`, `"x"`, `[1]`, `[null]`, `[{"uid":"1"}`, `[{"uid":"1"},]`, `[{"uid":`} {
		_, err := readAll(t, body)
		assert.Error(t, err, "%q", body)
	}
	// A row over the limit is refused before it is all in memory.
	big := `[{"uid":"1","x":"` + strings.Repeat("a", maxRowBytes+100<<10) + `"}]`
	_, err := readAll(t, big)
	assert.True(t, errors.Is(err, errRowTooLarge), "%v", err)
	// Many ordinary rows are fine: the limit is per row.
	var b strings.Builder
	b.WriteString("[")
	for i := 0; i < 5000; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"uid":"` + strings.Repeat("u", 100) + `","type":"in","status":"success","duration":1}`)
	}
	b.WriteString("]")
	rows, err := readAll(t, b.String())
	require.NoError(t, err)
	assert.Len(t, rows, 5000)
}
