package main

import (
	"bytes"
	"context"
	"errors"
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

// testNotification builds one vendor-shaped, correctly authenticated
// notification for the receiver at target, from the credentials in the DSN:
// what the PBX itself sends when its "check service" button is pressed.
func testNotification(ctx context.Context, p pbx.Provider, dsn, target string, now time.Time) (*http.Request, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, errors.New("DSN is not a valid URL")
	}
	if _, err := url.Parse(target); err != nil || !strings.HasPrefix(target, "http") {
		return nil, fmt.Errorf("webhook URL %q is not an http(s) URL", target)
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
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(target, "/")+"/call_events", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Client-ID", clientID)
		req.Header.Set("X-Client-Sign", rostelecom.Sign(clientID, body, key))
		return req, nil
	case "sipuni":
		q := u.Query()
		ev := url.Values{
			"event": {"1"}, "call_id": {callID}, "src_num": {testCaller}, "src_type": {"1"},
			"short_src_num": {testCaller}, "dst_num": {u.User.Username() + "100"}, "dst_type": {"2"},
			"short_dst_num": {"100"}, "timestamp": {strconv.FormatInt(now.Unix(), 10)},
		}
		if t := q.Get("webhook_token"); t != "" {
			ev.Set("token", t)
		}
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target+sep+ev.Encode(), nil)
		if err != nil {
			return nil, err
		}
		if user := q.Get("webhook_user"); user != "" {
			req.SetBasicAuth(user, q.Get("webhook_password"))
		}
		return req, nil
	case "prostiezvonki":
		body := pztest.EventBody("INCOMING", "in", "100", testCaller, "", callID, u.Query().Get("crm_token"))
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		return req, nil
	}
	return nil, lacks(p, "send a test notification")
}

func cmdWebhookTest(ctx context.Context, p pbx.Provider, dsn string, args []string, env environment) error {
	if len(args) != 1 {
		return usageError{"webhook-test wants URL"}
	}
	req, err := testNotification(ctx, p, dsn, args[0], time.Now())
	if err != nil {
		return err
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("no answer from %s: %w", args[0], err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	fmt.Fprintf(env.stdout, "%s answered HTTP %d in %s: %s\n", args[0], resp.StatusCode, time.Since(start).Round(time.Millisecond), provider.Excerpt(body))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the receiver rejected the %s test notification (HTTP %d)", p.Name(), resp.StatusCode)
	}
	fmt.Fprintf(env.stdout, "OK: the receiver accepted a signed %s notification\n", p.Name())
	return nil
}
