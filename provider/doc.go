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
//     when the connection could not even be made;
//   - [APIError], the error every provider returns for a vendor rejection;
//   - webhook helpers: [ReadBody] with a size cap, constant-time [SecretEqual],
//     [VerificationError], [WriteJSON], [AskRouter] (a router under a deadline)
//     and [LogWebhook];
//   - tolerant JSON types for vendor payloads: [String], [Int], [Bool].
//
// Every API request and webhook request is logged at debug level through the
// configured *slog.Logger (provider, operation, status, duration, attempts):
// this is the interaction journal. Nothing here logs or returns a secret or a
// whole body.
package provider
