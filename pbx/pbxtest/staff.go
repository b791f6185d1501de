package pbxtest

// Employee is one member of the seeded staff every fake starts with.
type Employee struct {
	// Extension is the internal number.
	Extension string
	// Login is the PBX account name.
	Login string
	// Name is the display name, as people write it in Russian.
	Name string
}

// The numbers every fake uses by default.
const (
	// DefaultCaller is the external number of played calls.
	DefaultCaller = "79161234567"
	// DefaultLine is the company number calls come to.
	DefaultLine = "74951234567"
)

// Employees returns the seeded staff, the same for every fake: three
// employees with extensions 101, 102, 103.
func Employees() []Employee {
	return []Employee{
		{Extension: "101", Login: "ivanova", Name: "Иванова Мария Сергеевна"},
		{Extension: "102", Login: "kuznetsov", Name: "Кузнецов Андрей Павлович"},
		{Extension: "103", Login: "smirnov", Name: "Смирнов Олег Игоревич"},
	}
}

// Extensions returns the seeded employees' extensions, in order.
func Extensions() []string { return ExtensionsOf(Employees()) }

// ExtensionsOf returns the extensions of emps, in order: what a fake's
// routing check and group ring need from its staff.
func ExtensionsOf(emps []Employee) []string {
	out := make([]string, len(emps))
	for i, e := range emps {
		out[i] = e.Extension
	}
	return out
}

// HasExtension reports whether ext is one of exts. Fakes use it to refuse a
// routing answer that names an extension the PBX does not have (the fake
// records it as an error rather than ringing nobody).
func HasExtension(exts []string, ext string) bool {
	for _, e := range exts {
		if e == ext {
			return true
		}
	}
	return false
}
