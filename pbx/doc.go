// Package pbx is the vendor-neutral vocabulary of pbxkit.
//
// Every provider package (rostelecom, sipuni, prostiezvonki, ...) speaks these
// words, so code written against package pbx works with any cloud PBX:
//
//   - A [Provider] turns the PBX's notifications into [CallEvent] values for an
//     [EventHandler], and answers the PBX's "where should this incoming call
//     go?" question with the help of a [Router].
//   - Outbound features are small capability interfaces ([Caller],
//     [RecordingFetcher], [SubscriberLister], [HistoryExporter]) discovered with
//     a type assertion, because vendors differ: Prostie Zvonki can place calls
//     but has no recording or history API.
//
// Package pbx imports nothing else from pbxkit and holds no state.
//
// # Event model
//
// One call produces a sequence of events: [EventCallStarted] when it reaches
// the PBX, [EventRinging] for each employee phone that rings, [EventAnswered],
// [EventLegEnded] for each employee leg that ends while the call goes on,
// [EventTransferred], [EventHeld] and [EventResumed] around a hold, and
// finally one [EventCallEnded] carrying the [Outcome], the times, the
// durations and the recording link when the vendor sends them. Vendors do not all send every type; each provider documents which of
// its notifications map to which type. A notification with no normalised
// meaning still reaches the handler as [EventUnknown], with its decoded payload
// in [CallEvent.Raw].
package pbx
