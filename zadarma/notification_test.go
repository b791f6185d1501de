package zadarma

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

func TestParseNotificationForm(t *testing.T) {
	body := "event=NOTIFY_END&call_start=2026-03-01+10%3A00%3A00&pbx_call_id=in_abc&caller_id=%2B79161234567" +
		"&called_did=74951234567&internal=101&duration=47&disposition=no+money%2C+no+limit&status_code=16" +
		"&is_recorded=1&call_id_with_rec=1774372146.1234567&extra=a;b"
	n, err := ParseNotification([]byte(body), "application/x-www-form-urlencoded")
	require.NoError(t, err)
	assert.Equal(t, EventEnd, n.Event)
	assert.Equal(t, "2026-03-01 10:00:00", n.CallStart)
	assert.Equal(t, "+79161234567", n.CallerID, "kept as received: it is signed")
	assert.Equal(t, "no money, no limit", n.Disposition)
	assert.Equal(t, "a;b", n.Params.Get("extra"), "a semicolon stays in its value")
	assert.Nil(t, n.WaitDTMF)
}

func TestParseNotificationWaitDTMF(t *testing.T) {
	for name, tc := range map[string]struct {
		body, ct string
	}{
		"PHP form keys":    {"event=NOTIFY_IVR&wait_dtmf%5Bname%5D=menu&wait_dtmf%5Bdigits%5D=12&wait_dtmf%5Bdefault_behaviour%5D=", ""},
		"JSON in a field":  {"event=NOTIFY_IVR&wait_dtmf=" + url.QueryEscape(`{"name":"menu","digits":12}`), ""},
		"JSON body":        {`{"event":"NOTIFY_IVR","wait_dtmf":{"name":"menu","digits":"12"}}`, "application/json"},
		"JSON body, no ct": {` {"event":"NOTIFY_IVR","wait_dtmf":{"name":"menu","digits":"12"}}`, ""},
	} {
		n, err := ParseNotification([]byte(tc.body), tc.ct)
		require.NoError(t, err, name)
		require.NotNil(t, n.WaitDTMF, name)
		assert.Equal(t, "menu", n.WaitDTMF.Name, name)
		assert.Equal(t, "12", n.WaitDTMF.Digits, name)
		assert.Equal(t, "12", n.RouteQuery().Digits, name)
	}
}

func TestParseNotificationJSON(t *testing.T) {
	n, err := ParseNotification([]byte(`{"event":"NOTIFY_START","caller_id":79161234567,"called_did":null,"call_start":"2026-03-01 10:00:00"}`), "")
	require.NoError(t, err)
	assert.Equal(t, "79161234567", n.CallerID, "a number as written")
	assert.Equal(t, "", n.CalledDID)
	for _, bad := range []string{"{", "[1]", `{"event":`, "null"} {
		_, err := ParseNotification([]byte(bad), "application/json")
		assert.Error(t, err, bad)
	}
	n, err = ParseNotification([]byte("garbage without equals"), "")
	require.NoError(t, err, "any form is accepted")
	assert.Equal(t, "", n.Event)
}

func TestDispositionOutcome(t *testing.T) {
	for in, want := range map[string]pbx.Outcome{
		"answered": pbx.OutcomeAnswered, " ANSWERED ": pbx.OutcomeAnswered,
		"no answer": pbx.OutcomeMissed, "busy": pbx.OutcomeBusy, "cancel": pbx.OutcomeCancelled,
		"failed": pbx.OutcomeFailed, "call failed": pbx.OutcomeFailed, "no money": pbx.OutcomeFailed,
		"unallocated number": pbx.OutcomeFailed, "no limit": pbx.OutcomeFailed, "no day limit": pbx.OutcomeFailed,
		"line limit": pbx.OutcomeFailed, "no money, no limit": pbx.OutcomeFailed,
		"": pbx.OutcomeUnknown, "voicemail": pbx.OutcomeUnknown,
	} {
		assert.Equal(t, want, DispositionOutcome(in), "%q", in)
	}
}

