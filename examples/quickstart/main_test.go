package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
)

// runAsProgram makes the test binary run main() instead of the tests when
// the variable is set, so that the tests run the whole program, flags and
// exit status included, without building it apart.
const runAsProgram = "PBXKIT_QUICKSTART_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsProgram) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// program runs the quick start as a child process with args and returns
// its stdout, stderr and exit code.
func program(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), runAsProgram+"=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("running the program: %v", err)
	}
	return out.String(), errOut.String(), code
}

// vendorNames are the registered fakes, the vendors the program plays.
func vendorNames(t *testing.T) []string {
	var names []string
	for _, v := range pbxtest.Vendors() {
		names = append(names, v.Name)
	}
	if len(names) == 0 {
		t.Fatal("no vendor fake is registered")
	}
	return names
}

func TestProgramReadable(t *testing.T) {
	out, errOut, code := program(t)
	if code != 0 {
		t.Fatalf("exit status %d, want 0\nstderr:\n%s\nstdout:\n%s", code, errOut, out)
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
	for _, v := range vendorNames(t) {
		for what, want := range map[string]int{"route": 2, "ringing": 2, "answered": 1, "call_ended": 2} {
			if got := seen[v][what]; got < want {
				t.Errorf("%s: %d %q lines, want at least %d", v, got, what, want)
			}
		}
		if !strings.Contains(out, "\n"+v+"\n  events") {
			t.Errorf("the summary lacks %s:\n%s", v, out)
		}
		if !hasLine(out, "  "+v+" ", "calls in the journal: the", "played, each once, as played") {
			t.Errorf("the journal check does not pass %s:\n%s", v, out)
		}
	}
	for _, want := range []string{
		`showing "ООО «Альфа»"`, // a routing decision with the client's name
		"\nSummary\n",
		"262144 bytes of audio/mpeg",
		"no recording API", // Prostie Zvonki has none
		"101 Иванова Мария Сергеевна",
		"(outcome from the legs: the end event carries none)", // Rostelecom, without ResolveEnded
		"\nToday's calls per employee (journal.Stats)\n",
		"\nToday's missed calls (journal.Calls, Query{Missed: true})\n",
		"АО «Вектор»", // a missed call from a client without a manager
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "FAIL") {
		t.Errorf("a check failed although the program exited 0:\n%s", out)
	}
	// Every played missed call rang the reception desk: its stats line
	// counts one missed call per vendor.
	n := len(vendorNames(t))
	var row []string
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) > 4 && f[0] == receptionExt {
			row = f
		}
	}
	if len(row) < 7 || row[6] != strconv.Itoa(n) {
		t.Errorf("stats line of %s is %q, want %d missed calls", receptionExt, row, n)
	}
}

// hasLine reports whether a line of out starts with prefix and contains
// every one of parts.
func hasLine(out, prefix string, parts ...string) bool {
	for line := range strings.Lines(out) {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

func TestProgramJSON(t *testing.T) {
	out, errOut, code := program(t, "-json")
	if code != 0 {
		t.Fatalf("exit status %d, want 0\nstderr:\n%s\nstdout:\n%s", code, errOut, out)
	}
	ended := map[string]int{}
	n := 0
	for line := range strings.Lines(out) {
		n++
		var e pbx.CallEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %d is not a JSON call event: %v\n%s", n, err, line)
		}
		if e.Provider == "" || e.CallID == "" {
			t.Errorf("line %d: event without provider or call id: %s", n, line)
		}
		if e.Type == pbx.EventCallEnded {
			ended[e.Provider]++
		}
	}
	for _, v := range vendorNames(t) {
		if ended[v] < 2 {
			t.Errorf("%s: %d call_ended events, want one per call played (at least 2)", v, ended[v])
		}
	}
}

func TestProgramExitStatus(t *testing.T) {
	t.Run("too slow", func(t *testing.T) {
		_, errOut, code := program(t, "-timeout", "1ns")
		if code != 1 {
			t.Errorf("exit status %d, want 1", code)
		}
		for _, want := range []string{"the answered incoming call did not play", "gave up after 1ns (-timeout)"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errOut)
			}
		}
	})
	t.Run("arguments", func(t *testing.T) {
		_, errOut, code := program(t, "extra")
		if code != 2 || !strings.Contains(errOut, "unexpected arguments") {
			t.Errorf("exit status %d, want 2; stderr:\n%s", code, errOut)
		}
	})
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
	for _, v := range vendorNames(t) {
		for _, want := range []string{
			v + ": the answered incoming call did not play",
			v + ": the missed incoming call did not play",
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("error lacks %q:\n%s", want, msg)
			}
		}
	}
	if !strings.Contains(msg, "sipuni: no recording fetched") || !strings.Contains(msg, "sipuni: MakeCall failed") {
		t.Errorf("error does not name the call not placed and the recording not fetched:\n%s", msg)
	}
}

