// Package sipuni is the pbxkit provider for Sipuni: hash signing, API
// methods, PBX events and the routing scheme node.
package sipuni
