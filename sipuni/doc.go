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
//     (Config.RouteTimeout).
//
// ACCOUNT is the 6-digit account number (номер кабинета) and stays a
// string: its leading zeros matter. SECRET is the integration key (ключ
// интеграции); %-escape any special character in it. provider.WithLocation,
// WithHTTPClient and WithLogger set the rest. Errors never contain the
// secret, the token or the password.
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
// Sipuni; reads are retried with backoff.
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
// Events map to pbx.CallEvent as follows; CallEvent.Raw is the decoded
// [Event]:
//
//   - 1 → EventRinging, one per employee phone that rings. Sipuni repeats
//     it about a second later with only the timestamp changed; both get the
//     same DedupeKey.
//   - 3 → EventAnswered.
//   - 4 → EventLegEnded (one employee's leg ended, the call goes on), with
//     the leg's status and times.
//   - 2 → EventCallEnded with the Outcome from status (ANSWER answered,
//     NOANSWER missed, BUSY busy, CANCEL cancelled, CONGESTION and
//     CHANUNAVAIL failed), StartedAt, AnsweredAt (call_answer_timestamp 0
//     means never), EndedAt, the talk Duration (Sipuni sends none; it is
//     EndedAt − AnsweredAt) and RecordingURL (call_record_link, URL-decoded
//     when it arrives encoded).
//   - any other code → EventUnknown.
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
// fields at all. The one exception: when your pbx.EventHandler returns an
// error, Sipuni gets HTTP 500, and may then stop sending. Queue work that
// can fail and return nil.
//
// The routing node asks with fromnum, tonum, dtmf, label and time; that
// becomes a pbx.RouteQuery (Phone, Line, Digits; the [RouteQuestion] in
// Raw). A route naming an extension is answered
// {"choice":1,"number":"101","name":"ООО Ромашка"}: Sipuni rings that
// extension first and shows the name on its screen. No decision, a router
// error and a router slower than Config.RouteTimeout are answered
// {"choice":0}, so the call follows the scheme's other branch.
//
// # Testing
//
// Package sipunitest is a fake Sipuni for tests and demos: the API methods
// with the real hash check, CSV exports, generated MP3 recordings, and
// scripted calls played at your webhook.
package sipuni
