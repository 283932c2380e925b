package conf

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/policy/policytest"
)

// testResolver answers from a fixed table, like /etc/hosts.
type testResolver map[string][]netip.Addr

func (r testResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	if network != "ip" {
		return nil, errors.New("testResolver: network " + network)
	}
	if as, ok := r[host]; ok {
		return as, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// hosts are the names the tests of this package may look up.
var hosts = testResolver{
	"vipa-a":    addrs("::ffff:192.0.2.20"), // net.Resolver gives IPv4 so
	"vipa-b":    addrs("192.0.2.21", "2001:db8:2::21"),
	"vipa6":     addrs("2001:db8:2::30"),
	"servers":   addrs("10.1.2.3", "10.7.0.9", "2001:db8:1::3"),
	"localhost": addrs("127.0.0.1", "::1"),
}

// No test of this package, the fuzzers least of all, may ask a DNS server.
func init() { defaultResolver = hosts }

func TestIsLegacy(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"empty", "", false},
		{"only comments", lines(`# 10.0.0.0/8 onevipa 192.0.2.1`, ``), false},
		{"TOML table", pad(), false},
		{"TOML key first", lines(`connect = []`), false},
		{"TOML table after a comment", lines(`# src_vipa.conf`, `[[connect]]`), false},
		{"TOML syntax error", lines(`destination "10.0.0.0/8"`), false},
		{"not a policy at all", lines(`hello world`), false},
		{"connect line", lines(`10.0.0.0/8 onevipa 192.0.2.1`), true},
		{"host name destination", lines(`servers/32 onevipa 192.0.2.1`), true},
		{".INADDR_ANY line", lines(`.INADDR_ANY 80 onevipa 192.0.2.1`), true},
		{"after comments and blanks", lines(`# x = 1`, `   `, `  # [y]`, `10.0.0.0/8 onevipa 192.0.2.1`), true},
		{"address without mask", lines(`10.0.0.0 onevipa 192.0.2.1`), true},
		{"byte order mark", "\ufeff10.0.0.0/8 onevipa 192.0.2.1\n", true},
		{"comment with TOML characters", lines(`10.0.0.0/8 onevipa 192.0.2.1 # a = ["b"]`), true},
		{"CRLF", "10.0.0.0/8 onevipa 192.0.2.1\r\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsLegacy([]byte(tt.in)); got != tt.want {
				t.Errorf("IsLegacy(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// readLegacyTests are valid src_vipa.conf files, the rules and warnings they
// give. They seed FuzzLegacy too.
var readLegacyTests = []struct {
	name     string
	in       string
	want     []string // rules(p)
	warnings []string
	names    map[netip.Addr]string
}{
	{
		name: "comments and blank lines",
		in:   lines(`# src_vipa.conf`, ``, `   `, `10.0.0.0/8 onevipa 192.0.2.1`, `# end`),
		want: []string{"connect 10.0.0.0/8 [192.0.2.1] onevipa continue f.conf:4"},
	},
	{
		name: "every policy",
		in: lines(
			`10.1.0.0/16 onevipa 192.0.2.1 192.0.2.2`,
			`10.2.0.0/16 random 192.0.2.1 192.0.2.2`,
			`10.3.0.0/16 lrr 192.0.2.1 192.0.2.2`,
			`10.4.0.0/16 rr:640 192.0.2.1 192.0.2.2`,
			`10.5.0.0/16 lc 192.0.2.1 192.0.2.2`,
		),
		want: []string{
			"connect 10.1.0.0/16 [192.0.2.1 192.0.2.2] onevipa continue f.conf:1",
			"connect 10.2.0.0/16 [192.0.2.1 192.0.2.2] random continue f.conf:2",
			"connect 10.3.0.0/16 [192.0.2.1 192.0.2.2] lrr continue f.conf:3",
			"connect 10.4.0.0/16 [192.0.2.1 192.0.2.2] rr continue f.conf:4",
			"connect 10.5.0.0/16 [192.0.2.1 192.0.2.2] lc continue f.conf:5",
		},
	},
	{
		name: "unparseable policies fall back to round robin",
		in:   lines(`10.0.0.0/8 roundrobin 192.0.2.1`, `# rr needs three octal digits`, `10.1.0.0/16 rr:800 192.0.2.1`, `10.2.0.0/16 ONEVIPA 192.0.2.1`),
		want: []string{
			"connect 10.0.0.0/8 [192.0.2.1] rr continue f.conf:1",
			"connect 10.1.0.0/16 [192.0.2.1] rr continue f.conf:3",
			"connect 10.2.0.0/16 [192.0.2.1] rr continue f.conf:4",
		},
		warnings: []string{
			`f.conf:1: warning: policy "roundrobin" is not one of onevipa, random, lrr, rr:ABC, lc; using round robin (rr), as src_vipa does`,
			`f.conf:3: warning: policy "rr:800" is not one of onevipa, random, lrr, rr:ABC, lc; using round robin (rr), as src_vipa does`,
			`f.conf:4: warning: policy "ONEVIPA" is not one of onevipa, random, lrr, rr:ABC, lc; using round robin (rr), as src_vipa does`,
		},
	},
	{
		name:  "host names",
		in:    lines(`10.0.0.0/8 onevipa vipa-a 192.0.2.1 vipa-b`, `2001:db8::/32 random vipa-b vipa6`),
		want:  []string{"connect 10.0.0.0/8 [192.0.2.20 192.0.2.1 192.0.2.21] onevipa continue f.conf:1", "connect 2001:db8::/32 [2001:db8:2::21 2001:db8:2::30] random continue f.conf:2"},
		names: map[netip.Addr]string{addrs("192.0.2.20")[0]: "vipa-a", addrs("192.0.2.21")[0]: "vipa-b", addrs("2001:db8:2::21")[0]: "vipa-b", addrs("2001:db8:2::30")[0]: "vipa6"},
	},
	{
		name:     "sources of the other family are left out",
		in:       lines(`10.0.0.0/8 onevipa 192.0.2.1 vipa6 2001:db8::1`),
		want:     []string{"connect 10.0.0.0/8 [192.0.2.1] onevipa continue f.conf:1"},
		warnings: []string{"f.conf:1: warning: source vipa6 has no IPv4 address; it is left out of this IPv4 destination", "f.conf:1: warning: source 2001:db8::1 is not IPv4; it is left out of this IPv4 destination, as src_vipa does"},
	},
	{
		name: "destination host name",
		in:   lines(`servers/32 lrr 192.0.2.1 192.0.2.2`, `servers/64 onevipa 2001:db8:2::10`),
		want: []string{
			"connect 10.1.2.3/32 [192.0.2.1 192.0.2.2] lrr continue f.conf:1",
			"connect 10.7.0.9/32 [192.0.2.1 192.0.2.2] lrr continue f.conf:1",
			"connect 2001:db8:1::/64 [2001:db8:2::10] onevipa continue f.conf:2",
		},
	},
	{
		name:     "host bits are ignored, as src_vipa does",
		in:       lines(`10.1.2.3/8 onevipa 192.0.2.1`),
		want:     []string{"connect 10.0.0.0/8 [192.0.2.1] onevipa continue f.conf:1"},
		warnings: []string{"f.conf:1: warning: 10.1.2.3/8 has host bits set; it matches 10.0.0.0/8, as in src_vipa"},
	},
	{
		name: "the later of two lines for a destination wins",
		in:   lines(`10.0.0.0/8 onevipa 192.0.2.1`, `10.1.0.0/16 onevipa 192.0.2.3`, `10.0.0.0/8 random 192.0.2.2 192.0.2.1`),
		want: []string{
			"connect 10.1.0.0/16 [192.0.2.3] onevipa continue f.conf:2",
			"connect 10.0.0.0/8 [192.0.2.2 192.0.2.1] random continue f.conf:3",
		},
		warnings: []string{"f.conf:1: warning: destination 10.0.0.0/8 is also at line 3, which wins as in src_vipa; this line's rule for it is ignored"},
	},
	{
		name: ".INADDR_ANY, both forms",
		in:   lines(`.INADDR_ANY 80 onevipa 192.0.2.1`, `.INADDR_ANY 6000-6999 lrr 192.0.2.1 vipa-a`, `.INADDR_ANY 0 random 2001:db8::1 vipa6`),
		want: []string{
			"bind 80 [192.0.2.1] onevipa continue f.conf:1",
			"bind 6000-6999 [192.0.2.1 192.0.2.20] lrr continue f.conf:2",
			"bind 0 [2001:db8::1 2001:db8:2::30] random continue f.conf:3",
		},
		names: map[netip.Addr]string{addrs("192.0.2.20")[0]: "vipa-a", addrs("2001:db8:2::30")[0]: "vipa6"},
	},
	{
		name: "a later .INADDR_ANY line carves a range out of an earlier one",
		in:   lines(`.INADDR_ANY 6000-6999 onevipa 192.0.2.1`, `.INADDR_ANY 6500-6599 onevipa 0.0.0.0`, `.INADDR_ANY 7000 onevipa ::`),
		want: []string{
			"bind 6500-6599 [0.0.0.0] onevipa continue f.conf:2",
			"bind 6000-6999 [192.0.2.1] onevipa continue f.conf:1",
			"bind 7000 [::] onevipa continue f.conf:3",
		},
	},
	{
		name: "overlaps reorder only what they must",
		in: lines(
			`.INADDR_ANY 1-100 onevipa 192.0.2.1`,
			`10.0.0.0/8 onevipa 192.0.2.1`,
			`.INADDR_ANY 200 onevipa 192.0.2.2`,
			`.INADDR_ANY 50-60 onevipa 192.0.2.3`,
			`.INADDR_ANY 55 onevipa 192.0.2.4`,
			`.INADDR_ANY 100-200 onevipa 192.0.2.5`,
		),
		want: []string{
			"connect 10.0.0.0/8 [192.0.2.1] onevipa continue f.conf:2",
			"bind 55 [192.0.2.4] onevipa continue f.conf:5",
			"bind 50-60 [192.0.2.3] onevipa continue f.conf:4",
			"bind 100-200 [192.0.2.5] onevipa continue f.conf:6",
			"bind 1-100 [192.0.2.1] onevipa continue f.conf:1",
			"bind 200 [192.0.2.2] onevipa continue f.conf:3",
		},
	},
	{
		name:     "a source listed twice counts once",
		in:       lines(`10.0.0.0/8 rr:600 192.0.2.1 192.0.2.2 192.0.2.1`),
		want:     []string{"connect 10.0.0.0/8 [192.0.2.1 192.0.2.2] rr continue f.conf:1"},
		warnings: []string{"f.conf:1: warning: source 192.0.2.1 is listed twice; vipa-exec uses it once"},
	},
	{
		name: "more than src_vipa's 8 sources",
		in:   lines(`10.0.0.0/8 random 192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5 192.0.2.6 192.0.2.7 192.0.2.8 192.0.2.9 192.0.2.10`),
		want: []string{"connect 10.0.0.0/8 [192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5 192.0.2.6 192.0.2.7 192.0.2.8 192.0.2.9 192.0.2.10] random continue f.conf:1"},
	},
	{
		name: "CRLF, tabs, indentation and comments after rules",
		in:   "# dos\r\n\t10.0.0.0/8\tonevipa  192.0.2.1 # first\r\n  .INADDR_ANY 80 onevipa 192.0.2.1\t#second\r\n",
		want: []string{"connect 10.0.0.0/8 [192.0.2.1] onevipa continue f.conf:2", "bind 80 [192.0.2.1] onevipa continue f.conf:3"},
	},
}

func TestReadLegacy(t *testing.T) {
	for _, tt := range readLegacyTests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Read(t.Context(), "f.conf", []byte(tt.in), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Format != FormatLegacy {
				t.Errorf("Format = %v, want %v", r.Format, FormatLegacy)
			}
			if d := diff(tt.want, rules(r.Policy)); d != "" {
				t.Errorf("rules (-want +got):\n%s", d)
			}
			var warnings []string
			for _, w := range r.Warnings {
				warnings = append(warnings, w.String())
			}
			if d := diff(tt.warnings, warnings); d != "" {
				t.Errorf("warnings (-want +got):\n%s", d)
			}
			if tt.names == nil {
				tt.names = map[netip.Addr]string{}
			}
			if d := diff(tt.names, r.Names); d != "" {
				t.Errorf("names (-want +got):\n%s", d)
			}
		})
	}
}

func TestReadLegacyBindWildcard(t *testing.T) {
	// 0.0.0.0 keeps a bind on the wildcard of the socket's own family:
	// an AF_INET6 socket gets ::, not ::ffff:0.0.0.0, which would make it
	// IPv4-only.
	r, err := Read(t.Context(), "f.conf", []byte(lines(`.INADDR_ANY 6500-6599 onevipa 0.0.0.0`)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v6 := range []bool{false, true} {
		got, _, ok := policytest.Bind(r.Policy, v6, 6500, 1)
		want := netip.IPv4Unspecified()
		if v6 {
			want = netip.IPv6Unspecified()
		}
		if !ok || got != want {
			t.Errorf("Bind(v6=%v, 6500) = %v, %v; want %v", v6, got, ok, want)
		}
	}
}

func TestLegacyPolicy(t *testing.T) {
	tests := []struct {
		tok, name, mode string
		ok              bool
	}{
		{"onevipa", "onevipa", "", true},
		{"random", "random", "", true},
		{"lrr", "lrr", "", true},
		{"lc", "lc", "", true},
		{"rr:600", "rr", "0600", true},
		{"rr:007", "rr", "0007", true},
		{"rr:8", "rr", "", false},
		{"rr:6000", "rr", "", false},
		{"rr:680", "rr", "", false},
		{"rr", "rr", "", false},
		{"Random", "rr", "", false},
		{"", "rr", "", false},
	}
	for _, tt := range tests {
		name, mode, ok := legacyPolicy(tt.tok)
		if name != tt.name || mode != tt.mode || ok != tt.ok {
			t.Errorf("legacyPolicy(%q) = %q, %q, %v; want %q, %q, %v", tt.tok, name, mode, ok, tt.name, tt.mode, tt.ok)
		}
	}
}

// legacyErrorTests are invalid src_vipa.conf files, with where and how each
// is reported. They seed FuzzLegacy too.
var legacyErrorTests = []struct {
	name string
	in   string
	line int
	key  string
	err  error
	msg  string
}{
	{
		name: "no mask",
		in:   lines(`# x`, `10.0.0.0 onevipa 192.0.2.1`),
		line: 2, key: "destination", err: policy.ErrInvalidDestination,
		msg: `f.conf:2: destination: "10.0.0.0" has no /MASK; write 10.0.0.0/32 for one host`,
	},
	{
		name: "mask too long",
		in:   lines(`10.0.0.0/33 onevipa 192.0.2.1`),
		line: 1, key: "destination", err: policy.ErrInvalidDestination,
		msg: `f.conf:1: destination: "10.0.0.0/33": an IPv4 mask has at most 32 bits`,
	},
	{
		name: "dotted mask",
		in:   lines(`10.0.0.0/255.0.0.0 onevipa 192.0.2.1`),
		line: 1, key: "destination", err: policy.ErrInvalidDestination,
		msg: `f.conf:1: destination: "10.0.0.0/255.0.0.0": MASK must be the number of bits of the network part, like 10.0.0.0/8`,
	},
	{
		name: "mask too long for a host name's address",
		in:   lines(`servers/40 onevipa 192.0.2.1`),
		line: 1, key: "destination", err: policy.ErrInvalidDestination,
		msg: `f.conf:1: destination: servers/40: servers resolves to 10.1.2.3, whose mask has at most 32 bits`,
	},
	{
		name: "bad destination",
		in:   lines(`10.0.0.300/8 onevipa 192.0.2.1`),
		line: 1, key: "destination", err: policy.ErrInvalidDestination,
		msg: `f.conf:1: destination: "10.0.0.300/8" is not an address or host name with a /MASK, like 10.0.0.0/8`,
	},
	{
		name: "src_vipa 1.x line without a policy",
		in:   lines(`10.0.0.0/8 onevipa 192.0.2.1`, `10.1.0.0/16 192.0.2.1`),
		line: 2, key: "policy", err: ErrMissingKey,
		msg: `f.conf:2: policy: missing POLICY before the sources (onevipa, random, lrr, rr:ABC, lc); a src_vipa 1.x line needs one, like onevipa`,
	},
	{
		name: "no sources",
		in:   lines(`10.0.0.0/8 onevipa`),
		line: 1, key: "sources", err: ErrMissingKey,
		msg: `f.conf:1: sources: no source after the policy onevipa`,
	},
	{
		name: "destination alone",
		in:   lines(`10.0.0.0/8`),
		line: 1, key: "policy", err: ErrMissingKey,
		msg: `f.conf:1: policy: missing POLICY (onevipa, random, lrr, rr:ABC, lc) and sources`,
	},
	{
		name: ".INADDR_ANY alone",
		in:   lines(`.INADDR_ANY`),
		line: 1, err: ErrLegacySyntax,
		msg: `f.conf:1: want .INADDR_ANY PORT[-PORT] POLICY SOURCE...`,
	},
	{
		name: "port out of range",
		in:   lines(`.INADDR_ANY 70000 onevipa 192.0.2.1`),
		line: 1, key: "ports", err: policy.ErrInvalidPorts,
		msg: `f.conf:1: ports: "70000" is not a port or a range P1-P2 of ports 0-65535, like 6000-6999`,
	},
	{
		name: "reversed ports",
		in:   lines(`.INADDR_ANY 7000-6000 onevipa 192.0.2.1`),
		line: 1, key: "ports", err: policy.ErrInvalidPorts,
		msg: `f.conf:1: ports: "7000-6000" is not a port or a range P1-P2 of ports 0-65535, like 6000-6999`,
	},
	{
		name: "a line of neither form",
		in:   lines(`10.0.0.0/8 onevipa 192.0.2.1`, `INADDR_ANY 80 onevipa 192.0.2.1`),
		line: 2, err: ErrLegacySyntax,
		msg: `f.conf:2: want DEST/MASK POLICY SOURCE..., .INADDR_ANY PORTS POLICY SOURCE... or a # comment`,
	},
	{
		name: "TOML in a src_vipa.conf file",
		in:   lines(`10.0.0.0/8 onevipa 192.0.2.1`, `[[connect]]`),
		line: 2, err: ErrLegacySyntax,
		msg: `f.conf:2: want DEST/MASK POLICY SOURCE..., .INADDR_ANY PORTS POLICY SOURCE... or a # comment`,
	},
	{
		name: "bad source",
		in:   lines(`10.0.0.0/8 onevipa 192.0.2.300`),
		line: 1, key: "sources", err: policy.ErrInvalidSource,
		msg: `f.conf:1: sources: "192.0.2.300" is not an IP address or host name`,
	},
	{
		name: "# inside a word is no comment",
		in:   lines(`10.0.0.0/8 onevipa 192.0.2.1 a#b # c`),
		line: 1, key: "sources", err: policy.ErrInvalidSource,
		msg: `f.conf:1: sources: "a#b" is not an IP address or host name`,
	},
	{
		name: "unknown host name",
		in:   lines(`# x`, `10.0.0.0/8 onevipa 192.0.2.1 nosuchhost`),
		line: 2, key: "sources", err: ErrResolve,
		msg: `f.conf:2: sources: cannot resolve "nosuchhost": lookup nosuchhost: no such host`,
	},
	{
		name: "unknown destination host name",
		in:   lines(`nosuchhost/32 onevipa 192.0.2.1`),
		line: 1, key: "destination", err: ErrResolve,
		msg: `f.conf:1: destination: cannot resolve "nosuchhost": lookup nosuchhost: no such host`,
	},
	{
		name: "0.0.0.0 in a connect rule",
		in:   lines(`10.0.0.0/8 onevipa 0.0.0.0`),
		line: 1, key: "sources", err: policy.ErrInvalidSource,
		msg: `f.conf:1: sources: 0.0.0.0 is a source only of .INADDR_ANY lines, where it leaves the bind on the wildcard address`,
	},
	{
		name: "no source of the destination's family",
		in:   lines(`10.0.0.0/8 onevipa 2001:db8::1 vipa6`),
		line: 1, key: "sources", err: policy.ErrFamilyMismatch,
		msg: `f.conf:1: sources: no source of the destination's family: the destination 10.0.0.0 is IPv4`,
	},
	{
		name: "multicast source, judged by package policy",
		in:   lines(`10.0.0.0/8 onevipa 192.0.2.1`, ``, `.INADDR_ANY 80 onevipa 192.0.2.1 224.0.0.1`),
		line: 3, key: "sources", err: policy.ErrInvalidSource,
		msg: `f.conf:3: sources: invalid source: 224.0.0.1 is a multicast address`,
	},
	{
		name: "IPv4-mapped destination, judged by package policy",
		in:   lines(`::ffff:10.0.0.0/104 onevipa 2001:db8::1`),
		line: 1, key: "destination", err: policy.ErrInvalidDestination,
		msg: `f.conf:1: destination: invalid destination: ::ffff:10.0.0.0/104 is IPv4-mapped; write 10.0.0.0/8 (IPv4 rules also match IPv4-mapped destinations)`,
	},
}

func TestReadLegacyErrors(t *testing.T) {
	for _, tt := range legacyErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Read(t.Context(), "f.conf", []byte(tt.in), Options{})
			if err == nil {
				t.Fatalf("Read() = %v, want an error", rules(r.Policy))
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Read() error %T (%v) is not a *Error", err, err)
			}
			type where struct {
				File string
				Line int
				Key  string
			}
			if d := diff(where{"f.conf", tt.line, tt.key}, where{e.File, e.Line, e.Key}); d != "" {
				t.Errorf("position (-want +got):\n%s", d)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("Read() error %v does not wrap %v", err, tt.err)
			}
			if d := diff(tt.msg, err.Error()); d != "" {
				t.Errorf("message (-want +got):\n%s", d)
			}
		})
	}
}

func TestReadLegacyResolveErrorWraps(t *testing.T) {
	_, err := Read(t.Context(), "f.conf", []byte(lines(`10.0.0.0/8 onevipa nosuchhost`)), Options{})
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("Read() error %v does not wrap the resolver's *net.DNSError", err)
	}
}

