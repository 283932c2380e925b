package supervisor

import (
	"log/slog"
	"net/netip"
	"strings"

	"github.com/vipa-exec/vipa-exec/internal/policy"
)

// ruleSources is a rule's origin and sources, for the presence logs.
type ruleSources struct {
	origin  string
	sources []netip.Addr
	onError policy.OnError
}

func rulesOf(p *policy.Policy) []ruleSources {
	var out []ruleSources
	for _, r := range p.ConnectRules() {
		if len(r.Sources) > 0 && r.Policy != policy.Kernel {
			out = append(out, ruleSources{r.Origin, r.Sources, r.OnError})
		}
	}
	for _, r := range p.BindRules() {
		if len(r.Sources) > 0 && r.Policy != policy.Kernel {
			out = append(out, ruleSources{r.Origin, r.Sources, r.OnError})
		}
	}
	return out
}

// has is set.Has, with a nil set holding every address: the state before
// anything was known.
func has(set *policy.AddrSet, a netip.Addr) bool { return set == nil || set.Has(a) }

// noneOf reports whether no source of srcs is in set.
func noneOf(set *policy.AddrSet, srcs []netip.Addr) bool {
	for _, a := range srcs {
		if has(set, a) {
			return false
		}
	}
	return true
}

// LogPresence logs what a change of the host's addresses from old to new
// means to policy p, at warn: one line per source of p that went or came
// back, naming its rules, and one per rule that has no source present any
// more, or has one again. A nil set holds every address; a nil old is the
// start, and its lines say so.
func LogPresence(log *slog.Logger, p *policy.Policy, old, new *policy.AddrSet) {
	rules := rulesOf(p)
	use := p.Options().AbsentSources == policy.AbsentUse
	seen := map[netip.Addr]bool{}
	for _, r := range rules {
		for _, a := range r.sources {
			if seen[a] {
				continue
			}
			seen[a] = true
			was, is := has(old, a), has(new, a)
			if was == is {
				continue
			}
			var origins []string
			for _, q := range rules {
				for _, b := range q.sources {
					if b == a {
						origins = append(origins, q.origin)
					}
				}
			}
			switch {
			case !is && old == nil && use:
				log.Warn("source is not an address of this host; its rules bind to it anyway (absent_sources = \"use\")", "source", a, "rules", strings.Join(origins, " "))
			case !is && old == nil:
				log.Warn("source is not an address of this host; its rules skip it until it is", "source", a, "rules", strings.Join(origins, " "))
			case !is && use:
				log.Warn("source is gone from this host; its rules still bind to it (absent_sources = \"use\")", "source", a, "rules", strings.Join(origins, " "))
			case !is:
				log.Warn("source is gone from this host; its rules skip it while it is absent", "source", a, "rules", strings.Join(origins, " "))
			default:
				log.Warn("source is back on this host; its rules use it again", "source", a, "rules", strings.Join(origins, " "))
			}
		}
	}
	if use {
		return // the binds fail and on_error decides, logged by the handler
	}
	for _, r := range rules {
		was, is := noneOf(old, r.sources), noneOf(new, r.sources)
		switch {
		case is && !was:
			log.Warn("no source of the rule is present; "+noSourceEffect(r.onError), "rule", r.origin)
		case was && !is:
			log.Warn("a source of the rule is present again", "rule", r.origin)
		}
	}
}

// noSourceEffect says what on_error does with the calls of a rule that has
// no source present.
func noSourceEffect(o policy.OnError) string {
	if o == policy.OnErrorFail {
		return `its calls fail (on_error = "fail"): with EADDRNOTAVAIL under the seccomp engine, EPERM under bpf`
	}
	return `its calls keep the kernel's choice (on_error = "continue")`
}
