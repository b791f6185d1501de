package megafon

import (
	"net/http"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider/itoolabs"
)

// WebhookHandler returns the handler for the requests the PBX sends to the
// CRM URL of its integration settings. Mount it at that URL; it answers on
// any path.
//
// A request is a POST with a form (what the family's documentation
// specifies) or a JSON object (what its examples show); GET and URL query
// parameters are tolerated. It is handled so:
//
//   - a method other than POST and GET: 405; a body larger than 1 MiB: 413;
//   - a body that is neither a form nor a JSON object: 400
//     {"error":"Invalid parameters"};
//   - a crm_token that is missing or differs from Config.CRMToken (compared
//     in constant time; a Client without CRMToken accepts none): 401
//     {"error":"Invalid token"};
//   - no cmd, or a value of the wrong kind (a duration that is not a
//     number): 400 {"error":"Invalid parameters"}.
//
// In none of these cases does anything reach events or router. Otherwise:
//
//   - cmd=event: a CallEvent ([Notification.CallEvent]); INCOMING and
//     OUTGOING are EventRinging (one per rung phone), ACCEPTED
//     EventAnswered, COMPLETED and CANCELLED EventLegEnded (CANCELLED is
//     not a missed call: in a group ring it is what the phones get when a
//     colleague answered), TRANSFERRED EventTransferred, other types
//     EventUnknown;
//   - cmd=history: an EventCallEnded with the Outcome from status (read in
//     any case), StartedAt from start (UTC), CallDuration from duration
//     (the whole call), TalkDuration and AnsweredAt only when wait comes,
//     and the recording link with HasRecording;
//   - cmd=contact: a pbx.RouteQuery ([Notification.RouteQuery]) for router,
//     asked under Config.RouteTimeout; the answer is
//     {"responsible":"<extension>"} plus "contact_name" when the route has
//     a display name, {"contact_name":"..."} alone for a route with a name
//     and no extension, and {} (no decision: the PBX routes by its own
//     rules) when the router has none, fails or is late;
//   - cmd=rating and commands this package does not know: an EventUnknown
//     with the decoded Notification in Raw.
//
// Notifications are answered 200 {} once events.HandleEvent has returned;
// when it returns an error the answer is 500 {"error":"Internal error"}
// and the error is logged once, at Error, to Config.Logger (whether the
// PBX then redelivers is not documented). A nil events or router is
// allowed: events are acknowledged and dropped, contact questions answered
// {}.
//
// Every request is journaled at debug level; a request rejected for its
// crm_token is also logged at Warn (rate-limited), since a wrong key in the
// PBX's settings would otherwise lose every event without a trace. The
// handler is the ITooLabs family's, written once in package
// provider/itoolabs, with MegaFon's dialect.
func (c *Client) WebhookHandler(events pbx.EventHandler, router pbx.Router) http.Handler {
	return itoolabs.NewHandler(itoolabs.HandlerConfig{
		Dialect:      &dialect,
		Verify:       c.verifyToken,
		Location:     c.cfg.Location,
		RouteTimeout: c.cfg.RouteTimeout,
		Logger:       c.logger,
		Log:          c.hooks,
	}, events, router)
}
