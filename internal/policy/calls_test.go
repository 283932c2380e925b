package policy

import (
	"net/netip"
	"testing"
)

// callConnect is a supervisor's connect(): the rule MatchConnect finds and
// the source it picks for pid (zero for policy kernel). policytest.Connect
// is the same for other packages' tests; this package's tests cannot
// import it.
func callConnect(p *Policy, dst netip.AddrPort, proto Protocol, pid int) (src netip.Addr, rule *ConnectRule, ok bool) {
	m, ok := p.MatchConnect(dst, proto)
	if !ok {
		return netip.Addr{}, nil, false
	}
	r, _ := m.ConnectRule()
	return m.Source(pid), &r, true
}

// callBind is a supervisor's bind() on the wildcard address of a socket of
// family v6 (else IPv4) to port, as policytest.Bind.
func callBind(p *Policy, v6 bool, port uint16, pid int) (src netip.Addr, rule *BindRule, ok bool) {
	m, ok := p.MatchBind(v6, port)
	if !ok {
		return netip.Addr{}, nil, false
	}
	r, _ := m.BindRule()
	return m.Source(pid), &r, true
}

func TestMatchRule(t *testing.T) {
	p, err := New(
		[]ConnectRule{{Destination: pfx("10.0.0.0/8"), Ports: PortRange{80, 80}, Sources: addrs("192.0.2.1"), Origin: "c:1"}},
		[]BindRule{{Ports: PortRange{80, 80}, Sources: addrs("192.0.2.2"), Origin: "b:1"}})
	if err != nil {
		t.Fatal(err)
	}
	m, ok := p.MatchConnect(netip.MustParseAddrPort("10.1.2.3:80"), TCP)
	if !ok {
		t.Fatal("MatchConnect: no match")
	}
	if _, ok := m.BindRule(); ok {
		t.Error("a connect match has a BindRule")
	}
	c, ok := m.ConnectRule()
	if !ok || c.Origin != "c:1" {
		t.Fatalf("ConnectRule() = %+v, %v; want the rule at c:1", c, ok)
	}
	c.Sources[0] = netip.MustParseAddr("203.0.113.1")
	if got := p.ConnectRules()[0].Sources[0]; got != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("changing ConnectRule's copy changed the policy's source to %s", got)
	}

	m, ok = p.MatchBind(false, 80)
	if !ok {
		t.Fatal("MatchBind: no match")
	}
	if _, ok := m.ConnectRule(); ok {
		t.Error("a bind match has a ConnectRule")
	}
	b, ok := m.BindRule()
	if !ok || b.Origin != "b:1" {
		t.Fatalf("BindRule() = %+v, %v; want the rule at b:1", b, ok)
	}
	b.Sources[0] = netip.MustParseAddr("203.0.113.1")
	if got := p.BindRules()[0].Sources[0]; got != netip.MustParseAddr("192.0.2.2") {
		t.Errorf("changing BindRule's copy changed the policy's source to %s", got)
	}
}
