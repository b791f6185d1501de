package prostiezvonki

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// TestWebhookTestRequest: the request a Client builds for webhook-test is
// accepted by its own handler, which hands one ringing event to the
// EventHandler; a handler built with other credentials rejects it and
// hands nothing on.
func TestWebhookTestRequest(t *testing.T) {
	const token = "t3st-crm-token"
	c := newClient(t, Config{CRMToken: token})
	var _ provider.WebhookTester = c

	for _, tc := range []struct {
		name    string
		handler *Client
		status  int
		events  int
	}{
		{"own handler", c, http.StatusOK, 1},
		{"handler with another token", newClient(t, Config{CRMToken: "another-token"}), http.StatusUnauthorized, 0},
		{"handler without a token", newClient(t, Config{APIKey: testKey, CRMToken: ""}), http.StatusUnauthorized, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.handler.cfg.CRMToken == testToken { // newClient's default, for "without a token": clear it
				tc.handler.cfg.CRMToken = ""
			}
			var got collector
			rt := &routeTo{}
			ts := httptest.NewServer(tc.handler.WebhookHandler(&got, rt))
			defer ts.Close()
			req, err := c.WebhookTestRequest(context.Background(), ts.URL+"/pbx/prostiezvonki?x=1", "test-call-1")
			require.NoError(t, err)
			assert.Equal(t, http.MethodPost, req.Method)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, tc.status, resp.StatusCode, "%s", body)
			assert.NotContains(t, string(body), token)
			evs := got.all()
			require.Len(t, evs, tc.events)
			assert.Empty(t, rt.asked())
			if tc.events == 1 {
				e := evs[0]
				assert.Equal(t, pbx.EventRinging, e.Type)
				assert.Equal(t, pbx.Inbound, e.Direction)
				assert.Equal(t, "test-call-1", e.CallID)
				assert.Equal(t, testCaller, e.Phone)
				assert.Equal(t, testExtension, e.Extension)
				assert.Equal(t, Name, e.Provider)
			}
		})
	}
}

// TestWebhookTestRequestErrors: what cannot be built is an error that
// quotes no secret.
func TestWebhookTestRequestErrors(t *testing.T) {
	const token = "t3st-crm-token"
	c := newClient(t, Config{CRMToken: token})
	noToken := newClient(t, Config{APIKey: testKey})
	noToken.cfg.CRMToken = ""
	tests := []struct {
		name        string
		c           *Client
		url, callID string
		want        string
	}{
		{"no token", noToken, "https://crm.example/pz", "1", "CRMToken is empty"},
		{"relative URL", c, "/pz", "1", "not an absolute http or https URL"},
		{"ftp URL", c, "ftp://crm.example/pz", "1", "not an absolute http or https URL"},
		{"URL with secrets", c, "ftp://user:pa55-s3cr3t@crm.example/pz?key=q-s3cr3t", "1", "ftp://crm.example/pz"},
		{"unparsable URL", c, "http://crm.example/%zz", "1", "(unparsable URL)"},
		{"no call id", c, "https://crm.example/pz", "", "no call id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := tt.c.WebhookTestRequest(context.Background(), tt.url, tt.callID)
			require.Error(t, err)
			assert.Nil(t, req)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), token)
			assert.NotContains(t, err.Error(), "s3cr3t")
			assert.True(t, strings.HasPrefix(err.Error(), "prostiezvonki: webhook test: "), err.Error())
		})
	}
}
