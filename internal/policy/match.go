package policy

import (
	"net/netip"
	"slices"
)

// Match is the rule found for one call, before a source is chosen. The
// supervisor matches first and picks after it has looked at the socket, so
// that calls no rule covers cost no more than the match.
type Match struct {
	connect *ConnectRule // one of connect and bind is set
	bind    *BindRule
	sel     Selector     // nil for policy kernel
	sources []netip.Addr // the candidates for the call's family
	policy  string
	onError OnError
	origin  string

	present func() *AddrSet // nil: every source is present
	cache   *presentCache   // of sources
}

// Source picks the source for the caller pid (its thread-group id) among
// the rule's sources that are present ([Env.Present]). It advances the
// rule's state (a rotation, a socket count); for a rule of policy kernel,
// or when no source is present, it returns the zero Addr.
func (m Match) Source(pid int) netip.Addr { return pick(m.sel, pid, m.Present()) }

// Present returns the rule's candidates for the call's family that are
// addresses of the host now ([Env.Present]), in rule order: all of
// [Match.Sources] when every one is, or when the policy says
// [AbsentUse]. The caller must not modify them.
func (m Match) Present() []netip.Addr {
	if m.present == nil {
		return m.sources
	}
	set := m.present()
	if set == nil {
		return m.sources
	}
	return m.cache.sources(set, m.sources)
}

// Peek returns the source Source would pick now for pid, without changing
// any state: for random, another random pick; for a process lrr has not seen
// yet, a random start.
func (m Match) Peek(pid int) netip.Addr {
	srcs := m.Present()
	if m.sel == nil || len(srcs) == 0 {
		return netip.Addr{}
	}
	pk, ok := m.sel.(Peeker)
	if !ok {
		return pick(m.sel, pid, srcs)
	}
	i := pk.Peek(Call{Pid: pid, Sources: srcs})
	if uint(i) >= uint(len(srcs)) {
		i = 0
	}
	return srcs[i]
}

// Kernel reports whether the rule leaves the call to the kernel (policy
// kernel): the caller must not touch the socket.
func (m Match) Kernel() bool { return m.policy == Kernel }

// Interface is the matched rule's interface name, "" but for an
// [[interface]] rule.
func (m Match) Interface() string {
	if m.connect == nil {
		return ""
	}
	return m.connect.Interface
}

// Policy is the matched rule's policy name.
func (m Match) Policy() string { return m.policy }

// Sources are the matched rule's candidates for the call's family. The
// caller must not modify them.
func (m Match) Sources() []netip.Addr { return m.sources }

// OnError is the matched rule's on_error.
func (m Match) OnError() OnError { return m.onError }

// Origin is the matched rule's "FILE:LINE", for logs.
func (m Match) Origin() string { return m.origin }

// ConnectRule returns a copy of the matched [[connect]] or [[interface]]
// rule; ok=false for a bind rule. An [[interface]] rule's Sources are all
// its sources, of both families, not only [Match.Sources].
func (m Match) ConnectRule() (r ConnectRule, ok bool) {
	if m.connect == nil {
		return ConnectRule{}, false
	}
	r = *m.connect
	r.Sources = slices.Clone(r.Sources)
	return r, true
}

// BindRule returns a copy of the matched [[bind]] rule; ok=false for a
// connect rule.
func (m Match) BindRule() (r BindRule, ok bool) {
	if m.bind == nil {
		return BindRule{}, false
	}
	r = *m.bind
	r.Sources = slices.Clone(r.Sources)
	return r, true
}

