package policy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
)

// fuzzPorts are the port ranges fuzzed connect rules choose from; the zero
// range is every port.
var fuzzPorts = []PortRange{{}, {80, 80}, {80, 90}, {1, 1000}, {443, 443}, {0, 65535}, {85, 85}, {1000, 2000}}

// fuzzConnectRules decodes rules from fuzz input: per rule one byte of family
// and prefix length, one byte of ports and protocol, then the 4 or 16
// address bytes. Rules with an invalid destination (IPv4-mapped prefixes)
// are left out; rules that could never match are not.
func fuzzConnectRules(data []byte, policy string) []ConnectRule {
	var rules []ConnectRule
	for i := 0; len(data) > 1 && i < 32; i++ {
		hdr, pp := data[0], data[1]
		data = data[2:]
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
		if CheckDestination(p) != nil {
			continue
		}
		var srcs []netip.Addr
		for j := range 1 + i%3 {
			k := byte(i*3 + j + 1)
			if a.Is4() {
				srcs = append(srcs, netip.AddrFrom4([4]byte{192, 0, 2, k}))
			} else {
				srcs = append(srcs, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: k}))
			}
		}
		rules = append(rules, ConnectRule{
			Destination: p,
			Ports:       fuzzPorts[int(pp>>2)%len(fuzzPorts)],
			Protocol:    Protocol(pp & 3 % 3),
			Sources:     srcs,
			Policy:      policy,
			Origin:      fmt.Sprint(i),
		})
	}
	return rules
}

// refPorts and refShadowed are the reference for ports and for rules New
// must reject, written apart from the code under test.
func refPorts(r ConnectRule) (lo, hi int) {
	if r.Ports.Lo == 0 && r.Ports.Hi == 0 {
		return 0, 65535
	}
	return int(r.Ports.Lo), int(r.Ports.Hi)
}

func refMatches(r ConnectRule, dst netip.Addr, port uint16, proto Protocol) bool {
	lo, hi := refPorts(r)
	return r.Destination.Contains(dst) && lo <= int(port) && int(port) <= hi && (r.Protocol == AnyProtocol || r.Protocol == proto)
}

