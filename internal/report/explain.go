package report

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/supervisor"
)

// Explain is --explain: which rule a connection to dest (or, for a
// wildcard dest, a bind) would match, its policy and sources, and the
// source the next such call would get. A host name is resolved and each of
// its addresses explained. It exits 1 when no rule matches (any address).
func Explain(ctx context.Context, flagPath, engine, dest, protocol string, stdout, stderr io.Writer) (int, error) {
	q, err := parseTarget(dest)
	if err != nil {
		return ExitUsage, err
	}
	proto := policy.TCP
	if protocol != "" {
		if proto, err = policy.ParseProtocol(protocol); err != nil {
			return ExitUsage, fmt.Errorf("--protocol: %w", err)
		}
	}
	path, _, res, err := LoadPolicy(ctx, flagPath)
	if err != nil {
		return ExitUsage, err
	}
	PrintWarnings(stderr, res.Warnings)
	targets, err := q.resolve(ctx, net.DefaultResolver)
	if err != nil {
		return ExitUsage, err
	}
	for _, t := range targets {
		if !t.hasPort && t.bind() {
			return ExitUsage, fmt.Errorf("--explain %s: a bind needs a port: give 0.0.0.0:PORT or [::]:PORT", dest)
		}
		if t.hasPort || t.bind() {
			continue
		}
		for _, r := range res.Policy.ConnectRules() {
			if r.Ports != (policy.PortRange{}) {
				return ExitUsage, fmt.Errorf("--explain %s: give the port too: the rule at %s matches on ports", dest, r.Origin)
			}
		}
	}
	_, reason, err := supervisor.ChooseEngine(engine, res.Policy, true)
	if err != nil {
		return ExitUsage, err
	}
	pol, note, done, err := explainPolicy(absPath(path), res.Policy, stderr)
	if err != nil {
		return ExitUsage, err
	}
	defer done()
	matched := true
	for i, t := range targets {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if !explain(stdout, pol, note, res.Names, t, proto) {
			matched = false
		}
	}
	fmt.Fprintln(stdout, reason)
	if !matched {
		return ExitWarnings, nil
	}
	return 0, nil
}

// target is one address --explain was asked about.
type target struct {
	addr    netip.AddrPort
	hasPort bool
	host    string // the host name it was resolved from, if any
}

// bind reports whether the target is a bind to the wildcard address.
func (t target) bind() bool { return t.addr.Addr().Unmap().IsUnspecified() }

// query is what --explain was given: an address, or a host name to resolve,
// with or without a port.
type query struct {
	target        // the address, when no host name was given
	host   string // the host name, if not an address
}

// parseTarget parses DEST[:PORT]: "10.1.2.3", "10.1.2.3:80", "2001:db8::1",
// "[2001:db8::1]:80", "db.example" or "db.example:443".
func parseTarget(s string) (query, error) {
	bad := func(why string) (query, error) {
		return query{}, fmt.Errorf("--explain %q: %s; want an address or host name with or without a port, like 10.1.2.3:443, [2001:db8::1]:443 or db.example:443", s, why)
	}
	host, portText := s, ""
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, portText = h, p
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		host = s[1 : len(s)-1]
	}
	var q query
	if portText != "" {
		port, err := strconv.ParseUint(portText, 10, 16)
		if err != nil {
			return bad(fmt.Sprintf("invalid port %q: a port is a number from 0 to 65535", portText))
		}
		q.addr, q.hasPort = netip.AddrPortFrom(netip.Addr{}, uint16(port)), true
	}
	if host == "" {
		return bad("no address")
	}
	a, err := netip.ParseAddr(host)
	switch {
	case err == nil && a.Zone() != "":
		return bad("an address with a zone")
	case err == nil:
		q.addr = netip.AddrPortFrom(a, q.addr.Port())
	case strings.ContainsAny(host, ":[]%/ "):
		return bad("not an IP address or host name")
	default:
		q.host = host
	}
	return q, nil
}

