// Package mango is the pbxkit provider for Mango Office's virtual PBX
// («Виртуальная АТС MANGO OFFICE»): its VPBX API with request signing, the
// notifications the PBX posts to your server, and the routing of incoming
// calls by command.
//
// A [Client] is one PBX (one product). It implements [pbx.Provider] (Name
// "mango"), [pbx.Caller] (commands/callback), [pbx.RecordingFetcher]
// (queries/recording/post), [pbx.SubscriberLister] (config/users/request),
// [pbx.HistoryExporter] (stats/request and stats/result) and
// provider.WebhookTester, and offers each API method with typed requests:
// [Client.Callback], [Client.Route], [Client.Hangup], [Client.Users],
// [Client.RequestStats], [Client.StatsResult], [Client.OpenRecording].
//
// # Setting up
//
// In the PBX's cabinet, «Интеграции» → «API Коннектор»: copy «Уникальный
// код вашей АТС» (Config.APIKey, vpbx_api_key) and «Ключ для создания
// подписи» (Config.APISalt, the signing secret, never sent), and enter in
// «Адрес внешней системы» the URL where you mount [Client.WebhookHandler];
// Mango appends events/call, events/summary and the others to it. The
// cabinet can also restrict which addresses may call the API: list your
// server's egress IP there. Mango posts from 81.88.80.132, 81.88.80.133,
// 81.88.82.36, 81.88.82.44, 81.88.82.45 (and 81.88.85.67 in one
// configuration); the signature, not the address, is what the handler
// checks.
//
// Routing incoming calls (see Notifications) needs one setting in the
// incoming scheme of each line routed this way: the call must wait in the
// IVR while your server decides. Make the scheme's first step a voice menu
// that plays a short prompt («Здравствуйте, соединяем…») followed by
// silence, with «ждать окончания» (wait for the end) on, and with the
// scheme's own routing after it. The silence must outlast
// Config.RouteTimeout plus the route command's trip to Mango (a second is
// ample): with the default RouteTimeout of 2 s, 4 s of silence. When no
// command arrives in the silence, the scheme goes on by its own rules, so
// a slow router, a failure or the route limit never drops a call.
//
// # Opening by DSN
//
//	import _ "github.com/pbxkit/pbxkit/mango" // registers "mango"
//
//	p, err := provider.Open("mango://API_KEY:API_SALT@/")
//
// An empty host means Mango's API (DefaultBaseURL); a host names another
// (https). Special characters in the key or salt must be %-escaped.
// Optional query parameters:
//
//   - base_url: the whole API base URL, such as
//     http://127.0.0.1:34567/vpbx for a mangotest server;
//   - route_timeout: Config.RouteTimeout, a Go duration ("2s");
//   - route_interval: Config.RouteInterval, a Go duration; Mango's "2s"
//     is the default, a shorter or negative one is for fakes
//     (mangotest's DSN carries "10ms");
//   - timeout: Config.Timeout, a Go duration ("10s");
//   - location: Config.Location, an IANA zone; provider.WithLocation
//     overrides it.
//
// Any other parameter is an error. [ParseDSN] reads a DSN into a [Config].
//
//	c, err := mango.New(mango.Config{APIKey: key, APISalt: salt})
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer c.Close() // stops the routing in progress
//	// «Адрес внешней системы»: https://crm.example.ru/pbx/mango
//	http.Handle("/pbx/mango/", c.WebhookHandler(journal, router))
//	res, err := c.MakeCall(ctx, pbx.CallRequest{Extension: "101", Phone: "8 (999) 123-45-67"})
//
// # Signing
//
// Both directions sign the same way: every request and notification is a
// form with vpbx_api_key, json and sign, where sign is the lowercase hex
// SHA-256 of the key, the json value and the salt concatenated ([Sign];
// not an HMAC). The signature covers the json value exactly as sent, so
// the Client marshals a request once and signs and sends those bytes,
// encoding the form with url.Values (a "+", "&" or "%" in a value survives;
// clients that concatenate the form corrupt it). The webhook verifies the
// json value as received, in constant time, before decoding it; a request
// without a valid key and signature reaches no user code.
//
// # API
//
// MakeCall sends commands/callback: the PBX rings the employee, then the
// number. Its command_id is CallResult.OrderID; the call's legs carry it
// (CallNotification.CommandID) and result/callback reports the command's
// outcome to Config.OnResult. It is never sent again once it may have
// reached the PBX; nor are commands/route and commands/call/hangup.
//
// FetchRecording takes the call id the events carry (CallEvent.CallID,
// entry_id), as pbx.RecordingFetcher promises, although Mango finds a
// recording only by its own recording_id: the webhook remembers, per call,
// the recording ids events/recording and events/record/added announce
// (the last 10,000 calls, for 24 h, in this process), and FetchRecording
// fetches the newest. A call heard of whose recording is not announced as
// stored yet gives an error matching pbx.ErrNotReady without asking Mango
// (so does a call never recorded); retry after events/record/added. An id
// the Client knows no call for is sent as a recording_id: a recording id
// (from Raw, or the call log's records column) works too, and is what a
// process that did not receive the notifications must pass (pbxctl,
// another replica, after a restart). OpenRecording takes recording ids
// only. POST queries/recording/post answers 302 with a one-time file
// link, which is fetched at once and streamed, never stored. The link is
// followed only to BaseURL's host or, over https, to
// Config.RecordingHosts (mango-office.ru). A recording Mango has not
// stored yet (3320) matches pbx.ErrNotReady; retry about a minute later,
// not sooner: Mango locks the key out for 2 minutes after a second
// invalid (3xxx) request within 2 minutes.
//
// Subscribers lists config/users/request. History orders stats/request
// (at most a month per request: longer periods are split), polls
// stats/result (204 while not ready; after Config.HistoryPoll, growing, at
// most one poll every 5 s by default) and reads the CSV as it streams (see
// [ParseStats]); rows of one entry_id in a row become one pbx.CallRecord.
//
// The Client keeps Mango's published per-product limits itself
// ([DefaultLimits]; Config.Limits overrides): all API 10 a second,
// callback and hangup 4, recording access 10, users, route and stats/request
// one every 2 s (the route limit is Config.RouteInterval: shorter only
// against a fake). An operation waits for its slot within ctx and Timeout,
// and fails at once (matching provider.ErrRateLimited) when the slot is
// later; retries inside one operation follow the backoff and Retry-After
// instead. Limits protect the key: Mango answers 429 over them, and 401 to
// everything for 2 minutes after repeated invalid requests.
//
// # Notifications
//
// events/call reports one leg's state. Mango's call has two ids: entry_id
// for the whole call (every leg of forwards, transfers and routes) and
// call_id for a leg; CallEvent.CallID is entry_id, and call_id and seq
// stay in Raw. The mapping ([CallNotification.CallEvent]):
//
//	Mango                                         pbx.CallEvent
//	--------------------------------------------  ------------------------------
//	Appeared, location ivr                        EventCallStarted (+ routing)
//	Appeared, at an employee (abonent, or an      EventRinging
//	  extension named)
//	Appeared with transfer set (newer manual)     EventTransferred
//	Connected at an employee                      EventAnswered
//	Connected after an OnHold of the same leg     EventResumed
//	Connected in the IVR or a queue               EventUnknown (no person answered)
//	OnHold                                        EventHeld
//	Disconnected                                  EventLegEnded
//	events/summary                                EventCallEnded, with Outcome
//	events/recording, events/record/added,        EventUnknown, HasRecording when
//	  events/record/tagged, events/dtmf             the recording is stored
//
// Direction: call_direction on the summary; on events/call, an employee
// calling (from.extension) nobody internal is outbound, employees on both
// sides internal, anything else inbound. Extension is the employee, Phone
// the external number (normalised), Line the company line. Times are Unix
// seconds, returned in Config.Location. DedupeKey comes from call_id, seq
// and call_state (the summary's from entry_id).
//
// The summary's Outcome: answered when talk_time is not 0 (when it is
// absent, entry_result 1 says so); else by disconnect_reason ([OutcomeOf]):
// 1121, 1122, 1123 busy, 1110 cancelled (the caller hung up), 113x, 1140,
// 115x, 1171 and 2xxx to 5xxx failed, the rest missed. TalkDuration is
// end_time − talk_time, CallDuration end_time − create_time.
//
// Mango posts notifications in parallel and warns they arrive out of
// order; the journal (package pbx/journal) folds a call from the set of its
// events, whatever their order, and keeps the hold time of EventHeld and
// EventResumed pairs (journal.Call.HoldDuration).
//
// Mango has no routing question. A call that appears in the IVR (Appeared,
// location ivr, an external caller) is a notification like any other; the
// webhook answers it at once and, in the background, asks the pbx.Router
// (RouteQuery: Phone the caller, Line the company line, CallID the entry)
// under Config.RouteTimeout, then sends commands/route {call_id, to_number:
// Route.Extension} with Route.DisplayName as the phone's display name.
// Never twice for one leg (a redelivery is not routed again); a router
// error, a timeout or no decision send nothing. Mango takes one route
// command every 2 s per PBX, and so does the Client (Config.RouteInterval;
// a shorter interval is for fakes only): one command at a time, the next
// 2 s after the previous one's answer, so that network delays cannot
// bring two closer at Mango. A decision whose slot would start after the
// deadline is dropped rather than queued, counted in
// RouteStats.RateLimited and logged at Warn (once a minute), and the
// scheme routes that call. At
// most 64 routings run at once. [Client.Close] cancels the routing in
// progress and waits for it; [Client.RouteStats] counts what happened.
//
// Command results (result/callback, result/route, ..., and events/sms) go
// to Config.OnResult. The cabinet's connection check (a request to
// .../ping, or a signed request without json) is answered 200.
//
// Raw always holds a pointer to the decoded vendor type:
//
//	| value                                          | Raw holds                |
//	|------------------------------------------------|--------------------------|
//	| pbx.CallEvent from events/call                 | *CallNotification        |
//	| pbx.CallEvent from events/summary              | *SummaryNotification     |
//	| pbx.CallEvent from events/recording            | *RecordingNotification   |
//	| pbx.CallEvent from events/record/added, tagged | *RecordAddedNotification |
//	| pbx.CallEvent from events/dtmf                 | *DTMFNotification        |
//	| pbx.RouteQuery for a call in the IVR           | *CallNotification        |
//	| pbx.CallRecord from History                    | *StatsRow                |
//	| pbx.Subscriber from Subscribers                | *User                    |
//
// # Errors
//
// A PBX refusal (a result other than 1000, or a non-2xx status) is a
// *provider.APIError whose Err is a *[ResultError] when the answer carries
// a code: its Code, and the code's Class as the manual writes it (an
// unlisted 2219 reads as its class 221x). 3102 and 3105 (signature, key)
// match provider.ErrUnauthorized, as a 401 does; 3320 and 3340 (recording
// or file not found) match pbx.ErrNotReady. Invalid requests (3xxx) are
// never sent again: Mango locks the key for 2 minutes after a second one.
// Reads are retried with backoff on connection errors, 429 and 5xx;
// commands never after they may have reached the PBX. A redirect is never
// followed, except the recording link above: a 3xx is a
// *provider.RedirectError.
//
// Every API operation is bounded by Config.Timeout (30 s) when its context
// has no earlier deadline; a recording download is bounded by silence
// instead, so a long download is not cut.
//
// # Testing
//
// Package mangotest is a fake of the PBX: it serves the API above,
// checks signatures, runs an IVR that waits for commands/route and rings
// whom it names, and plays scripted calls to your webhook in Mango's order
// (or shuffled, as Mango may deliver them). Its Harness runs the
// conformance suite of package providertest.
//
// # Uncertain points
//
// The v1.10 manual was read first-hand; the newer manual only through
// extracts; the rest from client code. Where a fact is single-source or
// inferred, this package takes the tolerant reading:
//
//   - Answers: success is a 2xx whose JSON has no result or result 1000;
//     an error code is read from result or code (the manual's 420
//     {"code":3104}), with any status.
//   - Numbers arrive as JSON strings or numbers; every scalar of a
//     notification decodes either way and is read when used. extension and
//     acd_group are strings in v1.10 and integers in the newer manual.
//   - Times are Unix seconds read as the true epoch (v1.10 says UTC, the
//     newer manual "UTC+3"; a Unix time has no zone).
//   - from.taken_from_call_id alone is not a transfer (routing and
//     forwards set it too); only the newer manual's transfer field is.
//   - Connected in the IVR or a queue is not an answer. A Connected after
//     an OnHold of its leg (by seq, remembered per process for 6 h) is the
//     hold's end; one that arrives before its OnHold stays EventAnswered.
//   - The summary's entry_result contradicts talk_time in the manual's own
//     example: talk_time wins.
//   - The limits table (per product, per second) and the 401 lock-out come
//     from the newer manual only. How Mango measures the route limit is
//     not documented: the Client assumes it counts arrivals, so it sends
//     one route command at a time, the next RouteInterval after the
//     previous one's answer.
//   - A recording is taken as stored (FetchRecording by call id) on
//     events/record/added or events/record/tagged, or on events/recording
//     Completed with code 1000 (or none) and a recipient other than Mail
//     alone; the newest by the notifications' times wins.
//   - The connection check: one client routes it to .../ping, one receiver
//     saw it without json; both are answered 200. An unsigned request to an
//     event path is refused.
//   - Whether Mango posts a notification again after a 5xx or a timeout
//     is not documented: reconcile from History.
//   - The CSV's lines end in "\n" (manual) or "\r\n" (a client splits
//     there); records is "[a,b]" or "a,b"; disconnect_reason may be a word.
//     A first line naming the columns is skipped.
//   - The recording link's host: files.mango-office.ru in the manual's
//     example; any https host under mango-office.ru is accepted.
package mango
