package megafon_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/pbxkit/pbxkit/megafon"
	"github.com/pbxkit/pbxkit/megafon/megafontest"
	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

// Serve the PBX's notifications, routing each caller to their responsible
// manager.
func ExampleClient_WebhookHandler() {
	c, err := megafon.New(megafon.Config{Domain: "vats123.megapbx.ru", APIKey: "API-KEY", CRMToken: "CRM-KEY"})
	if err != nil {
		log.Fatal(err)
	}
	events := pbx.EventHandlerFunc(func(ctx context.Context, e pbx.CallEvent) error {
		fmt.Println(e.Type, e.CallID, e.Phone)
		return nil
	})
	router := pbx.RouterFunc(func(ctx context.Context, q pbx.RouteQuery) (pbx.Route, error) {
		return pbx.Route{Extension: "101"}, nil
	})
	http.Handle("/pbx/megafon", c.WebhookHandler(events, router))
}

// Open the provider by DSN (here the fake's) and list the PBX's employees.
func Example_dsn() {
	fake := megafontest.NewServer(megafontest.Options{})
	defer fake.Close()

	p, err := provider.Open(fake.DSN()) // megafon://:API_KEY@DOMAIN.megapbx.ru/?crm_token=T for a real PBX
	if err != nil {
		log.Fatal(err)
	}
	subs, err := p.(pbx.SubscriberLister).Subscribers(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range subs {
		fmt.Println(s.Extension, s.Login, s.Name)
	}
	// Output:
	// 101 ivanova Иванова Мария Сергеевна
	// 102 kuznetsov Кузнецов Андрей Павлович
	// 103 smirnov Смирнов Олег Игоревич
}