// resolver is the part of net.Resolver --explain uses.
type resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// resolve returns the targets of q: its address, or each address of its host
// name, as a program's getaddrinfo would find them.
func (q query) resolve(ctx context.Context, r resolver) ([]target, error) {
	if q.host == "" {
		return []target{q.target}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := r.LookupNetIP(ctx, "ip", q.host)
	if err != nil {
		var dnsErr *net.DNSError
		switch {
		case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
			return nil, fmt.Errorf("--explain %s: host name not found", q.host)
		case errors.As(err, &dnsErr) && dnsErr.Server != "":
			return nil, fmt.Errorf("--explain %s: cannot resolve the host name: no answer from the DNS server %s", q.host, dnsErr.Server)
		}
		return nil, fmt.Errorf("--explain %s: cannot resolve the host name: %w", q.host, err)
	}
	ts := make([]target, 0, len(addrs))
	for _, a := range addrs {
		ts = append(ts, target{addr: netip.AddrPortFrom(a.Unmap(), q.addr.Port()), hasPort: q.hasPort, host: q.host})
	}
	return ts, nil
}

// resolveTimeout bounds --explain's host-name lookup.
const resolveTimeout = 10 * time.Second

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
			rule = bindRule(m)
		}
	} else {
		fmt.Fprintf(out, "connect to %s over %s\n", describeTarget(t), strings.ToUpper(proto.String()))
		if p.HasInterfaceRules() {
			if name, ok := p.Route(t.addr.Addr()); ok {
				line("route", "out of "+name)
			} else {
				line("route", "none: no route, or it cannot be read")
			}
		}
		if m, ok = p.MatchConnect(t.addr, proto); ok {
			rule = connectRule(m)
			if im, iok := p.MatchInterface(t.addr, proto); iok && m.Interface() == "" {
				rule += "; it comes before the [[interface]] rule at " + im.Origin() + " of " + im.Interface() + ": destination rules first"
			}
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
		if !slices.Contains(m.Present(), a) {
			srcs[i] += " (absent: not an address of this host; skipped)"
		}
	}
	line("sources", strings.Join(srcs, ", "))
	line("next source", nextSource(m, note, names, v6))
	if !t.bind() {
		line("bound first", boundFirst(p))
	}
	return true
}

// boundFirst says what becomes of a socket the program bound to the
// wildcard address before connecting, as DNS tools do.
func boundFirst(p *policy.Policy) string {
	if p.DefersWildcardBinds() {
		return "the same after a bind to 0.0.0.0:0 or [::]:0 (dig, host, nslookup); " +
			"after a wildcard bind to a port of its own, the kernel's source"
	}
	return "the kernel's source after a bind to the wildcard address (dig, host, nslookup): defer_wildcard_binds = false"
}

func describeTarget(t target) string {
	s := t.addr.Addr().String() + " (no port given)"
	if t.hasPort {
		s = t.addr.String()
	}
	if t.host != "" {
		s = t.host + " = " + s
	}
	return s
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
	srcs := m.Present()
	*note = explainNote{}
	if len(srcs) == 0 {
		if m.OnError() == policy.OnErrorFail {
			return `none: no source is present, and on_error = "fail": the call fails with EADDRNOTAVAIL`
		}
		return `none: no source is present, and on_error = "continue": the kernel chooses`
	}
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

// connectRule describes the connect rule m matched.
func connectRule(m policy.Match) string {
	r, _ := m.ConnectRule()
	if r.Interface != "" {
		return "interface " + r.Interface + portsProtocol(r) + ": no [[connect]] rule matches, and the route goes out of " + r.Interface
	}
	return "destination " + r.Destination.String() + portsProtocol(r)
}

// portsProtocol describes what a connect rule matches beyond its
// destination or interface.
func portsProtocol(r policy.ConnectRule) string {
	s := ""
	if r.Ports != (policy.PortRange{}) {
		s += ", ports " + r.Ports.String()
	}
	if r.Protocol != policy.AnyProtocol {
		s += ", protocol " + r.Protocol.String()
	}
	return s
}

// bindRule describes the bind rule m matched.
func bindRule(m policy.Match) string {
	r, _ := m.BindRule()
	return "ports " + r.Ports.String()
}

// explainNote is what the last Peek of --explain read of the supervisors'
// shared state.
type explainNote struct {
	rrFresh    bool                 // the rr counter did not exist: no instance uses it
	rrUnshared bool                 // the rr counter is not the shared one, which cannot be opened
	view       policy.SocketCounter // the lc counts
}
