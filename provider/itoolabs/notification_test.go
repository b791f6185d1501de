package itoolabs

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
)

var msk = time.FixedZone("MSK", 3*3600)

// The two dialects of the family the tests compare: Prostie Zvonki's
// (zone-less local times) and MegaFon's (UTC).
var (
	localDialect = &Dialect{Provider: "pz", Accepted: []byte(`{"result":"ok"}`), NoDecision: []byte(`{"responsible":""}`)}
	utcDialect   = &Dialect{Provider: "mf", UTC: true, ContactNameAlone: true}
)

func decodeOK(t *testing.T, body, query string) (*Notification, string) {
	t.Helper()
	n := new(Notification)
	tok, err := Decode([]byte(body), query, n)
	require.NoError(t, err)
	return n, tok
}

// TestDecodeEncodings: the same notification as JSON, as a form (what
// MegaFon posts), as a query, and with the family's spellings decodes to
// the same fields, and the token never lands in the Notification.
func TestDecodeEncodings(t *testing.T) {
	form := url.Values{"cmd": {"history"}, "type": {"in"}, "status": {"Success"}, "user": {"admin@vats.megapbx.ru"},
		"ext": {"101"}, "phone": {"79161234567"}, "diversion": {"74951234567"}, "start": {"20260323T085626Z"},
		"duration": {"28"}, "wait": {"5"}, "callid": {"c-1"}, "link": {"https://records.megapbx.ru/r.mp3"},
		"z-flag": {"0"}, "crm_token": {"tok"}}
	want := Notification{Cmd: "history", Type: "in", Status: "Success", User: "admin@vats.megapbx.ru", Ext: "101",
		Phone: "79161234567", Diversion: "74951234567", Start: "20260323T085626Z", Duration: "28", Wait: "5",
		CallID: "c-1", Link: "https://records.megapbx.ru/r.mp3", Extra: map[string]string{"z-flag": "0"}}
	json := `{"cmd":"history","type":"in","status":"Success","user":"admin@vats.megapbx.ru","ext":"101",` +
		`"phone":"79161234567","diversion":"74951234567","start":"20260323T085626Z","duration":28,"wait":"5",` +
		`"callid":"c-1","link":"https:\/\/records.megapbx.ru\/r.mp3","z-flag":"0","crm_token":"tok"}`
	tests := []struct{ name, body, query string }{
		{"form", form.Encode(), ""},
		{"JSON", json, ""},
		{"JSON with BOM and quotes", "\xEF\xBB\xBF '" + json + "' ", ""},
		{"query only", "", form.Encode()},
		{"token in query, fields in form", url.Values{"cmd": form["cmd"], "type": form["type"], "status": form["status"],
			"user": form["user"], "ext": form["ext"], "phone": form["phone"], "diversion": form["diversion"],
			"start": form["start"], "duration": form["duration"], "wait": form["wait"], "callid": form["callid"],
			"link": form["link"], "z-flag": form["z-flag"]}.Encode(), "crm_token=tok"},
		{"call_id spelling", strings.Replace(json, `"callid"`, `"call_id"`, 1), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, tok := decodeOK(t, tt.body, tt.query)
			assert.Equal(t, "tok", tok)
			assert.Equal(t, want, *n)
		})
	}
}

// TestDecodeCallIDPrecedence: a non-empty callid wins over call_id in
// either order; an empty one does not hide call_id.
func TestDecodeCallIDPrecedence(t *testing.T) {
	for body, want := range map[string]string{
		`{"call_id":"b","callid":"a"}`:    "a",
		`{"callid":"a","call_id":"b"}`:    "a",
		`{"callid":"","call_id":"b"}`:     "b",
		`{"call_id":"b"}`:                 "b",
		`callid=a&call_id=b`:              "a",
		`{"call_id":"b","call_id":"c"}`:   "c", // encoding/json's last-wins
		`{"callid":null,"call_id":"b"}`:   "b",
		`{"cmd":"event","callid":"x\"y"}`: `x"y`,
	} {
		n, _ := decodeOK(t, body, "")
		assert.Equal(t, want, n.CallID, body)
	}
}

