package routing

import (
	"context"
	"runtime"
	"strconv"
	"testing"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
)

const benchContacts = 1_000_000

var benchNames = []string{
	"Альфа", "Орлов Александр Владимирович", "Балабанова Наталья Игнатьевна",
	"Гладилина Вера Михайловна", "Альфа-Протон", "АвтБанк АКБ", "Ассоль", "Альтаир",
}

// benchNumber returns the i-th of a set of distinct Russian mobile numbers,
// in assorted written forms.
func benchNumber(i int) string {
	sub := strconv.Itoa(1_000_000 + (i*7919)%9_000_000)
	op := strconv.Itoa(900 + i%100)
	switch i % 3 {
	case 0:
		return "+7 (" + op + ") " + sub[:3] + "-" + sub[3:5] + "-" + sub[5:]
	case 1:
		return "8" + op + sub
	default:
		return "7" + op + sub
	}
}

// makeBenchContacts returns n contacts: each has one number, every tenth a
// second (landline) one; nine in ten have a responsible.
func makeBenchContacts(n int) []Contact {
	cs := make([]Contact, n)
	for i := range cs {
		c := &cs[i]
		c.ID = strconv.Itoa(i)
		c.Name = benchNames[i%len(benchNames)]
		c.Phones = []string{benchNumber(i)}
		if i%10 == 0 {
			c.Phones = append(c.Phones, "8 (495) "+strconv.Itoa(1_000_000+i%9_000_000))
		}
		if i%10 != 9 {
			c.Responsible = strconv.Itoa(100 + i%900)
		}
	}
	return cs
}

var (
	benchDir      *MemoryDirectory
	benchList     []Contact
	benchIncoming []string
)

func benchSetup(b *testing.B) (*MemoryDirectory, []string) {
	b.Helper()
	if benchDir == nil {
		benchList = makeBenchContacts(benchContacts)
		d, err := NewMemoryDirectory(benchList, phone.DefaultLastDigits)
		if err != nil {
			b.Fatal(err)
		}
		benchDir = d
		// Callers in the "8..." form a PBX often sends.
		benchIncoming = make([]string, 1024)
		for i := range benchIncoming {
			benchIncoming[i] = "8" + phone.Suffix(benchNumber((i*977)%benchContacts), 10)
		}
	}
	return benchDir, benchIncoming
}

func benchRoute(b *testing.B, r pbx.Router, incoming []string) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	routed := 0
	for i := 0; i < b.N; i++ {
		route, err := r.Route(ctx, pbx.RouteQuery{Phone: incoming[i&1023]})
		if err != nil {
			b.Fatal(err)
		}
		if route.Extension != "" {
			routed++
		}
	}
	if routed == 0 {
		b.Fatal("nothing routed")
	}
}

// BenchmarkResponsible routes callers over a directory of 1,000,000
// contacts. Goal: under 1 µs and at most 2 allocations per route.
func BenchmarkResponsible(b *testing.B) {
	d, incoming := benchSetup(b)
	benchRoute(b, Responsible(d, WithDefault("204")), incoming)
}

// BenchmarkResponsibleTranslit is BenchmarkResponsible with WithTranslit
// and WithMaxNameLen.
func BenchmarkResponsibleTranslit(b *testing.B) {
	d, incoming := benchSetup(b)
	benchRoute(b, Responsible(d, WithDefault("204"), WithTranslit(), WithMaxNameLen(20)), incoming)
}

// BenchmarkResponsibleMiss routes callers that are not in the directory.
func BenchmarkResponsibleMiss(b *testing.B) {
	d, _ := benchSetup(b)
	miss := make([]string, 1024)
	for i := range miss {
		miss[i] = "7812" + strconv.Itoa(1_000_000+i)
	}
	benchRoute(b, Responsible(d, WithDefault("204")), miss)
}

// scanDirectory is the baseline: what a CRM query with LIKE '%9991234567'
// does, comparing the caller's last digits with every stored number.
type scanDirectory struct {
	digits   int
	contacts []Contact
	stored   [][]string // normalised numbers per contact, as a CRM column
}

