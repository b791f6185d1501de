// Package rostelecom is the pbxkit provider for Rostelecom Cloud PBX (ВАТС,
// «Виртуальная/Облачная АТС»): its Integration API («Интеграционный API»)
// with request signing, the notifications the PBX sends to your server, and
// dynamic routing of incoming calls.
//
// A [Client] is one PBX domain. It implements [pbx.Provider] (Name
// "rostelecom"), [pbx.Caller] (call_back), [pbx.RecordingFetcher]
// (get_record), [pbx.SubscriberLister] (users_info) and
// [pbx.HistoryExporter] (domain_call_history and download_call_history), and
// offers each API method with typed requests and answers (see API).
//
// # Setting up
//
// In the domain's personal cabinet the administrator switches on the
// Integration API and copies two values: «Уникальный код идентификации»
// (Config.ClientID, sent as X-Client-ID) and «Уникальный ключ для подписи»
// (Config.SignKey, the signing secret, never sent). Also there:
//
//   - «Адрес внешней системы», the external-system address: the URL where
//     you mount [Client.WebhookHandler]; the PBX appends call_events,
//     get_number_info or history_file_completed to it. Each notification
//     must be switched on. A domain has one such address.
//   - «Белый список IP-адресов»: API requests are accepted only from listed
//     addresses, so list your server's egress IP.
//   - The API's certificate chains to the Russian Trusted CA («Минцифры»),
//     missing from most trust stores: give Config.HTTPClient a transport
//     that trusts it (or the certificate downloaded from the cabinet)
//     instead of turning verification off.
//
// Then, with a Client for the domain:
//
//	c, err := rostelecom.New(rostelecom.Config{ClientID: id, SignKey: key, Domain: "example.20.rt.ru"})
//	if err != nil {
//		log.Fatal(err)
//	}
//	// External-system address: https://crm.example.ru/pbx/rostelecom
//	http.Handle("/pbx/rostelecom/", c.WebhookHandler(events, router))
//	// Click to call: ring extension 201, then the client.
//	res, err := c.MakeCall(ctx, pbx.CallRequest{Extension: "201", Phone: "8 (999) 123-45-67"})
//
// # Opening by DSN
//
//	import _ "github.com/pbxkit/pbxkit/rostelecom" // registers "rostelecom"
//
//	p, err := provider.Open("rostelecom://CLIENT_ID:SIGN_KEY@api.cloudpbx.rt.ru/?domain=DOMAIN")
//
// The host is the API host, reached over https (api-test.cloudpbx.rt.ru is
// the test API, which answers with stubs). Special characters in the ID or
// key must be %-escaped. Optional query parameters:
//
//   - base_url: the whole API base URL, overriding the host, such as
//     http://127.0.0.1:34567 for a rostelecomtest server;
//   - route_timeout: Config.RouteTimeout, a Go duration ("1500ms");
//   - resolve_ended: Config.ResolveEnded, true or false;
//   - location: Config.Location, an IANA zone ("Asia/Irkutsk") for domains
//     outside Moscow time; provider.WithLocation overrides it;
//   - timeout: Config.Timeout, a Go duration ("10s");
//   - history_poll: Config.HistoryPoll, a Go duration ("10s"); the
//     rostelecomtest fake's DSN sets a short one.
//
// Any other parameter is an error. [ParseDSN] reads a DSN into a [Config].
//
// # Signing
//
// Both directions sign the same way: X-Client-Sign is the lowercase hex
// SHA-256 of the client ID, the body bytes and the sign key concatenated
// ([Sign]). There is no canonical JSON: the signature covers the exact
// bytes, so the client marshals a request once and signs and sends those
// bytes, and the webhook verifies the raw bytes before decoding anything.
//
// # API
//
// Each Integration API method has a typed request and answer:
// [Client.CallBack] (call_back), [Client.CallInfo] (call_info),
// [Client.GetRecord] (get_record), [Client.UsersInfo] (users_info),
// [Client.OrderCallHistory] (domain_call_history) and
// [Client.DownloadCallHistory] (download_call_history, parsed by
// [ParseCallHistory]). The pbx capabilities are built on them:
// [Client.MakeCall], [Client.FetchRecording], [Client.Subscribers] and
// [Client.History], which orders an export, waits for it (polling from
// Config.HistoryPoll, or woken by history_file_completed) and yields one
// pbx.CallRecord per row ([HistoryRow.CallRecord]).
// [Client.WebhookTestRequest] (provider.WebhookTester) builds a signed test
// notification for a deployed receiver.
//
// # Notifications
//
// call_events map to pbx.CallEvent types: new is EventCallStarted (before
// routing), calling EventRinging (an employee's phone starts ringing),
// connected EventAnswered, disconnected EventLegEnded, end EventCallEnded;
// other states (analytics, ...) are EventUnknown. Type incoming, outbound
// or internal gives the direction. Phone is the external party, normalised
// from E.164 or a SIP URI (a "number" longer than any phone number leaves
// Phone empty; Raw keeps it); Extension is the employee's PIN (request_pin
// on incoming calls, from_pin on outbound ones). HasRecording is the end
// notification's is_record. See [ParseCallEvent] for the details. The
// decoded payloads map with [CallEventNotification.CallEvent],
// [NumberInfoRequest.RouteQuery] and [HistoryFileCompleted.CallEvent], the
// same names for the same step in every pbxkit vendor package.
//
// The end notification does not say whether the call was answered and
// carries no duration, so its Outcome is OutcomeUnknown. Ask
// [Client.CallInfo] (state 1 answered, 2 not; duration) when you need them,
// or set Config.ResolveEnded to have the webhook ask before your handler
// runs. That costs one call_info request per call (the method is
// rate-limited, about 100 requests in an unpublished period) and up to
// [ResolveTimeout] of the PBX's wait; a failure leaves the outcome unknown.
// Without ResolveEnded, [New] logs a warning saying so: a call journal
// derives the outcome from the call's connected and disconnected events.
// The recording is not in the notification either: is_record says one
// exists, and [Client.FetchRecording] downloads it.
//
// get_number_info is the routing question: the PBX asks it when a call
// arrives on a line, before the domain's routing rules. It becomes a
// pbx.RouteQuery for your pbx.Router, asked under Config.RouteTimeout; the
// answer's PIN (from Route.Extension) is the user or group to ring and
// displayName (Route.DisplayName) is shown on the phone. No decision, a
// router error or a late router give an empty answer in time, and the PBX
// routes by its rules. Phones that cannot show Cyrillic need a router that
// transliterates the display name.
//
// history_file_completed says an ordered call-log export is ready; the
// Client's own History stops waiting for it at once, and your handler gets
// it as EventUnknown with a *[HistoryFileCompleted].
//
// Durations: the notifications carry none, so their TalkDuration and
// CallDuration are zero, and a call journal computes them from the times of
// the new (StartedAt), connected (AnsweredAt) and end (EndedAt) events.
// call_info and the call-log export have one figure, duration, the
// manual's «Продолжительность вызова», 0 when there was no connection.
// pbxkit reads it as the whole call, ringing included: the
// manual names it the call's (not the conversation's) length, and in its
// one sample it equals the disconnect offset in session_log (8 s, with the
// connection at 5 s), not the talk after it (3 s). So:
//
//   - a history row ([HistoryRow.CallRecord]) fills CallDuration from it and
//     leaves TalkDuration zero (the export has no answer time);
//   - an end event resolved by call_info (Config.ResolveEnded) fills
//     CallDuration from it, and TalkDuration (duration minus the offset)
//     and AnsweredAt (start plus the offset) when session_log shows when the
//     call was connected ([CallInfo.AnswerOffset]);
//   - a call without connection (duration 0) leaves both zero: unknown.
//
// This is a reading of second-hand material; if a live domain shows
// duration to be the talk time, this reading and the mapping change.
//
// Raw always holds a pointer to the decoded vendor type:
//
//	| value                                      | Raw holds               |
//	|--------------------------------------------|-------------------------|
//	| pbx.CallEvent from call_events             | *CallEventNotification  |
//	| pbx.CallEvent from history_file_completed  | *HistoryFileCompleted   |
//	| pbx.RouteQuery from get_number_info        | *NumberInfoRequest      |
//	| pbx.CallRecord from History                | *HistoryRow             |
//	| pbx.Subscriber from Subscribers            | *User                   |
//
// # Errors
//
// A PBX refusal (a non-zero result, or a non-2xx status) is a
// *provider.APIError with the vendor's code and message; a rejected
// signature or client ID matches provider.ErrUnauthorized, and the wait a
// 429 or 503 answer asked for in Retry-After is its RetryAfter. Something
// the PBX has not prepared yet (a recording right after the call, a call-log
// export being built) matches pbx.ErrNotReady. call_back, which rings a
// phone, is never retried once it may have reached the PBX; reads are
// retried with backoff. Redirects are never followed (they would carry the
// X-Client-ID and X-Client-Sign headers to another host): a 3xx answer is a
// *provider.RedirectError naming where it pointed; set BaseURL to that.
//
// Every API operation is bounded by Config.Timeout (30 s by default) when
// its context has no earlier deadline; recording and call-log downloads
// are bounded by silence instead (no byte for Timeout), so a long download
// is not cut.
//
// # Testing
//
// Package rostelecomtest is a fake of the PBX (a pbxtest.Fake, registered
// with pbxtest as "rostelecom"): it serves the API methods above with the
// vendor's quirks, checks signatures, and plays pbxtest's scripted calls to
// your webhook with the notifications the PBX sends. Its Config and DSN
// point a Client at it. rostelecomtest.Harness describes this package to
// the conformance suite (provider/providertest), which conformance_test.go
// runs.
//
// # Uncertain points
//
// The official manual could not be read first-hand; the API was
// reconstructed from third-party integrations. Where they disagree or say
// nothing, this package reads it so:
//
//   - result is accepted as "0" or 0; a missing result is an error, and the
//     test host's result "1" with a success text is a refusal.
//   - call_back is sent with from_pin and request_number as "+7...", as in
//     the manual's example (integrations also send bare digits and
//     from_sipuri; CallBack takes either). domain is sent only to
//     users_info, the one method known to need it.
//   - get_record answers the same non-zero result for a recording not yet
//     written and for a call without one; GetRecord reports both as
//     pbx.ErrNotReady, so retry a bounded number of times. The link is
//     fetched with a plain GET.
//   - users is decoded as one object or an array.
//   - The time zone of timestamps and history dates is not stated; they are
//     read in Config.Location (Moscow by default). call_info's
//     start_call_date is Unix seconds.
//   - Exports come as ZIP (the manual says gzip), with ";" or "," and with
//     or without a header row; see ParseCallHistory. Without a direction
//     column, a call with no orig_pin is taken as incoming.
//   - Stray spaces and letter case in state and type are ignored; the
//     outbound type is also accepted as "outgoing".
//   - Webhook answers: 200 {"result":"0","resultMessage":"ok"}; missing
//     headers 401, a wrong client ID or signature 403, a body that cannot
//     be read 400 (with a generic message: the read error, which names
//     socket addresses, is only journaled), an event handler's error 500.
//     Whether the PBX retries a failed notification is unknown.
//     get_number_info answers are signed like requests (harmless if the PBX
//     does not check).
//   - The Transfer and GroupRing plays of rostelecomtest are readings too:
//     disconnect_reason "0" (transfer) ends the first leg of a transfer,
//     and a leg that only rang in a group ends with a disconnected without
//     a reason ("no connection" in the manual's table).
package rostelecom
