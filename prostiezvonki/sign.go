package prostiezvonki

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/provider/itoolabs"
)

// Prostie Zvonki signs nothing: both directions carry a shared secret.
// Outbound, the "Токен Простых Звонков" (Config.APIKey) goes in the
// X-API-KEY header; inbound, the "Токен 1С" (Config.CRMToken) comes as the
// crm_token field of every notification, in the body (JSON or form) or in
// the URL query, and is compared in constant time.

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

// The test notification: the extension and the caller are made up (the
// caller a reserved-looking number no real client has); nobody is rung.
const (
	testExtension = "100"
	testCaller    = "79990000000"
)

// testEvent is the body of the test notification, with the spec's field
// order.
type testEvent struct {
	Cmd       string `json:"cmd"`
	Type      string `json:"type"`
	Direction string `json:"direction"`
	User      string `json:"user"`
	Ext       string `json:"ext"`
	Phone     string `json:"phone"`
	Diversion string `json:"diversion"`
	CallID    string `json:"callid"`
	CRMToken  string `json:"crm_token"`
}

// WebhookTestRequest builds the notification Prostie Zvonki sends when an
// incoming call starts ringing an employee (cmd=event, type INCOMING, for
// extension 100 and the made-up caller 79990000000), carrying
// Config.CRMToken as crm_token, for the receiver at webhookURL (the
// "Адрес опубликованного расширения" of the cabinet). callID names the
// made-up call. A receiver built with the same CRMToken accepts it and
// hands one pbx.EventRinging to its EventHandler. It implements
// provider.WebhookTester.
//
// The request's body holds the token: do not log it. Errors never quote a
// secret; a Client without CRMToken cannot build one.
func (c *Client) WebhookTestRequest(ctx context.Context, webhookURL, callID string) (*http.Request, error) {
	if c.cfg.CRMToken == "" {
		return nil, errors.New("prostiezvonki: webhook test: Config.CRMToken is empty: there is no token to send")
	}
	if callID == "" {
		return nil, errors.New("prostiezvonki: webhook test: no call id")
	}
	u, err := url.Parse(webhookURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("prostiezvonki: webhook test: " + provider.RedactURL(webhookURL) + " is not an absolute http or https URL")
	}
	body, err := json.Marshal(testEvent{
		Cmd: itoolabs.CmdEvent, Type: "INCOMING", Direction: "in", User: testExtension, Ext: testExtension,
		Phone: testCaller, CallID: callID, CRMToken: c.cfg.CRMToken,
	})
	if err != nil { // cannot happen for strings
		return nil, errors.New("prostiezvonki: webhook test: cannot encode the notification")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhookURL, bytes.NewReader(body))
	if err != nil {
		return nil, errors.New("prostiezvonki: webhook test: cannot build the request for " + provider.RedactURL(webhookURL))
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}
