package policy

import (
	"fmt"
	"io/fs"
	"net/netip"
	"strings"
)

// Env connects the stateful policies to the system, which package policy
// cannot see: processes (lrr), state shared between vipa-exec instances
// (rr) and the host's sockets (lc). [New] uses the zero Env, in which all
// state stays in the process; the supervisor gives a real one with
// [Policy.WithEnv].
type Env struct {
	// Alive reports whether process pid (a thread-group id) may still
	// exist. lrr calls it, with its lock held, in the sweeps that forget
	// processes that exited. Nil: a sweep forgets every process.
	Alive func(pid int) bool

	// Counter returns the counter of the rr rule that [RuleKey] calls key,
	// shared with every other instance that uses the same rule and the
	// same policy file, with mode as its permissions. Nil: a counter of
	// this process. Called once per rr rule (and family, for bind rules).
	Counter func(key string, mode fs.FileMode) (Counter, error)

	// Sockets returns the socket counts of the lc rule whose candidates
	// are addrs. Nil: counts of the sockets this Policy bound itself.
	Sockets func(addrs []netip.Addr) (SocketCounter, error)

	// Present returns the host's usable addresses as last seen. Unless
	// [Options.AbsentSources] says [AbsentUse], every selector then
	// chooses among the sources of its rule that are present, and a rule
	// with none present picks no source. Nil, or a nil set: every source
	// is present. It runs on every trapped call of a rule with sources,
	// so it must be cheap and safe for concurrent use.
	Present func() *AddrSet

	// Route returns the name of the interface the kernel would route a
	// connection to dst out of, ok=false when it has no route. The
	// [[interface]] rules match by it; nil: they match nothing. It runs
	// on every trapped call that no [[connect]] rule matches, when the
	// policy has [[interface]] rules, so it must be cheap (cached) and
	// safe for concurrent use.
	Route func(dst netip.Addr) (iface string, ok bool)
}

// Counter is the shared state of an rr rule.
type Counter interface {
	// Next increments the counter and returns its value before the
	// increment, atomically with respect to every other user.
	Next() uint64
	// Load returns the value the next Next will return, unless another
	// user is first.
	Load() uint64
}

// SocketCounter counts live sockets per local address for lc. It must be
// safe for concurrent use; Count runs on every trapped call of an lc rule,
// once per candidate.
type SocketCounter interface {
	// Count returns the number of live sockets bound to a, on this host
	// (its network namespace) as last seen, plus the ones Add counted
	// since.
	Count(a netip.Addr) int
	// Add counts one more socket bound to a, which the caller is about to
	// bind.
	Add(a netip.Addr)
}

// WithEnv returns a copy of p whose lrr, rr and lc rules keep their state
// through env. Rules whose Selector the caller set keep it. The error is a
// [*RuleError] with Field "policy" when env cannot give a rule its state.
func (p *Policy) WithEnv(env Env) (*Policy, error) {
	connect := p.ConnectRules()
	for i := range connect {
		if !p.connectCustom[i] {
			connect[i].Selector = nil
		}
	}
	bind := p.BindRules()
	for i := range bind {
		if !p.bindCustom[i] {
			bind[i].Selector = nil
		}
	}
	q, err := build(connect, bind, env)
	if err != nil {
		return nil, err
	}
	q.opts = p.opts
	return q, nil
}

// RuleKey names a connect rule for the state it keeps beyond one process
// (rr's shared counter): the same rule in two instances of the same file has
// the same key, whatever its place in the file, and a rule whose matching
// or sources changed gets another.
func (r *ConnectRule) RuleKey() string {
	var b strings.Builder
	if r.Interface != "" {
		fmt.Fprintf(&b, "interface name=%s", r.Interface)
	} else {
		fmt.Fprintf(&b, "connect destination=%s", r.Destination)
	}
	if r.Ports != (PortRange{}) {
		fmt.Fprintf(&b, " ports=%s", r.Ports)
	}
	if r.Protocol != AnyProtocol {
		fmt.Fprintf(&b, " protocol=%s", r.Protocol)
	}
	writeSources(&b, r.Sources)
	return b.String()
}

// RuleKey is [ConnectRule.RuleKey] for a bind rule. The candidates differ by
// family, so each family has its own state: familyKey appends which.
func (r *BindRule) RuleKey() string {
	var b strings.Builder
	fmt.Fprintf(&b, "bind ports=%s", r.Ports)
	writeSources(&b, r.Sources)
	return b.String()
}

func writeSources(b *strings.Builder, srcs []netip.Addr) {
	b.WriteString(" sources=")
	for i, a := range srcs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(a.String())
	}
}

func modeOf(m fs.FileMode) fs.FileMode {
	if m == 0 {
		return DefaultRRMode
	}
	return m
}
