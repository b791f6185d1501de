package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
)

// console is the demo's event handler and routing observer: it keeps every
// event and routing decision, and writes one line for each as it happens.
// Webhook requests arrive on their own goroutines; a mutex keeps the lines
// whole and in order.
type console struct {
	mu      sync.Mutex
	w       io.Writer
	jsonOut bool
	start   time.Time
	events  []pbx.CallEvent
	routes  []decision
	werr    error // the first write error
}

// decision is one routing question and the router's answer.
type decision struct {
	query pbx.RouteQuery
	route pbx.Route
	err   error
}

// newConsole returns a console writing to w, JSON lines when jsonOut.
func newConsole(w io.Writer, jsonOut bool) *console {
	return &console{w: w, jsonOut: jsonOut, start: time.Now()}
}

// lineFormat lays the event and route lines out in columns.
const lineFormat = "%7s  %-13s  %-12s  %-9s  %-11s  %-4s  %s\n"

// HandleEvent implements pbx.EventHandler: it keeps e and writes its line.
// It never fails, so the PBX always gets its 200.
func (c *console) HandleEvent(_ context.Context, e pbx.CallEvent) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, e)
	if c.jsonOut {
		e.Raw = nil // the vendor payload: long, and already normalised above
		b, err := json.Marshal(e)
		if err != nil {
			c.fail(err)
			return nil
		}
		c.write(string(b) + "\n")
		return nil
	}
	var details []string
	if e.Outcome != pbx.OutcomeUnknown {
		details = append(details, e.Outcome.String())
	}
	if e.TalkDuration > 0 {
		details = append(details, "talk "+e.TalkDuration.String())
	}
	if e.RecordingURL != "" {
		details = append(details, "recorded")
	}
	c.line(e.Provider, e.Type.String(), e.Direction.String(), e.Phone, e.Extension, strings.Join(details, ", "))
	return nil
}

// watch wraps r so that every routing decision is kept and written.
func (c *console) watch(r pbx.Router) pbx.Router {
	return pbx.RouterFunc(func(ctx context.Context, q pbx.RouteQuery) (pbx.Route, error) {
		route, err := r.Route(ctx, q)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.routes = append(c.routes, decision{query: q, route: route, err: err})
		if c.jsonOut {
			return route, err
		}
		details := "no decision"
		switch {
		case err != nil:
			details = "error: " + err.Error()
		case route.DisplayName != "":
			details = "show " + route.DisplayName
		case !route.IsZero():
			details = "no name"
		}
		c.line(q.Provider, "route", pbx.Inbound.String(), q.Phone, route.Extension, details)
		return route, err
	})
}

// line writes one event or route line; c.mu is held.
func (c *console) line(vendor, what, direction, phone, ext, details string) {
	elapsed := fmt.Sprintf("+%.3f", time.Since(c.start).Seconds())
	l := fmt.Sprintf(lineFormat, elapsed, vendor, what, direction, dash(phone), dash(ext), details)
	c.write(strings.TrimRight(l, " \n") + "\n")
}

// dash returns s, or "-" when s is empty, so that columns stay readable.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printf writes a readable line (not in JSON mode).
func (c *console) printf(format string, args ...any) {
	if c.jsonOut {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.write(fmt.Sprintf(format, args...))
}

// write writes s; c.mu is held.
func (c *console) write(s string) {
	if c.werr != nil {
		return
	}
	if _, err := io.WriteString(c.w, s); err != nil {
		c.fail(err)
	}
}

// fail keeps the first output error; c.mu is held.
func (c *console) fail(err error) {
	if c.werr == nil {
		c.werr = err
	}
}

// err returns the first error met while writing.
func (c *console) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.werr
}

// begin writes the heading of the readable output.
func (c *console) begin(base string, vendors []*vendor) {
	names := make([]string, len(vendors))
	for i, v := range vendors {
		names[i] = v.name
	}
	c.printf("pbxkit quick start: %d fake PBXs (%s) and one webhook server at %s/pbx/<vendor>/\n", len(vendors), strings.Join(names, ", "), base)
	c.printf("directory: %d clients, unknown callers go to %s (%s); every event goes to the journal\n\n", len(clients), receptionExt, staffName(receptionExt))
	c.printf(lineFormat, "time", "vendor", "what", "direction", "phone", "ext", "outcome / routing answer")
}

// endOutcome returns the outcome of the last call_ended event a vendor
// sent for a call (OutcomeUnknown when there is none, or it had none).
func (c *console) endOutcome(vendor, callID string) pbx.Outcome {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := pbx.OutcomeUnknown
	for _, e := range c.events {
		if e.Provider == vendor && e.CallID == callID && e.Type == pbx.EventCallEnded {
			o = e.Outcome
		}
	}
	return o
}

// routesOf returns the routing decisions made for a vendor.
func (c *console) routesOf(vendor string) []decision {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []decision
	for _, d := range c.routes {
		if d.query.Provider == vendor {
			out = append(out, d)
		}
	}
	return out
}

// eventCounts returns how many events of each type a vendor sent, as
// "call_started 3, ringing 4, ...", and their total.
func (c *console) eventCounts(vendor string) (string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	counts := map[pbx.EventType]int{}
	total := 0
	for _, e := range c.events {
		if e.Provider == vendor {
			counts[e.Type]++
			total++
		}
	}
	var parts []string
	for t := pbx.EventUnknown; t <= pbx.EventCallEnded; t++ {
		if n := counts[t]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", t, n))
		}
	}
	return strings.Join(parts, ", "), total
}

// summary writes the per-vendor summary (not in JSON mode).
func (c *console) summary(reports []*report) {
	if c.jsonOut {
		return
	}
	c.printf("\nSummary\n")
	for _, r := range reports {
		byType, total := c.eventCounts(r.vendor)
		c.printf("%s\n", r.vendor)
		c.printf("  %-13s %3d  %s\n", "events", total, dash(byType))
		routes := c.routesOf(r.vendor)
		var rs []string
		for _, d := range routes {
			rs = append(rs, d.query.Phone+" → "+dash(d.route.Extension))
		}
		c.printf("  %-13s %3d  %s\n", "routes", len(routes), dash(strings.Join(rs, ", ")))
		switch {
		case !r.canCall:
			c.printf("  %-13s   -  no click-to-call API\n", "calls placed")
		default:
			c.printf("  %-13s %3d  %s\n", "calls placed", r.calls, dash(r.callsNote))
		}
		switch {
		case !r.canRecord:
			c.printf("  %-13s   -  no recording API\n", "recordings")
		default:
			c.printf("  %-13s %3d  %s\n", "recordings", r.recordings, dash(r.recordingNote))
		}
		switch {
		case !r.canList:
			c.printf("  %-13s   -  no employee API\n", "subscribers")
		default:
			var names []string
			for i, s := range r.subscribers {
				if i == 2 {
					names = append(names, "…")
					break
				}
				names = append(names, s.Extension+" "+s.Name)
			}
			c.printf("  %-13s %3d  %s\n", "subscribers", len(r.subscribers), dash(strings.Join(names, ", ")))
		}
		c.printf("  %-13s %3d  of %d passed\n", "checks", r.passed(), len(r.checks))
	}
}
