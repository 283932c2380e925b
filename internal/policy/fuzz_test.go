package policy

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"testing"
)

// fuzzConnectRules decodes rules from fuzz input: per rule one byte of family
// and prefix length, then the 4 or 16 address bytes. Rules that New would
// reject (duplicates, IPv4-mapped prefixes) are left out.
func fuzzConnectRules(data []byte, policy string) []ConnectRule {
	var rules []ConnectRule
	seen := map[netip.Prefix]bool{}
	for i := 0; len(data) > 0 && i < 32; i++ {
		hdr := data[0]
		data = data[1:]
		n := 4
		if hdr&1 == 1 {
			n = 16
		}
		if len(data) < n {
			break
		}
		a, _ := netip.AddrFromSlice(data[:n])
		data = data[n:]
		p := netip.PrefixFrom(a, int(hdr>>1)%(a.BitLen()+1)).Masked()
		if seen[p] || CheckDestination(p) != nil {
			continue
		}
		seen[p] = true
		var srcs []netip.Addr
		for j := range 1 + i%3 {
			k := byte(i*3 + j + 1)
			if a.Is4() {
				srcs = append(srcs, netip.AddrFrom4([4]byte{192, 0, 2, k}))
			} else {
				srcs = append(srcs, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: k}))
			}
		}
		rules = append(rules, ConnectRule{Destination: p, Sources: srcs, Policy: policy, Origin: fmt.Sprint(i)})
	}
	return rules
}

func fuzzAddr(b []byte) netip.Addr {
	if len(b) >= 16 {
		return netip.AddrFrom16([16]byte(b[:16]))
	}
	var a [4]byte
	copy(a[:], b)
	return netip.AddrFrom4(a)
}

