package megafon

import (
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider/itoolabs"
)

// MegaFon's notifications are the ITooLabs family's cmd=event, history,
// contact and rating, decoded and mapped once, in package
// provider/itoolabs. What is MegaFon's own is its dialect below.

// Notification is one request the PBX sends to the CRM URL, decoded:
// [pbx.CallEvent.Raw] and [pbx.RouteQuery.Raw] hold a *Notification. Its
// fields are those of [itoolabs.Notification] (every value kept as the
// text the PBX sent; never the crm_token), and a *Notification converts to
// an *itoolabs.Notification and back.
type Notification itoolabs.Notification

// dialect is what MegaFon does its own way in the family:
//
//   - it writes start as 20060102T150405Z in UTC [confirmed: the family's
//     documentation as quoted by brandup-online/megafon-ats (its binder
//     parses exactly that form) and skytecs/MegafonPbxApiClient]; a start
//     without the Z is read in UTC too [uncertain: not seen, the family's
//     clock is UTC];
//   - an accepted notification is answered {}: the PBX is not known to read
//     the body (brandup-online/megafon-ats and skytecs/MegafonPbxApiClient
//     answer an empty 200, mikopbx/ModuleMegafonPbx {"status":"ok"});
//   - a contact question without a decision is answered {}, which
//     MegaFon's receivers send for "not found" [one source:
//     mikopbx/ModuleMegafonPbx says the PBX reads {} as "no contact" and
//     not as an error; skytecs/MegafonPbxApiClient answers {} for a null
//     contact; uncertain];
//   - a caller's name without a responsible is answered
//     {"contact_name":"..."} alone (mikopbx/ModuleMegafonPbx does so: the
//     PBX shows the name and routes by its own rules).
var dialect = itoolabs.Dialect{
	Provider:         Name,
	Accepted:         []byte(`{}`),
	NoDecision:       []byte(`{}`),
	ContactNameAlone: true,
	UTC:              true,
	Raw:              func(n *itoolabs.Notification) any { return (*Notification)(n) },
}

// CallEvent maps a decoded notification to the neutral event (see
// [itoolabs.Notification.CallEvent] for the whole mapping): cmd=event to
// EventRinging (INCOMING, OUTGOING), EventAnswered (ACCEPTED),
// EventLegEnded (COMPLETED, CANCELLED) or EventTransferred (TRANSFERRED);
// cmd=history to EventCallEnded with the outcome, start, CallDuration from
// duration (the whole call), TalkDuration only when wait comes, and the
// recording link; cmd=rating and commands this package does not know to
// EventUnknown. (cmd=contact is a routing question: see
// [Notification.RouteQuery].)
//
// loc is the zone of the returned times (Config.Location; nil means
// provider.DefaultLocation()); MegaFon's own times are UTC. received is
// when the notification arrived: cmd=event carries no time, so it is the
// event's At. Raw is n, and DedupeKey is set. An error means a duration or
// wait that is not a number of seconds.
func (n *Notification) CallEvent(loc *time.Location, received time.Time) (pbx.CallEvent, error) {
	return (*itoolabs.Notification)(n).CallEvent(&dialect, loc, received)
}

// RouteQuery maps a cmd=contact notification to the neutral routing
// question: the caller's Phone and the company Line (diversion)
// normalised by phone.Normalize, the CallID, and Raw n.
func (n *Notification) RouteQuery() pbx.RouteQuery {
	return (*itoolabs.Notification)(n).RouteQuery(&dialect)
}
