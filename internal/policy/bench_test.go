package policy

import (
	"fmt"
	"net/netip"
	"testing"
)

// benchPolicy returns a policy of 20 connect rules (IPv4 and IPv6, several
// prefix lengths) and 6 bind rules, all using the named selector.
func benchPolicy(tb testing.TB, name string) *Policy {
	tb.Helper()
	var connect []ConnectRule
	for i := range 8 {
		connect = append(connect,
			ConnectRule{Destination: pfx(fmt.Sprintf("10.%d.0.0/16", i)), Sources: addrs("192.0.2.1", "192.0.2.2", "192.0.2.3"), Policy: name},
			ConnectRule{Destination: pfx(fmt.Sprintf("10.%d.%d.0/24", i, i)), Sources: addrs("192.0.2.4", "192.0.2.5"), Policy: name},
		)
	}
	connect = append(connect,
		ConnectRule{Destination: pfx("10.0.0.0/8"), Sources: addrs("192.0.2.10"), Policy: name},
		ConnectRule{Destination: pfx("0.0.0.0/0"), Sources: addrs("192.0.2.11"), Policy: name},
		ConnectRule{Destination: pfx("2001:db8::/32"), Sources: addrs("2001:db8::1", "2001:db8::2"), Policy: name},
		ConnectRule{Destination: pfx("::/0"), Sources: addrs("2001:db8::3"), Policy: name},
	)
	var bind []BindRule
	for i := range 5 {
		lo := uint16(1000 + 1000*i)
		bind = append(bind, BindRule{Ports: PortRange{lo, lo + 999}, Sources: addrs("198.51.100.1", "198.51.100.2"), Policy: name})
	}
	bind = append(bind, BindRule{Ports: PortRange{0, 65535}, Sources: addrs("198.51.100.3", "2001:db8::4"), Policy: name})
	p, err := New(connect, bind)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func BenchmarkConnect(b *testing.B) {
	for _, name := range Names() {
		p := benchPolicy(b, name)
		for _, dst := range []string{"10.3.3.1", "10.3.200.1", "::ffff:203.0.113.1", "2001:db8:3::1"} {
			a := netip.AddrPortFrom(netip.MustParseAddr(dst), 443)
			b.Run(name+"/"+dst, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					m, ok := p.MatchConnect(a, TCP)
					if !ok {
						b.Fatal("no match")
					}
					_ = m.Source(1)
				}
			})
		}
	}
}

func BenchmarkBind(b *testing.B) {
	for _, name := range Names() {
		p := benchPolicy(b, name)
		for _, tc := range []struct {
			v6   bool
			port uint16
		}{{false, 1000}, {false, 8080}, {true, 5999}, {true, 8080}} {
			b.Run(fmt.Sprintf("%s/v6=%v/%d", name, tc.v6, tc.port), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					m, ok := p.MatchBind(tc.v6, tc.port)
					if !ok {
						b.Fatal("no match")
					}
					_ = m.Source(1)
				}
			})
		}
	}
}

// BenchmarkConnectPresent is BenchmarkConnect's first destination with the
// host's addresses followed (Env.Present): with every source present, and
// with one of the rule's three absent.
func BenchmarkConnectPresent(b *testing.B) {
	a := netip.AddrPortFrom(netip.MustParseAddr("10.3.3.1"), 443)
	for _, name := range []string{OneVIPA, Random, RR, LC} {
		for _, present := range [][]string{
			{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"},
			{"192.0.2.1", "192.0.2.3", "192.0.2.4", "192.0.2.5"},
		} {
			set := NewAddrSet(addrs(present...)...)
			p, err := benchPolicy(b, name).WithEnv(Env{Present: func() *AddrSet { return set }})
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/present=%d", name, len(present)), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					m, ok := p.MatchConnect(a, TCP)
					if !ok {
						b.Fatal("no match")
					}
					_ = m.Source(1)
				}
			})
		}
	}
}
