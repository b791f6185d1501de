package mango_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/mango"
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// TestResultCodeClass: a listed code is its own class; an unlisted one
// reads as its class (the manual's rule: 2219 is 221x, 1090 is 1xxx).
func TestResultCodeClass(t *testing.T) {
	for _, tc := range []struct {
		code  mango.ResultCode
		class string
		text  string
	}{
		{1000, "1000", "action done"},
		{3102, "3102", "signature does not match"},
		{2219, "221x", "access restricted by the period of use"},
		{2290, "22xx", "account access restricted"},
		{1090, "1xxx", "action done"},
		{1124, "112x", "call ended by the callee"},
		{4394, "43xx", "SMS not sent"},
		{5999, "5xxx", "server error"},
		{9999, "", "unknown result code"},
		{999, "", "unknown result code"},
		{-3, "", "unknown result code"},
	} {
		assert.Equal(t, tc.class, tc.code.Class(), "%d", tc.code)
		assert.Equal(t, tc.text, tc.code.Text(), "%d", tc.code)
	}
	assert.True(t, mango.ResultOK.OK())
	assert.False(t, mango.ResultCode(1100).OK())
	e := &mango.ResultError{Code: 2219}
	assert.Equal(t, "mango result 2219 (class 221x): access restricted by the period of use", e.Error())
	assert.Equal(t, "221x", e.Class())
}

// TestAnswers: how API answers read, whatever shape the PBX uses.
func TestAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		code   mango.ResultCode // 0: no ResultError
		is     []error
		ok     bool
	}{
		{"result 1000", 200, `{"result":1000}`, 0, nil, true},
		{"result as a string", 200, `{"result":"1000"}`, 0, nil, true},
		{"a refusal in a 200", 200, `{"result":3104}`, 3104, nil, false},
		{"the manual's 420", 420, `{"code":3104}`, 3104, nil, false},
		{"bad signature", 420, `{"code":3102}`, 3102, []error{provider.ErrUnauthorized}, false},
		{"bad key in a 200", 200, `{"result":"3105"}`, 3105, []error{provider.ErrUnauthorized}, false},
		{"locked out", 401, ``, 0, []error{provider.ErrUnauthorized}, false},
		{"rate limited", 429, `{"name":"Service Unavailable","message":"Rate limit exceeded.","code":0,"status":429}`, 0, []error{provider.ErrRateLimited}, false},
		{"not JSON", 200, `<html>`, 0, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newAPIServer(t, func(string, map[string]any) (int, string) { return tc.status, tc.body })
			c := newClient(t, api.base(), nil)
			err := c.Hangup(ctx(t), "L1")
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			var ae *provider.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tc.status, ae.StatusCode)
			var re *mango.ResultError
			if tc.code != 0 {
				require.ErrorAs(t, err, &re)
				assert.Equal(t, tc.code, re.Code)
				assert.Contains(t, err.Error(), tc.code.Text())
			} else {
				assert.False(t, errors.As(err, &re))
			}
			for _, target := range tc.is {
				assert.ErrorIs(t, err, target)
			}
			assert.NotContains(t, err.Error(), salt)
			assert.NotContains(t, err.Error(), key)
			assert.Len(t, api.requests(), 1, "an action is sent once")
		})
	}
}

// TestInvalidRequestsNeverRetried: a 3xxx on a read is final: Mango locks
// the key after a second one.
func TestInvalidRequestsNeverRetried(t *testing.T) {
	for _, answer := range []struct {
		status int
		body   string
	}{{420, `{"code":3102}`}, {200, `{"result":3104}`}, {400, `{"result":3100}`}, {401, ``}} {
		api := newAPIServer(t, func(string, map[string]any) (int, string) { return answer.status, answer.body })
		c := newClient(t, api.base(), nil)
		_, err := c.Subscribers(ctx(t))
		require.Error(t, err)
		assert.Len(t, api.requests(), 1, "%d %s", answer.status, answer.body)
	}
}

