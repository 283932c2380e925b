//go:build linux

package supervisor

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/cgroup"
	"github.com/vipa-exec/vipa-exec/internal/launch"
	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// testCgroupParent makes a throwaway cgroup below the test's own, for the
// engine's group to go below, and removes both at the end (the test ends
// its processes itself).
func testCgroupParent(t *testing.T) string {
	t.Helper()
	testutil.RequireRoot(t)
	own, err := cgroup.Own(os.Getpid())
	testutil.Require(t, err == nil, fmt.Sprintf("a cgroup v2 hierarchy (%v)", err))
	dir := filepath.Join(own, fmt.Sprintf("vipa-test-%d-%08x", os.Getpid(), rand.Uint32()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Errorf("clean up: %v", err)
			return
		}
		for _, e := range entries {
			if e.IsDir() {
				t.Errorf("clean up: %s left behind", filepath.Join(dir, e.Name()))
				_ = os.Remove(filepath.Join(dir, e.Name()))
			}
		}
		if err := os.Remove(dir); err != nil {
			t.Errorf("clean up: %v", err)
		}
	})
	return dir
}

// startIn starts name in the cgroup directory dir; the test's cleanup
// kills it if the test has not.
func startIn(t *testing.T, dir string, name string, args ...string) *exec.Cmd {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unix.Close(fd) }()
	return startInFD(t, fd, name, args...)
}

func startInFD(t *testing.T, fd int, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// connectFrom has a process in the cgroup of fd connect to ln, and returns
// the source address ln saw.
func connectFrom(t *testing.T, fd int, ln *net.TCPListener) netip.Addr {
	t.Helper()
	port := ln.Addr().(*net.TCPAddr).Port
	cmd := startInFD(t, fd, "bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d", port))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("connect from the group: %v", err)
	}
	c, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	return c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
}

