package policy

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// diff is the (-want +got) diff that every test of this project uses.
var diff = testutil.Diff

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// fixed returns the source at a fixed index, to check which candidates a
// rule offered without depending on randomness.
type fixed int

func (f fixed) Select(c Call) int { return int(f) }

func testPolicy(t testing.TB) *Policy {
	t.Helper()
	p, err := New([]ConnectRule{
		{Destination: pfx("10.0.0.0/8"), Sources: addrs("192.0.2.8"), Origin: "a:1"},
		{Destination: pfx("10.1.0.0/16"), Sources: addrs("192.0.2.16", "192.0.2.17"), Origin: "a:2"},
		{Destination: pfx("10.1.2.3/32"), Sources: addrs("192.0.2.32"), Origin: "a:3"},
		// Shorter than the rules above but later in the file: order does not matter.
		{Destination: pfx("0.0.0.0/0"), Sources: addrs("192.0.2.1"), Origin: "a:4"},
		{Destination: pfx("10.1.2.0/24"), Sources: addrs("192.0.2.24"), Origin: "a:5"},
		{Destination: pfx("2001:db8:1::/48"), Sources: addrs("2001:db8::48"), Origin: "a:6"},
		{Destination: pfx("2001:db8::/32"), Sources: addrs("2001:db8::32"), Origin: "a:7"},
		{Destination: pfx("2001:db8:1:2::5/128"), Sources: addrs("2001:db8::128"), Origin: "a:8"},
		{Destination: pfx("::/0"), Sources: addrs("2001:db8::"), Origin: "a:9"},
	}, []BindRule{
		{Ports: PortRange{80, 80}, Sources: addrs("198.51.100.80"), Origin: "b:1"},
		{Ports: PortRange{6000, 6999}, Sources: addrs("2001:db8::60"), Origin: "b:2"},
		{Ports: PortRange{6000, 6999}, Sources: addrs("198.51.100.60"), Origin: "b:3"},
		{Ports: PortRange{7000, 7999}, Sources: addrs("198.51.100.70", "2001:db8::70", "198.51.100.71", "2001:db8::71"), Selector: fixed(1), Origin: "b:4"},
		{Ports: PortRange{0, 0}, Sources: addrs("198.51.100.1"), Origin: "b:5"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConnect(t *testing.T) {
	p := testPolicy(t)
	tests := []struct {
		dst    string
		src    string // "" for no match
		origin string
	}{
		{"10.9.9.9", "192.0.2.8", "a:1"},
		{"10.1.9.9", "192.0.2.16", "a:2"},
		{"10.1.2.4", "192.0.2.24", "a:5"},
		{"10.1.2.3", "192.0.2.32", "a:3"},
		{"11.0.0.1", "192.0.2.1", "a:4"},
		{"0.0.0.0", "192.0.2.1", "a:4"},
		// IPv4-mapped: IPv4 rules, plain IPv4 source, and never ::/0.
		{"::ffff:10.1.2.3", "192.0.2.32", "a:3"},
		{"::ffff:11.0.0.1", "192.0.2.1", "a:4"},
		{"2001:db8:1:2::5", "2001:db8::128", "a:8"},
		{"2001:db8:1:2::6", "2001:db8::48", "a:6"},
		{"2001:db8:2::1", "2001:db8::32", "a:7"},
		{"2001:db8:1:2::5%eth0", "2001:db8::128", "a:8"},
		{"fe80::1%eth0", "2001:db8::", "a:9"},
		{"::1", "2001:db8::", "a:9"},
	}
	for _, tt := range tests {
		t.Run(tt.dst, func(t *testing.T) {
			src, rule, ok := callConnect(p, netip.AddrPortFrom(netip.MustParseAddr(tt.dst), 80), AnyProtocol, 1)
			if !ok {
				t.Fatalf("Connect(%s): no match", tt.dst)
			}
			if d := diff(tt.src, src.String()); d != "" {
				t.Errorf("source (-want +got):%s", d)
			}
			if d := diff(tt.origin, rule.Origin); d != "" {
				t.Errorf("rule (-want +got):%s", d)
			}
		})
	}
}

func TestConnectNoMatch(t *testing.T) {
	p, err := New([]ConnectRule{
		{Destination: pfx("10.0.0.0/8"), Sources: addrs("192.0.2.8")},
		{Destination: pfx("2001:db8::/32"), Sources: addrs("2001:db8::32")},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, dst := range []netip.Addr{
		netip.MustParseAddr("11.0.0.1"),
		netip.MustParseAddr("::ffff:11.0.0.1"),
		// An IPv6 address whose low bits spell 10.x must not match 10/8.
		netip.MustParseAddr("::a01:203"),
		netip.MustParseAddr("2001:db9::1"),
		{},
	} {
		t.Run(dst.String(), func(t *testing.T) {
			if src, rule, ok := callConnect(p, netip.AddrPortFrom(dst, 80), AnyProtocol, 1); ok {
				t.Errorf("Connect(%s) = %s, %+v; want no match", dst, src, rule)
			}
		})
	}
}

func TestBind(t *testing.T) {
	p := testPolicy(t)
	tests := []struct {
		name   string
		v6     bool
		port   uint16
		src    string // "" for no match
		origin string
	}{
		{"v4 single port", false, 80, "198.51.100.80", "b:1"},
		{"v6 single port falls back to IPv4 sources", true, 80, "198.51.100.80", "b:1"},
		{"v4 skips rule without IPv4 sources", false, 6500, "198.51.100.60", "b:3"},
		{"v6 takes first rule with IPv6 sources", true, 6000, "2001:db8::60", "b:2"},
		{"v6 range end", true, 6999, "2001:db8::60", "b:2"},
		{"v4 mixed rule offers only IPv4", false, 7000, "198.51.100.71", "b:4"},
		{"v6 mixed rule offers only IPv6", true, 7999, "2001:db8::71", "b:4"},
		{"port 0", false, 0, "198.51.100.1", "b:5"},
		{"v4 no rule", false, 81, "", ""},
		{"v6 no rule", true, 8000, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, rule, ok := callBind(p, tt.v6, tt.port, 1)
			if tt.src == "" {
				if ok {
					t.Fatalf("Bind(%v, %d) = %s, %+v; want no match", tt.v6, tt.port, src, rule)
				}
				return
			}
			if !ok {
				t.Fatalf("Bind(%v, %d): no match", tt.v6, tt.port)
			}
			if d := diff(tt.src, src.String()); d != "" {
				t.Errorf("source (-want +got):%s", d)
			}
			if d := diff(tt.origin, rule.Origin); d != "" {
				t.Errorf("rule (-want +got):%s", d)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	ok4 := pfx("10.0.0.0/8")
	tests := []struct {
		name    string
		connect []ConnectRule
		bind    []BindRule
		want    error
		rule    RuleError // Err not compared
	}{
		{
			name:    "invalid destination",
			connect: []ConnectRule{{Sources: addrs("192.0.2.1")}},
			want:    ErrInvalidDestination,
			rule:    RuleError{Kind: "connect", Index: 0, Field: "destination", Source: -1},
		},
		{
			name:    "host bits",
			connect: []ConnectRule{{Destination: pfx("10.1.2.3/8"), Sources: addrs("192.0.2.1")}},
			want:    ErrInvalidDestination,
			rule:    RuleError{Kind: "connect", Index: 0, Field: "destination", Source: -1},
		},
		{
			name:    "4in6 destination",
			connect: []ConnectRule{{Destination: pfx("::ffff:10.0.0.0/104"), Sources: addrs("2001:db8::1")}},
			want:    ErrInvalidDestination,
			rule:    RuleError{Kind: "connect", Index: 0, Field: "destination", Source: -1},
		},
		{
			name: "duplicate destination",
			connect: []ConnectRule{
				{Destination: ok4, Sources: addrs("192.0.2.1")},
				{Destination: pfx("10.0.0.0/9"), Sources: addrs("192.0.2.1")},
				{Destination: ok4, Sources: addrs("192.0.2.2")},
			},
			want: ErrDuplicateDestination,
			rule: RuleError{Kind: "connect", Index: 2, Field: "destination", Source: -1},
		},
		{
			name:    "no sources",
			connect: []ConnectRule{{Destination: ok4}},
			want:    ErrNoSources,
			rule:    RuleError{Kind: "connect", Index: 0, Field: "sources", Source: -1},
		},
		{
			name:    "zero source",
			connect: []ConnectRule{{Destination: ok4, Sources: []netip.Addr{netip.MustParseAddr("192.0.2.1"), {}}}},
			want:    ErrInvalidSource,
			rule:    RuleError{Kind: "connect", Index: 0, Field: "sources", Source: 1},
		},
		{
			name:    "family mismatch",
			connect: []ConnectRule{{Destination: ok4, Sources: addrs("192.0.2.1", "2001:db8::1")}},
			want:    ErrFamilyMismatch,
			rule:    RuleError{Kind: "connect", Index: 0, Field: "sources", Source: 1},
		},
		{
			name:    "4in6 source for IPv4 destination",
			connect: []ConnectRule{{Destination: ok4, Sources: addrs("::ffff:192.0.2.1")}},
			want:    ErrInvalidSource,
			rule:    RuleError{Kind: "connect", Index: 0, Field: "sources", Source: 0},
		},
		{
			name:    "duplicate source",
			connect: []ConnectRule{{Destination: ok4, Sources: addrs("192.0.2.1", "192.0.2.2", "192.0.2.1")}},
			want:    ErrDuplicateSource,
			rule:    RuleError{Kind: "connect", Index: 0, Field: "sources", Source: 2},
		},
		{
			name:    "unknown policy",
			connect: []ConnectRule{{Destination: ok4, Sources: addrs("192.0.2.1"), Policy: "roundrobin"}},
			want:    ErrUnknownPolicy,
			rule:    RuleError{Kind: "connect", Index: 0, Field: "policy", Source: -1},
		},
		{
			name:    "connect on_error",
			connect: []ConnectRule{{Destination: ok4, Sources: addrs("192.0.2.1"), OnError: 2}},
			want:    ErrInvalidOnError,
			rule:    RuleError{Kind: "connect", Index: 0, Field: "on_error", Source: -1},
		},
		{
			name:    "connect reversed ports",
			connect: []ConnectRule{{Destination: ok4, Ports: PortRange{90, 80}, Sources: addrs("192.0.2.1")}},
			want:    ErrInvalidPorts,
			rule:    RuleError{Kind: "connect", Index: 0, Field: "ports", Source: -1},
		},
		{
			name:    "connect protocol",
			connect: []ConnectRule{{Destination: ok4, Protocol: 3, Sources: addrs("192.0.2.1")}},
			want:    ErrInvalidProtocol,
			rule:    RuleError{Kind: "connect", Index: 0, Field: "protocol", Source: -1},
		},
		{
			name: "same destination, ports and protocol",
			connect: []ConnectRule{
				{Destination: ok4, Ports: PortRange{80, 80}, Protocol: TCP, Sources: addrs("192.0.2.1")},
				{Destination: ok4, Ports: PortRange{80, 80}, Protocol: UDP, Sources: addrs("192.0.2.1")},
				{Destination: ok4, Ports: PortRange{80, 80}, Protocol: TCP, Sources: addrs("192.0.2.2")},
			},
			want: ErrDuplicateDestination,
			rule: RuleError{Kind: "connect", Index: 2, Field: "destination", Source: -1},
		},
		{
			name: "hidden by a wider earlier rule",
			connect: []ConnectRule{
				{Destination: ok4, Ports: PortRange{80, 80}, Sources: addrs("192.0.2.1")},
				{Destination: ok4, Sources: addrs("192.0.2.1")},
				{Destination: ok4, Ports: PortRange{443, 443}, Protocol: TCP, Sources: addrs("192.0.2.2")},
			},
			want: ErrDuplicateDestination,
			rule: RuleError{Kind: "connect", Index: 2, Field: "destination", Source: -1},
		},
		{
			name:    "connect rr_mode without rr",
			connect: []ConnectRule{{Destination: ok4, Sources: addrs("192.0.2.1"), Policy: LRR, RRMode: 0o644}},
			want:    ErrInvalidRRMode,
			rule:    RuleError{Kind: "connect", Index: 0, Field: "rr_mode", Source: -1},
		},
		{
			name:    "connect rr_mode without owner write",
			connect: []ConnectRule{{Destination: ok4, Sources: addrs("192.0.2.1"), Policy: RR, RRMode: 0o444}},
			want:    ErrInvalidRRMode,
			rule:    RuleError{Kind: "connect", Index: 0, Field: "rr_mode", Source: -1},
		},
		{
			name:    "rr without sources",
			connect: []ConnectRule{{Destination: ok4, Policy: RR}},
			want:    ErrNoSources,
			rule:    RuleError{Kind: "connect", Index: 0, Field: "sources", Source: -1},
		},
		{
			name:    "kernel with a bad source",
			connect: []ConnectRule{{Destination: ok4, Policy: Kernel, Sources: addrs("2001:db8::1")}},
			want:    ErrFamilyMismatch,
			rule:    RuleError{Kind: "connect", Index: 0, Field: "sources", Source: 0},
		},
		{
			name: "bind rr_mode with setuid bit",
			bind: []BindRule{{Ports: PortRange{80, 80}, Sources: addrs("192.0.2.1"), Policy: RR, RRMode: 0o4600}},
			want: ErrInvalidRRMode,
			rule: RuleError{Kind: "bind", Index: 0, Field: "rr_mode", Source: -1},
		},
		{
			name: "bind rr_mode without rr",
			bind: []BindRule{{Ports: PortRange{80, 80}, Sources: addrs("192.0.2.1"), RRMode: 0o600}},
			want: ErrInvalidRRMode,
			rule: RuleError{Kind: "bind", Index: 0, Field: "rr_mode", Source: -1},
		},
		{
			name: "reversed ports",
			bind: []BindRule{{Ports: PortRange{900, 800}, Sources: addrs("192.0.2.1")}},
			want: ErrInvalidPorts,
			rule: RuleError{Kind: "bind", Index: 0, Field: "ports", Source: -1},
		},
		{
			name: "bind no sources",
			bind: []BindRule{{Ports: PortRange{80, 80}, Sources: addrs("192.0.2.1")}, {Ports: PortRange{80, 80}}},
			want: ErrNoSources,
			rule: RuleError{Kind: "bind", Index: 1, Field: "sources", Source: -1},
		},
		{
			name: "bind multicast source",
			bind: []BindRule{{Ports: PortRange{80, 80}, Sources: addrs("2001:db8::1", "ff02::1")}},
			want: ErrInvalidSource,
			rule: RuleError{Kind: "bind", Index: 0, Field: "sources", Source: 1},
		},
		{
			name: "bind unknown policy",
			bind: []BindRule{{Ports: PortRange{80, 80}, Sources: addrs("192.0.2.1"), Policy: "least"}},
			want: ErrUnknownPolicy,
			rule: RuleError{Kind: "bind", Index: 0, Field: "policy", Source: -1},
		},
		{
			name: "bind on_error",
			bind: []BindRule{{Ports: PortRange{80, 80}, Sources: addrs("192.0.2.1"), OnError: 7}},
			want: ErrInvalidOnError,
			rule: RuleError{Kind: "bind", Index: 0, Field: "on_error", Source: -1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.connect, tt.bind)
			if !errors.Is(err, tt.want) {
				t.Fatalf("New() = %v, %v; want error %v", p, err, tt.want)
			}
			var re *RuleError
			if !errors.As(err, &re) {
				t.Fatalf("New() error %T is not a *RuleError", err)
			}
			got := *re
			got.Err = nil
			if d := diff(tt.rule, got); d != "" {
				t.Errorf("RuleError (-want +got):%s", d)
			}
		})
	}
}

func TestCheckSource(t *testing.T) {
	tests := []struct {
		addr string
		want error
	}{
		{"192.0.2.1", nil},
		{"127.0.0.2", nil},
		{"169.254.1.1", nil},
		{"2001:db8::1", nil},
		{"fd00::1", nil},
		{"::1", nil},
		{"0.0.0.0", ErrInvalidSource},
		{"::", ErrInvalidSource},
		{"224.0.0.1", ErrInvalidSource},
		{"ff02::1", ErrInvalidSource},
		{"fe80::1", ErrInvalidSource},
		{"fe80::1%eth0", ErrInvalidSource},
		{"2001:db8::1%eth0", ErrInvalidSource},
		{"::ffff:192.0.2.1", ErrInvalidSource},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if err := CheckSource(netip.MustParseAddr(tt.addr)); !errors.Is(err, tt.want) {
				t.Errorf("CheckSource(%s) = %v, want %v", tt.addr, err, tt.want)
			}
		})
	}
}

func TestCheckDestination(t *testing.T) {
	tests := []struct {
		prefix string
		want   error
		msg    string
	}{
		{"10.0.0.0/8", nil, ""},
		{"0.0.0.0/0", nil, ""},
		{"::/0", nil, ""},
		{"192.0.2.1/32", nil, ""},
		{"10.1.2.3/8", ErrInvalidDestination, "invalid destination: 10.1.2.3/8 has host bits set; did you mean 10.0.0.0/8?"},
		{"2001:db8::1/32", ErrInvalidDestination, "invalid destination: 2001:db8::1/32 has host bits set; did you mean 2001:db8::/32?"},
		{"::ffff:10.0.0.0/104", ErrInvalidDestination, "invalid destination: ::ffff:10.0.0.0/104 is IPv4-mapped; write 10.0.0.0/8 (IPv4 rules also match IPv4-mapped destinations)"},
		{"::ffff:10.1.2.3/104", ErrInvalidDestination, "invalid destination: ::ffff:10.1.2.3/104 is IPv4-mapped; write 10.0.0.0/8 (IPv4 rules also match IPv4-mapped destinations)"},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			err := CheckDestination(pfx(tt.prefix))
			if !errors.Is(err, tt.want) {
				t.Fatalf("CheckDestination(%s) = %v, want %v", tt.prefix, err, tt.want)
			}
			if err != nil {
				if d := diff(tt.msg, err.Error()); d != "" {
					t.Errorf("message (-want +got):%s", d)
				}
			}
		})
	}
}

func TestParsePortRange(t *testing.T) {
	tests := []struct {
		in   string
		want PortRange
		err  string
	}{
		{in: "80", want: PortRange{80, 80}},
		{in: "0", want: PortRange{0, 0}},
		{in: "0-65535", want: PortRange{0, 65535}},
		{in: "6000-6999", want: PortRange{6000, 6999}},
		{in: " 6000 - 6999 ", want: PortRange{6000, 6999}},
		{in: "080", want: PortRange{80, 80}},
		{in: "0-70000", err: `invalid ports "0-70000": port 70000 out of range 0-65535`},
		{in: "900-800", err: `invalid ports "900-800": reversed range; write 800-900`},
		{in: "abc", err: `invalid ports "abc": want a port or a range LO-HI, like "80" or "6000-6999"`},
		{in: "", err: `invalid ports "": want a port or a range LO-HI, like "80" or "6000-6999"`},
		{in: "80-", err: `invalid ports "80-": want a port or a range LO-HI, like "80" or "6000-6999"`},
		{in: "-80", err: `invalid ports "-80": want a port or a range LO-HI, like "80" or "6000-6999"`},
		{in: "1-2-3", err: `invalid ports "1-2-3": want a port or a range LO-HI, like "80" or "6000-6999"`},
		{in: "+80", err: `invalid ports "+80": want a port or a range LO-HI, like "80" or "6000-6999"`},
		{in: "99999999999999999999999", err: `invalid ports "99999999999999999999999": port 99999999999999999999999 out of range 0-65535`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePortRange(tt.in)
			if tt.err != "" {
				if !errors.Is(err, ErrInvalidPorts) {
					t.Fatalf("ParsePortRange(%q) = %v, %v; want ErrInvalidPorts", tt.in, got, err)
				}
				if d := diff(tt.err, err.Error()); d != "" {
					t.Errorf("message (-want +got):%s", d)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := diff(tt.want, got); d != "" {
				t.Errorf("ParsePortRange(%q) (-want +got):%s", tt.in, d)
			}
		})
	}
}

func FuzzParsePortRange(f *testing.F) {
	for _, s := range []string{"80", "0-65535", "900-800", "abc", "1-2", " 5 - 6", "65536", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParsePortRange(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidPorts) {
				t.Fatalf("ParsePortRange(%q) error %v does not wrap ErrInvalidPorts", s, err)
			}
			return
		}
		if r.Lo > r.Hi {
			t.Fatalf("ParsePortRange(%q) = %v: reversed", s, r)
		}
		back, err := ParsePortRange(r.String())
		if err != nil || back != r {
			t.Fatalf("round trip %q -> %v -> %q -> %v, %v", s, r, r.String(), back, err)
		}
	})
}

func TestPortRangeContains(t *testing.T) {
	r := PortRange{10, 20}
	for p, want := range map[uint16]bool{9: false, 10: true, 15: true, 20: true, 21: false} {
		if got := r.Contains(p); got != want {
			t.Errorf("%v.Contains(%d) = %v, want %v", r, p, got, want)
		}
	}
	all := PortRange{0, 65535}
	if !all.Contains(0) || !all.Contains(65535) {
		t.Errorf("%v does not contain its ends", all)
	}
}

func TestOnError(t *testing.T) {
	for _, o := range []OnError{OnErrorContinue, OnErrorFail} {
		got, err := ParseOnError(o.String())
		if err != nil || got != o {
			t.Errorf("ParseOnError(%q) = %v, %v; want %v", o.String(), got, err, o)
		}
	}
	if _, err := ParseOnError("ignore"); !errors.Is(err, ErrInvalidOnError) {
		t.Errorf("ParseOnError(ignore) = %v, want ErrInvalidOnError", err)
	}
}

func TestNewDefaultsAndCopies(t *testing.T) {
	srcs := addrs("192.0.2.1", "192.0.2.2")
	connect := []ConnectRule{{Destination: pfx("10.0.0.0/8"), Sources: srcs, Origin: "x:1"}}
	bind := []BindRule{{Ports: PortRange{80, 80}, Sources: srcs, Policy: "random", Origin: "x:2"}}
	p, err := New(connect, bind)
	if err != nil {
		t.Fatal(err)
	}
	// The caller's slices are not the policy's.
	srcs[0] = netip.MustParseAddr("192.0.2.99")
	connect[0].Origin = "changed"
	got := p.ConnectRules()
	want := []ConnectRule{{Destination: pfx("10.0.0.0/8"), Sources: addrs("192.0.2.1", "192.0.2.2"), Policy: "onevipa", Selector: oneVIPA{}, Origin: "x:1"}}
	if d := diff(want, got); d != "" {
		t.Errorf("ConnectRules (-want +got):%s", d)
	}
	got[0].Sources[0] = netip.MustParseAddr("192.0.2.98")
	if src, _, _ := callConnect(p, netip.MustParseAddrPort("10.0.0.1:80"), AnyProtocol, 1); src != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("Connect after mutating a copy = %s, want 192.0.2.1", src)
	}
	wantBind := []BindRule{{Ports: PortRange{80, 80}, Sources: addrs("192.0.2.1", "192.0.2.2"), Policy: "random", Selector: random{}, Origin: "x:2"}}
	if d := diff(wantBind, p.BindRules()); d != "" {
		t.Errorf("BindRules (-want +got):%s", d)
	}
}

func TestBrokenSelectorPicksFirst(t *testing.T) {
	for _, i := range []int{-1, 2, 1 << 40} {
		p, err := New([]ConnectRule{{Destination: pfx("10.0.0.0/8"), Sources: addrs("192.0.2.1", "192.0.2.2"), Selector: fixed(i)}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if src, _, _ := callConnect(p, netip.MustParseAddrPort("10.0.0.1:80"), AnyProtocol, 1); src != netip.MustParseAddr("192.0.2.1") {
			t.Errorf("selector returning %d: source %s, want 192.0.2.1", i, src)
		}
	}
}

func TestNoAllocs(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			p := benchPolicy(t, name)
			dst4 := netip.MustParseAddrPort("10.3.200.1:80")
			dst46 := netip.MustParseAddrPort("[::ffff:10.3.200.1]:80")
			dst6 := netip.MustParseAddrPort("[2001:db8:3::1]:80")
			var ok bool
			// The supervisor's path: match, then pick.
			call := func(m Match, mok bool) {
				if ok = mok; mok {
					_ = m.Source(1)
				}
			}
			allocs := testing.AllocsPerRun(1000, func() {
				call(p.MatchConnect(dst4, AnyProtocol))
				call(p.MatchConnect(dst46, TCP))
				call(p.MatchConnect(dst6, UDP))
				call(p.MatchBind(false, 8080))
				call(p.MatchBind(true, 8080))
			})
			if !ok {
				t.Fatal("benchmark policy does not match")
			}
			if allocs != 0 {
				t.Errorf("Match* and Source allocate %v times per run, want 0", allocs)
			}
		})
	}
}