func TestCallEventMapping(t *testing.T) {
	received := time.Date(2026, 3, 1, 7, 1, 0, 0, time.UTC)
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, msk)
	const in = "in_0123456789abcdef0123456789abcdef01234567"
	const out = "out_0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		name   string
		fields url.Values
		want   pbx.CallEvent
	}{
		{"start", url.Values{"event": {EventStart}, "call_start": {"2026-03-01 10:00:00"}, "pbx_call_id": {in},
			"caller_id": {"+7 916 123-45-67"}, "called_did": {"74951234567"}},
			pbx.CallEvent{Type: pbx.EventCallStarted, CallID: in, Direction: pbx.Inbound, Phone: "79161234567",
				Line: "74951234567", At: start, StartedAt: start}},
		{"internal", url.Values{"event": {EventInternal}, "call_start": {"2026-03-01 10:00:00"}, "pbx_call_id": {in},
			"caller_id": {"79161234567"}, "called_did": {"74951234567"}, "internal": {"101"}},
			pbx.CallEvent{Type: pbx.EventRinging, CallID: in, Direction: pbx.Inbound, Extension: "101", Phone: "79161234567",
				Line: "74951234567", At: received.In(msk), StartedAt: start}},
		{"answer", url.Values{"event": {EventAnswer}, "call_start": {"2026-03-01 10:00:00"}, "pbx_call_id": {in},
			"caller_id": {"79161234567"}, "destination": {"101"}, "internal": {"101"}},
			pbx.CallEvent{Type: pbx.EventAnswered, CallID: in, Direction: pbx.Inbound, Extension: "101", Phone: "79161234567",
				At: received.In(msk), StartedAt: start}},
		{"end", endFields(),
			pbx.CallEvent{Type: pbx.EventCallEnded, CallID: in, Direction: pbx.Inbound, Extension: "101", Phone: "79161234567",
				Line: "74951234567", At: received.In(msk), StartedAt: start, Outcome: pbx.OutcomeAnswered,
				CallDuration: 47 * time.Second, HasRecording: true}},
		{"out start", url.Values{"event": {EventOutStart}, "call_start": {"2026-03-01 10:00:00"}, "pbx_call_id": {out},
			"internal": {"102"}, "destination": {"89031234567"}},
			pbx.CallEvent{Type: pbx.EventCallStarted, CallID: out, Direction: pbx.Outbound, Extension: "102", Phone: "79031234567",
				At: start, StartedAt: start}},
		{"out end", url.Values{"event": {EventOutEnd}, "call_start": {"2026-03-01 10:00:00"}, "pbx_call_id": {out},
			"caller_id": {"74951234567"}, "internal": {"102"}, "destination": {"79031234567"}, "duration": {"0"},
			"disposition": {"busy"}, "is_recorded": {"0"}},
			pbx.CallEvent{Type: pbx.EventCallEnded, CallID: out, Direction: pbx.Outbound, Extension: "102", Phone: "79031234567",
				Line: "74951234567", At: received.In(msk), StartedAt: start, Outcome: pbx.OutcomeBusy}},
		{"out end, caller_id an extension", url.Values{"event": {EventOutEnd}, "pbx_call_id": {out}, "caller_id": {"102"},
			"internal": {"102"}, "destination": {"79031234567"}, "disposition": {"cancel"}},
			pbx.CallEvent{Type: pbx.EventCallEnded, CallID: out, Direction: pbx.Outbound, Extension: "102", Phone: "79031234567",
				At: received.In(msk), Outcome: pbx.OutcomeCancelled}},
		{"record", url.Values{"event": {EventRecord}, "pbx_call_id": {in}, "call_id_with_rec": {"1774372146.1234567"}},
			pbx.CallEvent{Type: pbx.EventUnknown, CallID: in, Direction: pbx.Inbound, At: received.In(msk), HasRecording: true}},
		{"end without prefix or time", url.Values{"event": {EventEnd}, "pbx_call_id": {"12345"}, "caller_id": {"79161234567"},
			"disposition": {"no answer"}, "duration": {"abc"}},
			pbx.CallEvent{Type: pbx.EventCallEnded, CallID: "12345", Direction: pbx.Inbound, Phone: "79161234567",
				At: received.In(msk), Outcome: pbx.OutcomeMissed}},
	} {
		n, err := ParseNotification([]byte(tc.fields.Encode()), "")
		require.NoError(t, err, tc.name)
		got := n.CallEvent(msk, received)
		assert.Same(t, n, got.Raw, tc.name)
		assert.NotEmpty(t, got.DedupeKey, tc.name)
		tc.want.Provider, tc.want.Raw, tc.want.DedupeKey = Name, got.Raw, got.DedupeKey
		assert.Equal(t, tc.want, got, tc.name)
		for _, tm := range []time.Time{got.At, got.StartedAt} {
			if !tm.IsZero() {
				assert.Equal(t, msk, tm.Location(), tc.name)
			}
		}
	}
}

func TestCallEventDefaultLocationAndDedupe(t *testing.T) {
	n, err := ParseNotification([]byte(endFields().Encode()), "")
	require.NoError(t, err)
	e := n.CallEvent(nil, time.Now())
	assert.Equal(t, provider.DefaultLocation(), e.StartedAt.Location(), "the default zone")

	// The same fields in another order: the same key; another value: another key.
	f := endFields()
	var parts []string
	for k := range f {
		parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(f.Get(k)))
	}
	slices.Reverse(parts)
	reordered, err := ParseNotification([]byte(strings.Join(parts, "&")), "")
	require.NoError(t, err)
	assert.Equal(t, e.DedupeKey, reordered.CallEvent(nil, time.Now()).DedupeKey)
	f.Set("duration", "48")
	other, err := ParseNotification([]byte(f.Encode()), "")
	require.NoError(t, err)
	assert.NotEqual(t, e.DedupeKey, other.CallEvent(nil, time.Now()).DedupeKey)
	// Built by hand, without Params.
	byHand := &Notification{Event: EventEnd, PBXCallID: "in_x"}
	assert.Equal(t, byHand.CallEvent(nil, time.Now()).DedupeKey, (&Notification{Event: EventEnd, PBXCallID: "in_x"}).CallEvent(nil, time.Now()).DedupeKey)
}

func TestRouteQuery(t *testing.T) {
	n, err := ParseNotification([]byte(startFields().Encode()), "")
	require.NoError(t, err)
	q := n.RouteQuery()
	assert.Equal(t, pbx.RouteQuery{Provider: Name, CallID: "in_0123456789abcdef0123456789abcdef01234567",
		Phone: "79161234567", Line: "74951234567", Raw: n}, q)
}
