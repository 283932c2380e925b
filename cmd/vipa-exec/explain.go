package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/vipa-exec/vipa-exec/internal/policy"
)

// runExplain is --explain: which rule a connection to dest (or, for a
// wildcard dest, a bind) would match, its policy and sources, and the
// source the next such call would get. It exits 1 when no rule matches.
func runExplain(ctx context.Context, flagPath, dest, protocol string, stdout, stderr io.Writer) (int, error) {
	target, err := parseTarget(dest)
	if err != nil {
		return exitUsage, err
	}
	if !target.hasPort && target.bind() {
		return exitUsage, fmt.Errorf("--explain %s: a bind needs a port: give 0.0.0.0:PORT or [::]:PORT", dest)
	}
	proto := policy.TCP
	if protocol != "" {
		if proto, err = policy.ParseProtocol(protocol); err != nil {
			return exitUsage, fmt.Errorf("--protocol: %w", err)
		}
	}
	path, _, res, err := loadPolicy(ctx, flagPath)
	if err != nil {
		return exitUsage, err
	}
	printWarnings(stderr, res.Warnings)
	if !target.hasPort && !target.bind() {
		for _, r := range res.Policy.ConnectRules() {
			if r.Ports != (policy.PortRange{}) {
				return exitUsage, fmt.Errorf("--explain %s: give the port too: the rule at %s matches on ports", dest, r.Origin)
			}
		}
	}
	pol, note, done, err := explainPolicy(absPath(path), res.Policy, stderr)
	if err != nil {
		return exitUsage, err
	}
	defer done()
	if !explain(stdout, pol, note, res.Names, target, proto) {
		return exitWarnings, nil
	}
	return 0, nil
}

// target is what --explain was asked about.
type target struct {
	addr    netip.AddrPort
	hasPort bool
}

// bind reports whether the target is a bind to the wildcard address.
func (t target) bind() bool { return t.addr.Addr().Unmap().IsUnspecified() }

// parseTarget parses DEST[:PORT]: "10.1.2.3", "10.1.2.3:80",
// "2001:db8::1" or "[2001:db8::1]:80".
func parseTarget(s string) (target, error) {
	bad := func(why string) (target, error) {
		return target{}, fmt.Errorf("--explain %q: %s; want an address with or without a port, like 10.1.2.3:443 or [2001:db8::1]:443", s, why)
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Addr().Zone() != "" {
			return bad("an address with a zone")
		}
		return target{addr: ap, hasPort: true}, nil
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return bad("not an IP address")
	}
	if a.Zone() != "" {
		return bad("an address with a zone")
	}
	return target{addr: netip.AddrPortFrom(a, 0)}, nil
}

// explain writes the explanation and reports whether a rule matched.
func explain(out io.Writer, p *policy.Policy, note *explainNote, names map[netip.Addr]string, t target, proto policy.Protocol) bool {
	line := func(k, v string) { fmt.Fprintf(out, "%-12s %s\n", k+":", v) }
	var (
		m    policy.Match
		ok   bool
		rule string
	)
	// The socket's family, and that of the sources it takes.
	v6 := t.addr.Addr().Is6()
	if t.bind() {
		v6 = v6 && !t.addr.Addr().Is4In6()
		fmt.Fprintf(out, "bind to %s\n", t.addr)
		if m, ok = p.MatchBind(v6, t.addr.Port()); ok {
			rule = bindRule(p, m, t)
		}
	} else {
		fmt.Fprintf(out, "connect to %s over %s\n", describeTarget(t), strings.ToUpper(proto.String()))
		if m, ok = p.MatchConnect(t.addr, proto); ok {
			rule = connectRule(p, m, t)
		}
	}
	if !ok {
		line("rule", "none: the kernel chooses the source")
		return false
	}
	line("rule", m.Origin()+", "+rule)
	line("policy", m.Policy()+": "+policyText[m.Policy()])
	if m.Kernel() {
		line("next source", "none: the kernel chooses")
		return true
	}
	srcs := make([]string, len(m.Sources()))
	for i, a := range m.Sources() {
		srcs[i] = sourceName(a, names)
	}
	line("sources", strings.Join(srcs, ", "))
	line("next source", nextSource(m, note, names, v6))
	return true
}

