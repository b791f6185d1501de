package sipuni

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/provider"
)

const (
	testAccount = "012345"
	testSecret  = "0.s3cr3tKey"
	testBase    = "https://sipuni.test/api/"
)

// mockClient returns a Client whose requests go to an httpmock transport.
func mockClient(t *testing.T, cfg Config) (*Client, *httpmock.MockTransport) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	if cfg.Account == "" {
		cfg.Account = testAccount
	}
	if cfg.Secret == "" {
		cfg.Secret = testSecret
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = testBase
	}
	if cfg.WebhookToken == "" && cfg.WebhookUser == "" {
		cfg.WebhookToken = "tok"
	}
	cfg.HTTPClient = &http.Client{Transport: mt}
	c, err := New(cfg)
	require.NoError(t, err)
	return c, mt
}

// formOf reads a request's form body and checks its hash like Sipuni.
func formOf(t *testing.T, r *http.Request) url.Values {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	assert.Equal(t, "application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
	v, err := url.ParseQuery(string(b))
	require.NoError(t, err)
	assert.Equal(t, testAccount, v.Get("user"))
	assert.Equal(t, Sign(v, testSecret), v.Get("hash"), "hash over what was sent")
	return v
}

func TestCallAnswers(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		body         string
		header       http.Header
		wantErr      bool
		unauthorized bool
		wantMsg      string
		want         CallResponse
	}{
		{name: "success with id", status: 200, body: `{"success":true,"id":"abc"}`, want: CallResponse{ID: "abc"}},
		{name: "success as string", status: 200, body: `{"success":"true","callId":123}`, want: CallResponse{CallID: "123"}},
		{name: "bare 1", status: 200, body: "1\n"},
		{name: "success false with message", status: 200, body: `{"success":false,"message":"Номер не найден"}`, wantErr: true, wantMsg: "Номер не найден"},
		{name: "success false with msg", status: 200, body: `{"success":false,"msg":"limit"}`, wantErr: true, wantMsg: "limit"},
		{name: "success false with error string", status: 200, body: `{"success":false,"error":"bad phone"}`, wantErr: true, wantMsg: "bad phone"},
		{name: "success missing", status: 200, body: `{"id":"abc"}`, wantErr: true},
		{name: "not JSON", status: 200, body: `ok`, wantErr: true},
		{name: "bad hash as text", status: 200, body: `Неправильный хеш`, wantErr: true, unauthorized: true, wantMsg: badHash},
		{name: "bad hash as HTML 500", status: 500, body: "<html><body><h1>Неправильный хеш</h1></body></html>", wantErr: true, unauthorized: true},
		{name: "other HTML page", status: 200, body: "<!DOCTYPE html><html><title>Вход</title></html>", header: http.Header{"Content-Type": {"text/html"}}, wantErr: true, unauthorized: true},
		{name: "HTTP 403", status: 403, body: "Forbidden", wantErr: true, unauthorized: true},
		{name: "HTTP 502", status: 502, body: "Bad Gateway", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := mockClient(t, Config{})
			mt.RegisterResponder(http.MethodPost, testBase+"callback/call_number", func(*http.Request) (*http.Response, error) {
				r := httpmock.NewStringResponse(tt.status, tt.body)
				for k, v := range tt.header {
					r.Header[k] = v
				}
				return r, nil
			})
			got, err := c.CallNumber(context.Background(), CallNumberRequest{Phone: "79031234567", SIPNumber: "201"})
			// A call is never sent twice, whatever the answer.
			assert.Equal(t, 1, mt.GetTotalCallCount())
			if !tt.wantErr {
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
				return
			}
			require.Error(t, err)
			var ae *provider.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.status, ae.StatusCode)
			assert.Equal(t, tt.unauthorized, errors.Is(err, provider.ErrUnauthorized), err.Error())
			if tt.wantMsg != "" {
				assert.Equal(t, tt.wantMsg, ae.Message)
			}
			assert.NotContains(t, err.Error(), testSecret)
		})
	}
}

func TestNewValidates(t *testing.T) {
	ok := Config{Account: "012345", Secret: "s", WebhookToken: "t"}
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"account as a number lost its zero", func(c *Config) { c.Account = "12345" }},
		{"account with letters", func(c *Config) { c.Account = "01234a" }},
		{"account too long", func(c *Config) { c.Account = "0123456" }},
		{"no secret", func(c *Config) { c.Secret = "" }},
		{"user without password", func(c *Config) { c.WebhookUser = "sipuni" }},
		{"password without user", func(c *Config) { c.WebhookPassword = "p4ss" }},
		{"negative route timeout", func(c *Config) { c.RouteTimeout = -time.Second }},
		{"base URL not http", func(c *Config) { c.BaseURL = "ftp://sipuni.com/api/" }},
		{"base URL with credentials", func(c *Config) { c.BaseURL = "https://u:p4ss@sipuni.com/api/" }},
		{"base URL relative", func(c *Config) { c.BaseURL = "/api/" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			_, err := New(cfg)
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "p4ss")
		})
	}
	c, err := New(ok)
	require.NoError(t, err)
	assert.Equal(t, "sipuni", c.Name())
	assert.Equal(t, "012345", c.Account())
	assert.Equal(t, provider.DefaultLocation(), c.Location())
	assert.Equal(t, DefaultBaseURL, c.base)
	assert.Equal(t, DefaultRouteTimeout, c.cfg.RouteTimeout)

	c, err = New(Config{Account: "000001", Secret: "s", WebhookToken: "t", BaseURL: "http://127.0.0.1:1/api"})
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:1/api/", c.base)
}

func TestNewWarnsOnceWithoutWebhookAuth(t *testing.T) {
	var buf bytes.Buffer
	logger := newTestLogger(&buf)
	_, err := New(Config{Account: "012345", Secret: testSecret, Logger: logger})
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(buf.String(), "not authenticated"), buf.String())
	assert.NotContains(t, buf.String(), testSecret)

	buf.Reset()
	_, err = New(Config{Account: "012345", Secret: testSecret, Logger: logger, WebhookUser: "u", WebhookPassword: "p"})
	require.NoError(t, err)
	assert.NotContains(t, buf.String(), "not authenticated")
}
