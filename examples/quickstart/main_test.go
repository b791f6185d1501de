package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
)

var vendors = []string{"rostelecom", "sipuni", "prostiezvonki"}

// runFor runs the demonstration with a deadline well under the test's.
func runFor(t *testing.T, jsonOut bool) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var buf bytes.Buffer
	err := run(ctx, &buf, jsonOut)
	return buf.String(), err
}

func TestRunReadable(t *testing.T) {
	out, err := runFor(t, false)
	if err != nil {
		t.Fatalf("run failed: %v\noutput:\n%s", err, out)
	}
	// seen[vendor][what] counts the event and route lines.
	seen := map[string]map[string]int{}
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) < 3 || !strings.HasPrefix(f[0], "+") {
			continue
		}
		if seen[f[1]] == nil {
			seen[f[1]] = map[string]int{}
		}
		seen[f[1]][f[2]]++
	}
	for _, v := range vendors {
		for what, want := range map[string]int{"route": 2, "ringing": 3, "answered": 2, "call_ended": 3} {
			if got := seen[v][what]; got < want {
				t.Errorf("%s: %d %q lines, want at least %d", v, got, what, want)
			}
		}
	}
	for _, want := range []string{
		"show ООО «Альфа»", // a routing decision with the client's name
		"\nSummary\n",
		"rostelecom\n  events",
		"sipuni\n  events",
		"prostiezvonki\n  events",
		"262144 bytes of audio/mpeg",
		"no recording API",
		"101 Белова Ирина Сергеевна",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "FAIL") {
		t.Errorf("a check failed although run succeeded:\n%s", out)
	}
}

func TestRunJSON(t *testing.T) {
	out, err := runFor(t, true)
	if err != nil {
		t.Fatalf("run failed: %v\noutput:\n%s", err, out)
	}
	ended := map[string]map[pbx.Outcome]int{}
	n := 0
	for line := range strings.Lines(out) {
		n++
		var e pbx.CallEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %d is not a JSON call event: %v\n%s", n, err, line)
		}
		if e.Provider == "" || e.CallID == "" || e.Type == pbx.EventUnknown {
			t.Errorf("line %d: incomplete event: %s", n, line)
		}
		if e.Type == pbx.EventCallEnded {
			if ended[e.Provider] == nil {
				ended[e.Provider] = map[pbx.Outcome]int{}
			}
			ended[e.Provider][e.Outcome]++
		}
	}
	for _, v := range vendors {
		if ended[v][pbx.OutcomeAnswered] != 2 || ended[v][pbx.OutcomeMissed] != 1 {
			t.Errorf("%s: call_ended outcomes %v, want 2 answered and 1 missed", v, ended[v])
		}
	}
}

// A run that cannot play anything fails and names, per vendor, what did
// not happen.
func TestRunReportsWhatDidNotHappen(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var buf bytes.Buffer
	err := run(ctx, &buf, false)
	if err == nil {
		t.Fatalf("run succeeded with a cancelled context:\n%s", buf.String())
	}
	msg := err.Error()
	for _, v := range vendors {
		for _, want := range []string{
			v + ": the answered incoming call did not play",
			v + ": the missed incoming call did not play",
			v + ": MakeCall failed",
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("error lacks %q:\n%s", want, msg)
			}
		}
	}
	if !strings.Contains(msg, "sipuni: no recording fetched") {
		t.Errorf("error does not name the missing recording:\n%s", msg)
	}
}

func TestExpectEvents(t *testing.T) {
	ringing := pbx.CallEvent{Type: pbx.EventRinging, Direction: pbx.Inbound}
	answered := pbx.CallEvent{Type: pbx.EventAnswered, Direction: pbx.Inbound}
	ended := func(o pbx.Outcome) pbx.CallEvent {
		return pbx.CallEvent{Type: pbx.EventCallEnded, Direction: pbx.Inbound, Outcome: o}
	}
	tests := []struct {
		name    string
		events  []pbx.CallEvent
		outcome pbx.Outcome
		types   []pbx.EventType
		want    string
	}{
		{"complete", []pbx.CallEvent{ringing, answered, ended(pbx.OutcomeAnswered)}, pbx.OutcomeAnswered, []pbx.EventType{pbx.EventAnswered}, ""},
		{"nothing", nil, pbx.OutcomeMissed, nil, "expected events for the call, got none"},
		{"no end", []pbx.CallEvent{ringing}, pbx.OutcomeMissed, nil, "expected a call_ended event for the call, got none"},
		{"no answer", []pbx.CallEvent{ringing, ended(pbx.OutcomeAnswered)}, pbx.OutcomeAnswered, []pbx.EventType{pbx.EventAnswered}, "expected an answered event for the call, got none"},
		{"wrong outcome", []pbx.CallEvent{ringing, ended(pbx.OutcomeUnknown)}, pbx.OutcomeMissed, nil, "expected outcome missed on the call_ended event of the call, got unknown"},
		{"wrong direction", []pbx.CallEvent{{Type: pbx.EventRinging, Direction: pbx.Outbound}, ended(pbx.OutcomeMissed)}, pbx.OutcomeMissed, nil, "expected inbound events for the call, got ringing with direction outbound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := expectEvents(tt.events, "the call", pbx.Inbound, tt.outcome, tt.types...)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
