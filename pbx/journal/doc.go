// Package journal is the call journal: every event once, in order, and the
// calls assembled from them.
//
// A [Journal] is a [pbx.EventHandler]: mount it behind any provider's
// webhook handler (or several), and it
//
//   - stores each event once in a log: a redelivery with the same
//     (Provider, DedupeKey) changes nothing, and every stored event gets a
//     Seq, a journal-wide number that only grows ([Journal.Entries]);
//   - folds the events of each call, keyed by (provider, call id), into one
//     [Call] with its [Leg]s, whatever order they arrived in;
//   - answers queries ([Journal.Calls], [Journal.Stats]) for call lists,
//     missed calls and the per-employee report;
//   - closes calls that went quiet ([Journal.CloseIdle]), catches up from
//     the PBX's call log ([Journal.Reconcile]), marks missed calls called
//     back, and serves a live tail of the log ([Journal.Subscribe]) that
//     screen-pop and outbound delivery read from.
//
// HandleEvent returns an error only when the store failed, so the provider
// answers the PBX with a 5xx and the PBX redelivers: an event acknowledged
// to the PBX is stored.
//
// # Storage
//
// A [Store] keeps the log, the calls and a small key-value space.
// [NewMemoryStore] is for tests and demos; packages sqlitestore (embedded,
// the default) and pgstore (several replicas on one database) are durable.
// Backends do not compute calls: in one transaction they store the entry,
// load all entries of its call and store what [Fold] returns. Every backend
// passes the suite in package journaltest.
//
// # Fold rules
//
// [Fold] computes a call from the SET of its entries: it sorts them
// canonically (by event time, then start < ringing < answered <
// transferred < leg_ended < call_ended < unknown, then source, then
// DedupeKey) and folds them in that order, so the same entries in any
// arrival order give the same Call. Entries are provider events (Source
// [SourceEvent]), history rows written by Reconcile ([SourceHistory]),
// timeouts written by CloseIdle ([SourceTimeout]) and call-back notes
// ([SourceCallback]).
//
//	Field          Rule
//	-------------  -------------------------------------------------------------
//	Direction,     the first non-empty value from provider events in canonical
//	Phone, Line    order; else from history rows.
//	StartedAt      the earliest StartedAt or event time of provider events and
//	               history rows (never zero: the first receive time at worst).
//	Legs           one per extension named by call_started, ringing, answered,
//	               leg_ended, transferred or call_ended events, or by a history
//	               row; RangAt = first ringing; EndedAt = its latest leg_ended,
//	               else the call's end.
//	Leg.Answered   an answered event for the extension, or its leg_ended with
//	               an answered outcome or an answer time (Sipuni event 4). Only
//	               when no leg has such evidence: the extension a call_ended or
//	               history row with an answered outcome names.
//	Outcome        1. a history row's known outcome (any row answered: answered);
//	               2. else the latest provider call_ended with a known outcome;
//	               3. else answered when anything says answered (an answered
//	                  leg, an answered event without extension, a call_ended
//	                  with talk time or an answer time);
//	               4. else missed when closed by an event or by history, inbound
//	                  or outbound;
//	               5. else unknown (open, or closed by timeout).
//	               A leg_ended or cancel of another leg never turns an answered
//	               call into a missed one: legs only ever add answer evidence.
//	ClosedBy       ClosedByEvent if a provider call_ended exists; else
//	               ClosedByHistory if a history row exists; else
//	               ClosedByTimeout if CloseIdle closed it; else open.
//	AnsweredBy,    only for an answered call: the answered leg with the
//	AnsweredAt     earliest answer (the first one when it was transferred);
//	               the answer time from provider events, else from history.
//	EndedAt        the latest provider call_ended time (closed by event), the
//	               history row's start + call duration (closed by history);
//	               zero while open and when closed by timeout.
//	TalkDuration   answered calls only: the longest history value, else the
//	               latest call_ended value, else EndedAt − AnsweredAt.
//	CallDuration   closed by event or history: the longest history value,
//	               else the latest call_ended value, else EndedAt − StartedAt.
//	HoldDuration   the union of each extension's held → resumed intervals
//	               (EventHeld, EventResumed); a hold never resumed lasts to
//	               EndedAt. Zero when the vendor sends no hold events.
//	Missed         inbound, closed by event or history, outcome missed, busy,
//	               cancelled or failed.
//	CalledBack*    missed calls only: the earliest call-back note.
//	RecordingURL   the latest link; HasRecording if any event says so.
//
// Per vendor:
//
//   - Rostelecom: new → call_started, calling → ringing, connected →
//     answered, disconnected → leg_ended, end → call_ended WITHOUT an
//     outcome. The outcome is therefore derived: answered when a leg
//     answered (rule 3), else missed (rule 4); no API call on the hot path.
//     Talk time is computed from the connected and end times.
//   - Sipuni: event 1 → ringing (one per phone of a group), 3 → answered,
//     4 → leg_ended with the leg's status, 2 → call_ended with the outcome
//     (ANSWER, NOANSWER, BUSY, CANCEL, ...), which wins (rule 2). On an
//     outbound call-back the employee's leg may answer while the client does
//     not: the call is then missed, as Sipuni says, and AnsweredBy empty.
//   - Prostie Zvonki: INCOMING/OUTGOING → ringing, ACCEPTED → answered,
//     COMPLETED/CANCELLED → leg_ended (a CANCELLED phone in a group ring
//     is not a missed call), cmd=history → call_ended with the outcome,
//     times and durations. Its events carry no time: the receive time
//     stands in.
//   - Mango: the call is the entry_id; Appeared → ringing (or call_started
//     in the IVR), Connected → answered (or resumed after OnHold), OnHold →
//     held, Disconnected → leg_ended, events/summary → call_ended with the
//     outcome from talk_time and entry_result. Mango warns its events
//     arrive out of order; the fold does not care.
//
// # Idle calls
//
// A call whose latest provider event is older than the idle timeout
// ([WithIdleTimeout], default 2 h) without a terminal event is closed by
// [Journal.CloseIdle] with a synthetic call_ended entry (Source
// [SourceTimeout]): [ClosedByTimeout], answered when a leg answered, else
// OutcomeUnknown. A later call_ended or a history row still corrects it.
//
// # Catching up
//
// [Journal.Reconcile] reads a provider's call log ([pbx.HistoryExporter])
// and writes one history entry per call it adds or corrects, so the
// correction reaches every reader of the log, and a second identical run
// appends nothing. A provider without a history export, such as Prostie
// Zvonki, cannot be caught up: calls it delivered while the receiver was
// down, and that it did not redeliver, are lost to the journal.
//
// # Call-backs
//
// When an outbound call to a number ends answered, the missed inbound calls
// from the same number (by the last-digits rule, [WithDigits]) in the
// preceding [WithCallbackWindow] (default 7 days) get a call-back note
// (Source [SourceCallback]): [Call].CalledBackAt and CalledBackBy. A missed
// call that arrives late (by reconciliation) is matched with an answered
// call-back already in the journal the same way.
//
// # Live tail
//
// [Journal.Subscribe] yields the stored entries after a Seq and then new
// ones as they are appended, never skipping one: a Store makes entries
// visible in Seq order (on PostgreSQL the Seq is taken under a lock held
// until commit), and wakes waiting readers on every append (in-process,
// or LISTEN/NOTIFY across replicas).
package journal