func TestReadLegacyResolver(t *testing.T) {
	// Options.Resolver overrides the default, and each name is looked up
	// once.
	calls := map[string]int{}
	r := countingResolver{testResolver{"gw": addrs("192.0.2.99")}, calls}
	res, err := Read(t.Context(), "f.conf", []byte(lines(`10.0.0.0/8 onevipa gw`, `.INADDR_ANY 80 onevipa gw`)), Options{Resolver: r})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"connect 10.0.0.0/8 [192.0.2.99] onevipa continue f.conf:1", "bind 80 [192.0.2.99] onevipa continue f.conf:2"}
	if d := diff(want, rules(res.Policy)); d != "" {
		t.Errorf("rules (-want +got):\n%s", d)
	}
	if d := diff(map[string]int{"gw": 1}, calls); d != "" {
		t.Errorf("lookups (-want +got):\n%s", d)
	}
}

type countingResolver struct {
	Resolver
	calls map[string]int
}

func (r countingResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.calls[host]++
	return r.Resolver.LookupNetIP(ctx, network, host)
}

func TestParseLegacy(t *testing.T) {
	// Parse, which the supervisor calls, reads src_vipa.conf files too.
	p, err := Parse("f.conf", []byte(lines(`10.0.0.0/8 onevipa vipa-a`)))
	if err != nil {
		t.Fatal(err)
	}
	if d := diff([]string{"connect 10.0.0.0/8 [192.0.2.20] onevipa continue f.conf:1"}, rules(p)); d != "" {
		t.Errorf("rules (-want +got):\n%s", d)
	}
}