// refShadowed returns the index of the first rule that an earlier rule with
// the same destination hides entirely, or -1.
func refShadowed(rules []ConnectRule) int {
	for i, r := range rules {
		for _, e := range rules[:i] {
			elo, ehi := refPorts(e)
			lo, hi := refPorts(r)
			if e.Destination == r.Destination && (e.Protocol == AnyProtocol || e.Protocol == r.Protocol) && elo <= lo && hi <= ehi {
				return i
			}
		}
	}
	return -1
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
	f.Add([]byte{16, 0, 10, 0, 0, 0, 48, 0, 10, 1, 2, 0, 0, 0, 0, 0, 0}, []byte{10, 1, 2, 3}, uint16(80), byte(1), 1, byte(0))
	f.Add([]byte{16, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0}, append(make([]byte, 10), 0xff, 0xff, 10, 1, 2, 3), uint16(443), byte(2), 1, byte(1))
	f.Add([]byte{65, 0, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, []byte{0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, uint16(1), byte(0), 7, byte(2))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, append(make([]byte, 10), 0xff, 0xff, 10, 1, 2, 3), uint16(80), byte(1), 1, byte(3))
	// Same destination: UDP port 80, then TCP 80-90, then everything, then
	// a rule the first three hide (TCP 85).
	f.Add([]byte{16, 6, 10, 0, 0, 0, 16, 9, 10, 0, 0, 0, 16, 0, 10, 0, 0, 0, 16, 25, 10, 0, 0, 0}, []byte{10, 1, 1, 1}, uint16(85), byte(1), 3, byte(4))
	f.Add([]byte{16, 6, 10, 0, 0, 0, 16, 9, 10, 0, 0, 0, 16, 0, 10, 0, 0, 0}, []byte{10, 1, 1, 1}, uint16(80), byte(2), 3, byte(5))
	f.Fuzz(func(t *testing.T, ruleBytes, dstBytes []byte, port uint16, protoByte byte, pid int, pol byte) {
		name := names[int(pol)%len(names)]
		rules := fuzzConnectRules(ruleBytes, name)
		_, err := New(rules, nil)
		if bad := refShadowed(rules); bad >= 0 {
			var re *RuleError
			if !errors.Is(err, ErrDuplicateDestination) || !errors.As(err, &re) || re.Index != bad || re.Field != "destination" {
				t.Fatalf("New(%v) = %v, want ErrDuplicateDestination for rule %d", rules, err, bad)
			}
			// What hides a rule also hides what that rule hides.
			for ; bad >= 0; bad = refShadowed(rules) {
				rules = slices.Delete(rules, bad, bad+1)
			}
		} else if err != nil {
			t.Fatalf("New(%v): %v", rules, err)
		}
		p, err := New(rules, nil)
		if err != nil {
			t.Fatalf("New(%v) without hidden rules: %v", rules, err)
		}
		dst := netip.AddrPortFrom(fuzzAddr(dstBytes), port)
		plain := dst.Addr().Unmap()
		proto := Protocol(protoByte % 3)

		// The reference: longest prefix, earliest in file order.
		best := -1
		for i, r := range rules {
			if refMatches(r, plain, port, proto) && (best < 0 || r.Destination.Bits() > rules[best].Destination.Bits()) {
				best = i
			}
		}

		src, rule, ok := callConnect(p, dst, proto, pid)
		checkMatch(t, p.MatchConnect, dst, proto, pid, ok, rule)
		if !ok {
			if best >= 0 {
				t.Fatalf("Connect(%s, %s): no match, want rule %+v", dst, proto, rules[best])
			}
			return
		}
		if best < 0 {
			t.Fatalf("Connect(%s, %s) = %s, %+v; no rule matches it", dst, proto, src, rule)
		}
		if rule.Origin != rules[best].Origin {
			t.Fatalf("Connect(%s, %s) chose rule %+v, want %+v", dst, proto, rule, rules[best])
		}
		if !refMatches(*rule, plain, port, proto) {
			t.Fatalf("Connect(%s, %s) chose rule %+v, which does not match it", dst, proto, rule)
		}
		if name == Kernel {
			if src.IsValid() {
				t.Fatalf("Connect(%s, %s) = %s from a kernel rule, want no source", dst, proto, src)
			}
			return
		}
		if !slices.Contains(rule.Sources, src) || src.Is4() != plain.Is4() {
			t.Fatalf("Connect(%s, %s) = %s, not a source of %+v", dst, proto, src, rule)
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
	f.Add([]byte{0, 80, 0, 80, 1, 0, 0, 0xff, 0xff, 4}, false, uint16(80), byte(1))
	f.Add([]byte{0, 80, 0, 80, 1, 0, 0, 0xff, 0xff, 4}, true, uint16(80), byte(0))
	f.Add([]byte{0, 80, 0, 80, 12, 0, 0, 0xff, 0xff, 3}, false, uint16(80), byte(0))
	f.Add([]byte{0, 80, 0, 80, 12, 0, 0, 0xff, 0xff, 3}, false, uint16(80), byte(5))
	f.Add([]byte{0, 80, 0, 80, 15, 0, 0, 0xff, 0xff, 3}, true, uint16(80), byte(2))
	f.Add([]byte{0, 80, 0, 80, 15, 0, 0, 0xff, 0xff, 3}, true, uint16(80), byte(3))
	f.Add([]byte{0, 80, 0, 80, 15, 0, 0, 0xff, 0xff, 3}, false, uint16(80), byte(4))
	f.Fuzz(func(t *testing.T, ruleBytes []byte, v6 bool, port uint16, pol byte) {
		name := names[int(pol)%len(names)]
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
			if r.Ports.Contains(port) && (len(cands) > 0 || name == Kernel) {
				best, wantCands = i, cands
				break
			}
		}
		if name == Kernel {
			wantCands = []netip.Addr{{}} // no source
		}

		src, rule, ok := callBind(p, v6, port, 1)
		if m, mok := p.MatchBind(v6, port); mok != ok {
			t.Fatalf("MatchBind(%v, %d) matched %v, Bind %v", v6, port, mok, ok)
		} else if ok && (m.Origin() != rule.Origin || m.OnError() != rule.OnError || m.Kernel() != (name == Kernel) || !slices.Contains(wantCands, m.Source(1))) {
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
func checkMatch(t *testing.T, match func(netip.AddrPort, Protocol) (Match, bool), dst netip.AddrPort, proto Protocol, pid int, ok bool, rule *ConnectRule) {
	t.Helper()
	m, mok := match(dst, proto)
	if mok != ok {
		t.Fatalf("MatchConnect(%s) matched %v, Connect %v", dst, mok, ok)
	}
	if !ok {
		return
	}
	if m.Kernel() != (rule.Policy == Kernel) || m.Policy() != rule.Policy {
		t.Fatalf("MatchConnect(%s) = policy %s (kernel %v), Connect chose %+v", dst, m.Policy(), m.Kernel(), rule)
	}
	if src := m.Source(pid); m.Origin() != rule.Origin || m.OnError() != rule.OnError || !m.Kernel() && !slices.Contains(rule.Sources, src) {
		t.Fatalf("MatchConnect(%s) = %s %s %s, Connect chose %+v", dst, m.Origin(), m.OnError(), src, rule)
	}
}