// TestDecodeErrors: syntax errors decode nothing; a field of the wrong
// kind is a *FieldError that still returns the token.
func TestDecodeErrors(t *testing.T) {
	for _, body := range []string{"", "  ", "[]", `{"cmd":`, "{", "cmd=%zz"} {
		n := new(Notification)
		tok, err := Decode([]byte(body), "", n)
		assert.ErrorIs(t, err, ErrSyntax, "%q", body)
		assert.Empty(t, tok)
	}
	n := new(Notification)
	tok, err := Decode([]byte(`{"cmd":"history","duration":{"a":1},"crm_token":"tok","list":[1, 2]}`), "", n)
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "duration", fe.Field)
	assert.Equal(t, "an object", fe.Kind)
	assert.Equal(t, "tok", tok, "the token is read despite the field error")
	assert.Equal(t, map[string]string{"list": "[1,2]"}, n.Extra, "unknown composite fields are kept as compact JSON")

	// A token of the wrong kind is no token.
	n = new(Notification)
	tok, err = Decode([]byte(`{"cmd":"event","crm_token":["tok"]}`), "", n)
	require.NoError(t, err)
	assert.Empty(t, tok)
	assert.Nil(t, n.Extra, "the token never lands in Extra")
}

func TestSetField(t *testing.T) {
	var n Notification
	assert.True(t, n.SetField("status", "Busy"))
	assert.True(t, n.SetField("call_id", "b"))
	assert.True(t, n.SetField("call_id", "c"), "call_id fills CallID only while it is empty")
	assert.False(t, n.SetField("z_flag", "0"))
	assert.Equal(t, Notification{Status: "Busy", CallID: "b", Extra: map[string]string{"z_flag": "0"}}, n)
	assert.True(t, n.SetField("callid", "a"))
	assert.Equal(t, "a", n.CallID)
}

func TestParseTables(t *testing.T) {
	for s, want := range map[string]pbx.Outcome{
		"Success": pbx.OutcomeAnswered, "success": pbx.OutcomeAnswered, "SUCCESS": pbx.OutcomeAnswered,
		"missed": pbx.OutcomeMissed, "Missed": pbx.OutcomeMissed, "Busy": pbx.OutcomeBusy, "Cancel": pbx.OutcomeCancelled,
		"NotAvailable": pbx.OutcomeFailed, "notallowed": pbx.OutcomeFailed, "NotFound": pbx.OutcomeFailed,
		"callAerror": pbx.OutcomeFailed, " success ": pbx.OutcomeAnswered, "Weird": pbx.OutcomeUnknown, "": pbx.OutcomeUnknown,
	} {
		assert.Equal(t, want, ParseOutcome(s), s)
	}
	for s, want := range map[string]pbx.EventType{
		"INCOMING": pbx.EventRinging, "incoming": pbx.EventRinging, "Outgoing": pbx.EventRinging,
		"ACCEPTED": pbx.EventAnswered, "COMPLETED": pbx.EventLegEnded, "cancelled": pbx.EventLegEnded,
		"TRANSFERRED": pbx.EventTransferred, "HOLD": pbx.EventUnknown,
	} {
		assert.Equal(t, want, ParseEventType(s), s)
	}
	for s, want := range map[string]pbx.Direction{"in": pbx.Inbound, "OUT": pbx.Outbound, " Incoming ": pbx.Inbound, "x": pbx.DirectionUnknown} {
		assert.Equal(t, want, ParseDirection(s), s)
	}
}

// TestCallEventDialectTimes: a start with Z is UTC for every vendor; a
// zone-less start is read in the receiver's zone for a local dialect and
// in UTC for a UTC one; every returned time is in the receiver's zone.
func TestCallEventDialectTimes(t *testing.T) {
	utc := time.Date(2026, 3, 23, 8, 56, 26, 0, time.UTC)
	local := time.Date(2026, 3, 23, 8, 56, 26, 0, msk)
	tests := []struct {
		name  string
		d     *Dialect
		start string
		want  time.Time
	}{
		{"local dialect, Z", localDialect, "20260323T085626Z", utc},
		{"UTC dialect, Z", utcDialect, "20260323T085626Z", utc},
		{"local dialect, no zone", localDialect, "20260323T085626", local},
		{"UTC dialect, no zone", utcDialect, "20260323T085626", utc},
		{"UTC dialect, RFC 3339 offset", utcDialect, "2026-03-23T11:56:26+03:00", utc},
		{"nil dialect reads locally", nil, "20260323T085626", local},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &Notification{Cmd: "history", Type: "in", Status: "Success", Start: tt.start, Duration: "28", Wait: "5"}
			e, err := n.CallEvent(tt.d, msk, time.Now())
			require.NoError(t, err)
			assert.True(t, tt.want.Equal(e.StartedAt), "start %v, want %v", e.StartedAt, tt.want)
			assert.Equal(t, msk, e.StartedAt.Location())
			assert.Equal(t, msk, e.EndedAt.Location())
			assert.True(t, e.EndedAt.Equal(tt.want.Add(28*time.Second)), "the family sends no end: start + duration")
			assert.Equal(t, 28*time.Second, e.CallDuration, "duration is the whole call")
			assert.Equal(t, 23*time.Second, e.TalkDuration, "talk is duration - wait")
			assert.True(t, e.AnsweredAt.Equal(tt.want.Add(5*time.Second)))
		})
	}
}

