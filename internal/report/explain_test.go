package report

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/policy"
)

func TestParseTarget(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		in      string
		addr    netip.AddrPort
		hasPort bool
		host    string
		err     string
	}{
		{in: "10.1.2.3", addr: ap("10.1.2.3:0")},
		{in: "10.1.2.3:80", addr: ap("10.1.2.3:80"), hasPort: true},
		{in: "0.0.0.0:0", addr: ap("0.0.0.0:0"), hasPort: true},
		{in: "2001:db8::1", addr: ap("[2001:db8::1]:0")},
		{in: "[2001:db8::1]", addr: ap("[2001:db8::1]:0")},
		{in: "[2001:db8::1]:443", addr: ap("[2001:db8::1]:443"), hasPort: true},
		{in: "::ffff:10.9.9.9", addr: ap("[::ffff:10.9.9.9]:0")},
		{in: "db.example", host: "db.example"},
		{in: "db.example:443", host: "db.example", addr: netip.AddrPortFrom(netip.Addr{}, 443), hasPort: true},
		{in: "10.1.2.3:99999", err: `--explain "10.1.2.3:99999": invalid port "99999": a port is a number from 0 to 65535; want an address or host name with or without a port, like 10.1.2.3:443, [2001:db8::1]:443 or db.example:443`},
		{in: "10.1.2.3:http", err: `invalid port "http"`},
		{in: "10.1.2.3:-1", err: `invalid port "-1"`},
		{in: "[fe80::1%eth0]:80", err: "an address with a zone"},
		{in: "", err: "no address"},
		{in: ":80", err: "no address"},
		{in: "a b", err: "not an IP address or host name"},
		{in: "10.0.0.0/8", err: "not an IP address or host name"},
	}
	for _, tt := range tests {
		q, err := parseTarget(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseTarget(%q) = %+v, %v; want an error with %q", tt.in, q, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseTarget(%q): %v", tt.in, err)
			continue
		}
		if q.addr != tt.addr || q.hasPort != tt.hasPort || q.host != tt.host {
			t.Errorf("parseTarget(%q) = %v %v %q, want %v %v %q", tt.in, q.addr, q.hasPort, q.host, tt.addr, tt.hasPort, tt.host)
		}
	}
}

// fakeResolver answers from a table: the unit tests of name resolution ask
// no DNS server.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestResolveTarget(t *testing.T) {
	r := fakeResolver{"db.example": {netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("::ffff:10.1.2.4"), netip.MustParseAddr("2001:db8::3")}}
	q, err := parseTarget("db.example:443")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := q.resolve(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.1.2.3:443", "10.1.2.4:443", "[2001:db8::3]:443"}
	if len(ts) != len(want) {
		t.Fatalf("resolved %v, want %v", ts, want)
	}
	for i, tg := range ts {
		if tg.addr.String() != want[i] || !tg.hasPort || tg.host != "db.example" {
			t.Errorf("target %d = %+v, want %s from db.example", i, tg, want[i])
		}
	}
	q, _ = parseTarget("nowhere.example")
	if _, err := q.resolve(context.Background(), r); err == nil || err.Error() != "--explain nowhere.example: host name not found" {
		t.Errorf("unknown host: %v", err)
	}
	q, _ = parseTarget("10.1.2.3:80")
	ts, err = q.resolve(context.Background(), fakeResolver{})
	if err != nil || len(ts) != 1 || ts[0].addr != netip.MustParseAddrPort("10.1.2.3:80") {
		t.Errorf("an address resolved to %v, %v", ts, err)
	}
}

// TestExplainRule: the rule line names the rule the call matched, from
// Match's own rule: of the rules one src_vipa.conf line with a host name
// gives (one origin), the one whose destination matched.
func TestExplainRule(t *testing.T) {
	src := []netip.Addr{netip.MustParseAddr("192.0.2.1")}
	p, err := policy.New([]policy.ConnectRule{
		{Destination: netip.MustParsePrefix("10.0.0.1/32"), Sources: src, Origin: "h:1"},
		{Destination: netip.MustParsePrefix("10.0.0.2/32"), Ports: policy.PortRange{Lo: 80, Hi: 80}, Sources: src, Origin: "h:1"},
		{Interface: "veth1", Ports: policy.PortRange{Lo: 53, Hi: 53}, Protocol: policy.UDP, Sources: src, Origin: "i:2"},
	}, []policy.BindRule{{Ports: policy.PortRange{Lo: 6000, Hi: 6000}, Sources: src, Origin: "b:3"}})
	if err != nil {
		t.Fatal(err)
	}
	p, err = p.WithEnv(policy.Env{Route: func(netip.Addr) (string, bool) { return "veth1", true }})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ dst, want string }{
		{"10.0.0.1:80", "h:1, destination 10.0.0.1/32"},
		{"10.0.0.2:80", "h:1, destination 10.0.0.2/32, ports 80"},
		{"198.51.100.1:53", "i:2, interface veth1, ports 53, protocol udp: no [[connect]] rule matches, and the route goes out of veth1"},
		{"0.0.0.0:6000", "b:3, ports 6000"},
	} {
		var b strings.Builder
		if !explain(&b, p, &explainNote{}, nil, target{addr: netip.MustParseAddrPort(tt.dst), hasPort: true}, policy.UDP) {
			t.Errorf("%s: no rule matched", tt.dst)
			continue
		}
		want := fmt.Sprintf("%-12s %s\n", "rule:", tt.want)
		if !strings.Contains(b.String(), want) {
			t.Errorf("%s: explained\n%s\nwant the line %q", tt.dst, b.String(), want)
		}
	}
}
