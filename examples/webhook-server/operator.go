package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/examples/internal/operator"
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/journal"
	"github.com/pbxkit/pbxkit/pbx/screenpop"
	"github.com/pbxkit/pbxkit/routing"
)

// operatorConfig is what the operator's page needs from the flags.
type operatorConfig struct {
	// secret keys the employees' links (-screenpop-secret or
	// $PBXKIT_SCREENPOP_SECRET); empty: the page is off.
	secret string
	// missedTo gets the missed calls of clients without a responsible
	// manager (-missed-to).
	missedTo string
	// printLink, when set, makes the program print that extension's link
	// and exit (-print-link).
	printLink string
	// publicURL is the address employees open (-public-url).
	publicURL string
}

// publicBase returns the base URL of links: -public-url, else
// http://localhost:PORT from -addr.
func (c config) publicBase() string {
	if c.operator.publicURL != "" {
		return strings.TrimSuffix(c.operator.publicURL, "/") + "/"
	}
	_, port, err := net.SplitHostPort(c.addr)
	if err != nil || port == "" {
		port = "8080"
	}
	return "http://localhost:" + port + "/"
}

// printLinkTo prints the operator page's link for one extension.
func printLinkTo(c config, stdout io.Writer) error {
	if c.operator.secret == "" {
		return errors.New("-print-link needs -screenpop-secret or PBXKIT_SCREENPOP_SECRET")
	}
	link := operator.Link(c.publicBase(), []byte(c.operator.secret), c.operator.printLink, time.Now().Add(operator.LinkTTL))
	_, err := fmt.Fprintln(stdout, link)
	return err
}

// mountOperator serves the operator's page at / and its card stream, when
// a journal and a secret are configured. It returns the hub, to be closed
// before the server shuts down (open streams would hold the shutdown), or
// nil when the page is off.
func mountOperator(mux *http.ServeMux, c config, j *journal.Journal, dir routing.Directory, providers []pbx.Provider, logger *slog.Logger) (*screenpop.Hub, error) {
	if j == nil || c.operator.secret == "" {
		logger.Info("operator page off: it needs the journal and -screenpop-secret or PBXKIT_SCREENPOP_SECRET")
		return nil, nil
	}
	hub, err := screenpop.New(j, screenpop.Config{
		Secret:   []byte(c.operator.secret),
		Lookup:   directoryLookup(dir),
		MissedTo: c.operator.missedTo,
		Logger:   logger,
	})
	if err != nil {
		return nil, err
	}
	page, err := operator.New(operator.Config{
		Hub:      hub,
		Journal:  j,
		Callers:  operator.CallersOf(providers...),
		MissedTo: c.operator.missedTo,
		Logger:   logger,
	})
	if err != nil {
		hub.Close()
		return nil, err
	}
	mux.Handle("/", streamFriendly(page))
	return hub, nil
}

// streamFriendly lifts the server's read deadline for the card stream: a
// Server-Sent Events response lives for hours, and the read deadline set
// for ordinary requests would end it (the hub bounds its own writes).
func streamFriendly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/screenpop") {
			_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
		}
		h.ServeHTTP(w, r)
	})
}

// directoryLookup adapts the client directory to the hub's Lookup: the
// first client with the number, and their responsible manager.
func directoryLookup(dir routing.Directory) func(context.Context, string) (string, string, error) {
	if dir == nil {
		return nil
	}
	return func(ctx context.Context, phone string) (string, string, error) {
		cs, err := dir.Lookup(ctx, phone)
		if err != nil || len(cs) == 0 {
			return "", "", err
		}
		return cs[0].Name, cs[0].Responsible, nil
	}
}
