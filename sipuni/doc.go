// Package sipuni is the pbxkit provider for Sipuni (sipuni.com), a Russian
// cloud PBX: hash-signed API methods, the PBX events webhook ("События на
// АТС") and the routing scheme node ("HTTP-запрос").
//
// # Opening
//
// Build a [Client] from a [Config] with [New], or open it by DSN after
// importing this package:
//
//	import _ "github.com/pbxkit/pbxkit/sipuni"
//
//	p, err := provider.Open("sipuni://012345:SECRET@/?webhook_token=T")
//
// The DSN is sipuni://ACCOUNT:SECRET@/ with these optional query
// parameters:
//
//   - webhook_token: the "token" query parameter every webhook request must
//     carry (Config.WebhookToken);
//   - webhook_user, webhook_password: the HTTP basic auth every webhook
//     request must carry (Config.WebhookUser, Config.WebhookPassword);
//   - base_url: another API root, such as a sipunitest.Server's URL
//     (escape it: base_url=http%3A%2F%2F127.0.0.1%3A1234%2Fapi%2F);
//   - route_timeout: how long the router may take, such as 800ms
//     (Config.RouteTimeout);
//   - timeout: the limit of one API operation, such as 30s
//     (Config.Timeout).
//
// ACCOUNT is the 6-digit account number (номер кабинета) and stays a
// string: its leading zeros matter. SECRET is the integration key (ключ
// интеграции); %-escape any special character in it. provider.WithLocation,
// WithHTTPClient and WithLogger set the rest. Errors never contain the
// secret, the token or the password, and printing a Config or a Client (with
// fmt's %v, %+v, %#v, %s, or through slog) shows them only as "[redacted]".
//
// The client implements [pbx.Provider], [pbx.Caller] (callback/call_number),
// [pbx.RecordingFetcher] (statistic/record), [pbx.SubscriberLister]
// (statistic/operators) and [pbx.HistoryExporter] (statistic/export).
//
// # API
//
// Every request is a POST form signed with [Sign]: the values of the sorted
// parameter names, "user" included, joined with "+", then "+" and the
// secret, as lowercase hex MD5. Each method signs exactly the set it sends.
// The typed methods are [Client.CallNumber], [Client.CallTree],
// [Client.CallExternal], [Client.Hangup], [Client.ExportStatistics] (CSV
// read by header name, times in Config.Location), [Client.Record] (MP3,
// streamed) and [Client.Operators].
//
// Sipuni rejects a bad account or hash with the text "Неправильный хеш",
// often as an HTML page with HTTP 500: that, and any HTML page, is an
// *provider.APIError matching provider.ErrUnauthorized. A JSON answer with
// success false is an *provider.APIError carrying Sipuni's message. Calls
// that may ring a phone are never retried once they may have reached
// Sipuni; reads are retried with backoff. Redirects are never followed (one
// would carry the signed form, and a call order, to another host): a 3xx
// answer (301, 302, 303, 307, 308) is a *provider.RedirectError naming where
// it pointed; a 304 from statistic/record means "not written yet"
// (pbx.ErrNotReady).
// Without a deadline in ctx, one
// operation gives up after Config.Timeout (default 30 s); a recording
// download instead fails only after Config.Timeout without a byte.
//
// # Click-to-call
//
// [Client.MakeCall] returns the id of Sipuni's callback order in
// pbx.CallResult.OrderID and leaves CallResult.CallID empty: the call's
// events carry a call_id of their own that Sipuni's answer does not give.
// Match the order to its call by the first event 1 (pbx.EventRinging) after
// it with the same Extension and Phone; its CallID is the call's. Match the
// call's later events by that CallID, not by the parties: Sipuni's event 2
// of a click-to-call carries no caller and no callee (no src_* or dst_*
// fields, as captured live), so its Phone is empty and its Extension comes
// only from last_called. See [Client.MakeCall].
//
// # Webhook
//
// [Client.WebhookHandler] serves both of Sipuni's calls to your URL: the
// PBX events and the routing node's question. Give Sipuni the same URL in
// both places, with the token in it
// (https://crm.example/sipuni?token=T), or basic auth written into it
// (https://user:password@crm.example/sipuni), or both. Sipuni signs nothing:
// without one of them anybody who learns the URL can feed you events, and
// New logs a warning.
//
// Events map to pbx.CallEvent as follows:
//
//   - 1 → EventRinging, one per employee phone that rings. Sipuni repeats
//     it about a second later with only the timestamp changed; both get the
//     same DedupeKey.
//   - 3 → EventAnswered, with AnsweredAt.
//   - 4 → EventLegEnded (one employee's leg ended, the call goes on), with
//     the leg's status, times and talk (TalkDuration; CallDuration stays
//     zero, the call is not over).
//   - 2 → EventCallEnded with the Outcome from status (ANSWER answered,
//     NOANSWER missed, BUSY busy, CANCEL cancelled, CONGESTION and
//     CHANUNAVAIL failed), StartedAt, AnsweredAt, EndedAt, the durations
//     below, RecordingURL (call_record_link, URL-decoded when it arrives
//     encoded) and HasRecording (a link is present).
//   - any other code → EventUnknown.
//
// Sipuni sends no duration: both are computed from its Unix times, only
// from times it sent. CallDuration is timestamp − call_start_timestamp (the
// whole call, ringing included). TalkDuration is timestamp −
// call_answer_timestamp, when the answer time can be trusted: not 0
// ("never"), the status says answered (or there is none), and it lies within
// [call_start_timestamp, timestamp]. On call_external calls Sipuni sends
// answer times on unanswered calls and, captured live, one a second before
// the call's start; such a time is unknown, so AnsweredAt and TalkDuration
// stay zero (event 3 of the same call_id carries the real answer time).
// Event 2 of a click-to-call carries no caller and callee: match it to the
// call's event 1 by CallID.
//
// src_type and dst_type (1 external, 2 employee) give the Direction: 1→2
// inbound, 2→1 outbound, 2→2 internal; for 1→1 (forwarded calls) the scheme
// name decides. Phone is the external party normalised by phone.Normalize,
// Extension the employee's short number (short_src_num or short_dst_num,
// else a single last_called), Line the company number when the event names
// it (the "_id…" suffix Sipuni appends is dropped). At is the event's Unix
// timestamp in Config.Location, or the receive time.
//
// Sipuni wants {"success":true} back and may suspend the sending when it
// gets anything else, so the handler answers that once a request is
// authenticated, also for unknown events and for requests with no call
// fields at all (Sipuni's ping when the settings are saved: a request with
// no parameters but the token, or an empty body). Two exceptions: a body
// that announces JSON (by Content-Type or a leading "{") but is not a JSON
// object gets HTTP 400, since it is not a ping and acknowledging it would
// lose it; and when your pbx.EventHandler returns an error, Sipuni gets HTTP
// 500, and may then stop sending. Queue work that can fail and return nil.
//
// A request rejected for its token or basic auth gets HTTP 401 and is logged
// at Warn to Config.Logger (one line per reason and minute, with a count;
// never the secret), so a wrong token in Sipuni's cabinet does not lose
// every event in silence. Everything else is journaled at debug level.
//
// The routing node asks with fromnum, tonum, dtmf, label and time; that
// becomes a pbx.RouteQuery (Phone, Line, Digits). A route naming an
// extension is answered
// {"choice":1,"number":"101","name":"ООО Ромашка"}: Sipuni rings that
// extension first and shows the name on its screen. No decision, a router
// error and a router slower than Config.RouteTimeout are answered
// {"choice":0}, so the call follows the scheme's other branch.
//
// # History
//
// [Client.History] reads statistic/export: TalkDuration is the
// "Длительность разговора" column and CallDuration "Длительность звонка"
// (the whole call, ringing included: call = talk + "Время ответа" in
// Sipuni's sample); see [StatisticsRow.CallRecord].
//
// # Raw
//
// Raw is always a pointer to this package's decoded type:
//
//	| value            | Raw holds        |
//	|------------------|------------------|
//	| pbx.CallEvent    | *Event           |
//	| pbx.RouteQuery   | *RouteQuestion   |
//	| pbx.CallRecord   | *StatisticsRow   |
//	| pbx.Subscriber   | *Operator        |
//
// # Testing
//
// Package sipunitest is a fake Sipuni for tests and demos: the API methods
// with the real hash check, CSV exports, generated MP3 recordings, and
// scripted calls played at your webhook.
package sipuni
