package policy

import (
	"errors"
	"net/netip"
	"testing"
)

// TestCheckBindSource: a bind rule's source may be the unspecified address,
// which leaves the bind on the wildcard (src_vipa.conf's ".INADDR_ANY P
// POLICY 0.0.0.0"); a connect rule's may not.
func TestCheckBindSource(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"0.0.0.0", true},
		{"::", true},
		{"192.0.2.10", true},
		{"2001:db8::10", true},
		{"::ffff:0.0.0.0", false},
		{"224.0.0.1", false},
		{"fe80::1", false},
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		err := CheckBindSource(a)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidSource)) {
			t.Errorf("CheckBindSource(%s) = %v, want ok=%v", a, err, tt.ok)
		}
	}
	dst := netip.MustParsePrefix("10.0.0.0/8")
	if err := CheckConnectSource(dst, netip.IPv4Unspecified()); !errors.Is(err, ErrInvalidSource) {
		t.Errorf("CheckConnectSource(0.0.0.0) = %v, want ErrInvalidSource", err)
	}
}

// TestBindUnspecifiedSource: 0.0.0.0 stays the wildcard of the socket's own
// family, so a dual-stack socket bound to [::]:port is not made IPv4-only
// by ::ffff:0.0.0.0.
func TestBindUnspecifiedSource(t *testing.T) {
	p, err := New(nil, []BindRule{
		{Ports: PortRange{6500, 6599}, Sources: []netip.Addr{netip.IPv4Unspecified()}},
		{Ports: PortRange{7000, 7000}, Sources: []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.IPv4Unspecified()}, Policy: RR},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		v6   bool
		port uint16
		want []netip.Addr
	}{
		{false, 6500, []netip.Addr{netip.IPv4Unspecified()}},
		{true, 6500, []netip.Addr{netip.IPv6Unspecified()}},
		{false, 7000, []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.IPv4Unspecified()}},
		{true, 7000, []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.IPv6Unspecified()}},
	}
	for _, tt := range tests {
		m, ok := p.MatchBind(tt.v6, tt.port)
		if !ok {
			t.Errorf("MatchBind(%v, %d): no rule", tt.v6, tt.port)
			continue
		}
		got := map[netip.Addr]bool{}
		for range 8 {
			got[m.Source(1)] = true
		}
		want := map[netip.Addr]bool{}
		for _, a := range tt.want {
			want[a] = true
		}
		if len(got) != len(want) {
			t.Errorf("MatchBind(%v, %d): sources %v, want %v", tt.v6, tt.port, got, want)
		}
		for a := range got {
			if !want[a] {
				t.Errorf("MatchBind(%v, %d): source %v, want one of %v", tt.v6, tt.port, a, tt.want)
			}
		}
	}
	// The rule's own sources are as written.
	if got := p.BindRules()[0].Sources; len(got) != 1 || got[0] != netip.IPv4Unspecified() {
		t.Errorf("BindRules()[0].Sources = %v, want [0.0.0.0]", got)
	}
}
