package routing

import (
	"log/slog"
	"time"
)

// ResponsibleOption configures [Responsible]. The options are
// [WithDefault], [WithTranslit], [WithMaxNameLen] and [WithLogger].
type ResponsibleOption interface {
	applyResponsible(*responsibleOptions)
}

// ChainOption configures a [ChainRouter] through [ChainRouter.With]. The
// only option is [WithLogger].
type ChainOption interface {
	applyChain(*chainOptions)
}

// LastAnsweredOption configures [NewLastAnswered]. The options are
// [WithTTL], [WithMaxEntries] and [WithClock].
type LastAnsweredOption interface {
	applyLastAnswered(*LastAnswered)
}

type responsibleOptions struct {
	defaultExt string
	translit   bool
	maxNameLen int
	logger     *slog.Logger
}

type chainOptions struct {
	logger *slog.Logger
}

// responsibleOption is a ResponsibleOption that is nothing else.
type responsibleOption func(*responsibleOptions)

func (f responsibleOption) applyResponsible(o *responsibleOptions) { f(o) }

// lastAnsweredOption is a LastAnsweredOption that is nothing else.
type lastAnsweredOption func(*LastAnswered)

func (f lastAnsweredOption) applyLastAnswered(l *LastAnswered) { f(l) }

// WithDefault sets the extension (an employee's or a group's internal
// number) that [Responsible] answers when the caller has no single
// responsible: the caller is unknown, the contact has no responsible, or the
// matching contacts have different responsibles. The Rostelecom 1C
// subsystem calls it "default routing subscriber". Without it, Responsible
// answers no decision in those cases and the PBX routes by its own rules.
func WithDefault(ext string) ResponsibleOption {
	return responsibleOption(func(o *responsibleOptions) { o.defaultExt = ext })
}

// WithTranslit makes [Responsible] write the display name in Latin letters
// ([Translit]), for softphones that cannot show Cyrillic. It costs one
// allocation per routed call with a Cyrillic name.
func WithTranslit() ResponsibleOption {
	return responsibleOption(func(o *responsibleOptions) { o.translit = true })
}

// WithMaxNameLen makes [Responsible] cut display names longer than n
// characters (runes, counted after transliteration) to n, dropping trailing
// spaces; some PBXs and phone screens take only a short name. Names are
// never cut without this option; n <= 0 means no limit.
func WithMaxNameLen(n int) ResponsibleOption {
	return responsibleOption(func(o *responsibleOptions) { o.maxNameLen = n })
}

// LoggerOption is the option [WithLogger] returns. It is both a
// [ResponsibleOption] and a [ChainOption].
type LoggerOption struct {
	logger *slog.Logger
}

func (o LoggerOption) applyResponsible(r *responsibleOptions) { r.logger = o.logger }
func (o LoggerOption) applyChain(c *chainOptions)             { c.logger = o.logger }

// WithLogger sets where a router logs: a [ChainRouter] logs the errors of
// the routers it skips (at level Warn), [Responsible] logs ambiguous
// matches (at level Debug). Without it they log nothing; a nil l also means
// no logging.
func WithLogger(l *slog.Logger) LoggerOption {
	return LoggerOption{logger: l}
}

// WithTTL sets how long a [LastAnswered] remembers an answer: a client who
// calls again later than d after the last answered call gets no decision.
// Zero or negative means [DefaultLastAnsweredTTL].
func WithTTL(d time.Duration) LastAnsweredOption {
	return lastAnsweredOption(func(l *LastAnswered) { l.ttl = d })
}

// WithMaxEntries bounds how many client numbers a [LastAnswered] remembers;
// beyond n the number answered longest ago is forgotten. Zero or negative
// means [DefaultLastAnsweredMax].
func WithMaxEntries(n int) LastAnsweredOption {
	return lastAnsweredOption(func(l *LastAnswered) { l.max = n })
}

// WithClock makes a [LastAnswered] read the current time from now instead
// of time.Now; tests inject a fake clock here. A nil now means time.Now.
func WithClock(now func() time.Time) LastAnsweredOption {
	return lastAnsweredOption(func(l *LastAnswered) { l.now = now })
}

func buildResponsibleOptions(opts []ResponsibleOption) responsibleOptions {
	var o responsibleOptions
	for _, opt := range opts {
		if opt != nil {
			opt.applyResponsible(&o)
		}
	}
	return o
}

func buildChainOptions(opts []ChainOption) chainOptions {
	var o chainOptions
	for _, opt := range opts {
		if opt != nil {
			opt.applyChain(&o)
		}
	}
	return o
}
