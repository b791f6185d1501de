package pztest_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/pbxkit/pbxkit/prostiezvonki/pztest"
)

// Play the spec's missed incoming call against a CRM webhook that answers
// the smart-transfer question with extension 102.
func ExampleServer_Play() {
	fake := pztest.NewServer(pztest.Options{})
	defer fake.Close()

	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Printf("%.60s...\n", b)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"responsible":"102"}`)
	}))
	defer crm.Close()

	res, err := fake.Play(context.Background(), crm.URL, pztest.Call{Scenario: pztest.MissedIncoming})
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
	fake := pztest.NewServer(pztest.Options{})
	defer fake.Close()
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	defer crm.Close()
	fake.SetWebhook(crm.URL)

	req, _ := http.NewRequest(http.MethodPost, fake.URL+"/crmapi/v1/makecall", strings.NewReader(`{"user":"100","phone":"89991234567"}`))
	req.Header.Set("X-API-KEY", fake.APIKey())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	if err := fake.Wait(); err != nil {
		log.Fatal(err)
	}
	for _, s := range fake.Plays()[0].Sent {
		fmt.Println(s.Cmd, s.Type, s.Status)
	}
	// Output:
	// event OUTGOING 200
	// event ACCEPTED 200
	// history success 200
}
