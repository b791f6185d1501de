package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/outbox"
	"github.com/pbxkit/pbxkit/provider"
)

// outboxCommand is pbxctl outbox: the dead letters of a delivery target
// (the 1C bridge's, say), listed, replayed or dropped.
var outboxCommand = &command{
	name:     "outbox",
	synopsis: "-journal FILE|DSN -target NAME [-url URL] list|retry ID|discard ID",
	summary:  "list, replay or drop an outbox target's dead letters",
	details: "Works on the dead letters that pbx/outbox keeps in a journal for one\n" +
		"delivery target (-target, the Target.Name the bridge uses, \"1c\" for\n" +
		"examples/1c-bridge): deliveries the target refused with a 4xx, or that\n" +
		"still failed after the give-up time.\n" +
		"  list        one line per dead letter (-json: the whole record as JSON)\n" +
		"  retry ID    send it once more now, same webhook-id and body; needs -url\n" +
		"              and the secret in $PBXKIT_OUTBOX_SECRET\n" +
		"  discard ID  forget it\n" +
		"It needs no -provider. The journal is a SQLite FILE or a postgres:// DSN.",
	noProvider: true,
	parse:      parseOutbox,
}

func parseOutbox(fs *flag.FlagSet, args []string, env environment) (action, error) {
	dsn := fs.String("journal", "", "the journal: a SQLite `FILE` or a postgres:// DSN (required)")
	name := fs.String("target", "", "the target's `NAME` (required)")
	target := fs.String("url", "", "the target's `URL`, for retry (basic auth may be in it)")
	asJSON := fs.Bool("json", false, "list: print each dead letter as a JSON line")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if *dsn == "" || *name == "" || len(pos) == 0 {
		return nil, usageError{msg: "outbox wants -journal FILE|DSN -target NAME and list, retry ID or discard ID"}
	}
	verb, rest := pos[0], pos[1:]
	switch {
	case verb == "list" && len(rest) == 0:
	case (verb == "retry" || verb == "discard") && len(rest) == 1:
	default:
		return nil, usageError{msg: fmt.Sprintf("outbox: unknown or incomplete verb %q: want list, retry ID or discard ID", strings.Join(pos, " "))}
	}
	var secret []byte
	if verb == "retry" {
		if *target == "" || env.getenv("PBXKIT_OUTBOX_SECRET") == "" {
			return nil, usageError{msg: "outbox retry needs -url and the secret in $PBXKIT_OUTBOX_SECRET"}
		}
		// The same secret the bridge signs with: whsec_ values are base64.
		if secret, err = outbox.ParseSecret(env.getenv("PBXKIT_OUTBOX_SECRET")); err != nil {
			return nil, usageError{msg: "PBXKIT_OUTBOX_SECRET: " + err.Error()}
		}
	}
	return func(ctx context.Context, _ pbx.Provider, _ string) error {
		store, err := openJournalStore(ctx, *dsn)
		if err != nil {
			return err
		}
		defer store.Close()
		// list and discard touch only the store: the URL and secret are
		// then placeholders New requires, never used to send anything.
		t := outbox.Target{Name: *name, URL: *target, Secret: secret}
		if verb != "retry" {
			t.URL, t.Secret = "http://127.0.0.1/", []byte("unused")
		}
		ob, err := outbox.New(journal.New(store), t)
		if err != nil {
			return provider.ScrubError(err)
		}
		switch verb {
		case "retry":
			if err := ob.Retry(ctx, rest[0]); err != nil {
				return provider.ScrubError(err)
			}
			fmt.Fprintf(env.stdout, "%s delivered\n", rest[0])
			return nil
		case "discard":
			if err := ob.Discard(ctx, rest[0]); err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "%s discarded\n", rest[0])
			return nil
		}
		n := 0
		for dl, err := range ob.DeadLetters(ctx) {
			if err != nil {
				return err
			}
			n++
			if *asJSON {
				b, err := json.Marshal(dl)
				if err != nil {
					return err
				}
				fmt.Fprintf(env.stdout, "%s\n", b)
				continue
			}
			fmt.Fprintf(env.stdout, "%s  %s %s  HTTP %d after %d attempts, last %s: %s\n",
				dl.ID, dl.Provider, dl.CallID, dl.Status, dl.Attempts,
				dl.LastAttempt.Format(time.RFC3339), dl.Error)
		}
		if !*asJSON {
			fmt.Fprintf(env.stdout, "%d dead letters for target %s\n", n, *name)
		}
		return nil
	}, nil
}
