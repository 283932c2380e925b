//go:build linux

package tests

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/bpfengine"
	"github.com/vipa-exec/vipa-exec/internal/cgroup"
	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// bpf is the argv that runs argv under vipa-exec --engine ENGINE with the
// policy file, logging at info. The engine tests' commands run with the
// host's /sys ([newEngineEnv]), where the cgroup v2 hierarchy is.
func (e *env) bpf(engine, policy string, argv ...string) []string {
	return append([]string{e.vipaExec, "--engine", engine, "--log-level", "info", "-p", policy}, argv...)
}

// inKernel runs argv under vipa-exec --engine bpf, checks that the bpf
// engine served it and that the supervisor exited by itself.
func (e *env) inKernel(policy string, argv ...string) testutil.Result {
	e.t.Helper()
	res := e.run(e.bpf("bpf", policy, argv...)...)
	e.supervisorGone(res)
	wantEngine(e.t, res.Stderr, "bpf")
	return res
}

// wantEngine checks that stderr has the supervisor's start line of engine.
func wantEngine(t *testing.T, stderr, engine string) {
	t.Helper()
	if !strings.Contains(stderr, "msg=supervising") || !strings.Contains(stderr, " engine="+engine+" ") {
		t.Errorf("no supervising line with engine=%s on stderr:\n%s", engine, stderr)
	}
}

// groupPath is the host's path of the cgroup vipa-exec makes for the
// program pid.
func groupPath(t *testing.T, pid int) string {
	t.Helper()
	mp, err := cgroup.Mountpoint()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(mp, "vipa-exec."+strconv.Itoa(pid))
}

// TestIntegrationEngineAuto: auto picks bpf for root and seccomp for an
// unprivileged vipa-exec, and says why in one info line; --engine bpf that
// cannot serve is exit 2 with one line naming what is missing.
func TestIntegrationEngineAuto(t *testing.T) {
	testutil.RequireTool(t, "setpriv")
	e := newEngineEnv(t, "bpf")
	pol := e.policy(standardPolicy)
	client := []string{goClient(t), "-connect", netip.AddrPortFrom(dst4, serverPort).String()}

	res := e.run(e.bpf("auto", pol, client...)...)
	e.supervisorGone(res)
	wantOK(t, "auto as root", res)
	if !strings.Contains(res.Stderr, `level=INFO msg="engine bpf: the kernel's hooks serve this policy here"`) {
		t.Errorf("auto as root: no info line choosing bpf:\n%s", res.Stderr)
	}
	wantEngine(t, res.Stderr, "bpf")
	wantSources(t, "auto as root", e.rec4, map[netip.Addr]int{vipa4: 1})

	// Without a cgroup v2 hierarchy (ip netns exec hides it): seccomp.
	e.rec4.Reset()
	hidden := e.with(t)
	hidden.hostSys = false
	res = hidden.run(append([]string{e.vipaExec, "--log-level", "info", "-p", pol}, client...)...)
	e.supervisorGone(res)
	wantOK(t, "auto without cgroup v2", res)
	if !strings.Contains(res.Stderr, `msg="engine seccomp: `) || !strings.Contains(res.Stderr, "cgroup v2") {
		t.Errorf("auto without cgroup v2: no info line choosing seccomp for want of cgroup v2:\n%s", res.Stderr)
	}
	wantEngine(t, res.Stderr, "seccomp")
	wantSources(t, "auto without cgroup v2", e.rec4, map[netip.Addr]int{vipa4: 1})

	e.rec4.Reset()
	res = e.run(asNobody(append([]string{e.vipaExec, "--log-level", "info", "-p", pol}, client...)...)...)
	e.supervisorGone(res)
	wantOK(t, "auto as nobody", res)
	if !strings.Contains(res.Stderr, `level=INFO msg="engine seccomp: CAP_BPF and CAP_NET_ADMIN missing`) {
		t.Errorf("auto as nobody: no info line choosing seccomp for want of capabilities:\n%s", res.Stderr)
	}
	wantEngine(t, res.Stderr, "seccomp")
	wantSources(t, "auto as nobody", e.rec4, map[netip.Addr]int{vipa4: 1})

	e.rec4.Reset()
	res = e.run(asNobody(append([]string{e.vipaExec, "--engine", "bpf", "-p", pol}, client...)...)...)
	lines := testutil.Lines(res.Stderr)
	if res.Exit != 2 || len(lines) != 1 || !strings.HasPrefix(lines[0], "vipa-exec: engine bpf cannot serve (asked for by --engine): CAP_BPF and CAP_NET_ADMIN missing") {
		t.Errorf("--engine bpf as nobody: want exit 2 and one line naming the capabilities; got %v", res)
	}
	if e.rec4.Count() != 0 {
		t.Errorf("--engine bpf as nobody: the program ran")
	}
}

