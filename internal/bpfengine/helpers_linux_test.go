//go:build linux

package bpfengine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// cgroup2Mount finds the cgroup v2 hierarchy in /proc/self/mountinfo (the
// hybrid layout has it at /sys/fs/cgroup/unified).
func cgroup2Mount(tb testing.TB) string {
	tb.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		if fields := strings.Fields(post); len(fields) > 0 && fields[0] == "cgroup2" {
			if pf := strings.Fields(pre); len(pf) >= 5 {
				return pf[4]
			}
		}
	}
	testutil.Require(tb, false, "needs a cgroup v2 hierarchy")
	return ""
}

var cgroupSeq atomic.Int32

// testCgroup is a throwaway cgroup v2 directory for one test, removed by the
// test's cleanup once the processes the test started (and waited for) are
// gone.
type testCgroup struct {
	path string
	fd   int // O_DIRECTORY, for bpf_link attach and CLONE_INTO_CGROUP
}

func newCgroup(tb testing.TB) *testCgroup {
	tb.Helper()
	testutil.RequireRoot(tb)
	return newCgroupIn(tb, cgroup2Mount(tb))
}

// newCgroupIn makes the cgroup as a child of parent (a directory).
func newCgroupIn(tb testing.TB, parent string) *testCgroup {
	tb.Helper()
	dir := filepath.Join(parent, fmt.Sprintf("vipa-exec-test.%d.%d", os.Getpid(), cgroupSeq.Add(1)))
	if err := os.Mkdir(dir, 0o755); err != nil {
		tb.Fatalf("make test cgroup: %v", err)
	}
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		_ = os.Remove(dir)
		tb.Fatalf("open test cgroup: %v", err)
	}
	cg := &testCgroup{path: dir, fd: fd}
	tb.Cleanup(func() {
		_ = unix.Close(fd)
		if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			tb.Errorf("remove test cgroup: %v", err)
		}
	})
	return cg
}

// command runs name in the netns and in the cgroup from its first
// instruction on (CLONE_INTO_CGROUP).
func (cg *testCgroup) command(ns *testutil.NetNS, name string, args ...string) *exec.Cmd {
	cmd := ns.Command(context.Background(), name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cg.fd}
	return cmd
}

// loadEngine loads p and attaches it to cg; the test's cleanup closes it.
func loadEngine(tb testing.TB, cg *testCgroup, p *policy.Policy) *Engine {
	tb.Helper()
	e, err := Load(p, nil)
	if err != nil {
		tb.Fatalf("Load: %v", err)
	}
	tb.Cleanup(func() {
		if err := e.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	if err := e.Attach(cg.fd); err != nil {
		tb.Fatalf("Attach: %v", err)
	}
	return e
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func mustPolicy(tb testing.TB, connect []policy.ConnectRule, bind []policy.BindRule) *policy.Policy {
	tb.Helper()
	for i := range connect {
		if connect[i].Origin == "" {
			connect[i].Origin = fmt.Sprintf("test.toml:%d", 10*(i+1))
		}
	}
	for i := range bind {
		if bind[i].Origin == "" {
			bind[i].Origin = fmt.Sprintf("test.toml:%d", 1000+10*(i+1))
		}
	}
	p, err := policy.New(connect, bind)
	if err != nil {
		tb.Fatalf("policy.New: %v", err)
	}
	return p
}
