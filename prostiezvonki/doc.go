// Package prostiezvonki is the pbxkit provider for the Prostie Zvonki
// server-to-server integration: makecall, JSON notifications and smart
// transfer.
package prostiezvonki
