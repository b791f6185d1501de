package itoolabs

import (
	"time"

	"github.com/pbxkit/pbxkit/provider"
)

// Dialect is what differs between the vendors of the family, as data: a
// vendor package declares one (a package-level value it never changes)
// and hands it to [Notification.CallEvent], [Notification.RouteQuery] and
// [NewHandler]. Everything else (the commands, fields, event types and
// statuses, the authentication by crm_token, the 400 and 401 answers) is
// the family's and the same for all.
type Dialect struct {
	// Provider is the vendor's registry name ("megafon"): the Provider of
	// every pbx.CallEvent and pbx.RouteQuery.
	Provider string

	// Accepted is the body of the 200 answer to an accepted event, history,
	// rating or unknown command (Prostie Zvonki: {"result":"ok"}). The
	// family's receivers answer anything; the PBX is not known to read it.
	// Nil means {}.
	Accepted []byte
	// NoDecision is the body of the 200 answer to a contact question the
	// router did not decide, failed or was late for: the "not found" of
	// the vendor (Prostie Zvonki: {"responsible":""}; MegaFon's receivers
	// answer {}). Nil means {}.
	NoDecision []byte
	// ContactNameAlone makes a route with a DisplayName and no Extension
	// answer {"contact_name":"..."} alone: the PBX shows the name and
	// routes by its own rules (what MegaFon's receivers send when they know
	// the caller but not the responsible). Without it such a route is no
	// decision (NoDecision).
	ContactNameAlone bool

	// UTC says the vendor writes its times in UTC, as 20060102T150405Z (the
	// family's documented form; MegaFon); otherwise in its local zone
	// without one, as 20060102T150405 (Prostie Zvonki's examples). Reading
	// accepts both forms from every vendor: a trailing Z always means UTC,
	// and a time without a zone is read in UTC when UTC is set, else in the
	// receiver's location. [Dialect.FormatTime] writes the vendor's form.
	UTC bool

	// Raw returns what pbx.CallEvent.Raw and pbx.RouteQuery.Raw hold for a
	// notification: the vendor's own type on Notification
	// ((*vendor.Notification)(n), the same pointer). Nil means n itself.
	Raw func(n *Notification) any
}

// raw returns what Raw holds for n.
func (d *Dialect) raw(n *Notification) any {
	if d.Raw == nil {
		return n
	}
	return d.Raw(n)
}

// accepted returns the answer to an accepted notification.
func (d *Dialect) accepted() []byte {
	if d.Accepted == nil {
		return answerEmpty
	}
	return d.Accepted
}

// noDecision returns the answer to an undecided contact question.
func (d *Dialect) noDecision() []byte {
	if d.NoDecision == nil {
		return answerEmpty
	}
	return d.NoDecision
}

// ParseTime reads a start or end time the vendor sent, as [Notification.CallEvent]
// does, and returns it in loc (nil means provider.DefaultLocation()). The
// forms are those of provider.ParseLocalTime: 20060102T150405Z (UTC),
// RFC 3339 with its offset, and the zone-less forms, read in UTC when d.UTC
// is set, else in loc. "" gives the zero time and no error.
func (d *Dialect) ParseTime(s string, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = provider.DefaultLocation()
	}
	zoneless := loc
	if d != nil && d.UTC {
		zoneless = time.UTC
	}
	t, err := provider.ParseLocalTime(s, zoneless)
	if err != nil || t.IsZero() {
		return time.Time{}, err
	}
	return t.In(loc), nil
}

// FormatTime writes t as the vendor writes its times: "20060102T150405Z"
// in UTC when d.UTC is set, else "20060102T150405" in loc (nil means
// provider.DefaultLocation()). Fakes and test tools use it.
func (d *Dialect) FormatTime(t time.Time, loc *time.Location) string {
	if d != nil && d.UTC {
		return t.UTC().Format("20060102T150405Z")
	}
	if loc == nil {
		loc = provider.DefaultLocation()
	}
	return t.In(loc).Format("20060102T150405")
}
