// Package provider holds the building blocks that pbxkit's vendor packages
// share, and the registry that opens a provider by DSN.
//
// Most users only call [Open]:
//
//	import _ "github.com/pbxkit/pbxkit/sipuni" // registers "sipuni"
//
//	p, err := provider.Open("sipuni://012345:SECRET@/?webhook_token=T")
//
// Authors of provider packages use the rest:
//
//   - [Client], an HTTP client built on go-retryablehttp with two retry
//     policies chosen per request: [PolicyRead] for idempotent reads and
//     [PolicyAction] for requests that may ring a phone, which are retried only
//     when the connection could not even be made. It never follows a
//     redirect (a 3xx is a [RedirectError]: following one would carry the
//     signature headers, and a make-call body, to another host), and it
//     bounds every operation by [Options.Timeout] (30 s by default; an idle
//     limit for recording streams, see [Request.Stream]);
//   - [APIError], the error every provider returns for a vendor rejection,
//     and [RedactURL] and [ScrubError], which keep tokens in URLs out of
//     errors;
//   - webhook helpers: [ReadBody] with a size cap and memory that follows
//     the bytes received, constant-time [SecretEqual], [VerificationError],
//     [WriteJSON], [AskRouter] (a router under a deadline) and [WebhookLog];
//   - tolerant JSON types for vendor payloads: [String], [Int], [Bool].
//
// Every API request and webhook request is logged at debug level through the
// configured *slog.Logger (provider, operation, status, duration, attempts):
// this is the interaction journal. A webhook request rejected for
// authentication is also logged at Warn, at most once a minute per reason
// (with a count), to slog.Default() when no logger is configured. Nothing
// here logs or returns a secret or a whole body.
package provider
