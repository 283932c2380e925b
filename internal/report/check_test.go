package report

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/conf"
	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

func TestFindPolicy(t *testing.T) {
	dir := t.TempDir()
	toml := filepath.Join(dir, "policy.toml")
	legacy := filepath.Join(dir, "src_vipa.conf")
	missing := filepath.Join(dir, "missing")
	for _, p := range []string{toml, legacy} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		flag     string
		env      map[string]string
		defaults []string
		want, by string // by "" means an error
	}{
		{name: "-p first", flag: "a", env: map[string]string{policyEnv: "b", legacyEnv: "c"}, defaults: []string{toml}, want: "a", by: "--policy"},
		{name: "then $VIPA_EXEC_POLICY", env: map[string]string{policyEnv: "b", legacyEnv: "c"}, defaults: []string{toml}, want: "b", by: "$VIPA_EXEC_POLICY"},
		{name: "then $SRC_VIPA_CONFIG_FILE", env: map[string]string{legacyEnv: "c"}, defaults: []string{toml}, want: "c", by: "$SRC_VIPA_CONFIG_FILE"},
		{name: "an empty variable is unset", env: map[string]string{policyEnv: "", legacyEnv: "c"}, want: "c", by: "$SRC_VIPA_CONFIG_FILE"},
		{name: "a variable naming a missing file is still taken", env: map[string]string{policyEnv: missing}, defaults: []string{toml}, want: missing, by: "$VIPA_EXEC_POLICY"},
		{name: "then the TOML default", defaults: []string{toml, legacy}, want: toml, by: "default"},
		{name: "then /etc/src_vipa.conf", defaults: []string{missing, legacy}, want: legacy, by: "default"},
		{name: "none", defaults: []string{missing, missing + "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, by, err := findPolicy(tt.flag, func(k string) string { return tt.env[k] }, tt.defaults)
			if tt.by == "" {
				if err == nil {
					t.Fatalf("findPolicy() = %q, want an error", path)
				}
				if !strings.Contains(err.Error(), "$SRC_VIPA_CONFIG_FILE") || !strings.Contains(err.Error(), tt.defaults[1]) {
					t.Errorf("error %q should name the variables and the defaults", err)
				}
				return
			}
			if err != nil || path != tt.want || by != tt.by {
				t.Errorf("findPolicy() = %q, %q, %v; want %q, %q", path, by, err, tt.want, tt.by)
			}
		})
	}
}

func TestCheckReport(t *testing.T) {
	const file = `# every state a source can be in
10.1.2.0/24 onevipa 192.0.2.10 localhost 192.0.2.99
2001:db8:1::/64 random 2001:db8:2::10 2001:db8:2::11 vipa6
.INADDR_ANY 6500-6599 onevipa 0.0.0.0
.INADDR_ANY 6000-6999 roundrobin 192.0.2.10
`
	r := conf.Options{Resolver: hostsResolver{
		"localhost": {netip.MustParseAddr("127.0.0.1")},
		"vipa6":     {netip.MustParseAddr("2001:db8:2::12")},
	}}
	res, err := conf.Read(t.Context(), "src_vipa.conf", []byte(file), r)
	if err != nil {
		t.Fatal(err)
	}
	local := []hostAddr{
		{Addr: netip.MustParseAddr("127.0.0.1"), Iface: "lo"},
		{Addr: netip.MustParseAddr("192.0.2.10"), Iface: "lo"},
		{Addr: netip.MustParseAddr("192.0.2.10"), Iface: "eth0"},
		{Addr: netip.MustParseAddr("2001:db8:2::10"), Iface: "eth0"},
		{Addr: netip.MustParseAddr("2001:db8:2::11"), Iface: "eth0", Tentative: true},
	}
	var out bytes.Buffer
	n, err := checkReport(&out, "src_vipa.conf", res, local)
	if err != nil {
		t.Fatal(err)
	}
	want := `src_vipa.conf: src_vipa.conf file, 2 [[connect]] rules and 2 [[bind]] rules
src_vipa.conf:5: warning: policy "roundrobin" is not one of onevipa, random, lrr, rr:ABC, lc; using round robin (rr), as src_vipa does

src_vipa.conf:2: connect 10.1.2.0/24, policy onevipa
    192.0.2.10              local (eth0, lo)
    127.0.0.1 (localhost)   local (lo)
    192.0.2.99              NOT LOCAL: on no interface of this host

src_vipa.conf:3: connect 2001:db8:1::/64, policy random
    2001:db8:2::10           local (eth0)
    2001:db8:2::11           NOT USABLE: tentative on eth0 (IPv6 duplicate address detection)
    2001:db8:2::12 (vipa6)   NOT LOCAL: on no interface of this host

src_vipa.conf:5: bind 6000-6999, policy rr
    192.0.2.10   local (eth0, lo)

src_vipa.conf:4: bind 6500-6599, policy onevipa
    0.0.0.0   wildcard: the bind stays on every address

4 warnings: 1 about the file, 3 sources not usable on this host
`
	if d := testutil.Diff(want, out.String()); d != "" {
		t.Errorf("report (-want +got):\n%s", d)
	}
	if n != 4 {
		t.Errorf("checkReport() = %d warnings, want 4", n)
	}

	t.Run("no warnings", func(t *testing.T) {
		res, err := conf.Read(t.Context(), "p.toml", []byte("[[bind]]\nports = 80\nsources = [\"192.0.2.10\"]\n"), conf.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		n, err := checkReport(&out, "p.toml", res, local)
		if err != nil {
			t.Fatal(err)
		}
		want := `p.toml: TOML file, 0 [[connect]] rules and 1 [[bind]] rule

p.toml:1: bind 80, policy onevipa
    192.0.2.10   local (eth0, lo)

OK: no warnings
`
		if d := testutil.Diff(want, out.String()); d != "" || n != 0 {
			t.Errorf("report with %d warnings (-want +got):\n%s", n, d)
		}
	})
}

func TestCheckReportTOMLKeys(t *testing.T) {
	const file = `[[connect]]
destination = "10.1.2.0/24"
ports       = "53"
protocol    = "udp"
sources     = ["192.0.2.10"]
policy      = "rr"
rr_mode     = "0660"

[[connect]]
destination = "10.1.2.128/25"
policy      = "kernel"

[[bind]]
ports   = "80"
sources = ["192.0.2.10"]
policy  = "rr"
`
	res, err := conf.Read(t.Context(), "p.toml", []byte(file), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	n, err := checkReport(&out, "p.toml", res, []hostAddr{{Addr: netip.MustParseAddr("192.0.2.10"), Iface: "lo"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `p.toml: TOML file, 2 [[connect]] rules and 1 [[bind]] rule

p.toml:1: connect 10.1.2.0/24 ports 53 udp, policy rr (rr_mode 0660)
    192.0.2.10   local (lo)

p.toml:9: connect 10.1.2.128/25, policy kernel
    no sources: the kernel chooses

p.toml:13: bind 80, policy rr
    192.0.2.10   local (lo)

OK: no warnings
`
	if d := testutil.Diff(want, out.String()); d != "" || n != 0 {
		t.Errorf("report with %d warnings (-want +got):\n%s", n, d)
	}
}

// hostsResolver answers from a table; no test asks DNS.
type hostsResolver map[string][]netip.Addr

func (r hostsResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if as, ok := r[host]; ok {
		return as, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}
