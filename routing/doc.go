// Package routing holds pbx.Router implementations: send an incoming call to
// the client's responsible manager, to a default extension, by the company
// line it came to, or to whoever answered that client last.
package routing
