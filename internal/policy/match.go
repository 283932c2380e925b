package policy

import "net/netip"

// Match is the rule found for one call, before a source is chosen. The
// supervisor matches first and picks after it has looked at the socket, so
// that calls no rule covers cost no more than the match.
type Match struct {
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

// MatchConnect is Connect without the choice of a source.
func (p *Policy) MatchConnect(dst netip.Addr) (Match, bool) {
	dst = dst.Unmap().WithZone("")
	rules := p.connect6
	if dst.Is4() {
		rules = p.connect4
	}
	for _, r := range rules {
		if r.Destination.Contains(dst) {
			return Match{sel: r.Selector, sources: r.Sources, onError: r.OnError, origin: r.Origin}, true
		}
	}
	return Match{}, false
}

// MatchBind is Bind without the choice of a source.
func (p *Policy) MatchBind(v6 bool, port uint16) (Match, bool) {
	cands := p.bind4
	if v6 {
		cands = p.bind6
	}
	for i := range p.bind {
		r := &p.bind[i]
		if r.Ports.Contains(port) && len(cands[i]) > 0 {
			return Match{sel: r.Selector, sources: cands[i], onError: r.OnError, origin: r.Origin}, true
		}
	}
	return Match{}, false
}
