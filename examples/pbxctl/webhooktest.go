package main

import (
	"bytes"
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
	"github.com/pbxkit/pbxkit/prostiezvonki/pztest"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/rostelecom"
)

// testCaller is the external number in test notifications: a reserved-looking
// number no real client has.
const testCaller = "79990000000"

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
// what the PBX itself sends when its "check service" button is pressed.
func testNotification(ctx context.Context, p pbx.Provider, dsn, target string, now time.Time) (*notification, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, errors.New("DSN is not a valid URL")
	}
	t, err := url.Parse(target)
	if err != nil || (t.Scheme != "http" && t.Scheme != "https") || t.Host == "" {
		return nil, fmt.Errorf("webhook URL %s is not an http(s) URL", provider.RedactURL(target))
	}
	n := &notification{}
	if pw, ok := u.User.Password(); ok && pw != "" {
		n.secrets = append(n.secrets, pw)
	}
	for k, vs := range u.Query() {
		if k == "base_url" || k == "domain" || k == "webhook_user" || strings.HasSuffix(k, "timeout") {
			continue
		}
		for _, v := range vs {
			if v != "" {
				n.secrets = append(n.secrets, v)
			}
		}
	}
	callID := "pbxctl-test-" + strconv.FormatInt(now.UnixNano(), 36)
	switch p.Name() {
	case "rostelecom":
		clientID := u.User.Username()
		key, _ := u.User.Password()
		body := fmt.Appendf(nil, `{"state":"new","type":"incoming","session_id":%q,"timestamp":%q,"from_number":"sip:%s@%s","request_number":"sip:%s@%s"}`,
			callID, now.In(provider.DefaultLocation()).Format("2006-01-02 15:04:05.000"),
			testCaller, u.Query().Get("domain"), "70000000000", u.Query().Get("domain"))
		// The handler dispatches on the last path segment.
		n.suffix = "/call_events"
		ev := *t
		ev.Path = strings.TrimSuffix(t.Path, "/") + n.suffix
		ev.RawPath = ""
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, ev.String(), bytes.NewReader(body))
		if err != nil {
			return nil, errors.New("cannot build the request")
		}
		sign := rostelecom.Sign(clientID, body, key)
		n.secrets = append(n.secrets, sign)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Client-ID", clientID)
		req.Header.Set("X-Client-Sign", sign)
		n.req = req
		return n, nil
	case "sipuni":
		q := u.Query()
		ev := url.Values{
			"event": {"1"}, "call_id": {callID}, "src_num": {testCaller}, "src_type": {"1"},
			"short_src_num": {testCaller}, "dst_num": {u.User.Username() + "100"}, "dst_type": {"2"},
			"short_dst_num": {"100"}, "timestamp": {strconv.FormatInt(now.Unix(), 10)},
		}
		if tok := q.Get("webhook_token"); tok != "" {
			ev.Set("token", tok)
		}
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target+sep+ev.Encode(), nil)
		if err != nil {
			return nil, errors.New("cannot build the request")
		}
		if user := q.Get("webhook_user"); user != "" {
			req.SetBasicAuth(user, q.Get("webhook_password"))
		}
		n.req = req
		return n, nil
	case "prostiezvonki":
		body := pztest.EventBody("INCOMING", "in", "100", testCaller, "", callID, u.Query().Get("crm_token"))
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
		if err != nil {
			return nil, errors.New("cannot build the request")
		}
		req.Header.Set("Content-Type", "application/json")
		n.req = req
		return n, nil
	}
	return nil, lacks(p, "send a test notification")
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