// loopbackPolicy sends TCP connections to 127.0.0.0/8 from src, with lc
// (one source: lc's counts are read, the choice is src).
func loopbackPolicy(t *testing.T, src string) *policy.Policy {
	t.Helper()
	p, err := policy.New([]policy.ConnectRule{{
		Destination: netip.MustParsePrefix("127.0.0.0/8"), Protocol: policy.TCP,
		Sources: []netip.Addr{netip.MustParseAddr(src)}, Policy: policy.LC, Origin: "test.toml:1",
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// attachedPrograms is the ids of the programs attached to the cgroup of
// fd at the engine's connect4 hook.
func attachedPrograms(t *testing.T, fd int) []ebpf.ProgramID {
	t.Helper()
	r, err := link.QueryPrograms(link.QueryOptions{Target: fd, Attach: ebpf.AttachCGroupInet4Connect})
	if err != nil {
		t.Fatalf("query the cgroup's programs: %v", err)
	}
	var ids []ebpf.ProgramID
	for _, p := range r.Programs {
		ids = append(ids, p.ID)
	}
	return ids
}

// TestInKernelAdapter: the bpf engine behind the supervisor's engine
// interface, for real: its group is made below the program's cgroup and
// the program moved in; a process in the group connects from the policy's
// source, and from a reloaded policy's; a reload the engine cannot serve
// keeps the running policy; a source gone from the host is no longer
// bound; serve returns once the program is gone; Close detaches the
// programs and removes the group.
func TestInKernelAdapter(t *testing.T) {
	parent := testCgroupParent(t)
	program := startIn(t, parent, "sleep", "600")
	log := slog.New(make(records, 1000))

	k, err := newInKernel(loopbackPolicy(t, "127.0.0.2"), program.Process.Pid, log)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed { // after a failure: the program first, or the group stays
			if program.ProcessState == nil {
				_ = program.Process.Kill()
				_ = program.Wait()
			}
			_ = k.Close()
		}
	})
	if got, want := k.g.Path(), filepath.Join(parent, fmt.Sprintf("vipa-exec.%d", program.Process.Pid)); got != want {
		t.Errorf("group %s, want %s", got, want)
	}
	if k.Name() != "bpf" {
		t.Errorf("Name() = %q", k.Name())
	}
	if !k.Called(program.Process.Pid) {
		t.Error("Called(program) = false: the program is not in the engine's group")
	}
	if k.Called(os.Getpid()) {
		t.Error("Called(the test) = true")
	}
	stop := k.followSockets(func() *policy.Policy { return loopbackPolicy(t, "127.0.0.2") })

	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		stop()
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	if got := connectFrom(t, k.g.FD(), ln); got != netip.MustParseAddr("127.0.0.2") {
		t.Errorf("source %v, want the policy's 127.0.0.2", got)
	}
	stop()
	s := k.Snapshot()
	if s.Calls["connect"] == 0 || s.Bound == 0 {
		t.Errorf("Snapshot after a bound connect: calls %v, bound %d", s.Calls, s.Bound)
	}
	if len(s.PerSource) != 1 || s.PerSource[0].Source != netip.MustParseAddr("127.0.0.2") || s.PerSource[0].Count == 0 {
		t.Errorf("Snapshot's per-source counts: %+v", s.PerSource)
	}

	if err := k.Reload(loopbackPolicy(t, "127.0.0.3")); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := connectFrom(t, k.g.FD(), ln); got != netip.MustParseAddr("127.0.0.3") {
		t.Errorf("source after Reload %v, want 127.0.0.3", got)
	}
	iface, err := policy.New([]policy.ConnectRule{{
		Interface: "lo",
		Sources:   []netip.Addr{netip.MustParseAddr("127.0.0.4")}, Origin: "test.toml:1",
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Reload(iface); err == nil {
		t.Error("Reload of an [[interface]] policy: no error")
	}
	if got := connectFrom(t, k.g.FD(), ln); got != netip.MustParseAddr("127.0.0.3") {
		t.Errorf("source after a failed Reload %v, want the running policy's 127.0.0.3", got)
	}

	// 127.0.0.3 gone from the host: the rule has no source left to bind.
	k.SetPresent(policy.NewAddrSet(netip.MustParseAddr("127.0.0.1")))
	if got := connectFrom(t, k.g.FD(), ln); got == netip.MustParseAddr("127.0.0.3") {
		t.Errorf("source after SetPresent without it: %v", got)
	}

	served := make(chan error, 1)
	go func() { served <- k.serve(loopbackPolicy(t, "127.0.0.3"), program.Process.Pid, "/test.toml", nil) }()
	if err := program.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = program.Wait() // "signal: killed"
	if err := <-served; err != nil {
		t.Errorf("serve: %v", err)
	}

	ids := attachedPrograms(t, k.g.FD())
	if len(ids) != 1 {
		t.Fatalf("programs %v at connect4 before Close, want 1", ids)
	}
	var st unix.Stat_t
	if err := unix.Fstat(k.g.FD(), &st); err != nil {
		t.Fatal(err)
	}
	links := testutil.CgroupLinks(t, st.Ino)
	if len(links) == 0 {
		t.Fatal("no link at the group before Close")
	}
	path := k.g.Path()
	closed = true
	if err := k.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	// Detached: the links are gone (after an RCU grace period). The
	// programs stay, pinned in the engine's cache.
	testutil.WaitFor(t, "the engine's links gone", func() bool {
		for _, id := range links {
			if l, err := link.NewFromID(id); err == nil {
				_ = l.Close()
				return false
			}
		}
		return true
	})
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("group %s after Close: %v", path, err)
	}
}

// TestPrepareInKernel: Prepare with the bpf engine starts the supervisor
// around it, moves the program into the engine's group, serves until the
// program is gone, and leaves no group behind.
func TestPrepareInKernel(t *testing.T) {
	parent := testCgroupParent(t)
	program := startIn(t, parent, "sleep", "600")
	const text = `[[connect]]
destination = "127.0.0.0/8"
protocol    = "tcp"
sources     = ["127.0.0.2"]
policy      = "lc"
`
	path, handoff := checkedPolicy(t, text)
	logs, err := ParseLogSettings("warn", "text")
	if err != nil {
		t.Fatal(err)
	}
	run, err := Prepare(logs)(launch.Setup{Path: path, Data: handoff, Program: program.Process.Pid, InKernel: true})
	if err != nil {
		t.Fatal(err)
	}
	group := filepath.Join(parent, fmt.Sprintf("vipa-exec.%d", program.Process.Pid))
	own, err := cgroup.Own(program.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if own != group {
		t.Errorf("program in %s, want the engine's %s", own, group)
	}
	served := make(chan error, 1)
	go func() { served <- run(nil) }()
	if err := program.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = program.Wait()
	if err := <-served; err != nil {
		t.Errorf("serve: %v", err)
	}
	if _, err := os.Stat(group); !os.IsNotExist(err) {
		t.Errorf("group %s after serving: %v", group, err)
	}
}
