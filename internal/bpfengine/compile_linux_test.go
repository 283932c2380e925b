//go:build linux

package bpfengine

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

func TestUnsupported(t *testing.T) {
	var many []netip.Addr
	for i := range maxSources + 1 {
		many = append(many, netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}))
	}
	var nested []policy.ConnectRule
	for bits := 8; bits <= 8+maxChain; bits++ {
		nested = append(nested, policy.ConnectRule{Destination: netip.PrefixFrom(netip.MustParseAddr("10.0.0.0"), bits).Masked(), Sources: many[:1]})
	}
	for _, tc := range []struct {
		name    string
		connect []policy.ConnectRule
		bind    []policy.BindRule
		origin  string // "" for a policy the engine serves
	}{
		{name: "plain", connect: []policy.ConnectRule{{Destination: netip.MustParsePrefix("0.0.0.0/0"), Sources: many[:2]}}},
		{name: "interface", connect: []policy.ConnectRule{{Interface: "eth1", Sources: many[:1]}}, origin: "test.toml:10"},
		{name: "too many sources", connect: []policy.ConnectRule{{Destination: netip.MustParsePrefix("0.0.0.0/0"), Sources: many}}, origin: "test.toml:10"},
		{name: "maximum chain", connect: nested[:maxChain]},
		{name: "too long a chain", connect: nested, origin: "test.toml:170"},
		{name: "too many bind sources", bind: []policy.BindRule{{Ports: policy.PortRange{Lo: 80, Hi: 80}, Sources: many}}, origin: "test.toml:1010"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Unsupported(mustPolicy(t, tc.connect, tc.bind))
			if tc.origin == "" {
				if err != nil {
					t.Fatalf("Unsupported: %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrPolicyUnsupported) || !strings.HasPrefix(fmt.Sprint(err), tc.origin+":") {
				t.Fatalf("Unsupported: %v, want ErrPolicyUnsupported at %s", err, tc.origin)
			}
		})
	}
}

// TestChains checks the trie entries against policy.MatchConnect: for each
// destination, the first rule of its longest prefix's chain that matches
// port and protocol is the rule the seccomp engine uses.
func TestChains(t *testing.T) {
	p := mustPolicy(t, []policy.ConnectRule{
		{Destination: netip.MustParsePrefix("10.0.0.0/8"), Sources: addrs("192.0.2.1")},
		{Destination: netip.MustParsePrefix("10.1.0.0/16"), Ports: policy.PortRange{Lo: 443, Hi: 443}, Sources: addrs("192.0.2.2")},
		{Destination: netip.MustParsePrefix("10.1.0.0/16"), Protocol: policy.UDP, Sources: addrs("192.0.2.3")},
		{Destination: netip.MustParsePrefix("10.1.2.0/24"), Ports: policy.PortRange{Lo: 80, Hi: 80}, Sources: addrs("192.0.2.4")},
		{Destination: netip.MustParsePrefix("0.0.0.0/0"), Protocol: policy.TCP, Sources: addrs("192.0.2.5")},
		{Destination: netip.MustParsePrefix("2001:db8::/32"), Sources: addrs("2001:db8::5")},
	}, nil)
	g, err := compile(p, nil, new(uint32))
	if err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{"10.1.2.3", "10.1.3.4", "10.2.0.1", "192.168.1.1", "2001:db8::1", "2001:db9::1"} {
		for _, port := range []uint16{80, 443, 53} {
			for _, proto := range []policy.Protocol{policy.TCP, policy.UDP, policy.AnyProtocol} {
				ap := netip.AddrPortFrom(netip.MustParseAddr(dst), port)
				m, ok := p.MatchConnect(ap, proto)
				want := "none"
				if ok {
					want = m.Sources()[0].String()
				}
				got := "none"
				if r := g.lookup(ap, proto); r != nil {
					got = netip.AddrFrom16(g.sources[vipaVipaSourceKey{Rule: r.Rule}].B).Unmap().String()
				}
				if got != want {
					t.Errorf("%v %v: source %s, policy.MatchConnect %s", ap, proto, got, want)
				}
			}
		}
	}
}

// lookup does in Go what the programs do: the longest prefix's chain, then
// its first rule that matches port and protocol.
func (g *generation) lookup(dst netip.AddrPort, proto policy.Protocol) *vipaVipaMatch {
	addr := dst.Addr().Unmap()
	for bits := addr.BitLen(); bits >= 0; bits-- {
		c, ok := g.entries[connectKey(netip.PrefixFrom(addr, bits).Masked())]
		if !ok {
			continue
		}
		for i := range c.Nrules {
			r := &c.Rules[i]
			if dst.Port() >= r.PortLo && dst.Port() <= r.PortHi && (r.Proto == uint8(vipaVipaProtoVIPA_PROTO_ANY) || r.Proto == uint8(protoOf(proto))) {
				return r
			}
		}
		return nil
	}
	return nil
}

func TestSupported(t *testing.T) {
	testutil.RequireRoot(t)
	if err := Supported(); err != nil {
		t.Fatalf("Supported as root: %v", err)
	}
}

