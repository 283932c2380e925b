package policy

import (
	"errors"
	"net/netip"
	"testing"
)

// routes is an Env.Route: the interface of each destination network.
func routes(table map[string]string) func(netip.Addr) (string, bool) {
	return func(dst netip.Addr) (string, bool) {
		best, name := -1, ""
		for p, ifname := range table {
			if pf := netip.MustParsePrefix(p); pf.Contains(dst) && pf.Bits() > best {
				best, name = pf.Bits(), ifname
			}
		}
		return name, best >= 0
	}
}

// TestMatchInterface checks the precedence: a [[connect]] rule that
// matches the destination first (policy kernel included), else the
// [[interface]] rule of the interface the route goes out of, else none.
func TestMatchInterface(t *testing.T) {
	p, err := New([]ConnectRule{
		{Destination: pfx("10.1.0.0/16"), Sources: addrs("192.0.2.1"), Origin: "c:1"},
		{Destination: pfx("10.2.0.0/16"), Policy: Kernel, Origin: "c:2"},
		{Interface: "veth1", Ports: PortRange{53, 53}, Protocol: UDP, Sources: addrs("192.0.2.53"), Origin: "i:1"},
		{Interface: "veth1", Sources: addrs("192.0.2.11", "2001:db8::11"), Origin: "i:2"},
		{Interface: "veth2", Sources: addrs("192.0.2.21"), Origin: "i:3"},
		{Interface: "lo", Policy: Kernel, Origin: "i:4"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err = p.WithEnv(Env{Route: routes(map[string]string{
		"10.0.0.0/8":    "veth1",
		"10.3.0.0/16":   "veth2",
		"2001:db8::/32": "veth1",
		"2001:db9::/32": "veth2",
		"127.0.0.0/8":   "lo",
	})})
	if err != nil {
		t.Fatal(err)
	}
	if !p.HasInterfaceRules() {
		t.Error("HasInterfaceRules() = false")
	}
	tests := []struct {
		dst    string
		proto  Protocol
		origin string // "" for no match
		srcs   []netip.Addr
	}{
		{"10.1.2.3:80", TCP, "c:1", addrs("192.0.2.1")},           // the destination rule, though routed out of veth1
		{"10.2.2.3:80", TCP, "c:2", nil},                          // kernel excludes too
		{"10.9.9.9:80", TCP, "i:2", addrs("192.0.2.11")},          // veth1, IPv4 sources only
		{"10.9.9.9:53", UDP, "i:1", addrs("192.0.2.53")},          // the narrower rule first
		{"10.9.9.9:53", TCP, "i:2", addrs("192.0.2.11")},          // not UDP
		{"10.3.0.1:80", TCP, "i:3", addrs("192.0.2.21")},          // longest route: veth2
		{"[::ffff:10.3.0.1]:80", TCP, "i:3", addrs("192.0.2.21")}, // mapped
		{"[2001:db8::1]:80", TCP, "i:2", addrs("2001:db8::11")},   // veth1, IPv6 sources
		{"[2001:db9::1]:80", TCP, "", nil},                        // veth2 has no IPv6 sources
		{"127.0.0.1:80", TCP, "i:4", nil},                         // kernel
		{"192.168.1.1:80", TCP, "", nil},                          // no route
	}
	for _, tt := range tests {
		m, ok := p.MatchConnect(netip.MustParseAddrPort(tt.dst), tt.proto)
		if (tt.origin != "") != ok || ok && m.Origin() != tt.origin {
			t.Errorf("MatchConnect(%s, %s) = %q, %v; want %q", tt.dst, tt.proto, m.Origin(), ok, tt.origin)
			continue
		}
		if d := diff(tt.srcs, m.Sources()); ok && d != "" {
			t.Errorf("MatchConnect(%s) sources (-want +got):%s", tt.dst, d)
		}
	}

	// Without Env.Route no [[interface]] rule matches.
	q, err := New(p.ConnectRules(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := q.MatchConnect(netip.MustParseAddrPort("10.9.9.9:80"), TCP); ok {
		t.Errorf("without Route: MatchConnect = %s, want none", m.Origin())
	}
}

// TestInterfaceRuleErrors checks what New refuses in [[interface]] rules.
func TestInterfaceRuleErrors(t *testing.T) {
	tests := []struct {
		name  string
		rules []ConnectRule
		field string
		err   error
	}{
		{"bad name", []ConnectRule{{Interface: "a b", Sources: addrs("192.0.2.1")}}, "name", ErrInvalidInterface},
		{"with a destination", []ConnectRule{{Interface: "eth0", Destination: pfx("10.0.0.0/8"), Sources: addrs("192.0.2.1")}}, "destination", ErrInvalidDestination},
		{"no sources", []ConnectRule{{Interface: "eth0"}}, "sources", ErrNoSources},
		{"twice", []ConnectRule{
			{Interface: "eth0", Sources: addrs("192.0.2.1")},
			{Interface: "eth0", Protocol: TCP, Sources: addrs("192.0.2.2")},
		}, "name", ErrDuplicateInterface},
		{"twice, after a rule of both families", []ConnectRule{
			{Interface: "eth0", Sources: addrs("192.0.2.1", "2001:db8::1")},
			{Interface: "eth0", Sources: addrs("2001:db8::2")},
		}, "name", ErrDuplicateInterface},
	}
	for _, tt := range tests {
		_, err := New(tt.rules, nil)
		var re *RuleError
		if !errors.As(err, &re) || re.Kind != "interface" || re.Field != tt.field || !errors.Is(err, tt.err) {
			t.Errorf("%s: New() = %v, want an interface rule error of %s wrapping %v", tt.name, err, tt.field, tt.err)
		}
	}
	// A destination rule and an interface rule never shadow each other,
	// nor do rules of one interface for different families.
	if _, err := New([]ConnectRule{
		{Destination: pfx("0.0.0.0/0"), Sources: addrs("192.0.2.1")},
		{Interface: "eth0", Sources: addrs("192.0.2.2")},
		{Interface: "eth1", Sources: addrs("192.0.2.2")},
		{Interface: "eth0", Sources: addrs("2001:db8::2")},
	}, nil); err != nil {
		t.Errorf("New() = %v", err)
	}
}

// TestInterfaceTraps: a policy of [[interface]] rules alone traps sendto
// and defers wildcard binds as one of binding [[connect]] rules does.
func TestInterfaceTraps(t *testing.T) {
	p, err := New([]ConnectRule{{Interface: "eth0", Protocol: TCP, Sources: addrs("192.0.2.1")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(Traps{Bind: true, SendtoTCP: true}, p.Traps()); d != "" {
		t.Errorf("Traps() (-want +got):%s", d)
	}
	p, err = New([]ConnectRule{{Interface: "eth0", Policy: Kernel}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(Traps{}, p.Traps()); d != "" {
		t.Errorf("kernel only: Traps() (-want +got):%s", d)
	}
}
