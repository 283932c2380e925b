package policytest

import (
	"net/netip"

	"github.com/vipa-exec/vipa-exec/internal/policy"
)

// Connect returns the rule for a connect() to dst by a socket of protocol
// proto ([policy.Policy.MatchConnect]) and the source its selector picks
// for the caller pid ([policy.Match.Source]); for a rule of policy kernel
// the source is the zero Addr. The rule is a copy.
func Connect(p *policy.Policy, dst netip.AddrPort, proto policy.Protocol, pid int) (src netip.Addr, rule *policy.ConnectRule, ok bool) {
	m, ok := p.MatchConnect(dst, proto)
	if !ok {
		return netip.Addr{}, nil, false
	}
	r, _ := m.ConnectRule()
	return m.Source(pid), &r, true
}

// Bind returns the rule for a bind() on the wildcard address of a socket of
// the given family (v6: ::, else 0.0.0.0) to port
// ([policy.Policy.MatchBind]) and the source its selector picks for the
// caller pid; for a rule of policy kernel the source is the zero Addr. The
// rule is a copy.
func Bind(p *policy.Policy, v6 bool, port uint16, pid int) (src netip.Addr, rule *policy.BindRule, ok bool) {
	m, ok := p.MatchBind(v6, port)
	if !ok {
		return netip.Addr{}, nil, false
	}
	r, _ := m.BindRule()
	return m.Source(pid), &r, true
}
