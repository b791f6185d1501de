package provider

import (
	"context"
	"errors"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
)

func TestReadBody(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		limit   int64
		chunked bool
		wantErr error
	}{
		{"small", `{"a":1}`, 0, false, nil},
		{"exactly the limit", "12345", 5, false, nil},
		{"over the limit", "123456", 5, false, ErrBodyTooLarge},
		{"over the limit without length", "123456", 5, true, ErrBodyTooLarge},
		{"empty", "", 0, false, nil},
		{"big under default", strings.Repeat("x", 100_000), 0, true, nil},
		{"2 MiB over default", strings.Repeat("x", 2<<20), 0, false, ErrBodyTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			if tt.chunked {
				r.ContentLength = -1
			}
			got, err := ReadBody(r, tt.limit)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.body, string(got))
		})
	}
}

func TestSecretEqual(t *testing.T) {
	assert.True(t, SecretEqual("token", "token"))
	assert.False(t, SecretEqual("token", "tokeN"))
	assert.False(t, SecretEqual("tok", "token"))
	assert.False(t, SecretEqual("", ""), "an empty expected secret never matches")
	assert.False(t, SecretEqual("x", ""))
}

func TestHexEqual(t *testing.T) {
	want := "ab12ef"
	assert.True(t, HexEqual("ab12ef", want))
	assert.True(t, HexEqual("AB12EF", want))
	assert.False(t, HexEqual("ab12ee", want))
	assert.False(t, HexEqual("ab12e", want))
	assert.False(t, HexEqual("", ""))
}

func TestVerificationErrorNamesTheCheck(t *testing.T) {
	err := &VerificationError{Provider: "rostelecom", Reason: ReasonMissingHeader, Header: "X-Client-Sign"}
	assert.Equal(t, "rostelecom: webhook verification failed: missing header X-Client-Sign", err.Error())
	err = &VerificationError{Provider: "sipuni", Reason: ReasonBadToken}
	assert.Equal(t, "sipuni: webhook verification failed: bad token", err.Error())
}

func TestWriteJSON(t *testing.T) {
	w := httptest.NewRecorder()
	WriteJSON(w, 401, map[string]string{"error": "Invalid token"})
	assert.Equal(t, 401, w.Code)
	assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
	assert.JSONEq(t, `{"error":"Invalid token"}`, w.Body.String())
}

func TestAskRouter(t *testing.T) {
	q := pbx.RouteQuery{Phone: "79991234567"}
	tests := []struct {
		name    string
		router  pbx.Router
		want    pbx.Route
		wantErr error
	}{
		{"nil router", nil, pbx.Route{}, nil},
		{"answer", pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
			return pbx.Route{Extension: "101"}, nil
		}), pbx.Route{Extension: "101"}, nil},
		{"error", pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
			return pbx.Route{Extension: "101"}, errors.New("db down")
		}), pbx.Route{}, errors.New("db down")},
		{"ignores its context", pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
			time.Sleep(300 * time.Millisecond)
			return pbx.Route{Extension: "101"}, nil
		}), pbx.Route{}, ErrRouteTimeout},
		{"panics", pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
			panic("boom")
		}), pbx.Route{}, errors.New("router panicked: boom")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			got, err := AskRouter(context.Background(), tt.router, q, 50*time.Millisecond)
			assert.Less(t, time.Since(start), 200*time.Millisecond)
			assert.Equal(t, tt.want, got)
			if tt.wantErr == nil {
				assert.NoError(t, err)
			} else {
				assert.EqualError(t, err, tt.wantErr.Error())
			}
		})
	}
}

func TestAskRouterLeavesNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	r := pbx.RouterFunc(func(ctx context.Context, _ pbx.RouteQuery) (pbx.Route, error) {
		<-ctx.Done()
		return pbx.Route{}, ctx.Err()
	})
	for range 50 {
		_, err := AskRouter(context.Background(), r, pbx.RouteQuery{}, time.Millisecond)
		assert.ErrorIs(t, err, ErrRouteTimeout)
	}
	assert.Eventually(t, func() bool { return runtime.NumGoroutine() <= before }, time.Second, 10*time.Millisecond)
}
