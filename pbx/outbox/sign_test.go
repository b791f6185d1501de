package outbox_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx/outbox"
)

// TestSign checks the signature against the Standard Webhooks formula
// computed here independently.
func TestSign(t *testing.T) {
	ts := time.Unix(1710403200, 0)
	body := []byte(`{"type":"call"}`)
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("msg_1_2.1710403200." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(h.Sum(nil))
	if got := outbox.Sign(secret, "msg_1_2", ts, body); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func signedRequest(id string, ts time.Time, sig string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/calls", strings.NewReader(string(body)))
	if id != "" {
		r.Header.Set("webhook-id", id)
	}
	if !ts.IsZero() {
		r.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	}
	if sig != "" {
		r.Header.Set("webhook-signature", sig)
	}
	return r
}

// TestVerify: only a fresh request signed with the secret over exactly
// this body passes; everything else fails, with the error saying why.
func TestVerify(t *testing.T) {
	body := []byte(`{"type":"call","version":7}`)
	now := time.Now()
	good := outbox.Sign(secret, "msg_a_1", now, body)
	other := outbox.Sign([]byte("another secret"), "msg_a_1", now, body)
	cases := []struct {
		name    string
		secret  []byte
		id      string
		ts      time.Time
		sig     string
		body    []byte
		tweak   func(*http.Request)
		wantErr error
	}{
		{name: "good", id: "msg_a_1", ts: now, sig: good},
		{name: "several signatures, one good", id: "msg_a_1", ts: now, sig: other + " v1a,xyz " + good},
		{name: "good signature last after junk", id: "msg_a_1", ts: now, sig: "v1,!!! v2,abc " + good},
		{name: "timestamp 4 minutes old", id: "msg_a_1", ts: now.Add(-4 * time.Minute),
			sig: outbox.Sign(secret, "msg_a_1", now.Add(-4*time.Minute), body)},
		{name: "lower-case header keys set by hand", tweak: func(r *http.Request) {
			r.Header = http.Header{
				"webhook-id":        {"msg_a_1"},
				"webhook-timestamp": {strconv.FormatInt(now.Unix(), 10)},
				"webhook-signature": {good},
			}
		}},
		{name: "signature in a second header line", id: "msg_a_1", ts: now, sig: other,
			tweak: func(r *http.Request) { r.Header.Add("Webhook-Signature", good) }},
		{name: "wrong secret", id: "msg_a_1", ts: now, sig: other, wantErr: outbox.ErrSignature},
		{name: "empty secret", secret: []byte{}, id: "msg_a_1", ts: now, sig: good, wantErr: outbox.ErrNoSecret},
		{name: "stale timestamp", id: "msg_a_1", ts: now.Add(-6 * time.Minute),
			sig: outbox.Sign(secret, "msg_a_1", now.Add(-6*time.Minute), body), wantErr: outbox.ErrTimestamp},
		{name: "future timestamp", id: "msg_a_1", ts: now.Add(6 * time.Minute),
			sig: outbox.Sign(secret, "msg_a_1", now.Add(6*time.Minute), body), wantErr: outbox.ErrTimestamp},
		{name: "timestamp changed after signing", id: "msg_a_1", ts: now.Add(time.Second), sig: good, wantErr: outbox.ErrSignature},
		{name: "timestamp not a number", id: "msg_a_1", sig: good, wantErr: outbox.ErrTimestamp,
			tweak: func(r *http.Request) { r.Header.Set("webhook-timestamp", "1e9") }},
		{name: "timestamp with a sign", id: "msg_a_1", sig: good, wantErr: outbox.ErrTimestamp,
			tweak: func(r *http.Request) { r.Header.Set("webhook-timestamp", "+"+strconv.FormatInt(now.Unix(), 10)) }},
		{name: "tampered body", id: "msg_a_1", ts: now, sig: good, body: []byte(`{"type":"call","version":8}`), wantErr: outbox.ErrSignature},
		{name: "other id", id: "msg_a_2", ts: now, sig: good, wantErr: outbox.ErrSignature},
		{name: "missing id", ts: now, sig: good, wantErr: outbox.ErrMissingHeader},
		{name: "missing timestamp", id: "msg_a_1", sig: good, wantErr: outbox.ErrMissingHeader},
		{name: "missing signature", id: "msg_a_1", ts: now, wantErr: outbox.ErrMissingHeader},
		{name: "no headers", wantErr: outbox.ErrMissingHeader},
		{name: "signature without version", id: "msg_a_1", ts: now, sig: strings.TrimPrefix(good, "v1,"), wantErr: outbox.ErrSignature},
		{name: "other version only", id: "msg_a_1", ts: now, sig: "v2," + strings.TrimPrefix(good, "v1,"), wantErr: outbox.ErrSignature},
		{name: "truncated signature", id: "msg_a_1", ts: now, sig: good[:len(good)-4], wantErr: outbox.ErrSignature},
		{name: "unpadded signature", id: "msg_a_1", ts: now, sig: strings.TrimRight(good, "="), wantErr: outbox.ErrSignature},
		{name: "empty v1", id: "msg_a_1", ts: now, sig: "v1,", wantErr: outbox.ErrSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := body
			if tc.body != nil {
				b = tc.body
			}
			r := signedRequest(tc.id, tc.ts, tc.sig, b)
			if tc.tweak != nil {
				tc.tweak(r)
			}
			s := secret
			if tc.secret != nil {
				s = tc.secret
			}
			err := outbox.Verify(s, r, b)
			if tc.wantErr == nil && err != nil {
				t.Fatalf("Verify = %v, want nil", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("Verify = %v, want %v", err, tc.wantErr)
			}
			if err != nil && (strings.Contains(err.Error(), string(secret)) || strings.Contains(err.Error(), strings.TrimPrefix(good, "v1,"))) {
				t.Errorf("error %q quotes a secret or a signature", err)
			}
		})
	}
}

// FuzzVerify: whatever the headers, Verify never panics and never
// accepts a request without the right signature.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1710403200, 0)
	body := []byte(`{"a":1}`)
	good := outbox.Sign(secret, "msg_x_1", now, body)
	f.Add("msg_x_1", "1710403200", good, body)
	f.Add("msg_x_1", "1710403200", "v1,AAAA v1,"+strings.Repeat("A", 44), body)
	f.Add("", "", "", []byte(nil))
	f.Add("msg_x_1", "99999999999999999999", "v1,,,, v1,=", body)
	f.Add("id", "1710403200", "v1,"+strings.Repeat("/", 64)+" v1,"+strings.Repeat("+", 63), body)
	f.Fuzz(func(t *testing.T, id, ts, sig string, b []byte) {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sig)
		err := outbox.VerifyHeader(secret, h, b, now, time.Minute)
		if err != nil {
			return
		}
		// Accepted: a field of sig must be the real signature of id.ts.b.
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(strings.TrimSpace(id) + "." + strings.TrimSpace(ts) + "."))
		mac.Write(b)
		want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if !strings.Contains(sig, want) {
			t.Fatalf("accepted a signature that is not the HMAC: id %q ts %q sig %q", id, ts, sig)
		}
	})
}

func TestParseSecret(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"whsec_c2VjcmV0", "secret", true},
		{"plain-key", "plain-key", true},
		{"whsec_!!!", "", false},
		{"whsec_", "", false},
		{"", "", false},
	} {
		got, err := outbox.ParseSecret(tc.in)
		if tc.ok {
			if err != nil || string(got) != tc.want {
				t.Errorf("outbox.ParseSecret(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseSecret(%q) = %q; want an error", tc.in, got)
		} else if len(tc.in) > len("whsec_") && strings.Contains(err.Error(), tc.in) {
			t.Errorf("the error quotes the secret: %v", err)
		}
	}
}
