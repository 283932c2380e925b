package policy

import "net/netip"

// Match is the rule found for one call, before a source is chosen. The
// supervisor matches first and picks after it has looked at the socket, so
// that calls no rule covers cost no more than the match.
type Match struct {
	connect *ConnectRule // one of connect and bind is set
	bind    *BindRule
	sel     Selector
	sources []netip.Addr // the candidates for the call's family
	onError OnError
	origin  string
}

// Source picks the source for the caller pid (its thread-group id).
func (m Match) Source(pid int) netip.Addr { return pick(m.sel, pid, m.sources) }

// OnError is the matched rule's on_error.
func (m Match) OnError() OnError { return m.onError }

// Origin is the matched rule's "FILE:LINE", for logs.
func (m Match) Origin() string { return m.origin }

// MatchConnect finds the rule for a connect() to dst: the longest matching
// prefix of dst's family, file order among equal lengths. An IPv4-mapped dst
// is matched against the IPv4 rules; the zone of dst is ignored.
func (p *Policy) MatchConnect(dst netip.Addr) (Match, bool) {
	dst = dst.Unmap().WithZone("")
	rules := p.connect6
	if dst.Is4() {
		rules = p.connect4
	}
	for _, r := range rules {
		if r.Destination.Contains(dst) {
			return Match{connect: r, sel: r.Selector, sources: r.Sources, onError: r.OnError, origin: r.Origin}, true
		}
	}
	return Match{}, false
}

// MatchBind finds the rule for a bind() on the wildcard address of a socket
// of the given family (v6: ::, else 0.0.0.0) to port: the first in file
// order whose port range contains port and that has a source for the family.
// For v6, a rule without IPv6 sources offers its IPv4 ones, which the caller
// maps to ::ffff:a.b.c.d.
func (p *Policy) MatchBind(v6 bool, port uint16) (Match, bool) {
	cands := p.bind4
	if v6 {
		cands = p.bind6
	}
	for i := range p.bind {
		r := &p.bind[i]
		if r.Ports.Contains(port) && len(cands[i]) > 0 {
			return Match{bind: r, sel: r.Selector, sources: cands[i], onError: r.OnError, origin: r.Origin}, true
		}
	}
	return Match{}, false
}