func FuzzConnect(f *testing.F) {
	f.Add([]byte{16, 10, 0, 0, 0, 48, 10, 1, 2, 0, 0, 0, 0, 0, 0}, []byte{10, 1, 2, 3}, 1, false)
	f.Add([]byte{16, 10, 0, 0, 0, 0, 0, 0, 0, 0}, append(make([]byte, 10), 0xff, 0xff, 10, 1, 2, 3), 1, true)
	f.Add([]byte{65, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, []byte{0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 7, false)
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, append(make([]byte, 10), 0xff, 0xff, 10, 1, 2, 3), 1, false)
	f.Fuzz(func(t *testing.T, ruleBytes, dstBytes []byte, pid int, rnd bool) {
		name := OneVIPA
		if rnd {
			name = Random
		}
		rules := fuzzConnectRules(ruleBytes, name)
		p, err := New(rules, nil)
		if err != nil {
			t.Fatalf("New(%v): %v", rules, err)
		}
		dst := fuzzAddr(dstBytes)
		plain := dst.Unmap()

		// The reference: longest prefix, earliest in file order.
		best := -1
		for i, r := range rules {
			if r.Destination.Contains(plain) && (best < 0 || r.Destination.Bits() > rules[best].Destination.Bits()) {
				best = i
			}
		}

		src, rule, ok := p.Connect(dst, pid)
		checkMatch(t, p.MatchConnect, dst, pid, ok, rule)
		if !ok {
			if best >= 0 {
				t.Fatalf("Connect(%s): no match, want rule %+v", dst, rules[best])
			}
			return
		}
		if best < 0 {
			t.Fatalf("Connect(%s) = %s, %+v; no rule contains it", dst, src, rule)
		}
		if rule.Origin != rules[best].Origin {
			t.Fatalf("Connect(%s) chose rule %+v, want %+v", dst, rule, rules[best])
		}
		if !rule.Destination.Contains(plain) {
			t.Fatalf("Connect(%s) chose rule %+v, which does not contain it", dst, rule)
		}
		if !slices.Contains(rule.Sources, src) || src.Is4() != plain.Is4() {
			t.Fatalf("Connect(%s) = %s, not a source of %+v", dst, src, rule)
		}
	})
}

// fuzzBindRules decodes rules from fuzz input: per rule 4 bytes of port range
// and a byte whose low 4 bits pick sources among two IPv4 and two IPv6 ones.
func fuzzBindRules(data []byte, policy string) []BindRule {
	pool := addrs("198.51.100.1", "198.51.100.2", "2001:db8::1", "2001:db8::2")
	var rules []BindRule
	for i := 0; len(data) >= 5 && i < 32; i++ {
		lo, hi := binary.BigEndian.Uint16(data), binary.BigEndian.Uint16(data[2:])
		mask := data[4]
		data = data[5:]
		if lo > hi {
			lo, hi = hi, lo
		}
		var srcs []netip.Addr
		for j, a := range pool {
			if mask&(1<<j) != 0 {
				srcs = append(srcs, a)
			}
		}
		if len(srcs) == 0 {
			continue
		}
		rules = append(rules, BindRule{Ports: PortRange{lo, hi}, Sources: srcs, Policy: policy, Origin: fmt.Sprint(i)})
	}
	return rules
}

func FuzzBind(f *testing.F) {
	f.Add([]byte{0, 80, 0, 80, 1, 0, 0, 0xff, 0xff, 4}, false, uint16(80), true)
	f.Add([]byte{0, 80, 0, 80, 1, 0, 0, 0xff, 0xff, 4}, true, uint16(80), false)
	f.Add([]byte{0, 80, 0, 80, 12, 0, 0, 0xff, 0xff, 3}, false, uint16(80), false)
	f.Fuzz(func(t *testing.T, ruleBytes []byte, v6 bool, port uint16, rnd bool) {
		name := OneVIPA
		if rnd {
			name = Random
		}
		rules := fuzzBindRules(ruleBytes, name)
		p, err := New(nil, rules)
		if err != nil {
			t.Fatalf("New(%v): %v", rules, err)
		}

		// The reference: first rule in file order with the port and a
		// candidate of the family.
		best, wantCands := -1, []netip.Addr(nil)
		for i, r := range rules {
			var c4, c6 []netip.Addr
			for _, a := range r.Sources {
				if a.Is4() {
					c4 = append(c4, a)
				} else {
					c6 = append(c6, a)
				}
			}
			cands := c4
			if v6 && len(c6) > 0 {
				cands = c6
			}
			if r.Ports.Contains(port) && len(cands) > 0 {
				best, wantCands = i, cands
				break
			}
		}

		src, rule, ok := p.Bind(v6, port, 1)
		if m, mok := p.MatchBind(v6, port); mok != ok {
			t.Fatalf("MatchBind(%v, %d) matched %v, Bind %v", v6, port, mok, ok)
		} else if ok && (m.Origin() != rule.Origin || m.OnError() != rule.OnError || !slices.Contains(wantCands, m.Source(1))) {
			t.Fatalf("MatchBind(%v, %d) = %s %s %s, Bind chose %+v from %v", v6, port, m.Origin(), m.OnError(), m.Source(1), rule, wantCands)
		}
		if !ok {
			if best >= 0 {
				t.Fatalf("Bind(%v, %d): no match, want rule %+v", v6, port, rules[best])
			}
			return
		}
		if best < 0 {
			t.Fatalf("Bind(%v, %d) = %s, %+v; want no match", v6, port, src, rule)
		}
		if rule.Origin != rules[best].Origin || !rule.Ports.Contains(port) {
			t.Fatalf("Bind(%v, %d) chose rule %+v, want %+v", v6, port, rule, rules[best])
		}
		if !slices.Contains(wantCands, src) {
			t.Fatalf("Bind(%v, %d) = %s, not among candidates %v", v6, port, src, wantCands)
		}
	})
}

// checkMatch checks that MatchConnect finds what Connect found.
func checkMatch(t *testing.T, match func(netip.Addr) (Match, bool), dst netip.Addr, pid int, ok bool, rule *ConnectRule) {
	t.Helper()
	m, mok := match(dst)
	if mok != ok {
		t.Fatalf("MatchConnect(%s) matched %v, Connect %v", dst, mok, ok)
	}
	if ok && (m.Origin() != rule.Origin || m.OnError() != rule.OnError || !slices.Contains(rule.Sources, m.Source(pid))) {
		t.Fatalf("MatchConnect(%s) = %s %s %s, Connect chose %+v", dst, m.Origin(), m.OnError(), m.Source(pid), rule)
	}
}