func newScanDirectory(contacts []Contact, digits int) *scanDirectory {
	s := &scanDirectory{digits: digits, contacts: contacts, stored: make([][]string, len(contacts))}
	for i, c := range contacts {
		for _, p := range c.Phones {
			s.stored[i] = append(s.stored[i], phone.Normalize(p))
		}
	}
	return s
}

func (s *scanDirectory) Lookup(_ context.Context, number string) ([]Contact, error) {
	in := phone.Suffix(number, s.digits)
	exact := len(phone.Normalize(number)) <= s.digits
	var out []Contact
	for i, nums := range s.stored {
		for _, st := range nums {
			if (exact && st == in) || (!exact && len(st) >= len(in) && st[len(st)-len(in):] == in) {
				out = append(out, s.contacts[i])
				break
			}
		}
	}
	return out, nil
}

// BenchmarkResponsibleLinearScan is BenchmarkResponsible over the linear
// scan baseline. Compare its ns/op with BenchmarkResponsible.
func BenchmarkResponsibleLinearScan(b *testing.B) {
	_, incoming := benchSetup(b)
	benchRoute(b, Responsible(newScanDirectory(benchList, phone.DefaultLastDigits), WithDefault("204")), incoming)
}

// BenchmarkMemoryDirectoryBuild builds a directory of 1,000,000 contacts
// (ns/op is the build time) and reports the heap the directory holds per
// contact, beyond the contacts' own strings: the index and the directory's
// copy of the contacts slice (72 bytes per contact on 64-bit platforms).
func BenchmarkMemoryDirectoryBuild(b *testing.B) {
	contacts := makeBenchContacts(benchContacts)
	b.ReportAllocs()
	b.ResetTimer()
	var perContact float64
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		d, err := NewMemoryDirectory(contacts, phone.DefaultLastDigits)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		perContact = float64(after.HeapAlloc-before.HeapAlloc) / float64(len(contacts))
		runtime.KeepAlive(d)
		b.StartTimer()
	}
	b.ReportMetric(perContact, "heap-B/contact")
}

// BenchmarkChain routes through the chain a typical set-up uses, with
// callers normalised as providers send them.
func BenchmarkChain(b *testing.B) {
	d, raw := benchSetup(b)
	incoming := make([]string, len(raw))
	for i, in := range raw {
		incoming[i] = phone.Normalize(in)
	}
	last := NewLastAnswered()
	for i, in := range incoming {
		if i%2 == 0 {
			last.Remember(in, "301")
		}
	}
	r := Chain(last, Responsible(d), ByLine(map[string]string{"+7 495 123-45-67": "200"}))
	benchRoute(b, r, incoming)
}

// BenchmarkLastAnsweredRoute looks callers up in a LastAnswered of 100,000
// numbers.
func BenchmarkLastAnsweredRoute(b *testing.B) {
	last := NewLastAnswered()
	incoming := make([]string, 1024)
	for i := range 100_000 {
		n := phone.Normalize(benchNumber(i))
		last.Remember(n, "101")
		if i < len(incoming) {
			incoming[i] = n
		}
	}
	benchRoute(b, last, incoming)
}

// BenchmarkLastAnsweredHandleEvent records answers for known numbers in a
// full LastAnswered (updates) and new ones (evictions).
func BenchmarkLastAnsweredHandleEvent(b *testing.B) {
	last := NewLastAnswered(WithMaxEntries(10_000))
	events := make([]pbx.CallEvent, 1<<15)
	for i := range events {
		events[i] = pbx.CallEvent{Type: pbx.EventAnswered, Phone: phone.Normalize(benchNumber(i)), Extension: "101"}
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = last.HandleEvent(ctx, events[i&(1<<15-1)])
	}
}

func BenchmarkTranslit(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = Translit("Балабанова Наталья Игнатьевна")
	}
}
