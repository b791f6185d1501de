// Package sipuni is the pbxkit provider for Sipuni (sipuni.com), a Russian
// cloud PBX: hash-signed API methods, the PBX events webhook ("События на
// АТС") and the routing scheme node ("HTTP-запрос").
//
// # Setting up
//
// In Sipuni's cabinet, under Settings → Integrations → API, copy the account
// number (номер кабинета, 6 digits) and the integration key (ключ
// интеграции), and build a [Client] from a [Config] with [New]. Then give
// Sipuni the URL where [Client.WebhookHandler] is served, in both places
// that call it: "События на АТС" (the PBX events) and the call scheme's
// "HTTP-запрос" function (the routing question). Put the webhook token in
// that URL (https://crm.example/sipuni?token=T, Config.WebhookToken), or
// basic auth (https://user:password@crm.example/sipuni,
// Config.WebhookUser and WebhookPassword), or both: Sipuni signs nothing, so
// without them anybody who learns the URL can feed you events, and New logs
// a warning. Set Config.Location to the zone of the account's call schemes
// (default Europe/Moscow): the statistics are written in it.
//
// The client implements [pbx.Provider], [pbx.Caller] (callback/call_number),
// [pbx.RecordingFetcher] (statistic/record), [pbx.SubscriberLister]
// (statistic/operators), [pbx.HistoryExporter] (statistic/export) and
// [provider.WebhookTester].
//
// # Opening by DSN
//
// Import the package for its side effect and open a client by DSN:
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
//   - location: the IANA zone of the account's call schemes, such as
//     Asia/Almaty (Config.Location; it wins over provider.WithLocation);
//   - route_timeout: how long the router may take, such as 800ms
//     (Config.RouteTimeout);
//   - timeout: the limit of one API operation, such as 30s
//     (Config.Timeout).
//
// ACCOUNT stays a string: its leading zeros matter. %-escape any special
// character in SECRET. provider.WithLocation, WithHTTPClient and WithLogger
// set the rest. A DSN's errors never quote a secret or a query value.
//
// # Signing
//
// Every API request is a POST form signed with [Sign]: the values of the
// sorted parameter names, "user" included, joined with "+", then "+" and the
// secret, as lowercase hex MD5. Each method sends, and so signs, exactly the
// parameter set the protocol documents for it.
//
// Sipuni's requests to you are not signed. The webhook handler checks the
// token (the "token" query parameter only: a token in a POST body does not
// count, since Sipuni puts it where it was given, in the URL) and the basic
// auth, as configured, in constant time, before it reads anything else of
// the request. A rejected request gets HTTP 401, reaches neither your
// EventHandler nor your Router, and is logged at Warn (one line per reason
// and minute, with a count; never the secret), so a wrong token in Sipuni's
// cabinet does not lose every event in silence.
//
// # API
//
// The vendor's own methods are [Client.CallNumber], [Client.CallTree],
// [Client.CallExternal], [Client.Hangup], [Client.ExportStatistics] (CSV
// read by header name as it streams, times in Config.Location),
// [Client.Record] (MP3, streamed) and [Client.Operators]. [ParseStatistics],
// [NewStatisticsReader] and [ParseOperators] read saved exports.
//
// [Client.MakeCall] returns the id of Sipuni's callback order in
// pbx.CallResult.OrderID and leaves CallResult.CallID empty: the call's
// events carry a call_id of their own that Sipuni's answer does not give.
// Match the order to its call by the first event 1 (pbx.EventRinging) after
// it with the same Extension and Phone; its CallID is the call's. Match the
// call's later events by that CallID, not by the parties: Sipuni's event 2
// of a click-to-call carries no caller and no callee (no src_* or dst_*
// fields, as captured live), so its Phone is empty and its Extension comes
// only from last_called. Afterwards, the export's "ID заказа звонка"
// (StatisticsRow.OrderID) names the order of a row.
//
// [Client.History] reads statistic/export, a week per request, and maps
// each row with [StatisticsRow.CallRecord]: TalkDuration is the
// "Длительность разговора" column and CallDuration "Длительность звонка"
// (the whole call, ringing included: call = talk + "Время ответа" in
// Sipuni's sample).
//
// # Notifications
//
// [Client.WebhookHandler] serves both of Sipuni's calls to your URL: a
// request with "event" is a PBX event, decoded into an [Event] and mapped by
// [Event.CallEvent]; a request with "fromnum" is a routing question,
// decoded into a [RouteQuestion] and mapped by [RouteQuestion.RouteQuery].
// GET and POST are accepted (form fields; a JSON object is tolerated).
//
// Events map to pbx.CallEvent as follows:
//
//   - 1 → EventRinging, one per employee phone that rings. Sipuni repeats
//     it about a second later with only the timestamp changed; both get the
//     same DedupeKey.
//   - 3 → EventAnswered, with AnsweredAt.
//   - 4 → EventLegEnded (one employee's leg ended, the call goes on: the
//     others stopped ringing, or a transfer), with the leg's status, times
//     and talk (TalkDuration; CallDuration stays zero, the call is not
//     over).
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
//
// src_type and dst_type (1 external, 2 employee) give the Direction: 1→2
// inbound, 2→1 outbound, 2→2 internal; for 1→1 (forwarded calls) the scheme
// name decides. Phone is the external party normalised by phone.Normalize,
// Extension the employee's short number (short_src_num or short_dst_num,
// else a single last_called), Line the company number when the event names
// it (the "_id…" suffix Sipuni appends is dropped). At is the event's Unix
// timestamp in Config.Location, or the receive time.
//
// Events reach your pbx.EventHandler synchronously, in order; Sipuni gets
// {"success":true} once it returns, also for unknown events and for
// requests with no call fields at all (Sipuni's ping when the settings are
// saved). Sipuni may suspend the sending when it gets anything else, so
// queue work that can fail and return nil: an EventHandler error gives
// Sipuni HTTP 500 (logged once, through provider.HandOver).
//
// The routing question (fromnum, tonum, dtmf, label, time) becomes a
// pbx.RouteQuery (Phone, Line, Digits). A route naming an extension is
// answered {"choice":1,"number":"101","name":"ООО Ромашка"}: Sipuni rings
// that extension first and shows the name on its screen. No decision, a
// router error and a router slower than Config.RouteTimeout are answered
// {"choice":0}, so the call follows the scheme's other branch.
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
// # Errors
//
// Sipuni rejects a bad account or hash with the text "Неправильный хеш",
// often as an HTML page with HTTP 500: that, and any HTML page, is an
// *provider.APIError matching provider.ErrUnauthorized, never retried. A
// JSON answer with success false is an *provider.APIError carrying
// Sipuni's message; a 429 or 503 carries the wait it asked for in
// RetryAfter. Calls that may ring a phone are never retried once they may
// have reached Sipuni; reads are retried with backoff. Redirects are never
// followed (one would carry the signed form, and a call order, to another
// host): a 3xx answer is a *provider.RedirectError naming where it pointed;
// a 304 or an empty answer from statistic/record means "not written yet"
// (pbx.ErrNotReady). Without a deadline in ctx, one operation gives up after
// Config.Timeout (default 30 s); a recording download instead fails only
// after Config.Timeout without a byte.
//
// Errors never contain the secret, the token or the password, and printing
// a Config or a Client (with fmt's %v, %+v, %#v, %s, or through slog) shows
// them only as "[redacted]". In the webhook, a bad request gets Sipuni's
// answer dialect with a 4xx: 401 unauthenticated, 405 another method, 413 a
// body over the limit, 400 a body that announces JSON but is not a JSON
// object (not a ping: acknowledging it would lose it).
//
// # Testing
//
// Package sipunitest is a fake Sipuni for tests and demos, built on
// pbx/pbxtest: the API methods with the real hash check, CSV exports,
// generated MP3 recordings, the seeded staff, and the neutral pbxtest
// scenarios played at your webhook as Sipuni sends them. Its Harness runs
// this package through the conformance suite, provider/providertest.
// [Client.WebhookTestRequest] builds the event a deployed receiver can be
// tested with (pbxctl webhook-test).
//
// # Uncertain points
//
//   - The call_tree, voicecall and spymode hash orders differ between
//     sources; every method here signs the parameters it sends, in sorted
//     order, which matches every documented order.
//   - No source shows an exact JSON error body of the call-control methods:
//     "message", "msg" and a string "error" are read.
//   - The format of the routing question's "time" is not documented: it is
//     read as Unix seconds or a local time (RouteQuestion.At), and kept as
//     sent.
//   - Sipuni's timeout for the routing answer is not documented:
//     DefaultRouteTimeout is one second.
//   - The columns of statistic/operators are not documented: they are read
//     by header name in English or Russian, and positionally without one.
//   - The meaning of ExportRequest.Anonymous is uncertain; History sends
//     anonymous=0, read as "all calls".
//   - That statistic/record takes the events' call_id (FetchRecording) is
//     inferred from the ids' shape.
//   - Whether events/call/hangup takes the events' call_id is not
//     documented.
package sipuni
