package outbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/outbox"
)

// exampleCall is the missed-then-called-back call of docs/outbox.md.
func exampleCall() journal.Call {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	return journal.Call{
		Provider: "rostelecom", CallID: "a1b2c3", Direction: pbx.Inbound,
		Phone: "79991234567", Line: "74951112233",
		StartedAt: at(0), EndedAt: at(31), CallDuration: 31 * time.Second,
		Outcome: pbx.OutcomeMissed, Missed: true,
		Legs: []journal.Leg{
			{Extension: "101", RangAt: at(1), EndedAt: at(31)},
			{Extension: "102", RangAt: at(1).Add(500 * time.Millisecond), EndedAt: at(31)},
		},
		ClosedBy:     journal.ClosedByEvent,
		CalledBackAt: at(600), CalledBackBy: "101",
		LastEventAt: at(31), FirstSeq: 1201, LastSeq: 1207,
	}
}

// exampleJSON is the document of exampleCall, as docs/outbox.md shows it.
const exampleJSON = `{
  "type": "call",
  "version": 1207,
  "provider": "rostelecom",
  "call_id": "a1b2c3",
  "direction": "inbound",
  "phone": "79991234567",
  "line": "74951112233",
  "started_at": "2025-03-14T10:00:00+03:00",
  "answered_at": null,
  "ended_at": "2025-03-14T10:00:31+03:00",
  "talk_seconds": 0,
  "call_seconds": 31,
  "hold_seconds": 0,
  "outcome": "missed",
  "missed": true,
  "answered_by": "",
  "closed_by": "event",
  "called_back": true,
  "called_back_at": "2025-03-14T10:10:00+03:00",
  "called_back_by": "101",
  "recording_url": "",
  "has_recording": false,
  "legs": [
    {
      "extension": "101",
      "rang_at": "2025-03-14T10:00:01+03:00",
      "answered_at": null,
      "ended_at": "2025-03-14T10:00:31+03:00",
      "answered": false
    },
    {
      "extension": "102",
      "rang_at": "2025-03-14T10:00:01+03:00",
      "answered_at": null,
      "ended_at": "2025-03-14T10:00:31+03:00",
      "answered": false
    }
  ]
}`

