//go:build linux

package cgroup

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// testParent makes a throwaway cgroup below the test's own and removes it,
// and the groups below it, at the end. The tests end their processes
// themselves.
func testParent(t *testing.T) string {
	t.Helper()
	testutil.RequireRoot(t)
	own, err := Own(os.Getpid())
	testutil.Require(t, err == nil, fmt.Sprintf("a cgroup v2 hierarchy (%v)", err))
	dir := filepath.Join(own, fmt.Sprintf("vipa-test-%d-%08x", os.Getpid(), rand.Uint32()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rmdirAll(dir); err != nil {
			t.Errorf("clean up: %v", err)
		}
	})
	return dir
}

// rmdirAll removes the cgroup dir and the groups below it, deepest first
// (a cgroup's files cannot be removed, only its directory).
func rmdirAll(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := rmdirAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return os.Remove(dir)
}

// start starts a program in the cgroup of directory descriptor fd (-1:
// the test's own), and kills it at the end.
func start(t *testing.T, fd int, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	if fd >= 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// deadPID returns the PID of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func create(t *testing.T, parent string, pid int) *Group {
	t.Helper()
	g, err := Create(parent, pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

func populated(t *testing.T, g *Group) bool {
	t.Helper()
	p, err := g.Populated()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// wantWaitEmptyUntilKilled checks that g.WaitEmpty waits while the process
// pid (what) runs in g, and returns once it is killed; reap reaps it, nil
// when it is not this process's child. A return before the kill is an
// error.
func wantWaitEmptyUntilKilled(t *testing.T, g *Group, what string, pid int, reap func()) {
	t.Helper()
	var killed atomic.Bool
	done := make(chan error, 1)
	go func() {
		err := g.WaitEmpty(t.Context())
		if err == nil && !killed.Load() {
			err = errors.New("WaitEmpty returned before the group's last process was killed")
		}
		done <- err
	}()
	if !populated(t, g) {
		t.Fatalf("not populated while %s runs", what)
	}
	select {
	case err := <-done:
		t.Fatalf("WaitEmpty returned while %s runs: %v", what, err)
	default:
	}
	killed.Store(true)
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if reap != nil {
		reap()
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestMountpointOwn(t *testing.T) {
	mp, err := Mountpoint()
	testutil.Require(t, err == nil, fmt.Sprintf("a cgroup v2 hierarchy (%v)", err))
	var fs unix.Statfs_t
	if err := unix.Statfs(mp, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Errorf("Mountpoint() = %s, whose file system is %#x, not cgroup2", mp, fs.Type)
	}
	own, err := Own(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if own != mp && !isUnder(own, mp) {
		t.Errorf("Own(self) = %s, not under %s", own, mp)
	}
	if _, err := Own(deadPID(t)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Own(dead pid): %v, want ErrNotExist", err)
	}
}

// TestGroup: a group made, entered by CLONE_INTO_CGROUP and by Enter,
// emptied, removed.
func TestGroup(t *testing.T) {
	parent := testParent(t)
	g := create(t, parent, os.Getpid())
	if want := filepath.Join(parent, "vipa-exec."+strconv.Itoa(os.Getpid())); g.Path() != want {
		t.Errorf("Path() = %s, want %s", g.Path(), want)
	}
	fi, err := os.Stat(g.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != os.ModeDir|0o755 {
		t.Errorf("mode %v, want %v", fi.Mode(), os.ModeDir|0o755)
	}
	if populated(t, g) {
		t.Errorf("a new group is populated")
	}

	cloned := start(t, g.FD(), "sleep", "1000")
	entered := start(t, -1, "sleep", "1000")
	if err := g.Enter(entered.Process.Pid); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []*exec.Cmd{cloned, entered} {
		if own, err := Own(cmd.Process.Pid); err != nil || own != g.Path() {
			t.Errorf("Own(%d) = %s, %v; want %s", cmd.Process.Pid, own, err, g.Path())
		}
	}
	if !populated(t, g) {
		t.Errorf("not populated with two processes")
	}
	if err := g.Remove(); !errors.Is(err, unix.EBUSY) || !strings.Contains(err.Error(), g.Path()) {
		t.Errorf("Remove while populated: %v, want EBUSY naming %s", err, g.Path())
	}
	if err := g.Enter(deadPID(t)); !errors.Is(err, unix.ESRCH) {
		t.Errorf("Enter(dead pid): %v, want ESRCH", err)
	}

	for _, cmd := range []*exec.Cmd{cloned, entered} {
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait() // killed
	}
	if err := g.WaitEmpty(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(g.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Remove: %v, want ErrNotExist", err)
	}
	if err := g.Remove(); err != nil {
		t.Errorf("Remove again: %v", err)
	}
	if err := g.WaitEmpty(t.Context()); err != nil {
		t.Errorf("WaitEmpty on a removed group: %v", err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Errorf("Close again: %v", err)
	}
}

// TestWaitEmpty: WaitEmpty waits while the program runs and returns once
// it is killed.
func TestWaitEmpty(t *testing.T) {
	g := create(t, testParent(t), os.Getpid())
	cmd := start(t, g.FD(), "sleep", "1000")
	wantWaitEmptyUntilKilled(t, g, "sleep", cmd.Process.Pid, func() { _ = cmd.Wait() /* killed */ })
	if populated(t, g) {
		t.Errorf("populated after WaitEmpty")
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
}

// TestWaitEmptyGrandchild: a process the program left behind keeps the
// group populated after the program has exited.
func TestWaitEmptyGrandchild(t *testing.T) {
	g := create(t, testParent(t), os.Getpid())
	sh := exec.Command("sh", "-c", "sleep 1000 </dev/null >/dev/null 2>&1 & echo $!")
	sh.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: g.FD()}
	out, err := sh.Output()
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("sh printed %q: %v", out, err)
	}
	t.Cleanup(func() { _ = unix.Kill(pid, unix.SIGKILL) })
	wantWaitEmptyUntilKilled(t, g, "the grandchild", pid, nil)
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
}

// TestWaitEmptyCancel: WaitEmpty ends with its context.
func TestWaitEmptyCancel(t *testing.T) {
	g := create(t, testParent(t), os.Getpid())
	cmd := start(t, g.FD(), "sleep", "1000")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- g.WaitEmpty(ctx) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("WaitEmpty after cancel: %v, want context.Canceled", err)
	}
	if !populated(t, g) {
		t.Errorf("not populated while sleep runs")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // killed
	if err := g.WaitEmpty(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
}

// TestCreateStale: what SIGKILL of everything leaves behind, an empty
// group whose owner is gone, goes at the next Create; a group with a
// process, one whose owner lives, and names not this package's stay.
func TestCreateStale(t *testing.T) {
	parent := testParent(t)
	live := start(t, -1, "sleep", "1000")
	mk := func(name string) string {
		dir := filepath.Join(parent, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	stale := mk("vipa-exec." + strconv.Itoa(deadPID(t)))
	staleNested := mk("vipa-exec." + strconv.Itoa(deadPID(t)))
	mk(filepath.Join(filepath.Base(staleNested), "vipa-exec."+strconv.Itoa(deadPID(t))))
	busy := mk("vipa-exec." + strconv.Itoa(deadPID(t)))
	owned := mk("vipa-exec." + strconv.Itoa(live.Process.Pid))
	foreign := mk("other." + strconv.Itoa(deadPID(t)))
	odd := mk("vipa-exec.0" + strconv.Itoa(deadPID(t)))
	self := mk("vipa-exec." + strconv.Itoa(os.Getpid()))

	bfd, err := unix.Open(busy, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	sleeper := start(t, bfd, "sleep", "1000")
	_ = unix.Close(bfd)

	g := create(t, parent, os.Getpid())
	if g.Path() != self {
		t.Errorf("Path() = %s, want %s", g.Path(), self)
	}
	for dir, want := range map[string]bool{stale: false, staleNested: false, busy: true, owned: true, foreign: true, odd: true, self: true} {
		if _, err := os.Stat(dir); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v (%v)", filepath.Base(dir), err == nil, want, err)
		}
	}

	// The group of a PID that holds a process is not taken over.
	create(t, parent, sleeper.Process.Pid) // another name: vipa-exec.<sleeper>
	dup, err := Create(parent, mustAtoi(t, strings.TrimPrefix(filepath.Base(busy), "vipa-exec.")))
	if !errors.Is(err, unix.EEXIST) {
		_ = dup.Close()
		t.Errorf("Create over a populated group: %v, want EEXIST", err)
	}
	if err := sleeper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = sleeper.Wait() // killed
	for _, dir := range []string{busy, filepath.Join(parent, "vipa-exec."+strconv.Itoa(sleeper.Process.Pid))} {
		if err := os.Remove(dir); err != nil {
			t.Error(err)
		}
	}
}

// TestCreateSparesOwned: after the program exits, its group is empty and
// its N dead, but the supervisor still owns it and waits for
// cgroup.events: another instance's Create leaves it alone until the owner
// closes it (or dies); then it is stale.
func TestCreateSparesOwned(t *testing.T) {
	parent := testParent(t)
	g := create(t, parent, deadPID(t))
	create(t, parent, os.Getpid())
	if _, err := os.Stat(g.Path()); err != nil {
		t.Fatalf("another instance's Create removed a group whose owner runs: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := g.WaitEmpty(ctx); err != nil {
		t.Fatalf("WaitEmpty: %v", err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	create(t, parent, deadPID(t))
	if _, err := os.Stat(g.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a group whose owner closed it, after the next Create: %v, want ErrNotExist", err)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCreateRefuses: no symlink on the way, a cgroup2 directory, a PID.
func TestCreateRefuses(t *testing.T) {
	parent := testParent(t)
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(parent, link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		parent string
		pid    int
		err    error
	}{
		{name: "symlink", parent: link, pid: os.Getpid(), err: unix.ELOOP},
		{name: "not cgroup2", parent: t.TempDir(), pid: os.Getpid(), err: ErrNoCgroup2},
		{name: "missing", parent: filepath.Join(parent, "none"), pid: os.Getpid(), err: os.ErrNotExist},
		{name: "pid 0", parent: parent, pid: 0, err: unix.EINVAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := Create(tt.parent, tt.pid)
			if !errors.Is(err, tt.err) {
				if err == nil {
					_ = g.Remove()
					_ = g.Close()
				}
				t.Fatalf("Create(%s, %d): %v, want %v", tt.parent, tt.pid, err, tt.err)
			}
		})
	}
}

// TestRemoveNested: the empty groups that killed nested instances left
// inside the group go with it; a group of another name stops Remove.
func TestRemoveNested(t *testing.T) {
	g := create(t, testParent(t), os.Getpid())
	inner := filepath.Join(g.Path(), "vipa-exec."+strconv.Itoa(deadPID(t)))
	innermost := filepath.Join(inner, "vipa-exec."+strconv.Itoa(deadPID(t)))
	if err := os.MkdirAll(innermost, 0o755); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(g.Path(), "other")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := g.Remove(); !errors.Is(err, unix.EBUSY) || !strings.Contains(err.Error(), g.Path()) {
		t.Errorf("Remove with a foreign group inside: %v, want EBUSY naming %s", err, g.Path())
	}
	if err := os.Remove(other); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(inner); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("nested group after Remove: %v, want ErrNotExist", err)
	}
	if err := os.MkdirAll(innermost, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(g.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Remove: %v, want ErrNotExist", err)
	}
}

// TestAlive: a process is alive until reaped, a zombie included.
func TestAlive(t *testing.T) {
	if !Alive(os.Getpid()) {
		t.Error("Alive(the test) = false")
	}
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	testutil.WaitFor(t, "true a zombie", func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		i := strings.LastIndexByte(string(b), ')')
		return err == nil && i > 0 && strings.HasPrefix(string(b[i:]), ") Z")
	})
	if !Alive(pid) {
		t.Errorf("Alive(%d), a zombie, = false", pid)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if Alive(pid) {
		t.Errorf("Alive(%d), reaped, = true", pid)
	}
}
