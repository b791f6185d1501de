package main

import (
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/phone"
	"github.com/pbxkit/pbxkit/routing"
)

// receptionExt is where callers without a single responsible manager go:
// the first of the staff every fake is seeded with (pbxtest.Employees).
const receptionExt = "101"

// clients is the built-in directory: the company's clients and their
// responsible managers (extensions of pbxtest.Employees), numbers written
// the way people write them.
var clients = []routing.Contact{
	{ID: "ЦУ-00001", Name: "ООО «Альфа»", Phones: []string{"+7 (916) 123-45-67", "8 495 222-33-44"}, Responsible: "102"},
	{ID: "ЦУ-00002", Name: "Орлов Александр Владимирович", Phones: []string{"8 903 765-43-21"}, Responsible: "103"},
	{ID: "ЦУ-00003", Name: "ИП Смирнова Елена Андреевна", Phones: []string{"+7 912 345-67-89"}, Responsible: "102"},
	{ID: "ЦУ-00004", Name: "АО «Вектор»", Phones: []string{"+7 (383) 555-01-02"}},
}

// unknownCaller is a number that is in no contact.
const unknownCaller = "+7 926 555-00-11"

// script is what the demo plays on one vendor's fake.
type script struct {
	// answered is the client whose incoming call is answered by its
	// responsible manager.
	answered routing.Contact
	// missed is the number of the incoming call nobody answers; it is routed
	// to the reception desk (an unknown caller, or a client without a
	// manager).
	missed string
	// callExt places a click-to-call to callTo.
	callExt string
	callTo  routing.Contact
}

// scripts are played in turn, one per vendor (the i-th vendor plays
// scripts[i%len(scripts)]), varied a little so that every client and
// employee shows up.
var scripts = []script{
	{answered: clients[0], missed: unknownCaller, callExt: "103", callTo: clients[1]},
	{answered: clients[1], missed: clients[3].Phones[0], callExt: "102", callTo: clients[2]},
	{answered: clients[2], missed: unknownCaller, callExt: "102", callTo: clients[0]},
}

// staffName returns the name of the seeded employee with extension ext,
// or "".
func staffName(ext string) string {
	for _, e := range pbxtest.Employees() {
		if e.Extension == ext {
			return e.Name
		}
	}
	return ""
}

// normalised returns the first number of c in the SDK's canonical form.
func normalised(c routing.Contact) string {
	return phone.Normalize(c.Phones[0])
}
