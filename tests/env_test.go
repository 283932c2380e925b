//go:build linux

package tests

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// The addresses of every test namespace, all on its lo.
var (
	dst4   = netip.MustParseAddr("10.1.2.3")       // IPv4 server, matched by the standard policy
	dst6   = netip.MustParseAddr("2001:db8:1::3")  // IPv6 server, matched by the standard policy
	other4 = netip.MustParseAddr("10.9.9.9")       // IPv4 server no rule matches
	vipa4  = netip.MustParseAddr("192.0.2.10")     // the VIPA of the IPv4 rules
	vipa4b = netip.MustParseAddr("192.0.2.11")     // a second local IPv4 address
	vipa6  = netip.MustParseAddr("2001:db8:2::10") // the VIPA of the IPv6 rule
)

const serverPort = 8080

// standardPolicy sends the two server networks out of their VIPAs.
const standardPolicy = `# the servers' networks leave from the VIPAs
[[connect]]
destination = "10.1.2.0/24"
sources     = ["192.0.2.10"]
policy      = "onevipa"

[[connect]]
destination = "2001:db8:1::/64"
sources     = ["2001:db8:2::10"]
policy      = "onevipa"
`

// runTimeout bounds one program run; it only catches hangs.
const runTimeout = 2 * time.Minute

// env is one test's world: a namespace with the addresses above, recorders
// listening on both servers, vipa-exec, and a 0755 directory for policies
// and binaries that nobody must read.
type env struct {
	t        *testing.T
	ns       *testutil.NetNS
	vipaExec string
	dir      string
	rec4     *testutil.Recorder // on dst4:8080
	rec6     *testutil.Recorder // on [dst6]:8080
	// engine is the engine vipa-exec is told to run (see [env.exec]).
	engine string
	// hostSys runs commands with the host's /sys
	// ([testutil.NetNS.HostSysCommand]), where the bpf engine finds the
	// cgroup v2 hierarchy and the BPF filesystem; else through `ip netns
	// exec`, which hides them.
	hostSys bool
}

// newEnv is a fresh world whose vipa-exec runs the seccomp engine, its
// commands through `ip netns exec`; tests that check a source address run
// under each engine with [newEngineEnv].
//
// The tests that stay on newEnv check what is by nature the seccomp engine's:
// the filter and its ABIs (abi32, traps), TIOCSTI and TIOCLINUX refused by
// the filter (inject, terminal), the supervisor's per-call decisions
// and round trip (logging, status's counters), io_uring's refusal, the
// supervision modes and a refused nesting (launcher, supervise, systemd),
// and the rr counter files. The bpf engine's own lifecycle (cgroup, links,
// pins, nesting, auto) is tests/engine_test.go's.
func newEnv(t *testing.T) *env {
	e := newEngineEnv(t, "seccomp")
	e.hostSys = false
	return e
}

// newEngineEnv is a fresh world whose vipa-exec runs engine, its commands
// with the host's /sys (see [env.hostSys]).
func newEngineEnv(t *testing.T, engine string) *env {
	t.Helper()
	testutil.RequireRoot(t)
	e := &env{t: t, vipaExec: testutil.BuildVipaExec(t), dir: testutil.PublicDir(t), engine: engine, hostSys: true}
	e.ns = testutil.NewNetNS(t)
	for _, a := range []netip.Addr{dst4, dst6, other4, vipa4, vipa4b, vipa6} {
		e.ns.AddAddr(t, netip.PrefixFrom(a, a.BitLen()).String())
	}
	e.rec4 = e.recorder(dst4)
	e.rec6 = e.recorder(dst6)
	return e
}

// with is e for the subtest t, sharing e's namespace and recorders: env's
// methods report failures to e.t, which must be the running test.
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// on is e for the subtest t, running engine with the host's /sys, sharing
// e's namespace and recorders.
func (e *env) on(t *testing.T, engine string) *env {
	c := e.with(t)
	c.engine, c.hostSys = engine, true
	return c
}

// recorder starts a recorder on addr:8080 inside the namespace.
func (e *env) recorder(addr netip.Addr) *testutil.Recorder {
	network := "tcp4"
	if addr.Is6() {
		network = "tcp6"
	}
	return testutil.NewRecorder(e.t, e.ns.Listen(e.t, network, netip.AddrPortFrom(addr, serverPort).String()))
}

// rec is the recorder of the server at dst.
func (e *env) rec(dst netip.Addr) *testutil.Recorder {
	if dst.Is6() {
		return e.rec6
	}
	return e.rec4
}

// policy writes a policy file readable by nobody and returns its path.
func (e *env) policy(text string) string {
	e.t.Helper()
	f, err := os.CreateTemp(e.dir, "policy-*.toml")
	if err != nil {
		e.t.Fatal(err)
	}
	_ = f.Close()
	return testutil.WriteFile(e.t, e.dir, filepath.Base(f.Name()), text)
}

// command returns argv as a command inside the namespace; the context ends
// with the test or after runTimeout.
func (e *env) command(argv ...string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(e.t.Context(), runTimeout)
	e.t.Cleanup(cancel)
	if e.hostSys {
		return e.ns.HostSysCommand(ctx, argv[0], argv[1:]...)
	}
	return e.ns.Command(ctx, argv[0], argv[1:]...)
}

