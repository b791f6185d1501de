// Package rostelecom is the pbxkit provider for Rostelecom Cloud PBX (ВАТС):
// request signing, API methods, notifications and dynamic routing.
package rostelecom
