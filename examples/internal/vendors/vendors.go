// Package vendors is the one list of vendors the example programs know.
//
// It imports each vendor's fake for its side effect: a <vendor>test package
// registers its fake with pbxtest.Register, and importing it imports its
// vendor package, which registers the provider with provider.Register. An
// example that imports this package can therefore open every vendor by DSN
// (provider.Open) and start every vendor's fake (pbxtest.Vendors,
// pbxtest.Start) without naming a vendor itself.
//
// A new vendor adds its one import line here; nothing else in examples/
// changes.
package vendors

import (
	_ "github.com/pbxkit/pbxkit/mango/mangotest"
	_ "github.com/pbxkit/pbxkit/megafon/megafontest"
	_ "github.com/pbxkit/pbxkit/prostiezvonki/prostiezvonkitest"
	_ "github.com/pbxkit/pbxkit/rostelecom/rostelecomtest"
	_ "github.com/pbxkit/pbxkit/sipuni/sipunitest"
	_ "github.com/pbxkit/pbxkit/zadarma/zadarmatest"
)
