// Package prostiezvonki is the pbxkit provider for the Prostie Zvonki
// (Простые звонки, Vedisoft) server-to-server integration: click-to-call
// through makecall, the JSON notifications Prostie Zvonki posts to the CRM,
// and smart transfer ("умный перевод") to the client's responsible manager.
//
// The protocol is the ITooLabs/MegaFon "CRM REST API" family (cmd, crm_token,
// /crmapi/v1/makecall with X-API-KEY), which MegaFon, Gravitel, Dom.ru and
// others resell; this package reads the family's wider vocabulary too (more
// event types and history statuses, form-encoded bodies, cmd=rating,
// contact_name), so it also serves as a receiver for those PBXs.
//
// # Setting up
//
// In the Prostie Zvonki cabinet, the "Токен Простых Звонков" is
// [Config.APIKey] (needed to place calls), the "Токен 1С" is
// [Config.CRMToken] (needed to accept notifications), and the "Адрес
// опубликованного расширения" is the URL where [Client.WebhookHandler] is
// served:
//
//	c, err := prostiezvonki.New(prostiezvonki.Config{APIKey: key, CRMToken: token})
//	http.Handle("/pbx/prostiezvonki", c.WebhookHandler(journal, router))
//
// A Client made without CRMToken (a program that only places calls)
// rejects every notification; [New] then logs one warning saying so, to
// [Config.Logger] or, when none is set, to [slog.Default]. Vendor times
// carry no zone: they are read in [Config.Location] (Europe/Moscow by
// default).
//
// # Opening by DSN
//
// Importing the package registers the provider "prostiezvonki" with
// [provider.Open]:
//
//	prostiezvonki://:APIKEY@HOST/?crm_token=T
//
// where:
//
//   - APIKEY, the password part (the user part stays empty), is the
//     "Токен Простых Звонков" ([Config.APIKey]); %-escape special characters;
//   - HOST[/PATH] is the API host: the API root becomes https://HOST/PATH,
//     PATH defaulting to /httpapiinteg. With no host the root is
//     [DefaultBaseURL];
//   - crm_token is the "Токен 1С" ([Config.CRMToken]);
//   - base_url, optional, replaces the whole API root, for example a fake's
//     http://127.0.0.1:PORT/httpapiinteg;
//   - route_timeout, optional, is [Config.RouteTimeout] as a Go duration
//     ("1500ms");
//   - timeout, optional, is [Config.Timeout] as a Go duration ("10s").
//
// Either the API key or crm_token may be left out by a program that only
// receives notifications or only places calls; unknown parameters are an
// error. So the shortest DSN is
//
//	prostiezvonki://:APIKEY@/?crm_token=T
//
// # Signing
//
// Nothing is signed: each direction carries a shared secret. makecall sends
// the API key in the X-API-KEY header; every notification carries the
// crm_token, which the handler compares with [Config.CRMToken] in constant
// time before anything reaches user code. A Client implements
// [provider.WebhookTester]: [Client.WebhookTestRequest] builds the
// notification Prostie Zvonki sends, with the Client's own token, to check
// a deployed receiver before the cabinet points at it.
//
// # API
//
// The CRM calls Prostie Zvonki: [Client.MakeCall] (a [pbx.Caller]) posts
// {"user":"100","phone":"89991234567"} to
// https://interaction.prostiezvonki.ru/httpapiinteg/crmapi/v1/makecall. It
// is never retried once it may have reached the service, since that would
// ring the employee twice. Every API operation is bounded by
// [Config.Timeout] (default 30 s) when its context has no earlier
// deadline: a service that accepts the connection and then stalls, even in
// the middle of its answer, gives an error after that time, never a call
// that hangs.
//
// Prostie Zvonki has no recording, employee or call-history API: a Client
// implements [pbx.Provider] and [pbx.Caller] only, and this package has no
// history.go (no call-log export to parse) and makes no pbx.CallRecord or
// pbx.Subscriber. Recording links arrive in cmd=history and can be
// downloaded with a plain GET.
//
// # Notifications
//
// Prostie Zvonki calls the CRM: [Client.WebhookHandler] serves the POSTs it
// sends, each carrying the crm_token:
//
//	{"cmd": "event", "type": "INCOMING", "direction": "in", "user": "100", "ext": "100",
//	 "phone": "89991234567", "diversion": "3333333", "callid": "1659685427407907141", "crm_token": "token123"}
//
// The protocol is the ITooLabs family's, decoded and mapped once in
// package [github.com/pbxkit/pbxkit/provider/itoolabs], which package
// megafon shares; what is Prostie Zvonki's own is its dialect: the answers
// {"result":"ok"} and {"responsible":""}, and times written without a
// zone. Each notification is decoded into a [Notification] and mapped by
// [Notification.CallEvent]: cmd=event becomes a [pbx.CallEvent]
// (INCOMING/OUTGOING ringing, ACCEPTED answered, COMPLETED/CANCELLED leg
// ended, TRANSFERRED), cmd=history a [pbx.EventCallEnded] with the outcome,
// times, durations and recording link. cmd=contact is mapped by
// [Notification.RouteQuery] to a [pbx.RouteQuery], asked under
// [Config.RouteTimeout], whose answer is {"responsible":"<extension>"}. See
// [Client.WebhookHandler] for the details and the error answers.
//
// cmd=history carries duration, the call's whole length with the ringing
// included (in the spec's example it is end - start), so it fills
// [pbx.CallEvent.CallDuration]; without duration, CallDuration is end -
// start when both times are known. [pbx.CallEvent.TalkDuration] is filled
// only for an answered call whose history carries the ITooLabs family's
// "wait" (the seconds before the answer): duration - wait, and AnsweredAt
// is start + wait. Prostie Zvonki's own examples carry no wait, so for them
// TalkDuration stays zero: the talk time is not known, and it is never
// guessed from duration. cmd=event carries no times and no durations.
// [pbx.CallEvent.HasRecording] is true when the notification carries a
// non-empty link (which is then RecordingURL).
//
// Raw is always a pointer to the decoded vendor payload:
//
//	| value          | Raw holds     |
//	|----------------|---------------|
//	| pbx.CallEvent  | *Notification |
//	| pbx.RouteQuery | *Notification |
//
// A Notification never holds the crm_token.
//
// # Errors
//
// An API answer with a 4xx/5xx status, or a 2xx whose JSON reports an
// error, is a *[provider.APIError] with the service's own text in Message
// and the wait a 429 or 503 asked for in RetryAfter; one that rejects the
// API key also matches [provider.ErrUnauthorized]. A redirect is a
// *[provider.RedirectError] and is never followed. [UserMessage] turns any
// error into the text the spec asks a CRM to show. Errors never hold a
// secret. The webhook answers what the ITooLabs family documents: 401
// {"error":"Invalid token"}, 400 {"error":"Invalid parameters"}, and 500
// {"error":"Internal error"} when the EventHandler fails.
//
// # Testing
//
// Package [github.com/pbxkit/pbxkit/prostiezvonki/prostiezvonkitest] is a
// fake Prostie Zvonki service on 127.0.0.1: it answers makecall and plays
// the spec's call flows (and the neutral pbxtest scenarios) against a
// webhook, with the same JSON and crm_token. Its Harness runs this
// package's conformance suite ([github.com/pbxkit/pbxkit/provider/providertest]).
//
// # Uncertain points
//
// No public documentation of the Prostie Zvonki HTTP API exists beyond the
// integration spec this package was built from, whose examples are not fully
// consistent. Where they leave a question open the package reads tolerantly:
//
//   - the call id arrives as "callid" or "call_id";
//   - start/end such as "20230908T015640" carry no zone: they are read in
//     [Config.Location] (Europe/Moscow by default) by
//     [provider.ParseLocalTime]; a trailing Z (the ITooLabs form) means UTC,
//     and RFC 3339 and the other forms ParseLocalTime knows are accepted. A
//     time that cannot be read is left zero, its text kept in
//     [Notification]. (The spec's example pairs 01:56:40 with a Unix time of
//     13:56:40 UTC, which hints at UTC on a 12-hour clock; check live
//     traffic before relying on the hour);
//   - duration is read as the call's whole length, ringing included, as the
//     spec's example (end - start) shows; see Notifications above;
//   - the recording link may be one-time or expire: download it soon;
//   - status is compared case-insensitively;
//   - the makecall success body is not documented: any 2xx without an error
//     in its JSON is success;
//   - whether Prostie Zvonki redelivers after a 5xx, and how long it waits
//     for a contact answer, are not documented.
package prostiezvonki