// run runs argv inside the namespace without vipa-exec.
func (e *env) run(argv ...string) testutil.Result {
	e.t.Helper()
	return testutil.Run(e.t, e.command(argv...))
}

// exec is the start of a vipa-exec command line that runs a program: the
// binary, the engine, then opts.
func (e *env) exec(opts ...string) []string {
	return append([]string{e.vipaExec, testutil.EngineFlag(e.engine)}, opts...)
}

// vipa is the argv that runs argv under vipa-exec with the policy file.
func (e *env) vipa(policy string, argv ...string) []string {
	return append(e.exec("-p", policy), argv...)
}

// wrapped runs argv under vipa-exec with the policy file, checks that
// nothing on stderr mentions no_new_privs (root needs none) and that the
// supervisor exits by itself.
func (e *env) wrapped(policy string, argv ...string) testutil.Result {
	e.t.Helper()
	res := e.run(e.vipa(policy, argv...)...)
	e.supervisorGone(res)
	if strings.Contains(res.Stderr, "no_new_privs") {
		e.t.Errorf("vipa-exec as root warned about no_new_privs:\n%s", res.Stderr)
	}
	return res
}

// supervisorGone checks that the supervisor of a finished run has exited.
func (e *env) supervisorGone(res testutil.Result) {
	e.t.Helper()
	testutil.WaitSupervisorGone(e.t, res.Pid)
}

// asNobody prefixes argv with setpriv, dropping every privilege.
func asNobody(argv ...string) []string {
	return append([]string{"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"}, argv...)
}

// wantOK fails the test unless res is a clean exit.
func wantOK(t *testing.T, what string, res testutil.Result) {
	t.Helper()
	if res.Exit != 0 || res.Signal != 0 {
		t.Fatalf("%s failed: %v", what, res)
	}
}

// wantSources waits for the connections want counts and compares the
// recorder's sources with want.
func wantSources(t *testing.T, what string, rec *testutil.Recorder, want map[netip.Addr]int) {
	t.Helper()
	n := 0
	for _, c := range want {
		n += c
	}
	rec.Wait(t, n)
	if d := testutil.Diff(want, rec.Sources()); d != "" {
		t.Errorf("%s: sources seen by the server %v (-want +got):\n%s", what, rec.Addr(), d)
	}
}

// localAddr extracts the address a client printed as the last field of its
// first line: "ADDR", "ADDR:PORT", "[ADDR]:PORT" or "local=ADDR".
func localAddr(stdout string) (netip.Addr, error) {
	lines := testutil.Lines(stdout)
	if len(lines) == 0 {
		return netip.Addr{}, fmt.Errorf("no output")
	}
	fields := strings.Fields(lines[0])
	if len(fields) == 0 {
		return netip.Addr{}, fmt.Errorf("empty first line")
	}
	s := strings.TrimPrefix(fields[len(fields)-1], "local=")
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), nil
	}
	return netip.ParseAddr(s)
}

// wantLocal checks the address a client printed.
func wantLocal(t *testing.T, what string, res testutil.Result, want netip.Addr) {
	t.Helper()
	got, err := localAddr(res.Stdout)
	if err != nil {
		t.Errorf("%s: local address in output: %v\n%v", what, err, res)
		return
	}
	if got.Unmap() != want.Unmap() {
		t.Errorf("%s: client's local address %v, want %v", what, got, want)
	}
}

// Clients, built once per test binary.
func goClient(t *testing.T) string {
	return testutil.BuildGo(t, "./tests/clients/goclient", true)
}

func cClient(t *testing.T) string {
	return testutil.BuildC(t, "tests/clients/cclient/cclient.c")
}

// setuidCopy makes a root-owned mode 4755 copy of the C client in e.dir.
func (e *env) setuidCopy() string {
	e.t.Helper()
	dst := filepath.Join(e.dir, "setuid-cclient")
	if out, err := exec.Command("cp", cClient(e.t), dst).CombinedOutput(); err != nil {
		e.t.Fatalf("cp: %v: %s", err, out)
	}
	if out, err := exec.Command("chown", "0:0", dst).CombinedOutput(); err != nil {
		e.t.Fatalf("chown: %v: %s", err, out)
	}
	if out, err := exec.Command("chmod", "4755", dst).CombinedOutput(); err != nil {
		e.t.Fatalf("chmod: %v: %s", err, out)
	}
	return dst
}

// pyConnect connects to each HOST PORT pair in turn, with an AF_INET6
// socket for an address containing ':' (also ::ffff:a.b.c.d) and AF_INET
// otherwise, and prints each local address.
const pyConnect = `
import socket, sys
args = sys.argv[1:]
for host, port in zip(args[0::2], args[1::2]):
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.connect((host, int(port)))
    print(s.getsockname()[0], flush=True)
    s.close()
`

// pyFork connects from a forked child, then from the parent.
const pyFork = `
import os, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
def connect(who):
    s = socket.create_connection((host, port))
    print(who, s.getsockname()[0], flush=True)
    s.close()
pid = os.fork()
if pid == 0:
    connect("child")
    os._exit(0)
_, status = os.waitpid(pid, 0)
connect("parent")
sys.exit(1 if status else 0)
`

const python = "/usr/bin/python3"

func hostPort(a netip.Addr) []string {
	return []string{a.String(), fmt.Sprint(serverPort)}
}

func url(a netip.Addr) string {
	return "http://" + netip.AddrPortFrom(a, serverPort).String() + "/"
}
