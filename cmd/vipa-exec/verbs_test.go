package main

import (
	"bytes"
	"context"
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
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

// TestVerbUsage checks what does not go with the maintenance verbs. Each
// case fails before anything would start a program.
func TestVerbUsage(t *testing.T) {
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"--check", "true"}, `--check takes no PROGRAM, got "true" (see vipa-exec --help)`},
		{[]string{"--check", "--convert", "f"}, `--check and --convert exclude each other (see vipa-exec --help)`},
		{[]string{"--explain", "10.0.0.1", "--check"}, `--check and --explain exclude each other (see vipa-exec --help)`},
		{[]string{"-u", "nobody", "--check"}, `--user goes with a PROGRAM, not with --check (see vipa-exec --help)`},
		{[]string{"--group", "nogroup", "--explain", "10.0.0.1"}, `--group goes with a PROGRAM, not with --explain (see vipa-exec --help)`},
		{[]string{"--supervise=parent", "--status", "1"}, `--supervise goes with a PROGRAM, not with --status (see vipa-exec --help)`},
		{[]string{"--status", "1", "true"}, `--status takes no PROGRAM, got "true" (see vipa-exec --help)`},
		{[]string{"--status", "1", "-p", "f"}, `--status asks the supervisor, which knows its policy file: no --policy (see vipa-exec --help)`},
		{[]string{"--status", "1", "--check"}, `--check and --status exclude each other (see vipa-exec --help)`},
		{[]string{"--status", "abc"}, `--status "abc": want a pid`},
		{[]string{"--status", "-u", "nobody"}, `--user goes with a PROGRAM, not with --status (see vipa-exec --help)`},
		{[]string{"--json", "true"}, `--json goes with --status (see vipa-exec --help)`},
		{[]string{"--check", "--json"}, `--json goes with --status (see vipa-exec --help)`},
		{[]string{"--supervise=both", "true"}, `--supervise "both": want auto, detached or parent (see vipa-exec --help)`},
		{[]string{"--convert", "f", "-p", "g"}, `--convert reads its FILE, not --policy (see vipa-exec --help)`},
		{[]string{"--check", "--protocol", "udp"}, `--protocol goes with --explain (see vipa-exec --help)`},
		{[]string{"--protocol", "udp", "true"}, `--protocol goes with --explain (see vipa-exec --help)`},
		{[]string{"--explain"}, `option --explain needs an argument (see vipa-exec --help)`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code, err := run(tt.args, &stdout, &stderr)
			if code != exitUsage || err == nil || err.Error() != tt.msg {
				t.Errorf("run() = %d, %v; want %d, %s", code, err, exitUsage, tt.msg)
			}
			if stdout.Len()+stderr.Len() != 0 {
				t.Errorf("run() wrote %q, %q; want nothing", stdout.String(), stderr.String())
			}
		})
	}
}

// TestStatusArgs: a --status without a pid after it gets an empty one;
// option values and PROGRAM's arguments are left as they are.
func TestStatusArgs(t *testing.T) {
	tests := []struct{ args, want []string }{
		{[]string{"--status"}, []string{"--status="}},
		{[]string{"--status", "--json"}, []string{"--status=", "--json"}},
		{[]string{"-status", "1"}, []string{"-status", "1"}},
		{[]string{"--json", "--status", "12"}, []string{"--json", "--status", "12"}},
		{[]string{"--status=7"}, []string{"--status=7"}},
		{[]string{"-p", "--status", "prog", "--status"}, []string{"-p", "--status", "prog", "--status"}},
		{[]string{"prog", "--status"}, []string{"prog", "--status"}},
		{[]string{"--", "--status"}, []string{"--", "--status"}},
		{[]string{"--check", "--status"}, []string{"--check", "--status="}},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.String("status", "", "")
		fs.String("p", "", "")
		fs.Bool("json", false, "")
		fs.Bool("check", false, "")
		if got := statusArgs(fs, tt.args); !slices.Equal(got, tt.want) {
			t.Errorf("statusArgs(%q) = %q, want %q", tt.args, got, tt.want)
		}
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
	n := checkReport(&out, "src_vipa.conf", res, local)
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
		n := checkReport(&out, "p.toml", res, local)
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
	n := checkReport(&out, "p.toml", res, []hostAddr{{Addr: netip.MustParseAddr("192.0.2.10"), Iface: "lo"}})
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
