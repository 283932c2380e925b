//go:build linux

package tests

import (
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// legacyConf is a src_vipa.conf file with every line form. localhost comes
// from /etc/hosts: no test asks DNS.
const legacyConf = `# vipa-exec end-to-end test: every line form of src_vipa.conf
# The servers' network: per-process round robin over a VIPA, a host name
# and another VIPA.
10.1.2.0/24 lrr 192.0.2.10 localhost 192.0.2.11
# other4: a policy src_vipa cannot parse, so round robin across instances.
10.9.9.0/24 roundrobin 192.0.2.11 192.0.2.12
2001:db8:1::/64 onevipa 2001:db8:2::10   # IPv6: one VIPA
# Servers on 6000-6999 listen on a VIPA ...
.INADDR_ANY 6000-6999 onevipa 192.0.2.12
# ... except 6500-6599, left on the wildcard address.
.INADDR_ANY 6500-6599 onevipa 0.0.0.0
# One port, on a host name.
.INADDR_ANY 7000 onevipa localhost
`

var (
	vipa4c    = netip.MustParseAddr("192.0.2.12")
	loopback4 = netip.MustParseAddr("127.0.0.1")
)

// pyBindConnect binds an AF_INET socket to 0.0.0.0:PORT, connects it to
// HOST:DPORT and prints its local address.
const pyBindConnect = `
import socket, sys
host, dport, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("0.0.0.0", port))
s.connect((host, dport))
print(s.getsockname()[0], flush=True)
s.close()
`

// pyConnectPerLine connects to HOST PORT for each line it reads, and prints
// the local address each time.
const pyConnectPerLine = `
import socket, sys
for _ in sys.stdin:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
    print(s.getsockname()[0], flush=True)
    s.close()
`

// legacyObservation is what the server side and the listeners saw of one
// policy file under the connection sequence of observeLegacy.
type legacyObservation struct {
	LRR      []netip.Addr // sources of 6 connections from one process to dst4
	RR       []netip.Addr // sources of connections to other4 from two instances, in turn
	V6       netip.Addr   // source of a connection to dst6
	Priority []netip.Addr // sources of sockets bound to 0.0.0.0:6001 and :6500, then connected to dst4
	Binds    []string     // where servers listened for each of legacyListens
	Stderr   string       // of the first run
}

// legacyListens are the -network and -listen arguments of the servers.
var legacyListens = [][2]string{
	{"tcp4", "0.0.0.0:6000"}, {"tcp4", "0.0.0.0:6999"}, {"tcp4", "0.0.0.0:6500"}, {"tcp4", "0.0.0.0:6599"},
	{"tcp4", "0.0.0.0:7000"}, {"tcp4", "0.0.0.0:7001"}, {"tcp", ":6000"}, {"tcp", ":6500"},
}

// observeLegacy runs the test's connection sequence, each program under
// vipa-exec as wrap makes it, and records what happened.
func observeLegacy(t *testing.T, e *env, recOther *testutil.Recorder, wrap func(argv ...string) *exec.Cmd) legacyObservation {
	t.Helper()
	var o legacyObservation
	run := func(what string, argv ...string) testutil.Result {
		t.Helper()
		res := testutil.Run(t, wrap(argv...))
		wantOK(t, what, res)
		e.supervisorGone(res)
		return res
	}
	peers := func(rec *testutil.Recorder, n int) []netip.Addr {
		t.Helper()
		rec.Wait(t, n)
		var out []netip.Addr
		for _, p := range rec.Peers() {
			out = append(out, p.Addr().Unmap())
		}
		rec.Reset()
		return out
	}
	e.rec4.Reset()
	e.rec6.Reset()
	recOther.Reset()

	res := run("lrr client", goClient(t), "-n", "6", "-connect", netip.AddrPortFrom(dst4, serverPort).String())
	o.Stderr = res.Stderr
	o.LRR = peers(e.rec4, 6)
	// rr is shared by the instances running at the same moment: one
	// stays up while another comes and goes.
	cmd := wrap(append([]string{python, "-c", pyConnectPerLine}, hostPort(other4)...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	long := testutil.Start(t, cmd)
	for i := range 2 {
		if _, err := stdin.Write([]byte("\n")); err != nil {
			t.Fatal(err)
		}
		long.Line(t)
		recOther.Wait(t, 2*i+1)
		run(fmt.Sprintf("rr client %d", i), goClient(t), "-connect", netip.AddrPortFrom(other4, serverPort).String())
		recOther.Wait(t, 2*i+2)
	}
	_ = stdin.Close()
	res = long.Wait(t)
	wantOK(t, "long-lived rr client", res)
	e.supervisorGone(res)
	o.RR = peers(recOther, 4)
	run("IPv6 client", goClient(t), "-network", "tcp6", "-connect", netip.AddrPortFrom(dst6, serverPort).String())
	o.V6 = peers(e.rec6, 1)[0]
	for _, port := range []string{"6001", "6500"} {
		run("bind then connect "+port, append([]string{python, "-c", pyBindConnect}, append(hostPort(dst4), port)...)...)
	}
	o.Priority = peers(e.rec4, 2)
	for _, l := range legacyListens {
		res := run("server "+l[1], goClient(t), "-network", l[0], "-listen", l[1])
		o.Binds = append(o.Binds, strings.TrimSpace(res.Stdout))
	}
	return o
}

// checkLegacyObservation checks o against what src_vipa documents for
// legacyConf.
func checkLegacyObservation(t *testing.T, o legacyObservation) {
	t.Helper()
	cycle := []netip.Addr{vipa4, loopback4, vipa4b}
	if !isRotation(o.LRR, cycle) {
		t.Errorf("lrr: sources %v, want %v in turn from any of them", o.LRR, cycle)
	}
	if !alternates(o.RR, vipa4b, vipa4c) {
		t.Errorf("rr across two instances: sources %v, want %v and %v alternating", o.RR, vipa4b, vipa4c)
	}
	if o.V6 != vipa6 {
		t.Errorf("onevipa over IPv6: source %v, want %v", o.V6, vipa6)
	}
	// A socket bound to INADDR_ANY with a port of an .INADDR_ANY rule
	// takes that rule's source, and D/MASK rules no longer apply to it.
	if d := testutil.Diff([]netip.Addr{vipa4c, dst4}, o.Priority); d != "" {
		t.Errorf("bind 0.0.0.0:6001 and :6500, then connect to %v: sources (-want +got):\n%s", dst4, d)
	}
	want := []string{"192.0.2.12:6000", "192.0.2.12:6999", "0.0.0.0:6500", "0.0.0.0:6599", "127.0.0.1:7000", "0.0.0.0:7001", "192.0.2.12:6000", "[::]:6500"}
	if d := testutil.Diff(want, o.Binds); d != "" {
		t.Errorf("servers listen on (-want +got):\n%s", d)
	}
}

// isRotation reports whether seq takes the elements of cycle in turn,
// starting anywhere.
func isRotation(seq, cycle []netip.Addr) bool {
	if len(seq) == 0 {
		return false
	}
	k := slices.Index(cycle, seq[0])
	if k < 0 {
		return false
	}
	for i, a := range seq {
		if a != cycle[(k+i)%len(cycle)] {
			return false
		}
	}
	return true
}

// alternates reports whether seq alternates between a and b.
func alternates(seq []netip.Addr, a, b netip.Addr) bool {
	if len(seq) == 0 {
		return false
	}
	if seq[0] == b {
		a, b = b, a
	}
	for i, x := range seq {
		if (i%2 == 0 && x != a) || (i%2 == 1 && x != b) {
			return false
		}
	}
	return true
}

// TestIntegrationLegacyConf runs programs under vipa-exec with an unchanged
// src_vipa.conf file, named by $SRC_VIPA_CONFIG_FILE as for src_vipa, then
// with the TOML file --convert makes of it, and checks the documented
// behaviour on the server side and that both files behave alike.
func TestIntegrationLegacyConf(t *testing.T) {
	testutil.RequireTool(t, python)
	testutil.ForEngines(t, testLegacyConf)
}

func testLegacyConf(t *testing.T, engine string) {
	e := newEngineEnv(t, engine)
	e.ns.AddAddr(t, "192.0.2.12/32")
	recOther := e.recorder(other4)

	// Without vipa-exec the kernel picks the destination's own address.
	res := e.run(goClient(t), "-connect", netip.AddrPortFrom(dst4, serverPort).String())
	wantOK(t, "baseline client", res)
	wantLocal(t, "baseline client", res, dst4)
	e.rec4.Wait(t, 1)

	legacy := testutil.WriteFile(t, e.dir, "src_vipa.conf", legacyConf)
	var fromLegacy, fromTOML legacyObservation
	t.Run("src_vipa.conf", func(t *testing.T) {
		e := e.with(t)
		fromLegacy = observeLegacy(t, e, recOther, func(argv ...string) *exec.Cmd {
			cmd := e.command(e.exec(argv...)...)
			cmd.Env = append(cmd.Env, "SRC_VIPA_CONFIG_FILE="+legacy)
			return cmd
		})
		checkLegacyObservation(t, fromLegacy)
		// The launcher warns once; the supervisor, reading the same
		// file, keeps quiet.
		want := []string{"vipa-exec: " + legacy + `:6: warning: policy "roundrobin" is not one of onevipa, random, lrr, rr:ABC, lc; using round robin (rr), as src_vipa does`}
		if d := testutil.Diff(want, testutil.Lines(fromLegacy.Stderr)); d != "" {
			t.Errorf("stderr (-want +got):\n%s", d)
		}
	})

	t.Run("converted to TOML", func(t *testing.T) {
		e := e.with(t)
		res := e.run(e.vipaExec, "--convert", legacy)
		wantOK(t, "vipa-exec --convert", res)
		converted := testutil.WriteFile(t, e.dir, "converted.toml", res.Stdout)
		fromTOML = observeLegacy(t, e, recOther, func(argv ...string) *exec.Cmd {
			return e.command(e.vipa(converted, argv...)...)
		})
		checkLegacyObservation(t, fromTOML)
		if fromTOML.Stderr != "" {
			t.Errorf("stderr %q, want nothing", fromTOML.Stderr)
		}
	})

	// Same sources for the same connection sequence: all but where lrr
	// and rr start, which is chosen at random.
	same := func(o legacyObservation) legacyObservation {
		o.Stderr = ""
		o.LRR = sortedAddrs(o.LRR)
		o.RR = sortedAddrs(o.RR)
		return o
	}
	if d := testutil.Diff(fmt.Sprintf("%+v", same(fromLegacy)), fmt.Sprintf("%+v", same(fromTOML))); d != "" {
		t.Errorf("src_vipa.conf and its conversion behave differently (-src_vipa.conf +TOML):\n%s", d)
	}
}

func sortedAddrs(as []netip.Addr) []netip.Addr {
	out := slices.Clone(as)
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}
