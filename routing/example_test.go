package routing_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/routing"
)

func ExampleResponsible() {
	contacts, err := routing.ReadCSV(strings.NewReader(`id,name,phones,responsible
ЦУ-00001,Альфа,+7 (385) 255-74-75,101
ЦУ-00002,Орлов Александр Владимирович,79833574337,
`))
	if err != nil {
		panic(err)
	}
	// 10 last digits: the Prostie Zvonki "number of last digits" setting.
	dir, err := routing.NewMemoryDirectory(contacts, 10)
	if err != nil {
		panic(err)
	}
	router := routing.Responsible(dir, routing.WithDefault("204"), routing.WithTranslit())

	for _, caller := range []string{"83852557475", "79833574337", "79990000000"} {
		route, _ := router.Route(context.Background(), pbx.RouteQuery{Phone: caller})
		fmt.Printf("%s -> %q %q\n", caller, route.Extension, route.DisplayName)
	}
	// Output:
	// 83852557475 -> "101" "Alfa"
	// 79833574337 -> "204" "Orlov Aleksandr Vladimirovich"
	// 79990000000 -> "204" ""
}

func ExampleChain() {
	dir, _ := routing.NewMemoryDirectory([]routing.Contact{
		{ID: "1", Name: "Альфа", Phones: []string{"73852557475"}, Responsible: "101"},
	}, 10)
	crm := routing.DirectoryFunc(func(context.Context, string) ([]routing.Contact, error) {
		return nil, errors.New("1C HTTP service unavailable")
	})
	router := routing.Chain(
		routing.Responsible(crm), // fails: logged and skipped
		routing.Responsible(dir), // the client's manager
		routing.ByLine(map[string]string{ // else by the number dialled
			"+7 (495) 123-45-67": "200", // sales group
		}),
	).With(routing.WithLogger(slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // deterministic output for the example
			}
			return a
		},
	}))))

	ask := func(callID, caller, line string) {
		route, err := router.Route(context.Background(),
			pbx.RouteQuery{Provider: "sipuni", CallID: callID, Phone: caller, Line: line})
		fmt.Printf("%q %v\n", route.Extension, err != nil)
	}
	ask("c1", "73852557475", "74951234567")
	ask("c2", "79990000000", "74951234567")
	ask("c3", "79990000000", "74950000000")
	// Output:
	// level=WARN msg="routing: router failed, trying the next" router=0 provider=sipuni call_id=c1 error="routing: directory lookup: 1C HTTP service unavailable"
	// "101" false
	// level=WARN msg="routing: router failed, trying the next" router=0 provider=sipuni call_id=c2 error="routing: directory lookup: 1C HTTP service unavailable"
	// "200" false
	// level=WARN msg="routing: router failed, trying the next" router=0 provider=sipuni call_id=c3 error="routing: directory lookup: 1C HTTP service unavailable"
	// "" true
}

func ExampleLastAnswered() {
	now := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	last := routing.NewLastAnswered(
		routing.WithTTL(7*24*time.Hour),
		routing.WithMaxEntries(10_000),
		routing.WithClock(func() time.Time { return now }),
	)
	// A provider's webhook handler feeds it events...
	_ = last.HandleEvent(context.Background(), pbx.CallEvent{
		Type: pbx.EventAnswered, Direction: pbx.Inbound, Phone: "79991234567", Extension: "102",
	})
	// ...and asks it where the client's next call goes.
	route, _ := last.Route(context.Background(), pbx.RouteQuery{Phone: "79991234567"})
	fmt.Printf("%q\n", route.Extension)

	now = now.Add(8 * 24 * time.Hour) // past the TTL
	route, _ = last.Route(context.Background(), pbx.RouteQuery{Phone: "79991234567"})
	fmt.Printf("%q\n", route.Extension)
	// Output:
	// "102"
	// ""
}

func ExampleTranslit() {
	for _, s := range []string{"Альфа", "Щукин", "ЩУКИН", "Балабанова Наталья Игнатьевна", "ООО Ромашка-2"} {
		fmt.Println(routing.Translit(s))
	}
	// Output:
	// Alfa
	// Shchukin
	// SHCHUKIN
	// Balabanova Natalia Ignatevna
	// OOO Romashka-2
}

func ExampleReadCSV() {
	contacts, err := routing.ReadCSV(strings.NewReader("\uFEFFid,name,phones,responsible\n" +
		"7,Гладилина Вера Михайловна,\"8 (383) 000-00-01; +7 999 123-45-67\",204\n"))
	if err != nil {
		panic(err)
	}
	fmt.Printf("%+v\n", contacts)

	_, err = routing.ReadCSV(strings.NewReader("id,name,phones,responsible\n8,Альфа,доб. 5,101\n"))
	fmt.Println(err)
	// Output:
	// [{ID:7 Name:Гладилина Вера Михайловна Phones:[8 (383) 000-00-01 +7 999 123-45-67] Responsible:204}]
	// routing: CSV line 2: phone "доб. 5" is not a telephone number
}

func ExampleByLine() {
	router := routing.ByLine(map[string]string{
		"+7 (495) 123-45-67": "200", // sales
		"8 800 555-35-35":    "300", // support
	})
	route, _ := router.Route(context.Background(), pbx.RouteQuery{Line: "78005553535"})
	fmt.Println(route.Extension)
	// Output: 300
}