// TestSupportedWithoutPerfmon loads the programs with CAP_BPF and
// CAP_NET_ADMIN alone, as root with the others dropped from the bounding
// set: the verifier's Spectre rules for callers without CAP_PERFMON apply.
// With CAP_NET_ADMIN alone, Supported names what is missing.
func TestSupportedWithoutPerfmon(t *testing.T) {
	if os.Getenv("VIPA_BPFENGINE_CHILD") == "1" {
		if err := Supported(); err != nil {
			t.Fatalf("Supported: %v", err)
		}
		return
	}
	if os.Getenv("VIPA_BPFENGINE_CHILD") == "2" {
		if err := Supported(); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "CAP_BPF") {
			t.Fatalf("Supported: %v, want ErrUnavailable naming CAP_BPF", err)
		}
		return
	}
	testutil.RequireRoot(t)
	testutil.RequireTool(t, "setpriv")
	for _, tc := range []struct{ child, caps string }{{"1", "+bpf,+net_admin"}, {"2", "+net_admin"}} {
		cmd := exec.Command("setpriv", "--bounding-set", "-all,"+tc.caps, "--inh-caps", "-all", os.Args[0], "-test.run", "^TestSupportedWithoutPerfmon$", "-test.count=1")
		cmd.Env = append(os.Environ(), "VIPA_BPFENGINE_CHILD="+tc.child)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("with %s only: %v\n%s", tc.caps, err, out)
		}
	}
}

// FuzzChains checks, for rule sets and destinations the fuzzer makes up,
// that the trie entries give the rule policy.MatchConnect gives.
func FuzzChains(f *testing.F) {
	f.Add([]byte{8, 10, 0, 0, 0, 0, 0, 0, 16, 10, 1, 0, 0, 1, 187, 0, 24, 10, 1, 2, 0, 0, 80, 2}, []byte{10, 1, 2, 3}, uint16(80), uint8(1))
	f.Fuzz(func(t *testing.T, spec, dst []byte, port uint16, proto uint8) {
		// Each rule is 8 bytes: bits, 4 address bytes, port (0: all), protocol.
		var rules []policy.ConnectRule
		seen := map[netip.Prefix]bool{}
		for i := 0; i+8 <= len(spec) && len(rules) < 12; i += 8 {
			b := spec[i : i+8]
			pfx := netip.PrefixFrom(netip.AddrFrom4([4]byte(b[1:5])), int(b[0]%33)).Masked()
			if seen[pfx] {
				continue // no rule shadowed by another: policy.New refuses those
			}
			seen[pfx] = true
			r := policy.ConnectRule{Destination: pfx, Protocol: policy.Protocol(b[7] % 3),
				Sources: []netip.Addr{netip.AddrFrom4([4]byte{192, 0, 2, byte(len(rules) + 1)})}}
			if p := uint16(b[5])<<8 | uint16(b[6]); p != 0 {
				r.Ports = policy.PortRange{Lo: p, Hi: p}
			}
			rules = append(rules, r)
		}
		if len(dst) < 4 || len(rules) == 0 {
			return
		}
		p, err := policy.New(rules, nil)
		if err != nil {
			return
		}
		g, err := compile(p, nil, new(uint32))
		if err != nil {
			return // beyond the engine's limits: Unsupported says so
		}
		ap := netip.AddrPortFrom(netip.AddrFrom4([4]byte(dst[:4])), port)
		pr := policy.Protocol(proto % 3)
		want := netip.Addr{}
		if m, ok := p.MatchConnect(ap, pr); ok {
			want = m.Sources()[0]
		}
		got := netip.Addr{}
		if r := g.lookup(ap, pr); r != nil {
			got = netip.AddrFrom16(g.sources[vipaVipaSourceKey{Rule: r.Rule}].B).Unmap()
		}
		if got != want {
			t.Errorf("%v %v: source %v, policy.MatchConnect %v", ap, pr, got, want)
		}
	})
}

// TestSamePresence: a set of the host's addresses that keeps or lacks the
// same sources of the policy as the engine's last one installs no new
// generation; one that differs in any source does. nil holds every address.
func TestSamePresence(t *testing.T) {
	a := netip.MustParseAddr
	p, err := policy.New([]policy.ConnectRule{
		{Destination: netip.MustParsePrefix("10.0.0.0/8"), Sources: []netip.Addr{a("192.0.2.10")}},
	}, []policy.BindRule{
		{Ports: policy.PortRange{Lo: 6000, Hi: 6000}, Sources: []netip.Addr{a("0.0.0.0"), a("2001:db8::10")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	all, only4 := policy.NewAddrSet(a("192.0.2.10"), a("2001:db8::10")), policy.NewAddrSet(a("192.0.2.10"))
	tests := []struct {
		old, set *policy.AddrSet
		want     bool
	}{
		{nil, nil, true},
		{nil, all, true},
		{nil, policy.NewAddrSet(a("192.0.2.10"), a("2001:db8::10"), a("127.0.0.1")), true},
		{nil, only4, false},
		{nil, policy.NewAddrSet(a("2001:db8::10")), false},
		{nil, policy.NewAddrSet(), false},
		{only4, policy.NewAddrSet(a("192.0.2.10"), a("127.0.0.1")), true},
		{only4, all, false},
		{only4, nil, false},
		{all, nil, true},
	}
	for _, tt := range tests {
		if got := samePresence(p, tt.old, tt.set); got != tt.want {
			t.Errorf("samePresence(%v, %v) = %v, want %v", tt.old, tt.set, got, tt.want)
		}
	}
}
