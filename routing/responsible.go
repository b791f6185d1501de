package routing

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pbxkit/pbxkit/pbx"
)

// Responsible returns a Router that sends a call to the responsible manager
// of the caller's contact in dir: the "dynamic routing" of the Rostelecom 1C
// subsystem and the "smart transfer" of Prostie Zvonki.
//
// It looks up RouteQuery.Phone in dir and decides:
//
//   - the contacts found that have a responsible all name the same one: route
//     to that extension, with their name as DisplayName when they share one
//     (a contact person without a manager does not hide the partner's
//     manager);
//   - contacts found, but none has a responsible, or they name different
//     ones: the default extension ([WithDefault]), with the name when all the
//     contacts found share it;
//   - nobody found (also when the caller's number is hidden): the default
//     extension without a name.
//
// Without a default extension the last two cases give the zero Route, "no
// decision". A contact with an empty name gives no DisplayName and does not
// count when comparing names. DisplayName is transliterated with
// [WithTranslit] and cut with [WithMaxNameLen].
//
// Route returns (pbx.Route{}, ctx.Err()) at once when ctx is done, and
// dir's error, wrapped, when the lookup fails; it waits on dir no longer than
// dir honours ctx. A nil dir finds nobody. Over a [MemoryDirectory] it makes
// no allocation (one with WithTranslit). Nil options are ignored. It is safe
// for concurrent use when dir is.
func Responsible(dir Directory, opts ...ResponsibleOption) pbx.Router {
	return &responsible{dir: dir, o: buildResponsibleOptions(opts)}
}

type responsible struct {
	dir Directory
	o   responsibleOptions
}

func (r *responsible) Route(ctx context.Context, q pbx.RouteQuery) (pbx.Route, error) {
	if err := ctx.Err(); err != nil {
		return pbx.Route{}, err
	}
	var contacts []Contact
	if q.Phone != "" && r.dir != nil {
		var err error
		contacts, err = r.dir.Lookup(ctx, q.Phone)
		if err != nil {
			return pbx.Route{}, fmt.Errorf("routing: directory lookup: %w", err)
		}
	}
	ext, name := r.decide(ctx, contacts)
	if ext == "" {
		return pbx.Route{}, nil
	}
	return pbx.Route{Extension: ext, DisplayName: r.displayName(name)}, nil
}

// decide picks the extension and the display name (before translit) for
// the contacts found.
func (r *responsible) decide(ctx context.Context, contacts []Contact) (ext, name string) {
	switch len(contacts) {
	case 0:
		return r.o.defaultExt, ""
	case 1:
		c := &contacts[0]
		if c.Responsible != "" {
			return c.Responsible, c.Name
		}
		return r.o.defaultExt, c.Name
	}
	resp, ambiguous := "", false
	for i := range contacts {
		switch c := &contacts[i]; {
		case c.Responsible == "":
		case resp == "":
			resp = c.Responsible
		case c.Responsible != resp:
			ambiguous = true
		}
	}
	if resp == "" || ambiguous {
		if ambiguous && r.o.logger != nil {
			r.o.logger.LogAttrs(ctx, slog.LevelDebug, "routing: contacts with different responsibles, using the default",
				slog.Int("contacts", len(contacts)), slog.String("default", r.o.defaultExt))
		}
		return r.o.defaultExt, commonName(contacts, "")
	}
	return resp, commonName(contacts, resp)
}

// commonName returns the name shared by the contacts (only those with
// responsible resp, unless resp is empty), ignoring empty names, or "" when
// they differ.
func commonName(contacts []Contact, resp string) string {
	name := ""
	for i := range contacts {
		c := &contacts[i]
		if c.Name == "" || (resp != "" && c.Responsible != resp) {
			continue
		}
		if name == "" {
			name = c.Name
		} else if c.Name != name {
			return ""
		}
	}
	return name
}

func (r *responsible) displayName(name string) string {
	if name == "" {
		return ""
	}
	if r.o.translit {
		name = Translit(name)
	}
	if r.o.maxNameLen > 0 {
		name = cutRunes(name, r.o.maxNameLen)
	}
	return name
}

// cutRunes returns s cut to at most n runes, without trailing spaces when
// it was cut.
func cutRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	count := 0
	for i := range s {
		if count == n {
			s = s[:i]
			for len(s) > 0 && s[len(s)-1] == ' ' {
				s = s[:len(s)-1]
			}
			return s
		}
		count++
	}
	return s
}
