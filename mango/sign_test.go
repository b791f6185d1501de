package mango_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/mango"
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
)

// TestSignKnownVector: the signature is the plain SHA-256 of key + json +
// salt, lowercase hex; the vector was computed with sha256sum.
func TestSignKnownVector(t *testing.T) {
	js := `{"command_id":"cb-1","from":{"extension":"101"},"to_number":"79991234567"}`
	assert.Equal(t, "b8cbef7faa880a4163e4e7b8da0ad16b1f8a62306c19c397290704891e772604", mango.Sign(key, js, salt))
	assert.NotEqual(t, mango.Sign(key, js, salt), mango.Sign(key, js+" ", salt), "the exact json is signed")
}

// TestRequestFormKeepsPlusAndAmpersand: a "+", "&", "=" or "%" in a value
// reaches the API intact and signed (a client concatenating the form
// corrupts it).
func TestRequestFormKeepsPlusAndAmpersand(t *testing.T) {
	api := newAPIServer(t, nil)
	c := newClient(t, api.base(), nil)
	name := "Рога & Копыта +7 100% a=b"
	_, err := c.Route(ctx(t), mango.RouteCommand{CallID: "leg+1&x=y", ToNumber: "+74951234567", DisplayName: name})
	require.NoError(t, err)
	got := api.next(t)
	assert.Equal(t, mango.OpRoute, got.Op)
	assert.True(t, got.SignOK, "the json received is the json signed")
	assert.Equal(t, "leg+1&x=y", got.JSON["call_id"])
	assert.Equal(t, "+74951234567", got.JSON["to_number"])
	assert.Equal(t, name, got.JSON["sip_headers"].(map[string]any)["From/display-name"])
	assert.Equal(t, key, got.Form.Get("vpbx_api_key"))
	assert.NotContains(t, got.Form.Encode(), salt, "the salt is never sent")
}

// TestVerify: only a POST form with the configured key and the signature
// of its json value, each field once, reaches user code.
func TestVerify(t *testing.T) {
	js := ivrJSON("E1", "L1")
	sign := mango.Sign(key, js, salt)
	other := strings.Replace(js, "Appeared", "Connected", 1)
	for _, tc := range []struct {
		name   string
		body   string
		method string
		status int
		events int
	}{
		{"valid", signedBody(js), "", http.StatusOK, 1},
		{"upper-case signature", url.Values{"vpbx_api_key": {key}, "sign": {strings.ToUpper(sign)}, "json": {js}}.Encode(), "", http.StatusOK, 1},
		{"no sign", url.Values{"vpbx_api_key": {key}, "json": {js}}.Encode(), "", http.StatusUnauthorized, 0},
		{"no key", url.Values{"sign": {sign}, "json": {js}}.Encode(), "", http.StatusUnauthorized, 0},
		{"empty body", "", "", http.StatusUnauthorized, 0},
		{"another key", mango.SignedForm("x"+key[1:], salt, js).Encode(), "", http.StatusForbidden, 0},
		{"another salt", mango.SignedForm(key, "x"+salt[1:], js).Encode(), "", http.StatusForbidden, 0},
		{"json changed after signing", url.Values{"vpbx_api_key": {key}, "sign": {sign}, "json": {other}}.Encode(), "", http.StatusForbidden, 0},
		{"json given twice", url.Values{"vpbx_api_key": {key}, "sign": {sign}, "json": {js, other}}.Encode(), "", http.StatusForbidden, 0},
		{"sign given twice", url.Values{"vpbx_api_key": {key}, "sign": {sign, sign}, "json": {js}}.Encode(), "", http.StatusForbidden, 0},
		{"not a form", "json=%zz", "", http.StatusBadRequest, 0},
		{"signed but not a JSON object", signedBody(`[1,2]`), "", http.StatusBadRequest, 0},
		{"signed but broken JSON", signedBody(`{"entry_id":`), "", http.StatusBadRequest, 0},
		{"signed without json: the connection check", url.Values{"vpbx_api_key": {key}, "sign": {mango.Sign(key, "", salt)}}.Encode(), "", http.StatusOK, 0},
		{"GET", signedBody(js), http.MethodGet, http.StatusMethodNotAllowed, 0},
		{"too large", signedBody(js) + "&pad=" + strings.Repeat("x", 1<<20), "", http.StatusRequestEntityTooLarge, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, "http://127.0.0.1:1/vpbx", nil)
			var rec pbxtest.Recorder
			h := c.WebhookHandler(&rec, nil)
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req := httptest.NewRequest(method, "/pbx/mango/events/call", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			assert.Equal(t, tc.status, w.Code, w.Body.String())
			assert.Len(t, rec.Events(), tc.events)
			assert.NotContains(t, w.Body.String(), salt)
			assert.NotContains(t, w.Body.String(), key)
		})
	}
}

// TestVerifyIgnoresQuery: signed fields in the URL's query do not count.
func TestVerifyIgnoresQuery(t *testing.T) {
	c := newClient(t, "http://127.0.0.1:1/vpbx", nil)
	var rec pbxtest.Recorder
	req := httptest.NewRequest(http.MethodPost, "/pbx/mango/events/call?"+signedBody(ivrJSON("E", "L")), nil)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	c.WebhookHandler(&rec, nil).ServeHTTP(w, req)
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Empty(t, rec.Events())
}

// TestWebhookTestRequest: the request WebhookTestRequest builds is
// accepted by the Client's own handler and hands one call-started event
// over without asking the router; a handler with other credentials
// refuses it.
func TestWebhookTestRequest(t *testing.T) {
	api := newAPIServer(t, nil)
	c := newClient(t, api.base(), nil)
	var rec pbxtest.Recorder
	asked := make(chan struct{}, 1)
	rec.Router = pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
		asked <- struct{}{}
		return pbx.Route{Extension: "101"}, nil
	})
	srv := httptest.NewServer(http.StripPrefix("/pbx/mango", c.WebhookHandler(&rec, &rec)))
	t.Cleanup(srv.Close)

	req, err := c.WebhookTestRequest(ctx(t), srv.URL+"/pbx/mango/", "t1")
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	evs := rec.Events()
	require.Len(t, evs, 1)
	assert.Equal(t, pbx.EventCallStarted, evs[0].Type)
	assert.Equal(t, "t1", evs[0].CallID)
	assert.Empty(t, rec.Queries(), "the test call is never routed")
	assert.Empty(t, api.requests(), "no command reaches the PBX")

	otherCfg := mango.Config{APIKey: "another-key-000000", APISalt: "another-salt-00000", BaseURL: api.base()}
	other, err := mango.New(otherCfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Close() })
	var rec2 pbxtest.Recorder
	srv2 := httptest.NewServer(other.WebhookHandler(&rec2, nil))
	t.Cleanup(srv2.Close)
	req, err = c.WebhookTestRequest(ctx(t), srv2.URL, "t2")
	require.NoError(t, err)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Empty(t, rec2.Events())
}

// TestSignLong: a json value too long for the stack buffer signs the
// same way.
func TestSignLong(t *testing.T) {
	js := `{"pad":"` + strings.Repeat("ж", 2000) + `"}`
	sum := sha256.Sum256([]byte(key + js + salt))
	assert.Equal(t, hex.EncodeToString(sum[:]), mango.Sign(key, js, salt))
}
