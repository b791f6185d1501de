// Package screenpop pushes the caller's card to the employee's browser:
// a Server-Sent Events stream per employee, fed from the call journal,
// that loses nothing when the browser reconnects.
//
// Every seed system pops the caller up on the right screen (the Rostelecom
// subsystem's incoming-call notice, Prostie Zvonki's «Показывать окно
// входящего вызова», the Sipuni and Creatio pop-ups), and tells a
// designated person about missed calls. Those systems poll; a Hub pushes.
//
//	hub, err := screenpop.New(j, screenpop.Config{
//		Secret:   secret,   // keys the employees' tokens
//		Lookup:   lookup,   // number -> client's name and responsible manager
//		MissedTo: "103",    // missed calls of clients nobody is responsible for
//	})
//	mux.Handle("GET /screenpop", hub)
//	link := "https://crm.example/screenpop?token=" + screenpop.Token(secret, "101", time.Now().Add(30*24*time.Hour))
//
// # The stream
//
// A GET with a token (Token; as ?token=, since EventSource cannot set
// headers, or "Authorization: Bearer") opens the stream of the extension
// the token names; a missing, wrong or expired token gets 401 and nothing
// else. The response headers go out at once; proxy buffering is disabled
// (X-Accel-Buffering: no) and a comment every Heartbeat keeps proxies from
// closing an idle stream.
//
// Each card is one event: the event name is its Kind (ringing, answered,
// ended, missed), the data its JSON (see Card.MarshalJSON), the id its
// journal Seq. When one journal entry gives a stream several cards, only
// the last carries the id. Besides the cards, a "position" event (data
// {"seq":N}, id N) moves the client's position forward when there is
// nothing for it: after the first cards of a connection and, when idle,
// with a heartbeat. A page that keeps its place across reloads stores the
// latest id it saw and passes it as ?last_event_id=.
//
// # Nothing lost on reconnect
//
// A client that reconnects with Last-Event-ID (EventSource does it by
// itself) or ?last_event_id= gets every card for its extension after that
// Seq before the live ones: from memory while the hub still holds them
// (Config.ReplayBuffer), else computed again from the journal. Cards depend
// only on the journal up to their Seq, so the replayed cards are those the
// live streams got, except that Lookup is asked again. A client that
// connects without a position gets a snapshot of its extension's calls that
// are still open.
//
// # Which cards, for whom
//
//   - ringing: to an extension when an event first brings it into a call
//     still going on (its phone rings; for an outgoing call, its call
//     starts);
//   - answered: to an extension when its phone answers;
//   - ended: when the call's end arrives, to the extensions that answered
//     and, for an outgoing call, to the employee who placed it;
//   - missed: when an incoming call ends unanswered (by a provider event or
//     by reconciliation with the PBX's call log) and was not called back
//     yet, to the client's responsible manager (Lookup), else to
//     Config.MissedTo, else to the phones that rang.
//
// Config.Incoming and Config.Outgoing choose which of ringing, answered or
// ended pops up for each direction (Prostie Zvonki's four choices: Never,
// OnRing, OnAnswer, OnEnd); a stream overrides them with
// ?incoming=answer&outgoing=never. Missed cards are sent whatever the
// moments.
//
// # No slow browser holds anyone else
//
// The hub follows the journal with one subscription (Journal.Subscribe),
// computes each entry's cards once (the lookups in parallel, the delivery
// in Seq order) and offers them to the streams of their extensions without
// waiting: each stream has its own bounded buffer (Config.Buffer), and a
// stream whose buffer is full, or whose write blocks for WriteTimeout, is
// closed. Its browser reconnects with its position and catches up.
//
// # Several replicas
//
// Every replica runs its own hub over its own Journal on the shared store
// (pgstore): a browser connected to replica A gets the cards of calls whose
// webhooks replica B received, because the journal's Subscribe sees every
// replica's entries. A position is a journal Seq, valid on every replica.
//
// The package imports pbx and pbx/journal only: the lookup is a function
// the caller passes. A routing.Directory adapts to it like this:
//
//	Lookup: func(ctx context.Context, phone string) (string, string, error) {
//		cs, err := dir.Lookup(ctx, phone)
//		if err != nil || len(cs) == 0 {
//			return "", "", err
//		}
//		return cs[0].Name, cs[0].Responsible, nil
//	},
package screenpop
