package pbx

import "context"

// RouteQuery is the PBX's question "where should this incoming call go?"
// (Rostelecom get_number_info, the Sipuni "HTTP request" scheme node,
// Prostie Zvonki cmd=contact).
type RouteQuery struct {
	// Provider is the name of the provider that asks.
	Provider string `json:"provider,omitempty"`
	// CallID is the vendor's call identifier, when the vendor sends one.
	CallID string `json:"call_id,omitempty"`
	// Phone is the caller's number, normalised like CallEvent.Phone.
	Phone string `json:"phone,omitempty"`
	// Line is the company number that was called, normalised the same way.
	Line string `json:"line,omitempty"`
	// Digits are the DTMF digits the caller entered before the question,
	// when the vendor sends them (Sipuni dtmf).
	Digits string `json:"digits,omitempty"`
	// Raw is the provider's decoded vendor payload.
	Raw any `json:"raw,omitempty"`
}

// Route is the answer to a RouteQuery. The zero Route means "no decision":
// the PBX then routes the call by its own rules.
type Route struct {
	// Extension is the internal number of the employee (or group) to ring.
	Extension string `json:"extension,omitempty"`
	// DisplayName is shown on the employee's phone screen, when the vendor
	// supports it (Rostelecom displayName, Sipuni name, Prostie Zvonki
	// contact_name).
	DisplayName string `json:"display_name,omitempty"`
}

// IsZero reports whether r is the zero Route, meaning "no decision".
func (r Route) IsZero() bool { return r == Route{} }

// Router answers routing questions.
//
// Providers call Route under a deadline (a second or two: the caller hears
// ringing meanwhile). A Router should honour ctx; when it returns an error or
// misses the deadline, the provider answers the PBX "no decision", so a
// routing failure never fails the call.
type Router interface {
	Route(ctx context.Context, q RouteQuery) (Route, error)
}

// RouterFunc adapts a function to the Router interface.
type RouterFunc func(ctx context.Context, q RouteQuery) (Route, error)

// Route calls f(ctx, q).
func (f RouterFunc) Route(ctx context.Context, q RouteQuery) (Route, error) { return f(ctx, q) }
