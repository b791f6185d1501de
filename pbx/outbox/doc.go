// Package outbox delivers the call journal to an HTTP endpoint (1C, a
// CRM) durably: every selected entry is POSTed, signed, retried while the
// endpoint is down, and never lost when the endpoint or this process goes
// away.
//
//	ob, err := outbox.New(j, outbox.Target{
//		Name:   "1c",
//		URL:    "https://bridge:secret@1c.example.ru/base/hs/pbx/calls",
//		Secret: secret,
//	}, outbox.WithLogger(logger))
//	if err != nil { ... }
//	go ob.Run(ctx)
//
// # What is sent
//
// [Target].Select chooses, for each journal entry, what to send. The
// default, [SelectClosedCalls], sends one JSON [CallDocument] per call when
// it closes, and a new one with a greater "version" whenever a later entry
// corrects it (reconciliation, a late event, a call-back). docs/outbox.md
// documents the JSON with an example.
//
// # Delivery guarantees
//
// Delivery is at least once; with the receiver deduplicating on the
// webhook-id it is effectively once. The outbox keeps a cursor per target
// in the journal's store ([journal.Store.SetState]): every entry up to it
// was delivered, dead-lettered or not selected. A new target starts at
// the journal's first entry. The cursor is saved about every 250 ms, not
// after each delivery (a saved cursor costs a durable write), so after a
// crash the deliveries made since the last save are sent again, with the
// same webhook-id and the same body: a receiver must apply a webhook-id
// once (a 1C document keyed by it, say) and answer 2xx to a repeat. A
// request that timed out may have been applied too; it is sent again in
// the same way.
//
// The webhook-id is "msg_<epoch>_<seq>": the Seq of the journal entry and
// a random epoch made when the target's state was created, so that a new
// database, whose Seq starts again at 1, never reuses an id.
//
// Deliveries of one call keep their order: a later one waits until the
// earlier one is delivered or dead. Deliveries of different calls go in
// parallel ([WithConcurrency], default 8).
//
// # Signatures
//
// Every request carries the Standard Webhooks headers: webhook-id,
// webhook-timestamp (Unix seconds, the time of that attempt) and
// webhook-signature ("v1," and the base64 HMAC-SHA256 of
// id.timestamp.body keyed with [Target].Secret). [Verify] checks them for
// receivers written in Go. Basic auth goes in the URL's user information
// or in [Target].Header; neither is ever printed.
//
// # Retries
//
// A 2xx is delivered. Any other 4xx than 408, 409 and 429 is a dead
// letter at once: the receiver refused it, and sending it again will not
// help. Everything else is retried: 5xx, 408, 409, a 3xx (redirects are
// not followed: the error says so), a timeout, a refused connection; a
// 429 or 503 with Retry-After waits that long (at most the longest delay
// of the schedule). The delays are [DefaultSchedule] (5 s, 30 s, 2 min,
// 10 min, 30 min, then every hour), each with ±20 % jitter, until
// [DefaultGiveUpAfter] (3 days) after the first failed attempt; then the
// delivery becomes a dead letter. [WithSchedule] and [WithGiveUpAfter]
// change them.
//
// After three failures in a row the target counts as down: one request at
// a time then probes it, on the same schedule, and everything else waits
// (so a night without 1C costs a few dozen requests, not one per call per
// retry). The first answer makes it up again and the backlog flows. A
// delivery the target keeps failing while it answers others (a document
// its code cannot take) is retried on its own schedule and does not hold
// up other calls.
//
// A dead letter is kept in the journal's store with its last status, its
// error and its body: [Outbox.DeadLetters] lists them, [Outbox.Retry] sends
// one again now, [Outbox.Discard] drops one. A retried dead letter may
// arrive after later documents of its call: receivers keep the greatest
// version.
//
// # Several replicas
//
// Replicas sharing a database (PostgreSQL, or one SQLite file) run an
// Outbox each for the same target; one of them delivers at a time. It
// holds a lease kept in the same state record as the cursor (so a replica
// that lost the lease cannot move the cursor: its write conflicts),
// renews it while it runs, starts a request only if the request ends,
// timeout included, before the lease does, and gives it up when Run
// stops. When the holder dies, another takes over once the lease expires
// ([WithLeaseTTL], default 60 s) and continues from the saved cursor. The
// replicas' clocks are assumed to agree within a second (NTP).
//
// # Progress
//
// [Outbox.Stats] says how many deliveries are pending and how old the
// oldest is, how many were delivered and how many are dead. The logger
// ([WithLogger]) gets a line when the target goes down and comes back, for
// a dead letter (at most one a minute, with a count of the others), when
// the lease is taken or lost and when the store fails; never one per
// retry.
package outbox