// TestCallDocumentJSON pins the JSON 1C reads: every field present, times
// RFC 3339 with offset to the second, durations in seconds, null for
// unknown times, the flags as booleans.
func TestCallDocumentJSON(t *testing.T) {
	b, err := json.MarshalIndent(outbox.NewCallDocument(exampleCall()), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != exampleJSON {
		t.Errorf("got\n%s\nwant\n%s", b, exampleJSON)
	}
	var back outbox.CallDocument
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	b2, _ := json.MarshalIndent(back, "", "  ")
	if !bytes.Equal(b, b2) {
		t.Errorf("round trip changed the document:\n%s", b2)
	}

	answered := journal.Call{
		Provider: "sipuni", CallID: "x", Direction: pbx.Outbound, StartedAt: t0, AnsweredAt: t0.Add(3 * time.Second),
		EndedAt: t0.Add(64 * time.Second), TalkDuration: 61500 * time.Millisecond, CallDuration: 64 * time.Second,
		Outcome: pbx.OutcomeAnswered, AnsweredBy: "102", ClosedBy: journal.ClosedByHistory, LastSeq: 9,
		RecordingURL: "https://rec.example/x.mp3", HasRecording: true,
	}
	var m map[string]any
	b, _ = json.Marshal(outbox.NewCallDocument(answered))
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"talk_seconds": 61.5, "call_seconds": 64.0, "answered_at": "2025-03-14T10:00:03+03:00",
		"outcome": "answered", "missed": false, "called_back": false, "called_back_at": nil,
		"closed_by": "history", "direction": "outbound", "legs": []any{}, "version": 9.0,
	}
	for k, v := range want {
		if !reflect.DeepEqual(m[k], v) {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
}

// TestSelectClosedCalls: a document only for a closed call, and only at
// its latest entry.
func TestSelectClosedCalls(t *testing.T) {
	closed := journal.Call{Provider: "p", CallID: "c", ClosedBy: journal.ClosedByEvent, LastSeq: 10, StartedAt: t0}
	entry := func(seq int64, provider, id string) journal.Entry {
		return journal.Entry{Seq: seq, Event: pbx.CallEvent{Provider: provider, CallID: id}}
	}
	open := closed
	open.ClosedBy = journal.CallOpen
	timeout := closed
	timeout.ClosedBy = journal.ClosedByTimeout
	cases := []struct {
		name string
		e    journal.Entry
		c    journal.Call
		want bool
	}{
		{"latest entry of a closed call", entry(10, "p", "c"), closed, true},
		{"closed by timeout", entry(10, "p", "c"), timeout, true},
		{"an earlier entry", entry(9, "p", "c"), closed, false},
		{"open call", entry(10, "p", "c"), open, false},
		{"entry without call", entry(10, "p", ""), journal.Call{}, false},
		{"another call's entry", entry(10, "p", "d"), closed, false},
		{"another provider's entry", entry(10, "q", "c"), closed, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, ok := outbox.SelectClosedCalls(tc.e, tc.c)
			if ok != tc.want {
				t.Fatalf("ok = %v, want %v", ok, tc.want)
			}
			if ok {
				d, isDoc := p.(outbox.CallDocument)
				if !isDoc || d.Version != tc.c.LastSeq || d.CallID != "c" {
					t.Errorf("payload %#v", p)
				}
			}
		})
	}
}

// TestVersionsFollowCorrections: through a journal, a call gives a
// document when it closes and a greater version when a call-back note
// and a late recording link correct it; an entry read after a later one
// was stored gives nothing (only the latest is sent).
func TestVersionsFollowCorrections(t *testing.T) {
	ctx := context.Background()
	j := journal.New(journal.NewMemoryStore())
	var versions []int64
	sel := func() {
		t.Helper()
		versions = versions[:0]
		for e, err := range j.Entries(ctx, 0) {
			if err != nil {
				t.Fatal(err)
			}
			c, _ := j.Call(ctx, e.Event.Provider, e.Event.CallID)
			if p, ok := outbox.SelectClosedCalls(e, c); ok {
				versions = append(versions, p.(outbox.CallDocument).Version)
			}
		}
	}
	handle(t, j, callEvents("sipuni", 1)...) // missed
	sel()
	if len(versions) != 1 || versions[0] != 3 {
		t.Fatalf("after close: versions %v, want [3]", versions)
	}
	// Calling the number back, answered: a call-back note on the missed
	// call (and a document for the outbound call).
	back := []pbx.CallEvent{
		{Provider: "sipuni", CallID: "out-1", Type: pbx.EventAnswered, Direction: pbx.Outbound, Phone: "79990000001",
			Extension: "101", At: t0.Add(10 * time.Minute), DedupeKey: "o1"},
		{Provider: "sipuni", CallID: "out-1", Type: pbx.EventCallEnded, Direction: pbx.Outbound, Phone: "79990000001",
			Extension: "101", Outcome: pbx.OutcomeAnswered, At: t0.Add(11 * time.Minute), DedupeKey: "o2"},
	}
	handle(t, j, back...)
	c, err := j.Call(ctx, "sipuni", "call-00001")
	if err != nil {
		t.Fatal(err)
	}
	if c.CalledBackAt.IsZero() {
		t.Fatal("the missed call was not marked called back: the test's numbers do not match")
	}
	doc := outbox.NewCallDocument(c)
	if !doc.CalledBack || doc.CalledBackBy != "101" || doc.Version != c.LastSeq || c.LastSeq <= 3 {
		t.Errorf("document after call-back: %+v", doc)
	}
	sel()
	// Read now, the missed call's first close is superseded: only its
	// latest version and the outbound call's remain.
	if len(versions) != 2 || versions[1] != c.LastSeq {
		t.Errorf("versions %v, want the outbound call's and %d", versions, c.LastSeq)
	}
}

// TestDocumentCoversCall: every field of journal.Call reaches the
// document, or is left out on purpose. A new Call field fails this test
// until the document (and docs/outbox.md) says what becomes of it.
func TestDocumentCoversCall(t *testing.T) {
	inDocument := map[string]bool{
		"Provider": true, "CallID": true, "Direction": true, "Phone": true, "Line": true,
		"StartedAt": true, "AnsweredAt": true, "EndedAt": true,
		"TalkDuration": true, "CallDuration": true, "HoldDuration": true,
		"Outcome": true, "Missed": true, "AnsweredBy": true, "Legs": true,
		"RecordingURL": true, "HasRecording": true, "ClosedBy": true,
		"CalledBackAt": true, "CalledBackBy": true,
		"LastSeq": true, // as version
	}
	leftOut := map[string]bool{"LastEventAt": true, "FirstSeq": true}
	doc := reflect.TypeFor[outbox.CallDocument]()
	for f := range reflect.TypeFor[journal.Call]().Fields() {
		switch {
		case leftOut[f.Name]:
		case !inDocument[f.Name]:
			t.Errorf("journal.Call.%s is not in the call document: add it (and to docs/outbox.md) or leave it out on purpose here", f.Name)
		case f.Name != "LastSeq":
			if _, ok := doc.FieldByName(f.Name); !ok {
				t.Errorf("CallDocument has no field %s", f.Name)
			}
		}
	}
	for f := range reflect.TypeFor[journal.Leg]().Fields() {
		if !map[string]bool{"Extension": true, "RangAt": true, "AnsweredAt": true, "EndedAt": true, "Answered": true}[f.Name] {
			t.Errorf("journal.Leg.%s is not in the call document's legs", f.Name)
		}
	}
}
