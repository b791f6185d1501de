package routing

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
)

// fixed is a router that answers route, err and counts its calls.
type fixed struct {
	route pbx.Route
	err   error
	calls int
}

func (f *fixed) Route(context.Context, pbx.RouteQuery) (pbx.Route, error) {
	f.calls++
	return f.route, f.err
}

func TestChain(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name      string
		routers   []*fixed
		want      pbx.Route
		wantErr   error
		wantCalls []int
	}{
		{"first decides",
			[]*fixed{{route: pbx.Route{Extension: "101"}}, {route: pbx.Route{Extension: "102"}}},
			pbx.Route{Extension: "101"}, nil, []int{1, 0}},
		{"empty then decision",
			[]*fixed{{}, {route: pbx.Route{Extension: "102", DisplayName: "Альфа"}}},
			pbx.Route{Extension: "102", DisplayName: "Альфа"}, nil, []int{1, 1}},
		{"error is skipped, its route ignored",
			[]*fixed{{route: pbx.Route{Extension: "666"}, err: errBoom}, {route: pbx.Route{Extension: "102"}}},
			pbx.Route{Extension: "102"}, nil, []int{1, 1}},
		{"nobody decides",
			[]*fixed{{}, {}},
			pbx.Route{}, nil, []int{1, 1}},
		{"nobody decides, errors returned",
			[]*fixed{{err: errBoom}, {}},
			pbx.Route{}, errBoom, []int{1, 1}},
		{"no routers", nil, pbx.Route{}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			routers := []pbx.Router{nil} // nil routers are skipped
			for _, r := range tt.routers {
				routers = append(routers, r)
			}
			got, err := Chain(routers...).Route(context.Background(), pbx.RouteQuery{Phone: "79991234567"})
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
			} else {
				assert.NoError(t, err)
			}
			assert.Equal(t, tt.want, got)
			var calls []int
			for _, r := range tt.routers {
				calls = append(calls, r.calls)
			}
			assert.Equal(t, tt.wantCalls, calls)
		})
	}
}

func TestChainContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	first := &fixed{}
	cancelling := pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) {
		cancel()
		return pbx.Route{}, nil
	})
	last := &fixed{route: pbx.Route{Extension: "101"}}
	got, err := Chain(first, cancelling, last).Route(ctx, pbx.RouteQuery{})
	assert.ErrorIs(t, err, context.Canceled)
	assert.True(t, got.IsZero())
	assert.Equal(t, 1, first.calls)
	assert.Zero(t, last.calls, "routers after the context ended are not called")

	// Already done: nobody is called.
	got, err = Chain(first).Route(ctx, pbx.RouteQuery{})
	assert.ErrorIs(t, err, context.Canceled)
	assert.True(t, got.IsZero())
	assert.Equal(t, 1, first.calls)
}

func TestChainLogs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	base := Chain(&fixed{err: errors.New("1C timeout")}, &fixed{route: pbx.Route{Extension: "101"}})
	withLog := base.With(WithLogger(log), nil)

	got, err := base.Route(context.Background(), pbx.RouteQuery{CallID: "c1"})
	require.NoError(t, err)
	assert.Equal(t, "101", got.Extension)
	assert.Empty(t, buf.String(), "silent by default, and With does not change the original")

	got, err = withLog.Route(context.Background(), pbx.RouteQuery{CallID: "c1", Provider: "sipuni"})
	require.NoError(t, err)
	assert.Equal(t, "101", got.Extension)
	out := buf.String()
	assert.Contains(t, out, "level=WARN")
	assert.Contains(t, out, "1C timeout")
	assert.Contains(t, out, "call_id=c1")
	assert.Contains(t, out, "router=0")
}

func TestByLine(t *testing.T) {
	r := ByLine(map[string]string{
		"+7 (495) 123-45-67": "200", // sales
		"8 800 555-35-35":    "300", // support
		"74951234567":        "999", // same line as the first key: sorts after "+7 ..."
		"":                   "400", // normalises to "": dropped
	})
	tests := []struct {
		line string
		want pbx.Route
	}{
		{"74951234567", pbx.Route{Extension: "200"}},
		{"84951234567", pbx.Route{Extension: "200"}},
		{"78005553535", pbx.Route{Extension: "300"}},
		{"74950000000", pbx.Route{}},
		{"", pbx.Route{}},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			got, err := r.Route(context.Background(), pbx.RouteQuery{Line: tt.line, Phone: "79991234567"})
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := r.Route(ctx, pbx.RouteQuery{Line: "74951234567"})
	assert.ErrorIs(t, err, context.Canceled)
	assert.True(t, got.IsZero())

	allocs := testing.AllocsPerRun(100, func() {
		_, _ = r.Route(context.Background(), pbx.RouteQuery{Line: "74951234567"})
	})
	assert.Zero(t, allocs)
}

// TestOptionsFitOnlyTheirRouters: each option is accepted only by the
// routers that use it, so Chain(...).With(WithDefault(...)), which used to
// compile and do nothing, no longer compiles.
func TestOptionsFitOnlyTheirRouters(t *testing.T) {
	responsibleParam := reflect.TypeOf(Responsible).In(1).Elem()
	chainParam := reflect.TypeOf((*ChainRouter).With).In(1).Elem()
	lastParam := reflect.TypeOf(NewLastAnswered).In(0).Elem()
	tests := []struct {
		name                     string
		opt                      any
		responsible, chain, last bool
	}{
		{"WithDefault", WithDefault("100"), true, false, false},
		{"WithTranslit", WithTranslit(), true, false, false},
		{"WithMaxNameLen", WithMaxNameLen(10), true, false, false},
		{"WithLogger", WithLogger(slog.New(slog.DiscardHandler)), true, true, false},
		{"WithTTL", WithTTL(time.Hour), false, false, true},
		{"WithMaxEntries", WithMaxEntries(10), false, false, true},
		{"WithClock", WithClock(time.Now), false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ := reflect.TypeOf(tt.opt)
			assert.Equal(t, tt.responsible, typ.AssignableTo(responsibleParam), "Responsible")
			assert.Equal(t, tt.chain, typ.AssignableTo(chainParam), "ChainRouter.With")
			assert.Equal(t, tt.last, typ.AssignableTo(lastParam), "NewLastAnswered")
		})
	}
}
