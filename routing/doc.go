// Package routing answers the PBX's "where should this incoming call go?"
// question in one line of user code, fast enough that the PBX never waits.
//
// Every router here is a [pbx.Router], so it plugs into any provider's
// webhook handler:
//
//   - [Responsible] finds the caller in a [Directory] and sends the call to the
//     client's responsible manager (the "main manager" of a 1C partner card),
//     else to a default extension, with the client's name for the phone
//     screen, optionally transliterated ([Translit]) for softphones that
//     cannot show Cyrillic and optionally cut ([WithMaxNameLen]).
//   - [ByLine] routes by the company number the call came to.
//   - [LastAnswered] sends a client to whoever answered that client last; it
//     is also a [pbx.EventHandler] that learns from Answered events.
//   - [Chain] asks several routers in order; the first decision wins.
//
// A typical set-up:
//
//	contacts, err := routing.ReadCSV(f) // id,name,phones,responsible
//	dir, err := routing.NewMemoryDirectory(contacts, phone.DefaultLastDigits)
//	last := routing.NewLastAnswered(routing.WithTTL(7 * 24 * time.Hour))
//	router := routing.Chain(
//		routing.Responsible(dir),
//		last,
//		routing.ByLine(map[string]string{"+7 495 123-45-67": "200"}),
//	).With(routing.WithLogger(logger))
//	handler := p.WebhookHandler(last, router)
//
// # Finding the caller
//
// A [Directory] returns the contacts that own a phone number. Back it with
// your database or a 1C HTTP service, or use [MemoryDirectory], which keeps
// the contacts in memory behind a [phone.Index]: a lookup costs O(1)
// whatever the directory size and does not allocate, and numbers match by
// their last digits exactly as the Prostie Zvonki "number of last digits"
// setting does (see [phone.Match]). [ReadCSV] loads contacts from a simple
// CSV file.
//
// # Deciding
//
// [Responsible] follows the 1C integrations of Russian cloud PBXs
// (Rostelecom's dynamic routing, the Sipuni HTTP-request node, Prostie
// Zvonki's smart transfer): a contact with a responsible manager gives that manager's extension; a contact without
// one, several contacts with different managers, or nobody at all gives the
// default extension ([WithDefault]), or no decision when there is none, so
// the PBX routes the call by its own rules.
//
// # Options
//
// Routers take functional options, and each router has its own option type,
// so an option that a router would not use does not compile where that
// router is configured:
//
//	Responsible(dir, ...)        ResponsibleOption    WithDefault, WithTranslit, WithMaxNameLen, WithLogger
//	Chain(...).With(...)         ChainOption          WithLogger
//	NewLastAnswered(...)         LastAnsweredOption   WithTTL, WithMaxEntries, WithClock
//	NewHTTPDirectory(url, ...)   HTTPDirectoryOption  WithBasicAuth, WithCacheTTL, WithMaxStale, WithCacheSize,
//	                                                  WithRequestTimeout, WithMaxResponseSize, WithConcurrency,
//	                                                  WithHTTPClient, WithLogger
//
// [WithLogger] is the one option several take: it returns a [LoggerOption],
// which is a ResponsibleOption, a ChainOption and an HTTPDirectoryOption.
// [ByLine] takes no options.
//
// # Context and errors
//
// Every router checks its context first and returns ctx.Err() at once when
// it is done. Providers call routers under a deadline through
// provider.AskRouter, which answers the PBX "no decision" on any error or
// timeout, so a failing router never fails a call. Logging goes through an
// optional [log/slog.Logger] ([WithLogger]) and is silent by default.
package routing
