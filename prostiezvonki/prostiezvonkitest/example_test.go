package prostiezvonkitest_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/prostiezvonki/prostiezvonkitest"
)

// Play a missed incoming call against a CRM webhook that answers the
// smart-transfer question with extension 102.
func ExampleServer_Play() {
	fake := prostiezvonkitest.NewServer(prostiezvonkitest.Options{})
	defer fake.Close()

	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Printf("%.60s...\n", b)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"responsible":"102"}`)
	}))
	defer crm.Close()

	res, err := fake.Play(context.Background(), crm.URL, pbxtest.Call{Scenario: pbxtest.MissedIncoming, Caller: prostiezvonkitest.SpecCaller})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("rang", res.Rang, "missed:", res.AnsweredBy == "")
	// Output:
	// {"cmd": "contact", "phone": "89991234567", "crm_token": "tok...
	// {"cmd": "event", "type": "INCOMING", "direction": "in", "use...
	// {"cmd": "history", "type": "in", "user": "102", "ext": "102"...
	// rang [102] missed: true
}

// A makecall to the fake rings the webhook set with SetWebhook.
func ExampleServer_SetWebhook() {
	fake := prostiezvonkitest.NewServer(prostiezvonkitest.Options{})
	defer fake.Close()
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	defer crm.Close()
	fake.SetWebhook(crm.URL)

	req, _ := http.NewRequest(http.MethodPost, fake.URL()+"/crmapi/v1/makecall", strings.NewReader(`{"user":"101","phone":"89991234567"}`))
	req.Header.Set("X-API-KEY", fake.APIKey())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	if err := fake.Wait(); err != nil {
		log.Fatal(err)
	}
	for _, s := range fake.PlayResults()[0].Sent {
		fmt.Println(s.Cmd, s.Type, s.Status)
	}
	// Output:
	// event OUTGOING 200
	// event ACCEPTED 200
	// history success 200
}

// Play the family's group ring, with its leg events, and see what each
// phone was sent.
func ExampleServer_PlayWith() {
	fake := prostiezvonkitest.NewServer(prostiezvonkitest.Options{})
	defer fake.Close()
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"responsible":""}`)
	}))
	defer crm.Close()

	res, err := fake.PlayWith(context.Background(), crm.URL,
		pbxtest.Call{Scenario: pbxtest.GroupRing, SkipRouting: true},
		prostiezvonkitest.Extras{LegEvents: true})
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range res.Sent {
		fmt.Println(s.Cmd, s.Type, s.Extension)
	}
	fmt.Println("answered by", res.AnsweredBy)
	// Output:
	// event INCOMING 101
	// event INCOMING 102
	// event INCOMING 103
	// event ACCEPTED 101
	// event CANCELLED 102
	// event CANCELLED 103
	// event COMPLETED 101
	// history success 101
	// answered by 101
}