func TestWarningString(t *testing.T) {
	w := Warning{File: "a.conf", Line: 3, Msg: "two\nlines"}
	if got, want := w.String(), `a.conf:3: warning: two\nlines`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// FuzzLegacy checks that reading a src_vipa.conf file is deterministic,
// fails with one-line errors at a line of the file, and that a file it
// accepts converts to TOML that gives the same rules.
func FuzzLegacy(f *testing.F) {
	for _, tt := range readLegacyTests {
		f.Add([]byte(tt.in))
	}
	for _, tt := range legacyErrorTests {
		f.Add([]byte(tt.in))
	}
	files, _ := filepath.Glob("testdata/*.conf")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !IsLegacy(data) {
			return
		}
		const name = "f.conf"
		nlines := 1 + strings.Count(string(data), "\n")
		r, err := Read(t.Context(), name, data, Options{})
		_, err2 := Read(t.Context(), name, data, Options{})
		if errString(err) != errString(err2) {
			t.Fatalf("two reads differ: %v / %v", err, err2)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T (%v) is not a *Error", err, err)
			}
			msg := err.Error()
			if e.File != name || e.Line < 1 || e.Line > nlines || strings.ContainsAny(msg, "\n\r") || e.Err == nil ||
				!strings.HasPrefix(msg, name+":"+strconv.Itoa(e.Line)+": ") {
				t.Fatalf("bad error %q (line %d of %d, cause %v)", msg, e.Line, nlines, e.Err)
			}
			if _, _, cerr := Convert(t.Context(), name, data, Options{}); errString(cerr) != errString(err) {
				t.Fatalf("Convert() error %v, Read() error %v", cerr, err)
			}
			return
		}
		checkConsistent(t, r.Policy, name, nlines)
		for _, w := range r.Warnings {
			if w.File != name || w.Line < 1 || w.Line > nlines {
				t.Fatalf("warning at %s:%d, want %s:1-%d", w.File, w.Line, name, nlines)
			}
		}
		out, warnings, err := Convert(t.Context(), name, data, Options{})
		if err != nil {
			t.Fatalf("Read() accepted the file, Convert() failed: %v", err)
		}
		if d := diff(r.Warnings, warnings); d != "" {
			t.Fatalf("Convert() warnings (-Read +Convert):\n%s", d)
		}
		checkConverted(t, r.Policy, out)
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// flipResolver answers each name with the next of its answers on every
// lookup, as a DNS record that changes between two reads would, and
// counts the lookups.
type flipResolver struct {
	answers map[string][][]netip.Addr
	asked   map[string]int
	calls   int
}

func (r *flipResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	as := r.answers[host]
	if len(as) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	a := as[r.asked[host]%len(as)]
	r.asked[host]++
	r.calls++
	return a, nil
}

// TestResolveOnce: what Read resolved (Result.Hosts), read again through
// StaticResolver, gives the same policy without a lookup, however the
// names would resolve now.
func TestResolveOnce(t *testing.T) {
	in := lines(
		`servers/32 rr web-vip db-vip`,
		`.INADDR_ANY 6000-6999 onevipa web-vip`,
	)
	r := &flipResolver{answers: map[string][][]netip.Addr{
		"servers": {addrs("10.1.2.3", "2001:db8:1::3"), addrs("10.6.6.6")},
		"web-vip": {addrs("192.0.2.10"), addrs("192.0.2.66")},
		"db-vip":  {addrs("::ffff:192.0.2.11", "2001:db8:2::11"), addrs("192.0.2.67")},
	}, asked: map[string]int{}}
	first, err := Read(context.Background(), "f.conf", []byte(in), Options{Resolver: r})
	if err != nil {
		t.Fatal(err)
	}
	lookups := r.calls
	if lookups != 3 {
		t.Errorf("Read looked up %d names, want each of 3 once", lookups)
	}
	want := map[string][]netip.Addr{
		"servers": addrs("10.1.2.3", "2001:db8:1::3"),
		"web-vip": addrs("192.0.2.10"),
		"db-vip":  addrs("192.0.2.11", "2001:db8:2::11"),
	}
	if d := diff(want, first.Hosts); d != "" {
		t.Errorf("Hosts (-want +got):\n%s", d)
	}
	again, err := Read(context.Background(), "f.conf", []byte(in), Options{Resolver: StaticResolver(first.Hosts)})
	if err != nil {
		t.Fatal(err)
	}
	if r.calls != lookups {
		t.Errorf("the second Read looked up %d names, want none", r.calls-lookups)
	}
	if d := diff(rules(first.Policy), rules(again.Policy)); d != "" {
		t.Errorf("policy read again (-first +again):\n%s", d)
	}
	// A name the launcher did not resolve fails rather than being looked up.
	if _, err := Read(context.Background(), "f.conf", []byte(in+"10.0.0.0/8 onevipa other-vip\n"), Options{Resolver: StaticResolver(first.Hosts)}); !errors.Is(err, ErrResolve) {
		t.Errorf("a name not in Hosts: %v, want ErrResolve", err)
	}
}
