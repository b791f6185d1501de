// Package megafon is the pbxkit provider for MegaFon's virtual PBX
// («Виртуальная АТС МегаФон», *.megapbx.ru): click-to-call, the employee
// list, the call log and its recordings through the CRM REST API, and the
// notifications the PBX posts to the CRM, with the routing question
// (cmd=contact) that sends a caller to their responsible manager.
//
// The PBX is built on the ITooLabs platform, like Prostie Zvonki's service,
// Dom.ru's and Gravitel's: its notifications (cmd=event, history, contact,
// rating with crm_token) are the family's, decoded once in package
// provider/itoolabs; this package adds MegaFon's dialect and its REST API.
//
// # Setting up
//
// In the PBX's cabinet, the integration with a CRM («Интеграция с CRM» /
// API settings) gives the API key ([Config.APIKey], for the REST API) and
// the CRM key the PBX sends with every notification ([Config.CRMToken]);
// the CRM URL there is where [Client.WebhookHandler] is served:
//
//	c, err := megafon.New(megafon.Config{Domain: "vats123.megapbx.ru", APIKey: key, CRMToken: token})
//	http.Handle("/pbx/megafon", c.WebhookHandler(journal, router))
//
// A Client made without CRMToken (a program that only uses the API)
// rejects every notification; [New] then logs one warning saying so. A
// Client without Domain (a program that only receives notifications) has
// no API. Times are returned in [Config.Location] (Europe/Moscow by
// default); MegaFon writes them in UTC.
//
// # Opening by DSN
//
// Importing the package registers the provider "megafon" with
// [provider.Open]:
//
//	megafon://:API_KEY@DOMAIN.megapbx.ru/?crm_token=T
//
// where:
//
//   - API_KEY, the password part (the user part stays empty), is
//     [Config.APIKey]; %-escape special characters;
//   - DOMAIN.megapbx.ru is the PBX's host ([Config.Domain]; a name without
//     a dot gets ".megapbx.ru"): the API root is https://DOMAIN/crmapi/v1;
//   - crm_token is [Config.CRMToken];
//   - base_url, optional, replaces the whole API root, for example a fake's
//     http://127.0.0.1:PORT/crmapi/v1;
//   - route_timeout and timeout, optional, are [Config.RouteTimeout] and
//     [Config.Timeout] as Go durations ("1500ms", "10s");
//   - location, optional, is [Config.Location] as an IANA zone name; it
//     wins over provider.WithLocation.
//
// Either the API key or crm_token may be left out by a program that only
// receives notifications or only uses the API (an API key needs the
// domain); unknown parameters are an error.
//
// # Signing
//
// Nothing is signed: each direction carries a shared secret. API requests
// and recording downloads carry the API key in the X-API-KEY header; every
// notification carries the crm_token, which the handler compares with
// [Config.CRMToken] in constant time before anything reaches user code (a
// Client without CRMToken accepts none: the handler never fails open). The
// key is sent for a recording only to the API's host or, for the real
// service, to hosts under megapbx.ru (MegaFon's recordings are on
// records.megapbx.ru); other links are fetched without it. A Client
// implements [provider.WebhookTester]: [Client.WebhookTestRequest] builds
// the notification the PBX sends, with the Client's own token.
//
// # API
//
// The CRM calls the PBX at https://DOMAIN.megapbx.ru/crmapi/v1:
//
//   - [Client.MakeCall] (pbx.Caller) and [Client.Call]: POST /makecall
//     {"user","phone"} → {"callid"}: the PBX rings the employee, then the
//     client. Never retried once it may have reached the PBX;
//   - [Client.Subscribers] (pbx.SubscriberLister) and [Client.Users]: GET
//     /users, page after page;
//   - [Client.History] (pbx.HistoryExporter) and [Client.CallHistory]: GET
//     /history/json?start=…&end=…&type=…, streamed row by row
//     ([HistoryRow], [HistoryReader]); History also lists the employees to
//     give each record its extension;
//   - [Client.FetchRecording] (pbx.RecordingFetcher) and [Client.Record]:
//     the call log's (or a history notification's) recording link,
//     downloaded with the key and streamed.
//
// Reads are retried with backoff on transient failures. Every operation is
// bounded by [Config.Timeout] (default 30 s) when its context has no
// earlier deadline; a recording download is bounded by its silence, not
// its length.
//
// Durations differ between the two call logs MegaFon gives, and the package
// reads each as its sources say: the history notification's duration is
// the whole call («Общая длительность звонка»), so it is CallDuration, and
// TalkDuration is duration − wait only when wait comes; the export's
// duration is the talk time («Длительность разговора»), so it is
// TalkDuration of an answered call, and CallDuration is wait + duration
// only when wait comes.
//
// # Notifications
//
// The PBX calls the CRM: [Client.WebhookHandler] serves the POSTs it sends
// (form-encoded; JSON is read too), each carrying the crm_token:
//
//	cmd=event&type=INCOMING&direction=in&user=admin&ext=101&phone=79161234567&diversion=74951234567&callid=…&crm_token=…
//
// Each is decoded into a [Notification] and mapped by
// [Notification.CallEvent]: cmd=event to a [pbx.CallEvent] (INCOMING and
// OUTGOING ringing, one per rung phone; ACCEPTED answered; COMPLETED and
// CANCELLED a leg's end, not a missed call; TRANSFERRED), cmd=history to a
// [pbx.EventCallEnded] with the outcome (statuses read in any case), the
// start (UTC), the durations and the recording link. cmd=contact is mapped
// by [Notification.RouteQuery] to a [pbx.RouteQuery], asked under
// [Config.RouteTimeout]; the answer is {"responsible":"<extension>",
// "contact_name":"…"}, or {} for no decision.
//
// Raw is always a pointer to the decoded vendor payload:
//
//	| value          | Raw holds     |
//	|----------------|---------------|
//	| pbx.CallEvent  | *Notification |
//	| pbx.RouteQuery | *Notification |
//	| pbx.CallRecord | *HistoryRow   |
//	| pbx.Subscriber | *User         |
//
// A Notification never holds the crm_token.
//
// # Errors
//
// An API answer with a 4xx/5xx status, or a 2xx that is an HTML page or
// whose JSON reports an error ({"message"}, {"error"}, {"errors"}), is a
// *[provider.APIError] with the PBX's own text in Message and the wait a
// 429 or 503 asked for in RetryAfter; one that rejects the key (401, 403,
// or a text naming the key) also matches [provider.ErrUnauthorized]. A
// redirect is a *[provider.RedirectError] and is never followed. Errors
// never hold a secret. The webhook answers what the family documents: 401
// {"error":"Invalid token"}, 400 {"error":"Invalid parameters"}, and 500
// {"error":"Internal error"} when the EventHandler fails.
//
// # Testing
//
// Package [github.com/pbxkit/pbxkit/megafon/megafontest] is a fake MegaFon
// PBX on 127.0.0.1: it answers makecall, users, history/json and
// recording downloads, and plays call flows (the neutral pbxtest
// scenarios) against a webhook, form-encoded, with the crm_token. Its
// Harness runs this package's conformance suite
// ([github.com/pbxkit/pbxkit/provider/providertest]).
//
// # Uncertain points
//
// MegaFon's API documentation (api.megapbx.ru) is not public text; the
// package follows public client code (brandup-online/megafon-ats,
// skytecs/MegafonPbxApiClient, mikopbx/ModuleMegafonPbx,
// IndeecDen/megapbx-max and others) and reads tolerantly where they
// disagree or say nothing:
//
//   - the answer {} to a contact question without a decision is what
//     MegaFon's receivers send for "not found"; that the PBX then routes by
//     its own rules is one source's word;
//   - a start without a zone (never seen) is read as UTC;
//   - whether makecall's callid is the callid of the call's notifications,
//     and whether the call log's uid is, is not documented (FetchRecording
//     matches either the uid or the id in the recording's link);
//   - the call log's status values beyond success and missed (a public
//     client has no_answer), and whether it caps rows or the period;
//   - whether every recording link needs the key, and how long links live;
//   - whether the PBX redelivers after a 5xx, and how long it waits for a
//     contact answer;
//   - makecall's clid ([CallRequest.CLID]) is seen in one MegaFon
//     integration only;
//   - the cabinet's labels named under Setting up are descriptive, not
//     quoted from MegaFon.
package megafon
