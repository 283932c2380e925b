//go:build linux

package tests

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// transcript runs vipa-exec with args in dir, inside ns unless it is nil,
// and returns what a terminal would show: the command, its stdout, its
// stderr after "[stderr]", and "[exit N]".
func transcript(t *testing.T, ns *testutil.NetNS, dir, vipaExec string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
	defer cancel()
	var cmd *exec.Cmd
	if ns != nil {
		cmd = ns.Command(ctx, vipaExec, args...)
	} else {
		cmd = exec.CommandContext(ctx, vipaExec, args...)
		cmd.Env = testutil.CleanEnv()
	}
	cmd.Dir = dir
	res := testutil.Run(t, cmd)
	var b strings.Builder
	fmt.Fprintf(&b, "$ vipa-exec %s\n%s", strings.Join(args, " "), res.Stdout)
	if res.Stderr != "" {
		fmt.Fprintf(&b, "[stderr]\n%s", res.Stderr)
	}
	fmt.Fprintf(&b, "[exit %d]\n", res.Exit)
	return b.String()
}

// golden compares got with the file testdata/name, which go test -update
// rewrites.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if d := testutil.Diff(string(want), got); d != "" {
		t.Errorf("output (-%s +got):\n%s", path, d)
	}
}

// TestIntegrationConvert checks --convert of the src_vipa.conf file of
// TestIntegrationLegacyConf against a golden transcript. It needs no
// privileges.
func TestIntegrationConvert(t *testing.T) {
	vipaExec := testutil.BuildVipaExec(t)
	dir := t.TempDir()
	testutil.WriteFile(t, dir, "src_vipa.conf", legacyConf)
	testutil.WriteFile(t, dir, "policy.toml", standardPolicy)
	testutil.WriteFile(t, dir, "bad.conf", "10.0.0.0/8 onevipa 192.0.2.10\n.INADDR_ANY 70000 onevipa 192.0.2.10\n")
	var b strings.Builder
	for _, args := range [][]string{
		{"--convert", "src_vipa.conf"},
		{"--convert", "policy.toml"},
		{"--convert", "bad.conf"},
		{"--convert", "missing.conf"},
		{"--convert", "src_vipa.conf", "-p", "policy.toml"},
	} {
		b.WriteString(transcript(t, nil, dir, vipaExec, args...))
	}
	golden(t, "convert.golden", b.String())
}

// TestIntegrationCheck checks --check against a golden transcript, in a
// network namespace whose addresses are known.
func TestIntegrationCheck(t *testing.T) {
	vipaExec := testutil.BuildVipaExec(t)
	ns := testutil.NewNetNS(t)
	for _, a := range []string{"192.0.2.10/32", "192.0.2.11/32", "2001:db8:2::10/128"} {
		ns.AddAddr(t, a)
	}
	dir := testutil.PublicDir(t)
	testutil.WriteFile(t, dir, "src_vipa.conf", `# --check: every state a source can be in
10.1.2.0/24 lrr 192.0.2.10 localhost 192.0.2.99
2001:db8:1::/64 random 2001:db8:2::10 2001:db8:2::99
10.9.9.0/24 roundrobin 192.0.2.11
.INADDR_ANY 6000-6999 onevipa 192.0.2.11
.INADDR_ANY 6500-6599 onevipa 0.0.0.0
`)
	testutil.WriteFile(t, dir, "policy.toml", standardPolicy)
	testutil.WriteFile(t, dir, "bad.toml", "[[connect]]\ndestination = \"10.1.2.0/24\"\nsources = [\"192.0.2.300\"]\n")
	var b strings.Builder
	for _, args := range [][]string{
		{"--check", "-p", "src_vipa.conf"},
		{"--check", "-p", "policy.toml"},
		{"--check", "-p", "bad.toml"},
		{"--check", "-p", "missing.toml"},
		{"--check", "true"},
	} {
		b.WriteString(transcript(t, ns, dir, vipaExec, args...))
	}
	golden(t, "check.golden", b.String())
}

// explainConf and explainTOML are the policies of TestIntegrationExplain.
const (
	explainConf = `# --explain
10.1.2.0/24 lrr 192.0.2.10 localhost 192.0.2.11
2001:db8:1::/64 onevipa 2001:db8:2::10
10.9.9.0/24 random 192.0.2.11 192.0.2.12
.INADDR_ANY 6000-6999 onevipa 192.0.2.12
.INADDR_ANY 6500-6599 onevipa 0.0.0.0
`
	explainTOML = `[[connect]]
destination = "10.1.2.0/24"
ports       = "53"
protocol    = "udp"
sources     = ["192.0.2.12"]

[[connect]]
destination = "10.1.2.0/24"
sources     = ["192.0.2.10", "192.0.2.11", "192.0.2.12"]
policy      = "lc"

[[connect]]
destination = "10.1.2.128/25"
policy      = "kernel"
`
)

