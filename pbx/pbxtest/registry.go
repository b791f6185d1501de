package pbxtest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Options seed a fake started through [Start]. The zero value is what the
// quick start and most tests want.
type Options struct {
	// RecordingSize is the size in bytes of every generated recording
	// (default: the fake's own, a few hundred KiB).
	RecordingSize int64
	// Employees replaces the seeded staff ([Employees]).
	Employees []Employee
}

// Vendor is one fake registered by its package (the <vendor>test packages
// register themselves when imported), so programs and tests can start every
// vendor's fake without a list of their own.
type Vendor struct {
	// Name is the provider name, as provider.Open knows it ("sipuni").
	Name string
	// Start starts the fake on 127.0.0.1.
	Start func(o Options) (Fake, error)
}

// The registry of fakes. It is written only by the init functions of the
// <vendor>test packages, like database/sql's driver registry, and is the
// only package-level state here.
var (
	registryMu sync.RWMutex
	registry   = map[string]Vendor{}
)

// Register makes a vendor's fake known to [Vendors] and [Start]. It panics
// when called twice for one name or with a nil Start, as database/sql's
// Register does: both are programming errors in a fake package.
func Register(v Vendor) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if v.Start == nil {
		panic("pbxtest: Register with a nil Start for " + v.Name)
	}
	if _, dup := registry[v.Name]; dup {
		panic("pbxtest: Register called twice for " + v.Name)
	}
	registry[v.Name] = v
}

// Vendors returns the registered fakes sorted by name.
func Vendors() []Vendor {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]Vendor, 0, len(registry))
	for _, v := range registry {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b Vendor) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Start starts the registered fake called name.
func Start(name string, o Options) (Fake, error) {
	registryMu.RLock()
	v, ok := registry[name]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("pbxtest: no fake registered for %q (import its <vendor>test package)", name)
	}
	return v.Start(o)
}
