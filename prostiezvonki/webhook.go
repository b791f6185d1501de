package prostiezvonki

import (
	"net/http"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider/itoolabs"
)

// WebhookHandler returns the handler for the requests Prostie Zvonki sends
// to the CRM ("Адрес опубликованного расширения" in the cabinet). Mount it
// at the URL given there; it answers on any path.
//
// A request is a POST with a JSON object (a form-encoded body, URL query
// parameters and GET are tolerated, as the ITooLabs family sends them; so
// are the single quotes around the spec's examples). It is handled so:
//
//   - a body larger than 1 MiB: 413;
//   - a body that is not a JSON object or a form (empty, invalid JSON, a
//     JSON array): 400 {"error":"Invalid parameters"};
//   - a crm_token that is missing or differs from Config.CRMToken (compared
//     in constant time): 401 {"error":"Invalid token"};
//   - no cmd, or a value of the wrong kind (duration as an object, a
//     duration that is not a number): 400 {"error":"Invalid parameters"}.
//
// In none of these cases does anything reach events or router. Otherwise:
//
//   - cmd=event: a CallEvent for events ([Notification.CallEvent]); INCOMING and OUTGOING are
//     EventRinging, ACCEPTED EventAnswered, COMPLETED and CANCELLED
//     EventLegEnded (CANCELLED is not a missed call: in a group ring it is
//     what the phones get when a colleague answered), TRANSFERRED
//     EventTransferred, other types EventUnknown;
//   - cmd=history: an EventCallEnded with the Outcome from status, the
//     start and end times, CallDuration from duration (TalkDuration only
//     when the family's wait comes; see the package doc), and the
//     recording link with HasRecording;
//   - cmd=contact (smart transfer): a pbx.RouteQuery
//     ([Notification.RouteQuery]) for router, asked under
//     Config.RouteTimeout; the answer is {"responsible":"<extension>"} plus
//     "contact_name" when the route has a display name, and
//     {"responsible":""} (no decision: PZ routes by its own rules) when the
//     router has none, fails or is late;
//   - cmd=rating and commands this package does not know: an EventUnknown
//     with the decoded Notification in Raw.
//
// Events are answered 200 {"result":"ok"} once events.HandleEvent has
// returned; when it returns an error the answer is 500
// {"error":"Internal error"} and the error is logged once, at Error, to
// Config.Logger (whether PZ then redelivers is not documented). A nil events or
// router is allowed: events are acknowledged and dropped, routing questions
// answered {"responsible":""}.
//
// Every CallEvent has Provider "prostiezvonki", Phone normalised by
// phone.Normalize, Line from diversion (normalised the same way),
// Extension from ext (else user), Raw a *Notification, and At the end time
// of a history or else the time the request arrived (events carry no time).
// A number phone.Normalize refuses (longer than any real one) leaves Phone
// or Line empty; the text stays in the Notification.
//
// Every request is journaled at debug level; a request rejected for its
// crm_token is also logged at Warn (rate-limited), since a wrong token in
// the cabinet would otherwise lose every event without a trace. The body
// is read before the token can be checked (the token is inside it), with
// memory following the bytes received, up to 1 MiB.
//
// The handler is the ITooLabs family's, written once in package
// provider/itoolabs (itoolabs.NewHandler) with Prostie Zvonki's dialect:
// its answers {"result":"ok"} and {"responsible":""} and its zone-less
// times.
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