// TestCallEventDurationsHonest: without wait the talk time is unknown and
// stays zero; an unanswered call has no talk time.
func TestCallEventDurationsHonest(t *testing.T) {
	for _, tt := range []struct {
		status, wait string
		talk         time.Duration
	}{
		{"Success", "", 0},
		{"Missed", "20", 0},
		{"Success", "40", 0}, // wait longer than the call says nothing
		{"Success", "8", 20 * time.Second},
	} {
		n := &Notification{Cmd: "history", Status: tt.status, Start: "20260323T085626Z", Duration: "28", Wait: tt.wait}
		e, err := n.CallEvent(utcDialect, msk, time.Now())
		require.NoError(t, err)
		assert.Equal(t, tt.talk, e.TalkDuration, "%+v", tt)
		assert.Equal(t, 28*time.Second, e.CallDuration)
	}
	_, err := (&Notification{Cmd: "history", Duration: "x"}).CallEvent(utcDialect, msk, time.Now())
	assert.ErrorContains(t, err, "duration")
}

// TestDialectRawAndProvider: the dialect names the events and questions,
// and Raw is what the dialect says (the vendor's own pointer).
func TestDialectRawAndProvider(t *testing.T) {
	type vendorNotification Notification
	d := &Dialect{Provider: "acme", Raw: func(n *Notification) any { return (*vendorNotification)(n) }}
	n := &Notification{Cmd: "event", Type: "INCOMING", Phone: "8 (916) 123-45-67", Diversion: "74951234567", CallID: "c"}
	e, err := n.CallEvent(d, msk, time.Now())
	require.NoError(t, err)
	assert.Equal(t, "acme", e.Provider)
	raw, ok := e.Raw.(*vendorNotification)
	require.True(t, ok, "Raw is %T", e.Raw)
	assert.Same(t, n, (*Notification)(raw))
	q := n.RouteQuery(d)
	assert.Equal(t, pbx.RouteQuery{Provider: "acme", CallID: "c", Phone: "79161234567", Line: "74951234567", Raw: raw}, q)

	e, err = n.CallEvent(nil, nil, time.Now())
	require.NoError(t, err)
	assert.Same(t, n, e.Raw, "without Raw the Notification itself")
	assert.Equal(t, "", e.Provider)
}

func TestFormatTime(t *testing.T) {
	tm := time.Date(2026, 3, 23, 11, 56, 26, 0, msk)
	assert.Equal(t, "20260323T085626Z", utcDialect.FormatTime(tm, msk))
	assert.Equal(t, "20260323T115626", localDialect.FormatTime(tm, msk))
	// What a dialect writes, it reads back as the same instant.
	for _, d := range []*Dialect{utcDialect, localDialect} {
		back, err := d.ParseTime(d.FormatTime(tm, msk), msk)
		require.NoError(t, err)
		assert.True(t, back.Equal(tm))
	}
	_, err := utcDialect.ParseTime("yesterday", msk)
	assert.Error(t, err)
	zero, err := utcDialect.ParseTime("", msk)
	assert.NoError(t, err)
	assert.True(t, zero.IsZero())
}

func TestFieldErrorText(t *testing.T) {
	err := error(&FieldError{Field: "duration", Kind: "an array"})
	assert.Equal(t, `field "duration" is an array, want a string or a number`, err.Error())
	assert.False(t, errors.Is(err, ErrSyntax))
}
