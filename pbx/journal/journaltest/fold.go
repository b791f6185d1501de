package journaltest

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// maxAllPermutations: calls with at most this many orders are tried in all
// of them through the store; longer ones in a fixed sample (package
// journal's own tests try every order of every scenario against Fold).
const maxAllPermutations = 120

// samplePermutations is the sample size for longer calls.
const samplePermutations = 40

// Permutations returns the orders of n events to try: all of them when
// there are at most limit, else the identity, the reverse and random ones
// from a fixed seed, limit in all. Each order is a list of indexes.
func Permutations(n, limit int) [][]int {
	total := 1
	for i := 2; i <= n && total <= limit; i++ {
		total *= i
	}
	if total <= limit {
		var out [][]int
		p := make([]int, n)
		for i := range p {
			p[i] = i
		}
		var gen func(k int)
		gen = func(k int) {
			if k == n {
				out = append(out, append([]int(nil), p...))
				return
			}
			for i := k; i < n; i++ {
				p[k], p[i] = p[i], p[k]
				gen(k + 1)
				p[k], p[i] = p[i], p[k]
			}
		}
		gen(0)
		return out
	}
	id := make([]int, n)
	rev := make([]int, n)
	for i := range id {
		id[i], rev[i] = i, n-1-i
	}
	out := [][]int{id, rev}
	r := rand.New(rand.NewPCG(1, uint64(n)))
	for len(out) < limit {
		out = append(out, r.Perm(n))
	}
	return out
}

func (s *suite) testFold(t *testing.T) {
	for _, sc := range Scenarios() {
		t.Run(sc.Name, func(t *testing.T) {
			j, _ := s.newJournal(t)
			c := ctx(t)
			keys := make(map[string]bool)
			for _, e := range sc.Events {
				keys[e.DedupeKey] = true
			}
			limit := maxAllPermutations
			if len(sc.Events) > 5 { // 6! = 720 orders: a sample
				limit = samplePermutations
			}
			perms := Permutations(len(sc.Events), limit)
			for pi, perm := range perms {
				// Each order is its own call, with its own keys.
				id := fmt.Sprintf("%s#%d", sc.Want.CallID, pi)
				for _, k := range perm {
					e := sc.Events[k]
					e.CallID = id
					e.DedupeKey = fmt.Sprintf("%s#%d", e.DedupeKey, pi)
					require.NoError(t, j.HandleEvent(c, e))
				}
				got, err := j.Call(c, sc.Want.Provider, id)
				require.NoError(t, err)
				entries, err := j.CallEntries(c, sc.Want.Provider, id)
				require.NoError(t, err)
				require.Len(t, entries, len(keys), "order %v: redeliveries must be stored once", perm)
				assert.Equal(t, entries[0].Seq, got.FirstSeq, "FirstSeq")
				assert.Equal(t, entries[len(entries)-1].Seq, got.LastSeq, "LastSeq")
				got.CallID = sc.Want.CallID
				if !assert.Equal(t, Comparable(sc.Want), Comparable(got), "arrival order %v", perm) {
					return
				}
			}
		})
	}
}
