package prostiezvonki

import (
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider/itoolabs"
)

// Prostie Zvonki's notifications are the ITooLabs family's cmd=event,
// history, contact and rating, decoded and mapped once, in package
// provider/itoolabs. What is Prostie Zvonki's own is its dialect below.

// Notification is one request Prostie Zvonki sends to the CRM, decoded:
// [pbx.CallEvent.Raw] and [pbx.RouteQuery.Raw] hold a *Notification. Its
// fields are those of [itoolabs.Notification] (every value kept as the
// text Prostie Zvonki sent; never the crm_token), and a *Notification
// converts to an *itoolabs.Notification and back.
type Notification itoolabs.Notification

// dialect is what Prostie Zvonki does its own way in the family: it
// answers an accepted notification {"result":"ok"} and a contact question
// without a decision {"responsible":""} (the spec's own answer), it writes
// its times without a zone (read in Config.Location), and a caller's name
// without a responsible is no decision (the spec reads "responsible"
// only).
var dialect = itoolabs.Dialect{
	Provider:   Name,
	Accepted:   []byte(`{"result":"ok"}`),
	NoDecision: []byte(`{"responsible":""}`),
	Raw:        func(n *itoolabs.Notification) any { return (*Notification)(n) },
}

// CallEvent maps a decoded notification to the neutral event: cmd=event to
// EventRinging (INCOMING, OUTGOING), EventAnswered (ACCEPTED),
// EventLegEnded (COMPLETED, CANCELLED) or EventTransferred (TRANSFERRED);
// cmd=history to EventCallEnded with the outcome, times, durations and
// recording link; cmd=rating and commands this package does not know to
// EventUnknown. (cmd=contact is a routing question: see [Notification.RouteQuery].)
//
// loc is the zone of the vendor's zone-less times (Config.Location; nil
// means provider.DefaultLocation()); every time of the event is in it.
// received is when the notification arrived: cmd=event carries no time, so
// it is the event's At. Raw is n, and DedupeKey is set.
//
// An error means a value could not be read (a duration or wait that is not
// a number of seconds); the handler answers it 400. A time that cannot be
// read is not an error: it stays zero and its text stays in n.
func (n *Notification) CallEvent(loc *time.Location, received time.Time) (pbx.CallEvent, error) {
	return (*itoolabs.Notification)(n).CallEvent(&dialect, loc, received)
}

// RouteQuery maps a cmd=contact notification (the smart-transfer question)
// to the neutral routing question: the caller's Phone and the company Line
// normalised by phone.Normalize (empty when it refuses the text, which
// stays in Raw), the CallID when the family sends one, and Raw n.
func (n *Notification) RouteQuery() pbx.RouteQuery {
	return (*itoolabs.Notification)(n).RouteQuery(&dialect)
}