func describeTarget(t target) string {
	if t.hasPort {
		return t.addr.String()
	}
	return t.addr.Addr().String() + " (no port given)"
}

// policyText says what each policy does, as --explain prints it.
var policyText = map[string]string{
	policy.OneVIPA: "always the first source",
	policy.Random:  "a random source for every call",
	policy.LRR:     "round robin within each process, from a random start",
	policy.RR:      "round robin shared by every vipa-exec running with this file",
	policy.LC:      "the source with the fewest live sockets on this host",
	policy.Kernel:  "leave the kernel's choice, an exclusion from wider rules",
}

// nextSource says which source the next call would get, and how sure that
// is. v6 is the family of the socket, which takes IPv4 sources mapped.
func nextSource(m policy.Match, note *explainNote, names map[netip.Addr]string, v6 bool) string {
	srcs := m.Sources()
	*note = explainNote{}
	next := m.Peek(os.Getpid())
	peek := sourceName(next, names)
	switch {
	case next.IsUnspecified():
		peek += " (the bind stays on the wildcard address)"
	case v6 && next.Is4():
		peek = netip.AddrFrom16(next.As16()).String() + " (" + peek + " on this IPv6 socket)"
	}
	mapped := ""
	if v6 && srcs[0].Is4() {
		mapped = ", mapped to ::ffff:a.b.c.d"
	}
	switch m.Policy() {
	case policy.OneVIPA:
		return peek
	case policy.Random:
		if len(srcs) == 1 {
			return peek
		}
		return fmt.Sprintf("any of the %d, at random%s", len(srcs), mapped)
	case policy.LRR:
		if len(srcs) == 1 {
			return peek
		}
		return "depends on the process: each starts at a random source, then takes them in turn" + mapped
	case policy.RR:
		if len(srcs) == 1 {
			return peek
		}
		if note.rrUnshared {
			return "unknown: the rotation the instances share cannot be read here (see the warning)"
		}
		if note.rrFresh {
			return "no vipa-exec runs with this file now: the first to start begins at a random source" + mapped
		}
		return peek + " (next in the rotation the running instances share, unless one of them is first)"
	case policy.LC:
		if note.view == nil {
			return peek
		}
		counts := make([]string, len(srcs))
		for i, a := range srcs {
			counts[i] = fmt.Sprintf("%s %d", a, note.view.Count(a))
		}
		return peek + " (live sockets now: " + strings.Join(counts, ", ") + "; a tie goes to the earlier)"
	}
	return peek
}

func sourceName(a netip.Addr, names map[netip.Addr]string) string {
	s := a.String()
	if n, ok := names[a]; ok {
		s += " (" + n + ")"
	}
	return s
}

// connectRule describes the connect rule m matched. Match does not name
// its rule, so it is the one of m's origin that matches t: a src_vipa.conf
// line with a host name gives several rules, with distinct destinations.
func connectRule(p *policy.Policy, m policy.Match, t target) string {
	rules := p.ConnectRules()
	rules = slices.DeleteFunc(rules, func(r policy.ConnectRule) bool {
		return r.Origin != m.Origin() || !r.Destination.Contains(t.addr.Addr().Unmap())
	})
	if len(rules) == 0 {
		return "[[connect]]"
	}
	r := rules[0]
	s := "destination " + r.Destination.String()
	if r.Ports != (policy.PortRange{}) {
		s += ", ports " + r.Ports.String()
	}
	if r.Protocol != policy.AnyProtocol {
		s += ", protocol " + r.Protocol.String()
	}
	return s
}

func bindRule(p *policy.Policy, m policy.Match, t target) string {
	for _, r := range p.BindRules() {
		if r.Origin == m.Origin() && r.Ports.Contains(t.addr.Port()) {
			return "ports " + r.Ports.String()
		}
	}
	return "[[bind]]"
}

// explainNote is what the last Peek of --explain read of the supervisors'
// shared state.
type explainNote struct {
	rrFresh    bool                 // the rr counter did not exist: no instance uses it
	rrUnshared bool                 // the rr counter is not the shared one, which cannot be opened
	view       policy.SocketCounter // the lc counts
}
