// Package zadarma is the pbxkit provider for Zadarma (zadarma.com), a cloud
// PBX and VoIP operator: the signed REST API (api.zadarma.com/v1) and the
// PBX call notifications (NOTIFY_*), whose answer to NOTIFY_START routes
// the call.
//
// # Setting up
//
// In Zadarma's cabinet, under Settings → API (my.zadarma.com/api), copy the
// key and the secret and build a [Client] from a [Config] with [New]. Then
// give Zadarma, under "Уведомления о звонках в АТС" (PBX call
// notifications), the URL where [Client.WebhookHandler] is served, and tick
// the notifications to send: NOTIFY_START (the call's start and the
// routing question), NOTIFY_INTERNAL, NOTIFY_ANSWER, NOTIFY_END,
// NOTIFY_OUT_START, NOTIFY_OUT_END and, to learn when a recording is
// stored, NOTIFY_RECORD. Zadarma checks the URL first with
// ?zd_echo=<value>, which the handler answers. Set Config.Location to the
// account's time zone (GET /v1/info/timezone/; default Europe/Moscow):
// call_start and the statistics are written in it.
//
// The client implements [pbx.Provider], [pbx.Caller] (request/callback),
// [pbx.HistoryExporter] (statistics/pbx), [pbx.RecordingFetcher]
// (pbx/record/request), [pbx.SubscriberLister] (pbx/internal) and
// [provider.WebhookTester].
//
// # Opening by DSN
//
// Import the package for its side effect and open a client by DSN:
//
//	import _ "github.com/pbxkit/pbxkit/zadarma"
//
//	p, err := provider.Open("zadarma://KEY:SECRET@/")
//
// The DSN is zadarma://KEY:SECRET@/ with these optional query parameters:
//
//   - base_url: another API root, such as the sandbox
//     (https://api-sandbox.zadarma.com) or a zadarmatest.Server's URL
//     (escape it: base_url=http%3A%2F%2F127.0.0.1%3A1234);
//   - location: the IANA zone of the account, such as Europe/Moscow
//     (Config.Location; it wins over provider.WithLocation);
//   - route_timeout: how long the router may take, such as 1500ms
//     (Config.RouteTimeout);
//   - return_timeout: the return_timeout sent with a redirect, such as 20s
//     (Config.ReturnTimeout);
//   - timeout: the limit of one API operation, such as 30s
//     (Config.Timeout).
//
// %-escape any special character in KEY and SECRET.
// provider.WithLocation, WithHTTPClient and WithLogger set the rest. A
// DSN's errors never quote the key, the secret or a query value.
//
// # Signing
//
// Every API request carries "Authorization: KEY:SIGNATURE" ([Sign]): the
// parameters, "format=json" included, are sorted by name and written by
// RFC 1738 as PHP's http_build_query does ([EncodeQuery]; that string is
// also the query sent), and SIGNATURE is the Base64 of the lowercase hex
// HMAC-SHA1, keyed with the secret, of the method path ("/v1/…/", with
// its trailing slash) + that string + its hex MD5.
//
// Zadarma signs each notification in the Signature header, over some of
// its fields only ([Notification.SignedString]): caller_id + called_did +
// call_start for NOTIFY_START, NOTIFY_INTERNAL, NOTIFY_END and NOTIFY_IVR;
// caller_id + destination + call_start for NOTIFY_ANSWER; internal +
// destination + call_start for NOTIFY_OUT_START and NOTIFY_OUT_END;
// pbx_call_id + call_id_with_rec for NOTIFY_RECORD; encoded like the API
// signature ([SignNotification]). The handler checks it in constant time
// before anything reaches your code; the Base64 of the raw HMAC, which
// Zadarma's TypeScript client checks, is accepted too. An event type
// outside these eight cannot be checked (its signed fields are unknown):
// it is refused with 400, never passed on unverified. A rejected request
// gets 401 (400 for an unknown type), reaches neither your EventHandler
// nor your Router, and is logged at Warn (one line per reason and minute,
// with a count; never the secret).
//
// The signature covers neither the event type nor the other fields, and
// carries no time of its own: whoever captures one notification can replay
// it, and change its unsigned fields (disposition, duration, internal...),
// or even send it as another event type with the same signed fields. Serve
// the webhook over HTTPS only, and treat a notification's unsigned fields
// as claims.
//
// # API
//
// The vendor's own methods are [Client.RequestCallback],
// [Client.PBXStatistics] (one page of at most [MaxStatisticsRows] rows),
// [Client.RecordRequest] (download links) and [Client.Record] (a link,
// streamed), [Client.Internal] and [Client.ExtensionInfo]. [ParseStatistics]
// and [ParseNotification] read saved answers and notifications.
//
// [Client.MakeCall] calls request/callback with from = the extension (rung
// first), to = the phone and sip = the extension; Zadarma's answer has no
// call id, so CallResult is empty: match the call by its NOTIFY_OUT_START
// (Direction pbx.Outbound, Extension and Phone).
//
// [Client.History] reads statistics/pbx (version 2) in chunks of at most
// [HistoryChunk] (Zadarma serves at most a month a request) and pages of
// 1,000 rows, and maps each row with [StatsRow.CallRecord]. [Client.FetchRecording]
// asks pbx/record/request for the links of the call (by its pbx_call_id, or
// by a recording id) and streams the first. [Client.Subscribers] lists
// pbx/internal and reads each extension's name from its info: 1 + N
// requests.
//
// Zadarma allows 100 API requests a minute, and 3 a minute for the
// statistics, and sends X-RateLimit-* headers. The client reads them
// ([Client.RateLimits]): when the last answer of a bucket said none is
// left, the next request of that bucket waits for X-RateLimit-Reset (up to
// Config.Timeout, up to 70 s between History's pages, never past ctx's
// deadline) or fails at once with a [RateLimitError], without sending. A
// 429 with X-RateLimit-Reset and no Retry-After is given the Retry-After
// its reset stands for.
//
// # Notifications
//
// [Client.WebhookHandler] serves Zadarma's notification URL. Each POST is
// decoded into a [Notification] and, once its signature is checked:
//
//   - NOTIFY_START → pbx.EventCallStarted (Phone caller_id, Line
//     called_did, At call_start) and the routing question
//     ([Notification.RouteQuery]): the event is handed to your
//     EventHandler while your Router is asked, under Config.RouteTimeout.
//     A route naming an extension is answered
//     {"redirect":"101","return_timeout":0,"caller_name":"ООО Ромашка"}:
//     Zadarma puts the call through to that extension and shows the name.
//     No decision, a router error and a late router give an empty answer,
//     so the call follows the PBX's scenario.
//   - NOTIFY_INTERNAL → EventRinging at the extension internal.
//   - NOTIFY_ANSWER → EventAnswered by internal.
//   - NOTIFY_END → EventCallEnded with the Outcome from disposition
//     ([DispositionOutcome]: answered; "no answer" missed; busy; cancel
//     cancelled; failed, "call failed" and the account's limits failed),
//     HasRecording from is_recorded, CallDuration from duration (see the
//     uncertain points).
//   - NOTIFY_OUT_START, NOTIFY_OUT_END → the same for an outgoing call
//     (Direction outbound, Extension internal, Phone destination).
//   - NOTIFY_RECORD → EventUnknown with HasRecording: the recording is
//     stored; fetch it by the CallID.
//   - NOTIFY_IVR (a voice-menu step an answer asked for) → a routing
//     question only, with the digits of its wait_dtmf in RouteQuery.Digits.
//
// CallID is always pbx_call_id, the same in every notification of a call
// and in the statistics. The direction is pbx_call_id's prefix ("in_",
// "out_"), else the event type's. StartedAt is call_start, read in
// Config.Location; At is call_start for the start notifications and the
// receive time for the others, which carry no time of their own (so
// AnsweredAt and EndedAt stay zero).
//
// Events reach your pbx.EventHandler synchronously, in order; Zadarma gets
// an empty 200 once it returns, and 500 when it returns an error (logged
// once, through provider.HandOver). Whether Zadarma then sends the
// notification again is not documented.
//
// Raw is always a pointer to this package's decoded type:
//
//	| value            | Raw holds        |
//	|------------------|------------------|
//	| pbx.CallEvent    | *Notification    |
//	| pbx.RouteQuery   | *Notification    |
//	| pbx.CallRecord   | *StatsRow        |
//	| pbx.Subscriber   | *ExtensionInfo   |
//
// # Errors
//
// A non-2xx answer, or a JSON answer whose status is not "success", is an
// *provider.APIError carrying Zadarma's message; 401, 403 and a message
// naming the authorization or the signature match
// provider.ErrUnauthorized; a 429 matches provider.ErrRateLimited, with the
// wait asked for in RetryAfter. A request not sent because the rate limit
// is exhausted is a *RateLimitError, which matches provider.ErrRateLimited
// too. A recording Zadarma has not stored yet matches pbx.ErrNotReady.
// Calls that may ring a phone are never retried once they may have reached
// Zadarma; reads are retried with backoff. Redirects are never followed: a
// 3xx answer is a *provider.RedirectError naming where it pointed. Without
// a deadline in ctx, one operation gives up after Config.Timeout (default
// 30 s); a recording download instead fails only after Config.Timeout
// without a byte.
//
// Errors never contain the key or the secret, and printing a Config or a
// Client (with fmt's verbs, through slog or as JSON) shows them only as
// "xxxxx". In the webhook, a bad request gets a 4xx: 405 another method
// (except the zd_echo check), 413 a body over 1 MiB, 400 a malformed body,
// a notification without an event, an unknown event type or a zd_echo
// value that is empty, over 128 bytes or not plain printable ASCII, 401 a
// missing or wrong signature.
//
// # Testing
//
// Package zadarmatest is a fake Zadarma for tests and demos, built on
// pbx/pbxtest: the API methods with the real signature check and
// rate-limit headers, statistics with paging, generated MP3 recordings with
// a "not ready" phase, the seeded staff, and the neutral pbxtest scenarios
// played at your webhook as Zadarma signs and sends them. Its Harness runs
// this package through the conformance suite, provider/providertest.
// [Client.WebhookTestRequest] builds the signed NOTIFY_START a deployed
// receiver can be tested with (pbxctl webhook-test).
//
// # Uncertain points
//
// docs/protocols/zadarma.md lists every fact with its source. What stays
// uncertain:
//
//   - What duration (NOTIFY_END, NOTIFY_OUT_END) and seconds (statistics)
//     measure: documented only as "length in seconds" / "call duration".
//     They are read as CallDuration (the whole call); TalkDuration stays
//     zero. If Zadarma's figure is the talk time, CallDuration
//     under-counts the ringing.
//   - The signature's encoding: the PHP client sends the Base64 of the hex
//     HMAC, the TypeScript client checks the Base64 of the raw HMAC; both
//     are accepted.
//   - The answer to NOTIFY_START that means "no decision": an empty body,
//     as Zadarma's examples give when they do not redirect.
//   - What return_timeout means: Zadarma's own voice-menu library always
//     sends 0 (Config.ReturnTimeout's default), read as "do not return to
//     the scenario".
//   - How long Zadarma waits for the routing answer, and what it does with
//     a 5xx (whether it sends a notification again): not documented.
//   - NOTIFY_IVR's wait_dtmf is read from PHP-style form keys
//     (wait_dtmf[digits]) or a JSON object; how Zadarma encodes it is
//     inferred from its PHP client building an object of the form array.
//   - The X-RateLimit-* header names beyond the prefix, and whether Reset
//     is a Unix time or seconds; both are read.
//   - Zadarma's wording for a recording not stored yet (read as
//     pbx.ErrNotReady when it says not found, not ready or does not exist,
//     or on 404): a wrong id looks the same.
//   - The readings of the statistics' sip, clid and destination, and of
//     NOTIFY_ANSWER's destination, beyond their one-line descriptions; the
//     direction from the pbx_call_id prefix; that request/callback's call
//     is notified as NOTIFY_OUT_START/NOTIFY_OUT_END.
//   - Whether the statistics' end is inclusive: History asks whole seconds
//     around each chunk and keeps rows that started within it, so a call
//     on a chunk's edge is yielded once either way.
package zadarma