// TestIntegrationEngineNested: a vipa-exec under another, both bpf: the
// inner one's programs run first, so its policy wins where it has a rule,
// and the outer's applies where only the outer has one.
func TestIntegrationEngineNested(t *testing.T) {
	e := newEngineEnv(t, "bpf")
	rec9 := e.recorder(other4)
	outer := e.policy(`[[connect]]
destination = "10.0.0.0/8"
sources     = ["192.0.2.11"]
`)
	inner := e.policy(standardPolicy)
	gc := goClient(t)
	script := fmt.Sprintf("%s -connect %s && %s -connect %s", gc, netip.AddrPortFrom(dst4, serverPort), gc, netip.AddrPortFrom(other4, serverPort))
	res := e.inKernel(outer, e.vipaExec, "--engine", "bpf", "-p", inner, "/bin/sh", "-c", script)
	wantOK(t, "nested", res)
	wantSources(t, "inner policy's destination", e.rec4, map[netip.Addr]int{vipa4: 1})
	wantSources(t, "outer policy's destination only", rec9, map[netip.Addr]int{vipa4b: 1})
}

// mapsOf returns the ids of the bpf maps the process pid holds.
func mapsOf(t *testing.T, pid int) []ebpf.MapID {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fdinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	var ids []ebpf.MapID
	for _, fd := range fds {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name()))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "map_id:"); ok {
				if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
					ids = append(ids, ebpf.MapID(n))
				}
			}
		}
	}
	return ids
}

// liveMaps returns those of ids the kernel still has, but the engine's
// cache, which stays pinned for the next instance.
func liveMaps(ids []ebpf.MapID) []ebpf.MapID {
	var live []ebpf.MapID
	for _, id := range ids {
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			continue
		}
		if info, err := m.Info(); err == nil && !slices.Contains(bpfengine.CachedMaps, info.Name) {
			live = append(live, id)
		}
		_ = m.Close()
	}
	return live
}

