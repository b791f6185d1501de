package outboxtest_test

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/pbxkit/pbxkit/pbx/outbox"
	"github.com/pbxkit/pbxkit/pbx/outbox/outboxtest"
)

var secret = []byte("s3cret")

func post(t *testing.T, url, id string, body []byte, key []byte) (int, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	now := time.Now()
	req.Header.Set(outbox.HeaderID, id)
	req.Header.Set(outbox.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(outbox.HeaderSignature, outbox.Sign(key, id, now, body))
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestReceiver: it applies an id once and acknowledges repeats, rejects a
// bad signature, refuses connections while down, fails and hangs as told.
func TestReceiver(t *testing.T) {
	r := outboxtest.NewReceiver(t, secret)
	for range 2 {
		if code, err := post(t, r.URL(), "a", []byte(`{}`), secret); err != nil || code != 200 {
			t.Fatalf("post = %d, %v", code, err)
		}
	}
	if code, _ := post(t, r.URL(), "b", []byte(`{}`), []byte("wrong")); code != 401 || r.Rejected() != 1 {
		t.Errorf("bad signature: %d, rejected %d", code, r.Rejected())
	}
	if r.AppliedCount() != 1 || r.Received("a") != 2 || r.Requests() != 3 {
		t.Errorf("applied %d, received %d, requests %d", r.AppliedCount(), r.Received("a"), r.Requests())
	}

	r.Set(outboxtest.Behavior{Mode: outboxtest.Down})
	if _, err := post(t, r.URL(), "c", []byte(`{}`), secret); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("while down: %v, want connection refused", err)
	}
	r.Set(outboxtest.Behavior{Mode: outboxtest.Fail, Status: 503})
	if code, err := post(t, r.URL(), "c", []byte(`{}`), secret); err != nil || code != 503 || r.AppliedCount() != 1 {
		t.Errorf("fail: %d, %v", code, err)
	}
	r.Set(outboxtest.Behavior{Mode: outboxtest.HangAfterApply})
	if _, err := post(t, r.URL(), "d", []byte(`{}`), secret); err == nil || r.AppliedCount() != 2 {
		t.Errorf("hang after apply: %v, applied %d", err, r.AppliedCount())
	}
	r.RequireBasicAuth("u", "p")
	r.Set(outboxtest.Behavior{Mode: outboxtest.Up})
	if code, _ := post(t, r.URL(), "e", []byte(`{}`), secret); code != 401 {
		t.Errorf("without credentials: %d", code)
	}
}

// TestClock: time moves only when told, and After fires when it is due.
func TestClock(t *testing.T) {
	t0 := time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)
	c := outboxtest.NewClock(t0)
	now := <-c.After(0)
	if !now.Equal(t0) {
		t.Errorf("After(0) = %v", now)
	}
	a, b := c.After(time.Hour), c.After(time.Minute)
	if at, ok := c.Next(); !ok || !at.Equal(t0.Add(time.Minute)) {
		t.Errorf("Next = %v, %v", at, ok)
	}
	c.Advance(30 * time.Second)
	select {
	case <-b:
		t.Fatal("fired early")
	default:
	}
	if !c.AdvanceToNext() || !c.Now().Equal(t0.Add(time.Minute)) {
		t.Errorf("AdvanceToNext: now %v", c.Now())
	}
	<-b
	c.Advance(2 * time.Hour)
	<-a
	if c.AdvanceToNext() {
		t.Error("AdvanceToNext with nothing waiting")
	}
}
