package sipuni_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/sipuni"
	"github.com/pbxkit/pbxkit/sipuni/sipunitest"
)

// The documented callback/call_number example: the values of antiaon,
// phone, reverse, sipnumber and user, then the secret.
func ExampleSign() {
	params := url.Values{
		"user":      {"012345"},
		"phone":     {"79031234567"},
		"sipnumber": {"201"},
		"reverse":   {"0"},
		"antiaon":   {"0"},
	}
	fmt.Println(sipuni.Sign(params, "0.secret"))
	// Output: 311c021f55c08503e096cc2e081aee1e
}

// Open a client by DSN; the base_url parameter points it at a fake Sipuni.
func Example_dsn() {
	srv := sipunitest.NewServer(sipunitest.Options{})
	defer srv.Close()

	dsn := "sipuni://" + srv.Account() + ":" + url.QueryEscape(srv.Secret()) +
		"@/?webhook_token=T&base_url=" + url.QueryEscape(srv.URL())
	p, err := provider.Open(dsn)
	if err != nil {
		log.Fatal(err)
	}
	subs, err := p.(pbx.SubscriberLister).Subscribers(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range subs {
		fmt.Println(s.Extension, s.Name)
	}
	// Output:
	// 101 Иванова Мария Сергеевна
	// 102 Кузнецов Андрей Павлович
	// 103 Смирнов Олег Игоревич
}

// Click to call: the employee's phone rings first, then the client's.
func ExampleClient_MakeCall() {
	srv := sipunitest.NewServer(sipunitest.Options{})
	defer srv.Close()
	c, err := sipuni.New(sipuni.Config{Account: srv.Account(), Secret: srv.Secret(), BaseURL: srv.URL(), WebhookToken: "T"})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.MakeCall(context.Background(), pbx.CallRequest{Extension: "101", Phone: "8 (903) 123-45-67"}); err != nil {
		log.Fatal(err)
	}
	r := srv.APIRequests()[0]
	fmt.Println(r.Operation, r.Params.Get("phone"), r.Params.Get("sipnumber"), "hash ok:", r.HashOK)
	// Output: callback/call_number 79031234567 101 hash ok: true
}

// Receive Sipuni's events and answer its routing node: the fake plays an
// incoming call from a known client, whose manager takes it.
func ExampleClient_WebhookHandler() {
	srv := sipunitest.NewServer(sipunitest.Options{WebhookToken: "T"})
	defer srv.Close()
	c, err := sipuni.New(srv.Config())
	if err != nil {
		log.Fatal(err)
	}
	events := pbx.EventHandlerFunc(func(_ context.Context, e pbx.CallEvent) error {
		fmt.Println(e.Type, e.Direction, e.Phone, "ext="+e.Extension, e.Outcome, "talk="+e.TalkDuration.String(), "call="+e.CallDuration.String())
		return nil
	})
	managers := pbx.RouterFunc(func(_ context.Context, q pbx.RouteQuery) (pbx.Route, error) {
		if q.Phone == "79031234567" {
			return pbx.Route{Extension: "102", DisplayName: "ООО Ромашка"}, nil
		}
		return pbx.Route{}, nil // no decision: Sipuni follows its scheme
	})
	hook := httptest.NewServer(c.WebhookHandler(events, managers))
	defer hook.Close()

	res, err := srv.Play(context.Background(), hook.URL, pbxtest.Call{
		Scenario: pbxtest.AnsweredIncoming,
		Caller:   "79031234567",
		Start:    time.Date(2026, 3, 24, 10, 15, 0, 0, time.UTC),
		Ring:     8 * time.Second,
		Talk:     95 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("routing answer:", res.Route.Extension, res.Route.DisplayName)
	// Output:
	// ringing inbound 79031234567 ext=102 unknown talk=0s call=0s
	// answered inbound 79031234567 ext=102 unknown talk=0s call=0s
	// call_ended inbound 79031234567 ext=102 answered talk=1m35s call=1m43s
	// routing answer: 102 ООО Ромашка
}

// Read a saved statistics export; columns are found by their Russian names.
func ExampleParseStatistics() {
	const export = "\uFEFFТип;Статус;Время;Откуда;Куда;Кто ответил;Длительность разговора, сек;ID записи\n" +
		"Входящий;отвечен;24.03.2026 10:15:00;79031234567;74951234567;201 (Иван Петров);95;1774336500.533001\n"
	rows, err := sipuni.ParseStatistics(strings.NewReader(export), time.FixedZone("MSK", 3*3600))
	if err != nil {
		log.Fatal(err)
	}
	for _, row := range rows {
		rec := row.CallRecord()
		fmt.Println(rec.StartedAt, rec.Direction, rec.Phone, rec.Extension, rec.TalkDuration, rec.Outcome)
	}
	// Output: 2026-03-24 10:15:00 +0300 MSK inbound 79031234567 201 1m35s answered
}
