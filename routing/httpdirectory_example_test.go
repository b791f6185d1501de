package routing_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/routing"
)

// A 1C HTTP service answers who owns a number; Responsible over an
// HTTPDirectory routes the call to the client's main manager, and the
// answer is cached for the client's next calls.
func ExampleNewHTTPDirectory() {
	// Stands in for https://1c.example.ru/base/hs/pbx/lookup.
	oneC := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, pw, ok := r.BasicAuth(); !ok || user != "bridge" || pw != "secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		switch r.URL.Query().Get("phone") {
		case "73852557475":
			fmt.Fprint(w, `[{"id":"ЦУ-00001","name":"Альфа","phones":["+7 (385) 255-74-75"],"responsible":"101"}]`)
		default:
			fmt.Fprint(w, `[]`)
		}
	}))
	defer oneC.Close()

	dir, err := routing.NewHTTPDirectory(oneC.URL+"/base/hs/pbx/lookup",
		routing.WithBasicAuth("bridge", "secret"), // or https://bridge:secret@host/...
		routing.WithCacheTTL(time.Minute))
	if err != nil {
		panic(err)
	}
	router := routing.Responsible(dir, routing.WithDefault("204"), routing.WithTranslit())

	for _, caller := range []string{"8 (385) 255-74-75", "79990000000", "+73852557475"} {
		// Providers ask under a deadline of about a second.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		route, err := router.Route(ctx, pbx.RouteQuery{Phone: caller})
		cancel()
		fmt.Printf("%s -> %q %q %v\n", caller, route.Extension, route.DisplayName, err)
	}
	fmt.Println("requests to 1C:", dir.Stats().Requests)
	// Output:
	// 8 (385) 255-74-75 -> "101" "Alfa" <nil>
	// 79990000000 -> "204" "" <nil>
	// +73852557475 -> "101" "Alfa" <nil>
	// requests to 1C: 2
}
