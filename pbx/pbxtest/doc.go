// Package pbxtest holds what every pbxkit vendor fake shares, so that tests
// and demos drive Rostelecom, Sipuni, Prostie Zvonki and the vendors that
// follow through one vocabulary:
//
//   - [Scenario], [Call] and [Played]: a scripted call, and what the fake
//     did while playing it (whom it rang, who answered, what the routing
//     answer was), with the same field names for every vendor;
//   - [Fake]: the methods every vendor fake has (Play, SetWebhook,
//     Requests, DSN, URL, Close);
//   - [Recorder]: a pbx.EventHandler and pbx.Router that records what it
//     was given, for tests that check what reached user code;
//   - the seeded staff ([Employees]) and numbers ([DefaultCaller],
//     [DefaultLine]) every fake starts with;
//   - [NewMP3Reader]: the generated recording stream the fakes serve.
//
// Each vendor package ships its fake in <vendor>/<vendor>test, built on
// these types and adding its own words (its notifications, its quirks).
//
// Package pbxtest imports pbx and the standard library only; it is meant for
// tests and examples, not for production code paths.
package pbxtest