// TestIntegrationExplain checks --explain against a golden transcript, in a
// fresh network namespace: no socket is bound to a VIPA there, so lc's
// counts are known.
func TestIntegrationExplain(t *testing.T) {
	vipaExec := testutil.BuildVipaExec(t)
	ns := testutil.NewNetNS(t)
	for _, a := range []string{"192.0.2.10/32", "192.0.2.11/32", "192.0.2.12/32", "2001:db8:2::10/128"} {
		ns.AddAddr(t, a)
	}
	// Host names come from the namespace's own files; a name they lack is
	// asked of a DNS server on the namespace's loopback, where none listens.
	ns.SetEtc(t, "hosts", "127.0.0.1 localhost\n10.1.2.3 db.example\n2001:db8:1::3 db.example\n")
	ns.SetEtc(t, "resolv.conf", "nameserver 127.0.0.1\noptions attempts:1 timeout:1\n")
	dir := testutil.PublicDir(t)
	testutil.WriteFile(t, dir, "src_vipa.conf", explainConf)
	testutil.WriteFile(t, dir, "policy.toml", explainTOML)
	var b strings.Builder
	for _, args := range [][]string{
		{"--explain", "10.1.2.3:8080", "-p", "src_vipa.conf"},
		{"--explain", "[2001:db8:1::3]:443", "-p", "src_vipa.conf"},
		{"--explain", "::ffff:10.9.9.9", "-p", "src_vipa.conf"},
		{"--explain", "10.8.0.1:80", "-p", "src_vipa.conf"},
		{"--explain", "0.0.0.0:6000", "-p", "src_vipa.conf"},
		{"--explain", "0.0.0.0:6500", "-p", "src_vipa.conf"},
		{"--explain", "[::]:6500", "-p", "src_vipa.conf"},
		{"--explain", "[::]:6000", "-p", "src_vipa.conf"},
		{"--explain", "10.1.2.3:53", "-p", "policy.toml"},
		{"--explain", "10.1.2.3:53", "--protocol", "udp", "-p", "policy.toml"},
		{"--explain", "10.1.2.200:53", "--protocol", "udp", "-p", "policy.toml"},
		{"--explain", "10.1.2.3", "-p", "policy.toml"},
		{"--explain", "0.0.0.0", "-p", "policy.toml"},
		{"--explain", "db.example:443", "-p", "policy.toml"},
		{"--explain", "db.example:8080", "-p", "src_vipa.conf"},
		{"--explain", "nowhere.invalid:443", "-p", "policy.toml"},
		{"--explain", "10.1.2.3:99999", "-p", "policy.toml"},
		{"--explain", "10.1.2.3:53", "--protocol", "sctp", "-p", "policy.toml"},
	} {
		b.WriteString(transcript(t, ns, dir, vipaExec, args...))
	}
	golden(t, "explain.golden", b.String())
}

// explained runs vipa-exec --explain and returns the address of its "next
// source:" line.
func explained(t *testing.T, e *env, policy, dest string) netip.Addr {
	t.Helper()
	res := e.run(e.vipaExec, "--explain", dest, "-p", policy)
	wantOK(t, "vipa-exec --explain", res)
	for _, l := range testutil.Lines(res.Stdout) {
		if rest, ok := strings.CutPrefix(l, "next source: "); ok {
			a, err := netip.ParseAddr(strings.Fields(rest)[0])
			if err != nil {
				t.Fatalf("next source %q: %v", rest, err)
			}
			return a
		}
	}
	t.Fatalf("no next source in:\n%s", res.Stdout)
	return netip.Addr{}
}

// TestIntegrationExplainNext checks that --explain's next source is the one
// the next connection gets, for the policies whose next source depends on
// state beyond the call: rr (the rotation the running instances share) and
// lc (the sockets bound on the host).
func TestIntegrationExplainNext(t *testing.T) {
	e := policyEnv(t)
	testutil.RequireTool(t, python)
	dest := netip.AddrPortFrom(dst4, serverPort).String()

	t.Run("rr", func(t *testing.T) {
		e := e.with(t)
		e.rec4.Reset()
		pol := e.policy(threePolicy("rr"))
		// A running instance holds the shared counter.
		cmd := e.command(e.vipa(pol, append([]string{python, "-c", pyConnectPerLine}, hostPort(dst4)...)...)...)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		p := testutil.Start(t, cmd)
		// The first connection shows the supervisor serving, with the
		// counter open.
		for i := range 5 {
			var want netip.Addr
			if i > 0 {
				want = explained(t, e, pol, dest)
			}
			if _, err := stdin.Write([]byte("\n")); err != nil {
				t.Fatal(err)
			}
			p.Line(t)
			e.rec4.Wait(t, i+1)
			if got := e.rec4.Peers()[i].Addr(); i > 0 && got != want {
				t.Errorf("connection %d: --explain said %v, the server saw %v", i, want, got)
			}
		}
		_ = stdin.Close()
		res := p.Wait(t)
		wantOK(t, "rr client", res)
		e.supervisorGone(res)
	})

	t.Run("lc", func(t *testing.T) {
		e := e.with(t)
		e.rec4.Reset()
		pol := e.policy(threePolicy("lc"))
		// Long-lived connections from the first two VIPAs, to a listener
		// that never accepts: the third is the least used.
		e.ns.Listen(t, "tcp4", netip.AddrPortFrom(dst4, 9000).String())
		for _, a := range []netip.Addr{vipa4, vipa4, vipa4b} {
			e.ns.Do(t, func() error {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: a.AsSlice()}}
				c, err := d.Dial("tcp4", netip.AddrPortFrom(dst4, 9000).String())
				if err != nil {
					return err
				}
				t.Cleanup(func() { _ = c.Close() })
				return nil
			})
		}
		want := explained(t, e, pol, dest)
		if want != thirdVIPA {
			t.Errorf("--explain: next source %v, want %v, the one without sockets", want, thirdVIPA)
		}
		res := e.wrapped(pol, goDial(t, dst4, serverPort, 1)...)
		wantOK(t, "lc client", res)
		e.rec4.Wait(t, 1)
		if got := e.rec4.Peers()[0].Addr(); got != want {
			t.Errorf("--explain said %v, the server saw %v", want, got)
		}
	})
}
