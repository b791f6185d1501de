//go:build race

package providertest

import "time"

// Under the race detector every memory access is instrumented, the
// provider's and the suite's own 200 client goroutines alike, and CI runs
// other packages' tests beside this one on two cores: the routing
// deadline's bounds get this slack. The exact RouteTimeout + 100 ms bound
// is checked by the ordinary build (go test without -race), which is what
// a PBX talks to.
const raceSlack = 150 * time.Millisecond
