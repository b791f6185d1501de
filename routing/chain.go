package routing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
)

// ChainRouter asks several routers in order; see [Chain]. It is immutable
// and safe for concurrent use when its routers are.
type ChainRouter struct {
	routers []pbx.Router
	logger  *slog.Logger
}

// Chain returns a Router that asks routers in order and answers the first
// decision (non-zero Route). Nil routers are skipped.
//
// A router that fails is skipped too: its error is logged (see
// [ChainRouter.With] and [WithLogger]) and the next router is asked; its
// Route is ignored. When no router decides, Route returns the zero Route and,
// if any router failed, their errors joined ([errors.Join]), so the caller
// still learns about them.
//
// Before each router Route checks ctx: once ctx is done it returns
// (pbx.Route{}, ctx.Err()) without asking the rest.
func Chain(routers ...pbx.Router) *ChainRouter {
	return &ChainRouter{routers: slices.DeleteFunc(slices.Clone(routers), func(r pbx.Router) bool { return r == nil })}
}

// With returns a copy of c configured by opts; c is unchanged. The only
// chain option is [WithLogger]; the options of other routers do not
// compile here. Nil options are ignored.
func (c *ChainRouter) With(opts ...ChainOption) *ChainRouter {
	o := buildChainOptions(opts)
	return &ChainRouter{routers: c.routers, logger: o.logger}
}

// Route implements pbx.Router.
func (c *ChainRouter) Route(ctx context.Context, q pbx.RouteQuery) (pbx.Route, error) {
	var errs []error
	for i, r := range c.routers {
		if err := ctx.Err(); err != nil {
			return pbx.Route{}, err
		}
		route, err := r.Route(ctx, q)
		if err != nil {
			if c.logger != nil {
				c.logger.LogAttrs(ctx, slog.LevelWarn, "routing: router failed, trying the next",
					slog.Int("router", i), slog.String("provider", q.Provider),
					slog.String("call_id", q.CallID), slog.Any("error", err))
			}
			errs = append(errs, fmt.Errorf("routing: router %d: %w", i, err))
			continue
		}
		if !route.IsZero() {
			return route, nil
		}
	}
	return pbx.Route{}, errors.Join(errs...)
}

// ByLine returns a Router that routes by the company number the call came
// to (RouteQuery.Line): a sales line to the sales group, a support line to
// support. lines maps a company number, in any form phone.Normalize
// understands, to an extension (an employee's or a group's internal
// number).
//
// The map is copied. Keys are normalised; when two keys normalise to the
// same number, the one that sorts first wins. A call to a line that is not
// in the map, or with no line, gets the zero Route ("no decision"). Route
// returns (pbx.Route{}, ctx.Err()) at once when ctx is done; otherwise it
// never fails and does not allocate.
func ByLine(lines map[string]string) pbx.Router {
	keys := make([]string, 0, len(lines))
	for k := range lines {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	m := make(map[string]string, len(lines))
	for _, k := range keys {
		n := phone.Normalize(k)
		if _, dup := m[n]; !dup && n != "" {
			m[n] = lines[k]
		}
	}
	return byLine(m)
}

type byLine map[string]string

func (b byLine) Route(ctx context.Context, q pbx.RouteQuery) (pbx.Route, error) {
	if err := ctx.Err(); err != nil {
		return pbx.Route{}, err
	}
	if q.Line == "" {
		return pbx.Route{}, nil
	}
	return pbx.Route{Extension: b[phone.Normalize(q.Line)]}, nil
}
