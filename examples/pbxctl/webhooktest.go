package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// notification is a test notification ready to send.
type notification struct {
	req *http.Request
	// suffix is what was appended to the receiver's URL path (Rostelecom's
	// event name), to be taken off a redirect target again.
	suffix string
	// secrets are the values that must never be printed: the credentials
	// and the signature the request carries.
	secrets []string
}

// testNotification builds one vendor-shaped, correctly authenticated
// notification for the receiver at target, from the credentials in the DSN:
// what the PBX itself sends when its "check service" button is pressed. The
// vendor package builds it (provider.WebhookTester), so pbxctl knows no
// vendor's notification format.
func testNotification(ctx context.Context, p pbx.Provider, dsn, target string, now time.Time) (*notification, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, errors.New("DSN is not a valid URL")
	}
	t, err := url.Parse(target)
	if err != nil || (t.Scheme != "http" && t.Scheme != "https") || t.Host == "" {
		return nil, fmt.Errorf("webhook URL %s is not an http(s) URL", provider.RedactURL(target))
	}
	wt, ok := p.(provider.WebhookTester)
	if !ok {
		return nil, lacks(p, "send a test notification")
	}
	n := &notification{}
	if pw, ok := u.User.Password(); ok && pw != "" {
		n.secrets = append(n.secrets, pw)
	}
	for k, vs := range u.Query() {
		if k == "base_url" || k == "domain" || k == "webhook_user" || k == "location" || strings.HasSuffix(k, "timeout") {
			continue
		}
		for _, v := range vs {
			if v != "" {
				n.secrets = append(n.secrets, v)
			}
		}
	}
	callID := "pbxctl-test-" + strconv.FormatInt(now.UnixNano(), 36)
	req, err := wt.WebhookTestRequest(ctx, target, callID)
	if err != nil {
		return nil, fmt.Errorf("cannot build the %s test notification: %w", p.Name(), provider.ScrubError(err))
	}
	// Signatures and tokens travel in headers and the query: none may be
	// printed back, even when the receiver quotes the request.
	for k, vs := range req.Header {
		if k == "Content-Type" || k == "Content-Length" || k == "User-Agent" {
			continue
		}
		n.secrets = append(n.secrets, vs...)
	}
	for _, vs := range req.URL.Query() {
		n.secrets = append(n.secrets, vs...)
	}
	// A vendor that dispatches on the last path segment (Rostelecom's
	// event names) appends it; a redirect's target loses it again.
	if base := strings.TrimSuffix(t.Path, "/"); strings.HasPrefix(req.URL.Path, base) {
		n.suffix = strings.TrimSuffix(req.URL.Path[len(base):], "/")
		if n.suffix == "" || !strings.HasPrefix(n.suffix, "/") {
			n.suffix = ""
		}
	}
	n.req = req
	return n, nil
}

// scrub replaces every secret of n in s, as written and URL-encoded: a
// receiver's answer may quote the request. Secrets shorter than 4 bytes are
// left alone (replacing them would garble the text, and hide little).
func (n *notification) scrub(s string) string {
	for _, v := range n.secrets {
		if len(v) < 4 {
			continue
		}
		s = strings.ReplaceAll(s, v, "***")
		if e := url.QueryEscape(v); e != v {
			s = strings.ReplaceAll(s, e, "***")
		}
	}
	return s
}

func parseWebhookTest(fs *flag.FlagSet, args []string, env environment) (action, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != 1 {
		return nil, usageError{msg: "webhook-test wants URL"}
	}
	target := pos[0]
	return func(ctx context.Context, p pbx.Provider, dsn string) error {
		return webhookTest(ctx, p, dsn, target, env)
	}, nil
}

// webhookTest sends the test notification to target and reports the
// answer. It follows no redirect: a PBX may not either, so a 3xx is a
// failure that names the URL to configure instead. No error or output
// carries a secret: URLs are reduced to scheme://host/path.
func webhookTest(ctx context.Context, p pbx.Provider, dsn, target string, env environment) error {
	n, err := testNotification(ctx, p, dsn, target, env.clock())
	if err != nil {
		return err
	}
	shown := provider.RedactURL(target)
	start := time.Now()
	resp, err := noRedirects.Do(n.req)
	if err != nil {
		return fmt.Errorf("no answer from %s: %w", shown, provider.ScrubError(err))
	}
	defer resp.Body.Close()
	elapsed := time.Since(start).Round(time.Millisecond)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		fmt.Fprintf(env.stdout, "%s answered HTTP %d in %s\n", shown, resp.StatusCode, elapsed)
		return redirected(resp, n)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	fmt.Fprintf(env.stdout, "%s answered HTTP %d in %s: %s\n", shown, resp.StatusCode, elapsed, n.scrub(provider.Excerpt(body)))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the receiver rejected the %s test notification (HTTP %d)", p.Name(), resp.StatusCode)
	}
	fmt.Fprintf(env.stdout, "OK: the receiver accepted a signed %s notification\n", p.Name())
	return nil
}

// redirected is the error for a redirect answer: it names the URL the PBX
// should be given (the target without the query pbxctl added, and without
// Rostelecom's event name).
func redirected(resp *http.Response, n *notification) error {
	loc, err := resp.Location()
	if err != nil {
		return fmt.Errorf("got %d redirect without a usable Location; the PBX will not follow it either", resp.StatusCode)
	}
	if n.suffix != "" {
		loc.Path = strings.TrimSuffix(strings.TrimSuffix(loc.Path, "/"), n.suffix) + "/"
		loc.RawPath = ""
	}
	return fmt.Errorf("got %d redirect to %s; configure the PBX with that URL", resp.StatusCode, provider.RedactURL(loc.String()))
}
