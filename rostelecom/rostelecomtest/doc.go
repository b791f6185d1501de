// Package rostelecomtest is a fake Rostelecom Cloud PBX (ВАТС) for tests and
// demos: an httptest server on 127.0.0.1 that speaks the Integration API the
// way the rostelecom package expects the real one to, and a player of
// scripted calls that sends signed notifications to a webhook. It is a
// pbxtest.Fake, registered with pbxtest under the name "rostelecom" when the
// package is imported, and it gives the conformance suite its [Harness].
//
// The fake
//
//   - serves call_back, call_info, get_record (a one-time link it serves
//     itself, streaming pbxtest.NewMP3Reader bytes of any size generated on
//     the fly), users_info, domain_call_history and download_call_history
//     (an HTML 404 «File [...] not found» while the file is "being
//     prepared", then a ZIP with a CSV inside);
//   - answers with the vendor's quirks: result as the string "0" on some
//     methods and the number 0 on others, Russian result messages, a single
//     users object when one user is asked for;
//   - checks X-Client-ID and X-Client-Sign on every API request over the
//     exact bytes received (401 with a JSON error otherwise) and records
//     every request (Requests, APIRequests);
//   - starts with the staff every pbxkit fake has (pbxtest.Employees:
//     PINs 101, 102, 103) as its domain users, unless Options.Employees
//     says otherwise, and an empty call log;
//   - plays the neutral scenarios of pbxtest (Play; PlayDetailed also
//     returns every notification as sent and answered): answered and
//     missed incoming calls, an outbound callback, a group ring and a
//     transfer, with the notifications the PBX sends in its order:
//     get_number_info first for an incoming call (ringing the PIN the
//     webhook answered; a PIN the domain does not have is an error), then
//     call_events new, calling, connected, disconnected and end. With
//     SetWebhook, every call_back is followed by the outbound flow, so a
//     click-to-call "rings", and every export order by
//     history_file_completed.
//
// Played and added calls form the fake's call log (History), which
// call_info, get_record and the export read. Their duration is the whole
// call, ringing included (0 for a call nobody answered), and session_log
// shows the connection at the end of the ringing, as the rostelecom
// package reads the manual.
//
// The Config and the DSN the fake hands out poll for an export every
// DefaultHistoryPoll (20 ms) instead of the real client's 10 s, so a
// call-log export against the fake takes milliseconds.
//
// Typical use:
//
//	fake := rostelecomtest.NewServer(rostelecomtest.Options{})
//	defer fake.Close()
//	client, _ := rostelecom.New(fake.Config())
//	hook := httptest.NewServer(client.WebhookHandler(events, router))
//	played, err := fake.Play(ctx, hook.URL, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming})
//
// What the real PBX answers to a bad signature, a malformed body or an
// unknown session is not documented; the fake's choices are written next to
// each method.
package rostelecomtest
