// Package pbxkit is a Go SDK for Russian cloud PBXs: Rostelecom Cloud PBX
// (ВАТС), Sipuni, Prostie Zvonki, Mango Office, MegaFon and Zadarma, behind
// one vocabulary.
//
// It lets a backend place calls, fetch recordings, list the PBX's employees,
// export the call log, and receive the PBX's notifications (call events and
// "where should this incoming call go?" questions) as plain Go values. It is
// written for Go developers embedding telephony in a backend or CRM and for
// integrators bridging a cloud PBX and 1C:Enterprise.
//
// This package holds only this overview. The packages:
//
//   - pbx: the vendor-neutral vocabulary (CallEvent, Route, Router, Provider
//     and the capability interfaces Caller, RecordingFetcher,
//     SubscriberLister, HistoryExporter).
//   - provider: building blocks for provider packages (HTTP client with a
//     safe retry policy, APIError, webhook helpers) and the registry that
//     opens a provider by DSN.
//   - pbx/journal: the call journal (every event once, calls folded from
//     them, stats, missed calls, reconciliation), with SQLite and
//     PostgreSQL stores; pbx/screenpop: the caller's card in the
//     employee's browser; pbx/outbox: durable delivery of calls to 1C.
//   - rostelecom, sipuni, prostiezvonki, mango, megafon, zadarma: one
//     package per vendor, all of one shape, each with a fake of itself
//     (<vendor>/<vendor>test, built on pbx/pbxtest) for offline tests and a
//     conformance test run by provider/providertest.
//   - phone: number normalisation and last-N-digit matching.
//   - routing: routers that send a call to the client's responsible manager,
//     a default extension, by line, or to whoever answered last.
//
// # Example
//
// Mount a provider's webhook, take its events and answer its routing
// questions:
//
//	import (
//		"context"
//		"log"
//		"net/http"
//
//		"github.com/pbxkit/pbxkit/pbx"
//		"github.com/pbxkit/pbxkit/provider"
//		_ "github.com/pbxkit/pbxkit/sipuni" // registers "sipuni"
//	)
//
//	func main() {
//		p, err := provider.Open("sipuni://012345:SECRET@/?webhook_token=T")
//		if err != nil {
//			log.Fatal(err)
//		}
//		events := pbx.EventHandlerFunc(func(ctx context.Context, e pbx.CallEvent) error {
//			log.Printf("%s %s %s ext=%s", e.Type, e.Direction, e.Phone, e.Extension)
//			return nil
//		})
//		router := pbx.RouterFunc(func(ctx context.Context, q pbx.RouteQuery) (pbx.Route, error) {
//			if q.Phone == "79991234567" {
//				return pbx.Route{Extension: "101", DisplayName: "OOO Alfa"}, nil
//			}
//			return pbx.Route{}, nil // no decision: the PBX routes by its own rules
//		})
//		http.Handle("/pbx/sipuni/", p.WebhookHandler(events, router))
//		log.Fatal(http.ListenAndServe(":8080", nil))
//	}
package pbxkit
