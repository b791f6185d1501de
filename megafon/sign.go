package megafon

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/provider/itoolabs"
)

// MegaFon signs nothing: both directions carry a shared secret. Outbound,
// the API key (Config.APIKey) goes in the X-API-KEY header of every API
// request [confirmed: brandup-online/megafon-ats, mikopbx/ModuleMegafonPbx
// and others]; inbound, the CRM key (Config.CRMToken) comes as the
// crm_token field of every notification, in the form body (or a JSON body,
// or the URL query), and is compared in constant time.

// signRequest puts the API key on an outbound request.
func (c *Client) signRequest(h http.Header) {
	h.Set("X-API-KEY", c.cfg.APIKey)
}

// verifyToken checks the crm_token a notification carried. It never fails
// open: a Client without CRMToken accepts no token, not even an empty one.
// The error names the reason (missing or wrong), never a token.
func (c *Client) verifyToken(token string) error {
	if provider.SecretEqual(token, c.cfg.CRMToken) {
		return nil
	}
	reason := provider.ReasonBadToken
	if token == "" {
		reason = provider.ReasonMissingToken
	}
	return &provider.VerificationError{Provider: Name, Reason: reason}
}

// keyFor reports whether a recording download from link may carry the API
// key: only to the API's own host, or (for the real service) to another
// host under megapbx.ru, where MegaFon keeps its recordings
// (records.megapbx.ru), and never from https down to http. Any other link
// is fetched without the key, so that a link from elsewhere cannot
// collect it.
func (c *Client) keyFor(link *url.URL) bool {
	if c.apiHost == "" || (c.https && link.Scheme != "https") {
		return false
	}
	host := strings.ToLower(link.Host)
	if host == c.apiHost {
		return true
	}
	const zone = "megapbx.ru"
	under := func(h string) bool {
		h = stripPort(h)
		return strings.HasSuffix(h, "."+zone)
	}
	return link.Scheme == "https" && under(host) && under(c.apiHost)
}

func stripPort(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		return h[:i]
	}
	return h
}

// The test notification: the employee and the caller are made up (the
// caller a reserved-looking number no real client has); nobody is rung.
const (
	testExtension = "100"
	testCaller    = "79990000000"
)

// WebhookTestRequest builds the notification the PBX sends when an incoming
// call starts ringing an employee (cmd=event, type INCOMING, direction in,
// for the made-up extension 100 and caller 79990000000), form-encoded as
// the family's documentation specifies, carrying Config.CRMToken as
// crm_token, for the receiver at webhookURL (the CRM URL of the PBX's
// integration settings). callID names the made-up call; an empty one gets
// a made-up id. A receiver built with the same CRMToken accepts it and
// hands one pbx.EventRinging to its EventHandler. It implements
// provider.WebhookTester.
//
// The request's body holds the token: do not log it. Errors never quote a
// secret; a Client without CRMToken cannot build one.
func (c *Client) WebhookTestRequest(ctx context.Context, webhookURL, callID string) (*http.Request, error) {
	if c.cfg.CRMToken == "" {
		return nil, errors.New("megafon: webhook test: Config.CRMToken is empty: there is no token to send")
	}
	u, err := url.Parse(webhookURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("megafon: webhook test: " + provider.RedactURL(webhookURL) + " is not an absolute http or https URL")
	}
	if callID == "" {
		callID = "pbxkit-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	body := url.Values{
		"cmd":       {itoolabs.CmdEvent},
		"type":      {"INCOMING"},
		"direction": {"in"},
		"user":      {testExtension},
		"ext":       {testExtension},
		"phone":     {testCaller},
		"callid":    {callID},
		"crm_token": {c.cfg.CRMToken},
	}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhookURL, strings.NewReader(body))
	if err != nil {
		return nil, errors.New("megafon: webhook test: cannot build the request for " + provider.RedactURL(webhookURL))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req, nil
}