// TestIntegrationEngineCleanup: no cgroup, link, map or entry in the
// engine's cached maps of an instance is left after the program exits,
// after SIGKILL of the program, and after SIGKILL of the program and the
// supervisor, when the next instance's start removes the empty group and
// the entries.
func TestIntegrationEngineCleanup(t *testing.T) {
	e := newEngineEnv(t, "bpf")
	pol := e.policy(standardPolicy)
	for _, tt := range []struct {
		name string
		kill func(t *testing.T, program, supervisor int)
	}{
		{"exit", func(t *testing.T, program, supervisor int) {}},
		{"kill program", func(t *testing.T, program, supervisor int) {
			if err := unix.Kill(program, unix.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}},
		{"kill everything", func(t *testing.T, program, supervisor int) {
			for _, pid := range []int{supervisor, program} {
				if err := unix.Kill(pid, unix.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := e.with(t)
			// In a group of the test's own: vipa-exec's sweep of stale
			// groups in other tests' instances would remove the killed
			// one's group before the next instance here is to.
			inGroup := testCgroup(t)
			cmd := e.command(e.bpf("bpf", pol, "/bin/sh", "-c", "echo ready; read x")...)
			cmd.SysProcAttr = inGroup
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			p := testutil.Start(t, cmd)
			if l := p.Line(t); l != "ready" {
				t.Fatalf("program said %q", l)
			}
			program := p.Pid()
			supervisor := testutil.WaitSupervisor(t, program)
			group, err := cgroup.Own(program)
			if err != nil {
				t.Fatal(err)
			}
			if want := "vipa-exec." + strconv.Itoa(program); filepath.Base(group) != want {
				t.Fatalf("the program runs in %s, not in a group %s", group, want)
			}
			var st unix.Stat_t
			if err := unix.Stat(group, &st); err != nil {
				t.Fatalf("the program's cgroup: %v", err)
			}
			links := testutil.CgroupLinks(t, st.Ino)
			if len(links) == 0 {
				t.Fatalf("no bpf link on %s", group)
			}
			maps := mapsOf(t, supervisor)
			if len(maps) == 0 {
				t.Fatalf("the supervisor holds no bpf map")
			}

			tt.kill(t, program, supervisor)
			_ = stdin.Close()
			p.Wait(t)
			testutil.WaitSupervisorGone(t, program)
			testutil.WaitFor(t, "links gone", func() bool { return len(testutil.CgroupLinks(t, st.Ino)) == 0 })
			if tt.name == "kill everything" {
				// Nobody removed the group, nor the instance's entries
				// (its policy's trie among them) from the engine's
				// cache; the next instance under the same parent does.
				if _, err := os.Stat(group); err != nil {
					t.Fatalf("the killed instance's cgroup: %v", err)
				}
				next := e.command(e.bpf("bpf", pol, "true")...)
				next.SysProcAttr = inGroup
				res := testutil.Run(t, next)
				e.supervisorGone(res)
				wantEngine(t, res.Stderr, "bpf")
				wantOK(t, "the next instance", res)
			}
			testutil.WaitFor(t, "maps gone", func() bool { return len(liveMaps(maps)) == 0 })
			if _, err := os.Stat(group); !os.IsNotExist(err) {
				t.Errorf("cgroup %s left behind (%v)", group, err)
			}
			if n, err := bpfengine.Entries(st.Ino); err != nil || n != 0 {
				t.Errorf("%d entries of the instance left in the engine's cache (%v)", n, err)
			}
		})
	}
}

// TestIntegrationEngineSetuid: under bpf, a setuid-root program run with
// -u nobody keeps its privilege (no no_new_privs: no filter), and its
// connection gets the VIPA.
func TestIntegrationEngineSetuid(t *testing.T) {
	e := newEngineEnv(t, "bpf")
	suid := e.setuidCopy()
	res := e.inKernel(e.policy(standardPolicy), append([]string{"-u", "nobody", suid, "-w"}, hostPort(dst4)...)...)
	wantWhoami(t, "vipa-exec --engine bpf -u nobody setuid-copy", res, whoami{uid: nobody, euid: 0, local: vipa4})
	wantSources(t, "under vipa-exec --engine bpf", e.rec4, map[netip.Addr]int{vipa4: 1})
	if strings.Contains(res.Stderr, "no_new_privs") {
		t.Errorf("no_new_privs under bpf:\n%s", res.Stderr)
	}
}

// pyLoop connects to HOST PORT, closing each connection, until the file
// STOP exists; it prints "started" after the first connection and the
// number of connections at the end.
const pyLoop = `
import os, socket, sys
host, port, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3]
n = 0
while n == 0 or not os.path.exists(stop):
    s = socket.create_connection((host, port))
    s.close()
    n += 1
    if n == 1:
        print("started", flush=True)
print(n, flush=True)
`

// TestIntegrationEngineReload: the policy file is rewritten between two
// policies with disjoint sources while a client connects in a loop under
// bpf; every connection gets a source of one policy or the other, none the
// kernel's, and both appear.
func TestIntegrationEngineReload(t *testing.T) {
	testutil.RequireTool(t, python)
	e := newEngineEnv(t, "bpf")
	policies := []string{`[[connect]]
destination = "10.1.2.0/24"
sources     = ["192.0.2.10"]

[[connect]]
destination = "10.1.2.3/32"
ports       = "1-1023"
sources     = ["192.0.2.11"]
`, `[[connect]]
destination = "10.1.2.3/32"
sources     = ["192.0.2.11"]

[[connect]]
destination = "10.1.2.0/24"
ports       = "1-1023"
sources     = ["192.0.2.10"]
`}
	pol := e.policy(policies[0])
	stop := filepath.Join(e.dir, "stop")
	p := testutil.Start(t, e.command(e.bpf("bpf", pol, python, "-c", pyLoop, dst4.String(), strconv.Itoa(serverPort), stop)...))
	if l := p.Line(t); l != "started" {
		t.Fatalf("client said %q", l)
	}
	const reloads = 6
	for i := 1; i <= reloads; i++ {
		testutil.WriteFile(t, e.dir, filepath.Base(pol), policies[i%2])
		testutil.WaitFor(t, fmt.Sprintf("reload %d", i), func() bool {
			return strings.Count(p.Stderr(), `msg="policy reloaded"`) >= i
		})
	}
	testutil.WriteFile(t, e.dir, "stop", "")
	n, err := strconv.Atoi(p.Line(t))
	if err != nil {
		t.Fatal(err)
	}
	res := p.Wait(t)
	wantOK(t, "client loop", res)
	e.supervisorGone(res)
	e.rec4.Wait(t, n)
	got := e.rec4.Sources()
	if got[vipa4] == 0 || got[vipa4b] == 0 || got[vipa4]+got[vipa4b] != n {
		t.Errorf("%d connections, sources %v: want only %v and %v, both", n, got, vipa4, vipa4b)
	}
}

// TestIntegrationEngineStatus: --status (text and JSON) and SIGUSR1 show
// the bpf engine and its counters.
func TestIntegrationEngineStatus(t *testing.T) {
	e := newEngineEnv(t, "bpf")
	pol := e.policy(standardPolicy)
	client := cClient(t)
	script := client + " -w " + dst4.String() + " 8080 >/dev/null; " +
		client + " -w " + other4.String() + " 8080 >/dev/null; echo $$; read x; exit 0"
	_ = e.recorder(other4)
	cmd := e.command(e.bpf("bpf", pol, "/bin/sh", "-c", script)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := testutil.Start(t, cmd)
	program, err := strconv.Atoi(p.Line(t))
	if err != nil {
		t.Fatal(err)
	}
	supervisor := testutil.WaitSupervisor(t, program)

	res := e.run(e.vipaExec, "--status", strconv.Itoa(program))
	wantOK(t, "--status", res)
	f := statusFields(t, res.Stdout)
	for k, want := range map[string]string{
		"engine":     "bpf",
		"supervisor": fmt.Sprintf("%d (detached)", supervisor),
		"bound":      "1",
		"left alone": "1 no rule",
	} {
		if got := strings.Join(f[k], " / "); got != want {
			t.Errorf("--status %s: %q, want %q", k, got, want)
		}
	}
	res = e.run(e.vipaExec, "--status", strconv.Itoa(program), "--json")
	wantOK(t, "--status --json", res)
	var r struct {
		Engine   string `json:"engine"`
		Counters struct {
			Calls map[string]uint64 `json:"calls"`
			Bound uint64            `json:"bound"`
		} `json:"counters"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &r); err != nil {
		t.Fatal(err)
	}
	if r.Engine != "bpf" || r.Counters.Bound != 1 || r.Counters.Calls["connect"] != 2 {
		t.Errorf("--status --json: engine %q, bound %d, connect calls %d; want bpf, 1, 2", r.Engine, r.Counters.Bound, r.Counters.Calls["connect"])
	}
	if f := listed(t, e, supervisor); f[4] != "bpf" || f[6] != "2" || f[7] != "1" {
		t.Errorf("--status line %q: want engine bpf, 2 calls, 1 bound", f)
	}

	if err := unix.Kill(supervisor, unix.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the counters on SIGUSR1", func() bool {
		return strings.Contains(p.Stderr(), "msg=counters")
	})
	var line string
	for _, l := range testutil.Lines(p.Stderr()) {
		if strings.Contains(l, "msg=counters") {
			line = l
		}
	}
	for _, want := range []string{" engine=bpf ", " calls.connect=2 ", " bound=1 ", " left_alone.no_rule=1"} {
		if !strings.Contains(line+" ", want) {
			t.Errorf("SIGUSR1 counters line lacks %q: %s", want, line)
		}
	}
	_ = stdin.Close()
	res = p.Wait(t)
	wantOK(t, "program", res)
	e.supervisorGone(res)
}

// TestIntegrationEngineLeastConnections: under bpf, lc counts the host's
// sockets (sock_diag, read by the supervisor before the program runs), not
// only the program's own binds: with sockets held from the first source,
// the program's connection leaves from the second.
func TestIntegrationEngineLeastConnections(t *testing.T) {
	e := newEngineEnv(t, "bpf")
	// Another program's connections, 3 from the first source, held until
	// the test ends.
	for range 3 {
		e.ns.Do(t, func() error {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: vipa4.AsSlice()}}
			c, err := d.Dial("tcp4", netip.AddrPortFrom(dst4, serverPort).String())
			if err == nil {
				t.Cleanup(func() { _ = c.Close() })
			}
			return err
		})
	}
	pol := e.policy(`[[connect]]
destination = "10.1.2.0/24"
sources     = ["192.0.2.10", "192.0.2.11"]
policy      = "lc"
`)
	res := e.inKernel(pol, goClient(t), "-connect", netip.AddrPortFrom(dst4, serverPort).String())
	wantOK(t, "lc under bpf", res)
	wantSources(t, "3 held, then lc under bpf", e.rec4, map[netip.Addr]int{vipa4: 3, vipa4b: 1})
}

// TestIntegrationEngineParent: --supervise=parent with the bpf engine:
// vipa-exec stays the parent, the program runs in a cgroup of its own and
// gets the VIPA, vipa-exec exits with its status, and the group is gone.
func TestIntegrationEngineParent(t *testing.T) {
	e := newEngineEnv(t, "bpf")
	script := fmt.Sprintf("%s -connect %s && grep '^0::' /proc/self/cgroup && exit 7", goClient(t), netip.AddrPortFrom(dst4, serverPort))
	res := e.inKernel(e.policy(standardPolicy), "--supervise=parent", "/bin/sh", "-c", script)
	if res.Exit != 7 {
		t.Fatalf("exit %d, want the program's 7: %v", res.Exit, res)
	}
	wantSources(t, "parent mode under bpf", e.rec4, map[netip.Addr]int{vipa4: 1})
	lines := testutil.Lines(res.Stdout)
	name, ok := strings.CutPrefix(lines[len(lines)-1], "0::/vipa-exec.")
	program, err := strconv.Atoi(name)
	if !ok || err != nil || program == res.Pid {
		t.Fatalf("the program's cgroup: %q, want 0::/vipa-exec.PID of a child of vipa-exec (%d)", lines[len(lines)-1], res.Pid)
	}
	if _, err := os.Stat(groupPath(t, program)); !os.IsNotExist(err) {
		t.Errorf("cgroup of program %d left behind (%v)", program, err)
	}
}

// TestIntegrationEngineFallback: when the supervisor cannot start the bpf
// engine (here: the group cannot be made, cgroup.max.descendants 0 in the
// test's cgroup), auto warns once and serves with seccomp, and --engine bpf
// exits 2 with one line.
func TestIntegrationEngineFallback(t *testing.T) {
	e := newEngineEnv(t, "bpf")
	mp, err := cgroup.Mountpoint()
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("vipa-exec-test-fallback.%d", os.Getpid())
	if err := os.Mkdir(filepath.Join(mp, name), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A supervisor that exits on its own may still be on its way out.
		testutil.WaitFor(t, "the test's cgroup empty", func() bool {
			b, err := os.ReadFile(filepath.Join(mp, name, "cgroup.events"))
			return err == nil && strings.Contains(string(b), "populated 0")
		})
		if err := os.Remove(filepath.Join(mp, name)); err != nil {
			t.Errorf("remove the test's cgroup: %v", err)
		}
	})
	testutil.WriteFile(t, filepath.Join(mp, name), "cgroup.max.descendants", "0")
	pol := e.policy(standardPolicy)
	client := []string{goClient(t), "-connect", netip.AddrPortFrom(dst4, serverPort).String()}
	// in runs argv in the test's cgroup.
	in := func(argv ...string) []string {
		return append([]string{"/bin/sh", "-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, filepath.Join(mp, name)}, argv...)
	}

	res := e.run(in(append([]string{e.vipaExec, "-p", pol}, client...)...)...)
	e.supervisorGone(res)
	wantOK(t, "auto, the group impossible", res)
	if n := strings.Count(res.Stderr, "vipa-exec: warning: engine seccomp: the bpf engine failed: "); n != 1 {
		t.Errorf("want one warning of the fallback, got %d:\n%s", n, res.Stderr)
	}
	wantSources(t, "auto, the group impossible", e.rec4, map[netip.Addr]int{vipa4: 1})

	e.rec4.Reset()
	res = e.run(in(append([]string{e.vipaExec, "--engine", "bpf", "-p", pol}, client...)...)...)
	lines := testutil.Lines(res.Stderr)
	if res.Exit != 2 || len(lines) != 1 || !strings.Contains(lines[0], "create cgroup") {
		t.Errorf("--engine bpf, the group impossible: want exit 2 and one line naming the cgroup; got %v", res)
	}
	if e.rec4.Count() != 0 {
		t.Errorf("--engine bpf, the group impossible: the program ran")
	}
}

// TestIntegrationEngineTerminal: the bpf engine loads no trapping filter,
// but PROGRAM still cannot type into a terminal (TIOCSTI, TIOCLINUX): a
// filter that refuses only those stays, in both supervisor modes. With
// stdin no terminal, the kernel alone would say ENOTTY.
func TestIntegrationEngineTerminal(t *testing.T) {
	e := newEngineEnv(t, "bpf")
	tiocsti := testutil.BuildC(t, "tests/clients/tiocsti/tiocsti.c")
	pol := e.policy(standardPolicy)
	res := e.run(tiocsti, "sti", "0", "x")
	if got := strings.TrimSpace(res.Stdout); got != "ioctl ENOTTY" {
		t.Fatalf("without vipa-exec: %q, want ioctl ENOTTY", got)
	}
	for _, tt := range []struct {
		name string
		argv []string
	}{
		{"detached, -u nobody, high bits", []string{"-u", "nobody", tiocsti, "sti", "1", "x"}},
		{"detached, TIOCLINUX", []string{tiocsti, "linux", "0"}},
		{"parent", []string{"--supervise=parent", tiocsti, "sti", "0", "x"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := e.with(t)
			res := e.inKernel(pol, tt.argv...)
			wantOK(t, "tiocsti under bpf", res)
			if got := strings.TrimSpace(res.Stdout); got != "ioctl EPERM" {
				t.Errorf("under bpf: %q, want ioctl EPERM", got)
			}
		})
	}
}

// TestIntegrationEngineAbsentSources: under bpf the rules choose among the
// sources the host has: one absent at start is skipped, and used once it
// is added, the supervisor's line saying so coming after the engine has
// the new set.
func TestIntegrationEngineAbsentSources(t *testing.T) {
	e := newEngineEnv(t, "bpf")
	pol := e.policy(`[[connect]]
destination = "10.1.2.0/24"
sources     = ["192.0.2.99", "192.0.2.10"]
`)
	script := `while read x; do "$0" -connect "$1" >/dev/null && echo done || echo failed; done`
	cmd := e.command(e.bpf("bpf", pol, "/bin/sh", "-c", script, goClient(t), netip.AddrPortFrom(dst4, serverPort).String())...)
	log := newLogLines()
	cmd.Stderr = log
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := testutil.Start(t, cmd)
	connect := func() {
		t.Helper()
		if _, err := fmt.Fprintln(stdin, "go"); err != nil {
			t.Fatal(err)
		}
		if l := p.Line(t); l != "done" {
			t.Fatalf("client: %q", l)
		}
	}
	connect()
	wantSources(t, "192.0.2.99 absent", e.rec4, map[netip.Addr]int{vipa4: 1})
	e.ip(t, "addr", "add", "192.0.2.99/32", "dev", "lo")
	log.wait(t, "source is back on this host", "192.0.2.99")
	e.rec4.Reset()
	connect()
	wantSources(t, "192.0.2.99 added", e.rec4, map[netip.Addr]int{netip.MustParseAddr("192.0.2.99"): 1})
	if err := stdin.Close(); err != nil {
		t.Fatal(err)
	}
	res := p.Wait(t)
	wantOK(t, "client", res)
	e.supervisorGone(res)
}

// TestIntegrationEngineParentOutlived: in parent mode with bpf, vipa-exec
// exits with PROGRAM, not with its last descendant, and says that one
// outlives it unserved, as with seccomp.
func TestIntegrationEngineParentOutlived(t *testing.T) {
	e := newEngineEnv(t, "bpf")
	pol := e.policy(standardPolicy)
	res := e.run(e.bpf("bpf", pol, "--supervise=parent", "/bin/sh", "-c", "sleep 300 </dev/null >/dev/null 2>&1 & echo $!")...)
	pid, err := strconv.Atoi(strings.TrimSpace(res.Stdout))
	if err != nil {
		t.Fatalf("program: %v", res)
	}
	t.Cleanup(func() { _ = unix.Kill(pid, unix.SIGKILL) })
	wantOK(t, "parent mode, a descendant outliving PROGRAM", res)
	if n := strings.Count(res.Stderr, "processes PROGRAM started outlive it"); n != 1 {
		t.Errorf("want one warning that a descendant outlives PROGRAM, got %d:\n%s", n, res.Stderr)
	}

	// The group stays with the descendant in it; once that is gone, the
	// next instance under the same parent removes it.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	var name string
	for _, l := range testutil.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, "0::/"); ok {
			name = v
		}
	}
	if !strings.HasPrefix(name, "vipa-exec.") {
		t.Fatalf("the descendant's cgroup: %q", b)
	}
	mp, err := cgroup.Mountpoint()
	if err != nil {
		t.Fatal(err)
	}
	group := filepath.Join(mp, name)
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the group empty", func() bool {
		b, err := os.ReadFile(filepath.Join(group, "cgroup.events"))
		return err == nil && strings.Contains(string(b), "populated 0")
	})
	wantOK(t, "the next instance", e.inKernel(pol, "true"))
	if _, err := os.Stat(group); !os.IsNotExist(err) {
		t.Errorf("cgroup %s left behind (%v)", group, err)
	}
}

// testCgroup makes a cgroup v2 group of the test's own, below the one the test
// process runs in, and returns the attributes that start a command in it
// (clone3's CLONE_INTO_CGROUP). A vipa-exec started there makes its group
// inside it, and its sweep of stale groups sees only the test's: instances
// that other packages' tests start at the same time, in the test process's
// cgroup, cannot remove a group the test left for its next instance. The
// group is removed when the test ends; it must be empty by then.
func testCgroup(t *testing.T) *syscall.SysProcAttr {
	t.Helper()
	testutil.RequireRoot(t)
	own, err := cgroup.Own(os.Getpid())
	if err != nil {
		t.Fatalf("test cgroup: %v", err)
	}
	dir, err := os.MkdirTemp(own, "vipa-test.")
	if err != nil {
		t.Fatalf("test cgroup: %v", err)
	}
	f, err := os.Open(dir)
	if err != nil {
		_ = os.Remove(dir)
		t.Fatalf("test cgroup: %v", err)
	}
	t.Cleanup(func() {
		_ = f.Close()
		if err := os.Remove(dir); err != nil {
			t.Errorf("test cgroup %s: %v (entries: %s)", dir, err, entries(dir))
		}
	})
	return &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
}

// entries names the groups left in dir, for an error.
func entries(dir string) string {
	var out []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return fmt.Sprint(out)
}