// MatchConnect finds the rule for a connect() (or sendto()) to dst by a
// socket of protocol proto: the longest matching prefix of dst's family
// whose ports contain dst's port and whose protocol is proto or any, file
// order among equal lengths. An IPv4-mapped dst is matched against the IPv4
// rules; the zone of dst is ignored. proto matters only when
// [Policy.UsesProtocol].
func (p *Policy) MatchConnect(dst netip.AddrPort, proto Protocol) (Match, bool) {
	addr, port := dst.Addr().Unmap().WithZone(""), dst.Port()
	rules := p.connect6
	if addr.Is4() {
		rules = p.connect4
	}
	for _, e := range rules {
		r := e.rule
		if r.Destination.Contains(addr) && r.Ports.orAll().Contains(port) && (r.Protocol == AnyProtocol || r.Protocol == proto) {
			return Match{connect: r, sel: r.Selector, sources: r.Sources, policy: r.Policy, onError: r.OnError, origin: r.Origin,
				present: p.presence(), cache: e.present}, true
		}
	}
	return p.MatchInterface(dst, proto)
}

// MatchInterface finds the [[interface]] rule for a call: the first in
// file order for the interface the kernel routes dst out of ([Env.Route])
// whose ports and protocol match, with sources of dst's family or policy
// kernel. [Policy.MatchConnect] asks it when no [[connect]] rule matches.
func (p *Policy) MatchInterface(dst netip.AddrPort, proto Protocol) (Match, bool) {
	addr, port := dst.Addr().Unmap().WithZone(""), dst.Port()
	rules := p.iface6
	if addr.Is4() {
		rules = p.iface4
	}
	if len(rules) == 0 || p.route == nil {
		return Match{}, false
	}
	name, ok := p.route(addr)
	if !ok {
		return Match{}, false
	}
	for _, e := range rules {
		r := e.rule
		if r.Interface == name && r.Ports.orAll().Contains(port) && (r.Protocol == AnyProtocol || r.Protocol == proto) {
			return Match{connect: r, sel: e.sel, sources: e.sources, policy: r.Policy, onError: r.OnError, origin: r.Origin,
				present: p.presence(), cache: e.present}, true
		}
	}
	return Match{}, false
}

// Route returns the interface the kernel would route a connection to dst
// out of, by [Env.Route]; ok=false without a route or without Env.Route.
func (p *Policy) Route(dst netip.Addr) (iface string, ok bool) {
	if p.route == nil {
		return "", false
	}
	return p.route(dst.Unmap().WithZone(""))
}

// HasInterfaceRules reports whether some rule is an [[interface]] rule:
// only then do calls need [Env.Route].
func (p *Policy) HasInterfaceRules() bool { return len(p.iface4)+len(p.iface6) > 0 }

// MatchBind finds the rule for a bind() on the wildcard address of a socket
// of the given family (v6: ::, else 0.0.0.0) to port: the first in file
// order whose port range contains port and that has a source for the family
// (or is of policy kernel). For v6, a rule without IPv6 sources offers its
// IPv4 ones, which the caller maps to ::ffff:a.b.c.d.
func (p *Policy) MatchBind(v6 bool, port uint16) (Match, bool) {
	cands, sels, caches := p.bind4, p.bindSel4, p.bindPresent4
	if v6 {
		cands, sels, caches = p.bind6, p.bindSel6, p.bindPresent6
	}
	for i := range p.bind {
		r := &p.bind[i]
		if r.Ports.Contains(port) && (len(cands[i]) > 0 || r.Policy == Kernel) {
			return Match{bind: r, sel: sels[i], sources: cands[i], policy: r.Policy, onError: r.OnError, origin: r.Origin,
				present: p.presence(), cache: &caches[i]}, true
		}
	}
	return Match{}, false
}

// BindCandidates is what [Policy.MatchBind] offers for the i-th rule of
// [Policy.BindRules] on a socket of the family (v6: IPv6): the rule's
// sources of that family, or for v6 a rule without IPv6 sources its IPv4
// ones, 0.0.0.0 standing as ::. The caller must not modify it.
func (p *Policy) BindCandidates(i int, v6 bool) []netip.Addr {
	if v6 {
		return p.bind6[i]
	}
	return p.bind4[i]
}

// presence is the view of the host's addresses the selectors choose by:
// none (every source present) when the policy uses absent sources anyway.
func (p *Policy) presence() func() *AddrSet {
	if p.opts.AbsentSources == AbsentUse {
		return nil
	}
	return p.present
}