func TestCheckOnce(t *testing.T) {
	at := time.Date(2024, 5, 6, 10, 0, 0, 0, time.UTC)
	answered := expectedCall{what: "the answered call", callID: "a", dir: pbx.Inbound, answered: true, answeredBy: "102", rang: "102", phone: "79161234567"}
	missed := expectedCall{what: "the missed call", callID: "m", dir: pbx.Inbound, rang: "101"}
	okAnswered := journal.Call{Provider: "x", CallID: "a", Direction: pbx.Inbound, Phone: "79161234567", StartedAt: at,
		Outcome: pbx.OutcomeAnswered, AnsweredBy: "102", Legs: []journal.Leg{{Extension: "102", Answered: true}}, ClosedBy: journal.ClosedByEvent}
	okMissed := journal.Call{Provider: "x", CallID: "m", Direction: pbx.Inbound, StartedAt: at,
		Outcome: pbx.OutcomeMissed, Missed: true, Legs: []journal.Leg{{Extension: "101"}}, ClosedBy: journal.ClosedByEvent}
	with := func(c journal.Call, f func(*journal.Call)) journal.Call {
		f(&c)
		return c
	}
	tests := []struct {
		name  string
		calls []journal.Call
		want  []string // substrings of the errors, in order; none: no error
	}{
		{"as played", []journal.Call{okAnswered, okMissed}, nil},
		{"cancelled counts as missed", []journal.Call{okAnswered, with(okMissed, func(c *journal.Call) { c.Outcome = pbx.OutcomeCancelled })}, nil},
		{"absent", []journal.Call{okAnswered}, []string{"x: the missed call (call m) is not in the journal"}},
		{"twice", []journal.Call{okAnswered, okMissed, okMissed}, []string{"x: the missed call (call m) is in the journal 2 times"}},
		{"another call", []journal.Call{okAnswered, okMissed, with(okMissed, func(c *journal.Call) { c.CallID = "z" })},
			[]string{"x: the journal holds 1 calls nobody played: z (inbound missed)"}},
		{"outcome lost", []journal.Call{with(okAnswered, func(c *journal.Call) { c.Outcome, c.AnsweredBy = pbx.OutcomeUnknown, "" }), okMissed},
			[]string{`x: the journal holds the answered call (call a) with outcome unknown, want answered, answered by "", want "102"`}},
		{"missed not derived", []journal.Call{okAnswered, with(okMissed, func(c *journal.Call) { c.Outcome, c.Missed = pbx.OutcomeUnknown, false })},
			[]string{"outcome unknown, want one of an unanswered call, missed false, want true"}},
		{"still open", []journal.Call{okAnswered, with(okMissed, func(c *journal.Call) { c.ClosedBy = journal.CallOpen })},
			[]string{"closed by open, want closed by its end event"}},
		{"no leg", []journal.Call{with(okAnswered, func(c *journal.Call) { c.Legs = nil }), okMissed},
			[]string{"no leg of 102 among 0"}},
		{"wrong number", []journal.Call{with(okAnswered, func(c *journal.Call) { c.Phone = "79260000000" }), okMissed},
			[]string{`phone "79260000000", want "79161234567"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := checkOnce(&report{vendor: "x", expected: []expectedCall{answered, missed}}, tt.calls)
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors %v, want %d", len(errs), errs, len(tt.want))
			}
			for i, err := range errs {
				if !strings.Contains(err.Error(), tt.want[i]) {
					t.Errorf("error %d is %q, want it to contain %q", i, err, tt.want[i])
				}
			}
		})
	}
}

func TestFanOutStopsAtTheFirstFailure(t *testing.T) {
	first := &pbxtest.Recorder{Err: errors.New("store down")}
	second := &pbxtest.Recorder{}
	err := fanOut{first, second}.HandleEvent(context.Background(), pbx.CallEvent{Provider: "x", CallID: "1", Type: pbx.EventRinging})
	if err == nil || err.Error() != "store down" {
		t.Errorf("HandleEvent returned %v, want the first handler's error", err)
	}
	if len(first.Events()) != 1 || len(second.Events()) != 0 {
		t.Errorf("first got %d events, second %d; want 1 and 0 (an event not stored must not be shown)", len(first.Events()), len(second.Events()))
	}
}
