// Package sipunitest is a fake Sipuni cloud PBX for tests and demos, on a
// loopback port.
//
// A [Server] answers the API methods package sipuni calls
// (callback/call_number, callback/call_tree, callback/call_external,
// events/call/hangup, statistic/export, statistic/record,
// statistic/operators, and the crm/record links of the events), checking
// each request's hash the way Sipuni does and answering an HTML page with
// "Неправильный хеш" on a mismatch. It records every request ([Server.Requests]),
// serves a call log as ";"-separated CSV, streams generated MP3 bytes of any
// size without allocating them, and lists employees with Cyrillic names and
// extensions 101–104.
//
// [Server.Play] fires a scripted call at a webhook, exactly as Sipuni would
// send it: the routing node's question first for incoming calls (its answer
// decides whom to ring), then the PBX events 1, 3, 4 and 2 as GET requests,
// authenticated with the configured token and basic auth. [Server.SetWebhook]
// makes every accepted click-to-call play an outbound call to the webhook.
//
//	srv := sipunitest.NewServer(sipunitest.Options{WebhookToken: "T"})
//	defer srv.Close()
//	c, _ := sipuni.New(sipuni.Config{Account: srv.Account(), Secret: srv.Secret(),
//		BaseURL: srv.URL, WebhookToken: "T"})
//	hook := httptest.NewServer(c.WebhookHandler(events, router))
//	res, err := srv.Play(ctx, hook.URL, sipunitest.Call{Scenario: sipunitest.AnsweredIncoming})
package sipunitest
