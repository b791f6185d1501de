//go:build !race

package providertest

import "time"

// raceSlack is added to the bounds of the routing deadline check: none
// without the race detector, so this build checks RouteTimeout + 100 ms
// exactly.
const raceSlack = 0 * time.Millisecond
