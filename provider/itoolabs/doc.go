// Package itoolabs is the notification protocol of the ITooLabs cloud PBX
// family, written once for the pbxkit vendor packages that speak it:
// MegaFon's virtual PBX (package megafon), Prostie Zvonki's
// server-to-server integration (package prostiezvonki), and the other
// resellers of the platform (Dom.ru, Gravitel, Kcell, Moldcell, ...). A
// vendor package never imports another; the family's protocol lives here,
// and what differs between its vendors is data, a [Dialect].
//
// Users of pbxkit do not need this package: they open megafon or
// prostiezvonki. Its exported names are for vendor packages, their fakes,
// and programs that want one decoder for the whole family.
//
// # The protocol
//
// The PBX posts every notification to one CRM URL, carrying the shared
// secret crm_token in the body: cmd=event (a call's state changed for one
// employee's phone), cmd=history (the call is over: its status, start,
// duration and recording link), cmd=contact (who is calling and who is
// responsible for them, asked before the call is routed; the answer routes
// it), and, in newer versions, cmd=rating. [Decode] reads one request into
// a [Notification]; [Notification.CallEvent] and [Notification.RouteQuery]
// map it to the neutral pbx values; [NewHandler] is the whole http.Handler
// a vendor's WebhookHandler returns.
//
// Reading is tolerant, because the family's members and versions differ:
//
//   - bodies are JSON objects or forms, whatever the Content-Type says;
//     URL query parameters are read too, and the body wins over them;
//   - the call id comes as "callid" or "call_id";
//   - event types, history statuses and directions are compared
//     case-insensitively (INCOMING/incoming, Success/success/SUCCESS);
//   - start and end come as 20060102T150405Z (UTC), 20060102T150405 (no
//     zone: see [Dialect.UTC]) or RFC 3339;
//   - numbers come as JSON numbers or strings; unknown fields are kept in
//     Notification.Extra, unknown commands and types pass as
//     pbx.EventUnknown.
//
// # What the dialect says
//
// A [Dialect] names the vendor (Provider), its answers (Accepted for an
// accepted notification, NoDecision for a contact question without a
// decision, and whether a caller's name may be answered without a
// responsible), the form of its times (UTC), and the type its events carry
// in Raw.
//
// # Sources and uncertain points
//
// Confidence is marked as in pbxkit's protocol notes on Prostie Zvonki
// and the family: confirmed by two or more independent public sources,
// from one source, or inferred.
//
// Confirmed: the commands and field names (user, ext, telnum,
// groupRealName, phone, diversion, callid, start, duration, link, status,
// type, direction); the event types and their meaning, CANCELLED included
// (a leg that ended unanswered, also when a colleague answered: not a
// missed call); the history statuses (Success, Missed, Cancel, Busy,
// NotAvailable, NotAllowed, NotFound); start as 20060102T150405Z in UTC;
// duration as the whole call ("Общая длительность звонка в секундах" in
// the brandup-online/megafon-ats webhook model; end − start in Prostie
// Zvonki's example); crm_token in the body; the answers 400
// {"error":"Invalid parameters"} and 401 {"error":"Invalid token"}; the
// contact answer {"contact_name","responsible"}; form bodies
// (skytecs/MegafonPbxApiClient and brandup-online/megafon-ats bind forms,
// mikopbx/ModuleMegafonPbx accepts both).
//
// One source: wait, the seconds before the answer, in live MegaFon
// history notifications (so TalkDuration is duration − wait); {} as
// MegaFon's "not found" answer to contact (mikopbx/ModuleMegafonPbx says
// the PBX reads it as "no contact"; skytecs/MegafonPbxApiClient answers {}
// for a null contact); second_callid on TRANSFERRED; callAerror.
//
// Uncertain, read tolerantly: whether a PBX retries after a 5xx and how
// long it waits for a contact answer (neither documented); a start without
// a zone (the family documents the Z; Prostie Zvonki's example has none);
// whether history comes once per call or once per leg; what the PBX does
// with the body of an answer to event or history (nobody is known to read
// it).
package itoolabs