// TestMakeCall: commands/callback carries a command_id (the OrderID), the
// employee and the normalised number, and is sent once even on a 5xx.
func TestMakeCall(t *testing.T) {
	api := newAPIServer(t, nil)
	c := newClient(t, api.base(), nil)
	res, err := c.MakeCall(ctx(t), pbx.CallRequest{Extension: " 101 ", Phone: "8 (999) 123-45-67"})
	require.NoError(t, err)
	got := api.next(t)
	assert.Equal(t, mango.OpCallback, got.Op)
	assert.True(t, got.SignOK)
	assert.Equal(t, res.OrderID, got.JSON["command_id"])
	assert.Empty(t, res.CallID)
	assert.Equal(t, map[string]any{"extension": "101"}, got.JSON["from"])
	assert.Equal(t, "79991234567", got.JSON["to_number"])

	_, err = c.MakeCall(ctx(t), pbx.CallRequest{Extension: "101", Phone: "call me"})
	assert.Error(t, err)
	_, err = c.MakeCall(ctx(t), pbx.CallRequest{Phone: "89991234567"})
	assert.Error(t, err)

	failing := newAPIServer(t, func(string, map[string]any) (int, string) { return 502, `{}` })
	fc := newClient(t, failing.base(), nil)
	_, err = fc.MakeCall(ctx(t), pbx.CallRequest{Extension: "101", Phone: "89991234567"})
	require.Error(t, err)
	assert.Len(t, failing.requests(), 1, "a callback is never sent twice")
}

// TestHangup: a leg already over is code 4101.
func TestHangup(t *testing.T) {
	api := newAPIServer(t, func(string, map[string]any) (int, string) { return 200, `{"result":4101}` })
	c := newClient(t, api.base(), nil)
	err := c.Hangup(ctx(t), "L9")
	var re *mango.ResultError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, mango.ResultCallEnded, re.Code)
	assert.Equal(t, "L9", api.next(t).JSON["call_id"])
	assert.Error(t, c.Hangup(ctx(t), " "))
}

// TestSubscribers: users decode with numbers as strings; Login is the SIP
// account.
func TestSubscribers(t *testing.T) {
	api := newAPIServer(t, func(string, map[string]any) (int, string) {
		return 200, `{"users":[{"general":{"name":"Иванова Мария","email":"i@example.ru","user_id":123},
			"telephony":{"extension":"101","outgoingline":"74951234567","numbers":[
			{"number":"79991234567","protocol":"tel","order":"1","wait_sec":"20","status":"on"},
			{"number":"sip:ivanova@vpbx400100100.mangosip.ru","protocol":"sip","order":2,"wait_sec":20,"status":"on"}]}},
			{"general":{"name":"Без SIP"},"telephony":{"extension":102}}]}`
	})
	c := newClient(t, api.base(), nil)
	subs, err := c.Subscribers(ctx(t))
	require.NoError(t, err)
	require.Len(t, subs, 2)
	assert.Equal(t, "101", subs[0].Extension)
	assert.Equal(t, "Иванова Мария", subs[0].Name)
	assert.Equal(t, "ivanova@vpbx400100100.mangosip.ru", subs[0].Login)
	assert.Equal(t, "123", string(subs[0].Raw.(*mango.User).General.UserID))
	assert.Equal(t, "102", subs[1].Extension)
	assert.Empty(t, subs[1].Login)
	assert.Equal(t, map[string]any{}, api.next(t).JSON)
}

// TestClientLimitFailsFast: an operation whose slot comes after its
// deadline fails at once, matching provider.ErrRateLimited, and sends
// nothing.
func TestClientLimitFailsFast(t *testing.T) {
	api := newAPIServer(t, func(string, map[string]any) (int, string) { return 200, `{"users":[]}` })
	c := newClient(t, api.base(), func(cfg *mango.Config) { cfg.Timeout = time.Second })
	_, err := c.Users(ctx(t), "")
	require.NoError(t, err)
	start := time.Now()
	_, err = c.Users(ctx(t), "")
	require.ErrorIs(t, err, provider.ErrRateLimited)
	assert.ErrorIs(t, err, mango.ErrLimitWait)
	assert.Less(t, time.Since(start), 900*time.Millisecond, "did not wait for a slot it could not get")
	assert.Len(t, api.requests(), 1)

	// Lifted, the second goes through at once.
	free := newClient(t, api.base(), func(cfg *mango.Config) { cfg.Limits = map[string]mango.Limit{mango.OpUsers: {}} })
	for range 3 {
		_, err = free.Users(ctx(t), "")
		require.NoError(t, err)
	}
}
