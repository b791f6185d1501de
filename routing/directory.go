package routing

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/pbxkit/pbxkit/phone"
)

// Contact is a client (a 1C partner, counterparty or contact person) that
// calls the company.
type Contact struct {
	// ID identifies the contact in the user's system, such as a 1C
	// reference or a CRM id.
	ID string
	// Name is shown on the employee's phone screen when the call is routed,
	// such as "Альфа" or "Орлов Александр Владимирович".
	Name string
	// Phones are the contact's numbers, written in any form phone.Normalize
	// understands ("+7 (495) 123-45-67", "84951234567", ...).
	Phones []string
	// Responsible is the extension (internal number, or a group number) of
	// the employee responsible for the contact, the 1C "main manager"; empty
	// when nobody is.
	Responsible string
}

// Directory finds the contacts that own a phone number.
//
// Implement it over your own database or a 1C HTTP service. Lookup receives
// the caller's number as the PBX sent it (normalised by the provider, but it
// may still be a login or empty) and returns every matching contact, or none.
// It must honour ctx: a router calls it while the PBX waits, under a deadline
// of a second or two. The caller of Lookup must not modify the returned
// slice or its contacts.
type Directory interface {
	Lookup(ctx context.Context, phone string) ([]Contact, error)
}

// DirectoryFunc adapts a function to the Directory interface.
type DirectoryFunc func(ctx context.Context, phone string) ([]Contact, error)

// Lookup calls f(ctx, phone).
func (f DirectoryFunc) Lookup(ctx context.Context, phone string) ([]Contact, error) {
	return f(ctx, phone)
}

// MemoryDirectory is a Directory held in memory, built once by
// [NewMemoryDirectory]. Its contacts never change, and it is safe for
// concurrent use; to change the contacts, build a new one and swap it in (for
// example behind an atomic.Pointer).
//
// Numbers match under the rule of package phone with the directory's number
// of last digits ([phone.Match]). A lookup costs O(1) whatever the number of
// contacts and allocates nothing, except the first lookup of a number that
// matches several contacts, which builds and keeps their list.
type MemoryDirectory struct {
	contacts []Contact
	idx      *phone.Index[int32] // number -> index in contacts
	// shared caches the answer for each number that matches several
	// contacts (a []Contact), keyed by the address of the first element of
	// the index's answer for it: the index is no longer modified, so it
	// returns the same backing array for a key on every Lookup.
	shared sync.Map
}

// NewMemoryDirectory builds a directory of contacts that compares the last
// digits digits of numbers (the Prostie Zvonki "number of last digits"
// setting): 1 to 20, or 0 for [phone.DefaultLastDigits].
//
// It copies the contacts slice (not the strings and Phones slices it refers
// to, which must not be modified afterwards). Numbers that are not telephone
// numbers (logins, empty strings) are ignored. A contact listing the same
// number twice, in any written form, is still returned once.
func NewMemoryDirectory(contacts []Contact, digits int) (*MemoryDirectory, error) {
	if digits == 0 {
		digits = phone.DefaultLastDigits
	}
	if len(contacts) > math.MaxInt32 {
		return nil, fmt.Errorf("routing: too many contacts (%d)", len(contacts))
	}
	idx, err := phone.NewIndex[int32](digits)
	if err != nil {
		return nil, fmt.Errorf("routing: %w", err)
	}
	d := &MemoryDirectory{
		contacts: make([]Contact, len(contacts)),
		idx:      idx,
	}
	copy(d.contacts, contacts)
	for i, c := range d.contacts {
		for _, p := range c.Phones {
			idx.Add(p, int32(i))
		}
	}
	return d, nil
}

// Lookup returns the contacts with a number that matches number, in the
// order they were given to NewMemoryDirectory, or nil. It never fails and
// does not look at ctx (it does not block).
//
// The returned slice belongs to the directory: the caller must not modify it
// or the contacts in it (appending to it is safe; it has no spare capacity).
func (d *MemoryDirectory) Lookup(_ context.Context, number string) ([]Contact, error) {
	ids := d.idx.Lookup(number)
	switch len(ids) {
	case 0:
		return nil, nil
	case 1:
		i := ids[0]
		return d.contacts[i : i+1 : i+1], nil
	}
	if v, ok := d.shared.Load(&ids[0]); ok {
		return v.([]Contact), nil
	}
	v, _ := d.shared.LoadOrStore(&ids[0], d.collect(ids))
	return v.([]Contact), nil
}

// collect returns the contacts of ids, each once. All numbers of one
// contact are added to the index one after the other, so a contact that
// appears twice under one key appears in consecutive positions.
func (d *MemoryDirectory) collect(ids []int32) []Contact {
	distinct := 1
	for i := 1; i < len(ids); i++ {
		if ids[i] != ids[i-1] {
			distinct++
		}
	}
	if distinct == 1 {
		i := ids[0]
		return d.contacts[i : i+1 : i+1]
	}
	out := make([]Contact, 0, distinct)
	for i, id := range ids {
		if i == 0 || id != ids[i-1] {
			out = append(out, d.contacts[id])
		}
	}
	return out
}

// Len returns the number of contacts in the directory.
func (d *MemoryDirectory) Len() int { return len(d.contacts) }

// Digits returns the number of last digits the directory compares.
func (d *MemoryDirectory) Digits() int { return d.idx.Digits() }

func allDigits(s string) bool {
	return strings.TrimLeft(s, "0123456789") == ""
}
