package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/pbx/screenpop"
)

// TestPrintLink: -print-link prints a link whose token the hub accepts for
// that extension, needs no provider, and refuses to work without a secret.
func TestPrintLink(t *testing.T) {
	var out strings.Builder
	env := func(k string) string {
		if k == "PBXKIT_SCREENPOP_SECRET" {
			return "page-secret-value"
		}
		return ""
	}
	require.NoError(t, run(context.Background(), []string{"-print-link", "101", "-public-url", "https://pbx.example.ru/op"}, env, &out, io.Discard))
	link := strings.TrimSpace(out.String())
	u, err := url.Parse(link)
	require.NoError(t, err)
	assert.Equal(t, "pbx.example.ru", u.Host)
	tok := u.Query().Get("token")
	if tok == "" && u.Fragment != "" { // the page may carry it in the fragment
		frag, _ := url.ParseQuery(u.Fragment)
		tok = frag.Get("token")
	}
	require.NotEmpty(t, tok, "link %s carries a token", link)
	ext, err := screenpop.VerifyToken([]byte("page-secret-value"), tok, time.Now())
	require.NoError(t, err)
	assert.Equal(t, "101", ext)
	assert.NotContains(t, link, "page-secret-value")

	err = run(context.Background(), []string{"-print-link", "101"}, noEnv, io.Discard, io.Discard)
	assert.ErrorContains(t, err, "-print-link needs -screenpop-secret")
}

// TestOperatorPageServed: with a journal and a secret, webhook-server
// serves the page at / and a played call's card arrives on the employee's
// stream; without a secret the page is off (404), never open.
func TestOperatorPageServed(t *testing.T) {
	fake, err := pbxtest.Start("sipuni", pbxtest.Options{})
	require.NoError(t, err)
	t.Cleanup(fake.Close)
	const secret = "page-secret-value"

	start := func(t *testing.T, args ...string) string {
		var logs syncBuffer
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		base := []string{"-addr", "127.0.0.1:0", "-provider", fake.DSN(), "-journal", filepath.Join(t.TempDir(), "j.db")}
		go func() { done <- run(ctx, append(base, args...), noEnv, &logs, io.Discard) }()
		t.Cleanup(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				t.Error("run did not return after its context ended (open streams must not hold the shutdown)")
			}
		})
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			for _, line := range strings.Split(logs.String(), "\n") {
				var rec struct{ Msg, Addr string }
				if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
					return "http://" + rec.Addr
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("no listening line")
		return ""
	}

	t.Run("off without a secret", func(t *testing.T) {
		base := start(t)
		resp, err := http.Get(base + "/")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	})

	t.Run("card on the stream", func(t *testing.T) {
		base := start(t, "-screenpop-secret", secret)
		resp, err := http.Get(base + "/")
		require.NoError(t, err)
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Contains(t, string(page), "<html")

		tok := screenpop.Token([]byte(secret), "101", time.Now().Add(time.Hour))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/screenpop?token="+url.QueryEscape(tok), nil)
		stream, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer stream.Body.Close()
		require.Equal(t, http.StatusOK, stream.StatusCode)
		assert.Equal(t, "text/event-stream", strings.Split(stream.Header.Get("Content-Type"), ";")[0])

		played, err := fake.Play(ctx, base+"/pbx/sipuni/", pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, Extensions: []string{"101"}, SkipRouting: true})
		require.NoError(t, err)
		sc := bufio.NewScanner(stream.Body)
		found := false
		for !found && sc.Scan() {
			line := sc.Text()
			found = strings.HasPrefix(line, "data:") && strings.Contains(line, played.CallID)
		}
		assert.True(t, found, "a card of the played call reached extension 101's stream")
	})
}
