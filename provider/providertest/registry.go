package providertest

import (
	"cmp"
	"slices"
	"sync"
)

// The harnesses registered by the vendors' fake packages. The registry is
// filled by init functions and read by programs (the load program) that
// speak to every vendor's webhook without naming one.
var (
	registryMu sync.RWMutex
	registry   = map[string]Harness{}
)

// Register makes a vendor's harness known to Harnesses. A <vendor>test
// package calls it from its init function:
//
//	func init() { providertest.Register(Harness()) }
//
// so that a program importing the fake package (or
// examples/internal/vendors, which imports them all) finds every vendor's
// harness without a list of its own. Like database/sql's Register, it panics
// when called twice for one name or with an empty Name, nil New or nil
// CallEvent: all are programming errors in a fake package.
func Register(h Harness) {
	if h.Name == "" {
		panic("providertest: Register with an empty Harness.Name")
	}
	if h.New == nil || h.CallEvent == nil {
		panic("providertest: Register " + h.Name + ": Harness.New and Harness.CallEvent are required")
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[h.Name]; dup {
		panic("providertest: Register called twice for harness " + h.Name)
	}
	registry[h.Name] = h
}

// Harnesses returns the registered harnesses sorted by Name.
func Harnesses() []Harness {
	registryMu.RLock()
	defer registryMu.RUnlock()
	hs := make([]Harness, 0, len(registry))
	for _, h := range registry {
		hs = append(hs, h)
	}
	slices.SortFunc(hs, func(a, b Harness) int { return cmp.Compare(a.Name, b.Name) })
	return hs
}
