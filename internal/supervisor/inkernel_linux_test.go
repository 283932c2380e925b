//go:build linux

package supervisor

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/policy"
)

// TestLCSources: the bpf engine's lc counts follow exactly the sources of
// the lc rules, each once, in file order.
func TestLCSources(t *testing.T) {
	a := netip.MustParseAddr
	p, err := policy.New([]policy.ConnectRule{
		{Destination: netip.MustParsePrefix("10.0.0.0/8"), Sources: []netip.Addr{a("192.0.2.10"), a("192.0.2.11")}, Policy: policy.LC},
		{Destination: netip.MustParsePrefix("10.1.0.0/16"), Sources: []netip.Addr{a("192.0.2.12")}, Policy: "rr"},
		{Destination: netip.MustParsePrefix("2001:db8::/32"), Sources: []netip.Addr{a("2001:db8:2::10")}, Policy: policy.LC},
	}, []policy.BindRule{
		{Ports: policy.PortRange{Lo: 6000, Hi: 6000}, Sources: []netip.Addr{a("192.0.2.11"), a("192.0.2.13")}, Policy: policy.LC},
		{Ports: policy.PortRange{Lo: 7000, Hi: 7000}, Sources: []netip.Addr{a("192.0.2.14")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Addr{a("192.0.2.10"), a("192.0.2.11"), a("2001:db8:2::10"), a("192.0.2.13")}
	if got := lcSources(p); !slices.Equal(got, want) {
		t.Errorf("lcSources: %v, want %v", got, want)
	}
	if got := lcSources(nil); got != nil {
		t.Errorf("lcSources(nil): %v", got)
	}
	q, err := policy.New([]policy.ConnectRule{{Destination: netip.MustParsePrefix("10.0.0.0/8"), Sources: []netip.Addr{a("192.0.2.10")}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := lcSources(q); got != nil {
		t.Errorf("no lc rule: %v", got)
	}
}
