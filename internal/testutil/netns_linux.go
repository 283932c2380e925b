//go:build linux

package testutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// NetNS is a named network namespace that lives as long as the test.
type NetNS struct {
	// Name is the name known to `ip netns`.
	Name string
}

// NewNetNS creates a fresh named network namespace with lo up. tb.Cleanup
// deletes it; it kills nothing, so a test must wait for the processes it
// started inside.
func NewNetNS(tb testing.TB) *NetNS {
	tb.Helper()
	RequireRoot(tb)
	RequireTool(tb, "ip", "nsenter", "unshare")
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatalf("random namespace name: %v", err)
	}
	ns := &NetNS{Name: "vipa-test-" + hex.EncodeToString(b[:])}
	mustRun(tb, exec.Command("ip", "netns", "add", ns.Name))
	tb.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
			tb.Errorf("ip netns del %s: %v: %s", ns.Name, err, out)
		}
	})
	mustRun(tb, exec.Command("ip", "-n", ns.Name, "link", "set", "lo", "up"))
	return ns
}

// SetEtc gives commands started with [NetNS.Command] or
// [NetNS.HostSysCommand] their own /etc/name (hosts, resolv.conf): both
// bind-mount /etc/netns/NAME/name over it. A test resolves its host names from its own hosts file this way, and a
// resolv.conf naming 127.0.0.1 keeps any DNS query inside the namespace.
func (ns *NetNS) SetEtc(tb testing.TB, name, content string) {
	tb.Helper()
	dir := filepath.Join("/etc/netns", ns.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatalf("SetEtc: %v", err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		tb.Fatalf("SetEtc: %v", err)
	}
}

// path is where `ip netns` bind-mounts the namespace.
func (ns *NetNS) path() string { return filepath.Join("/var/run/netns", ns.Name) }

// AddAddr puts prefix (e.g. "192.0.2.10/32") on the namespace's lo and
// returns once the kernel routes to it. IPv6 addresses get nodad, yet even
// then the kernel installs their local route from a work queue, after `ip
// addr add` returned: a connect in between fails with ENETUNREACH.
func (ns *NetNS) AddAddr(tb testing.TB, prefix string) {
	tb.Helper()
	p, err := netip.ParsePrefix(prefix)
	if err != nil {
		tb.Fatalf("AddAddr: %v", err)
	}
	args := []string{"-n", ns.Name, "addr", "add", p.String(), "dev", "lo"}
	if p.Addr().Is6() {
		args = append(args, "nodad")
	}
	mustRun(tb, exec.Command("ip", args...))
	var out []byte
	routed := waitFor(func() bool {
		out, err = exec.Command("ip", "-n", ns.Name, "route", "get", p.Addr().String()).CombinedOutput()
		return err == nil && strings.HasPrefix(string(out), "local ")
	})
	if !routed {
		tb.Fatalf("no local route to %v in netns %s after %v: %v: %s", p.Addr(), ns.Name, WaitTimeout, err, out)
	}
}

// Command returns a command that runs name inside the namespace through
// `ip netns exec`, which execs in place: cmd.Process.Pid is the pid of name.
// `ip netns exec` gives the command a mount namespace of its own with a
// fresh sysfs on /sys, where the host's cgroup mounts and BPF filesystem are
// missing: what a user's `ip netns exec NS vipa-exec ...` sees, where the bpf
// engine cannot run. [NetNS.HostSysCommand] keeps them. The environment is
// [CleanEnv].
func (ns *NetNS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	cmd.Env = CleanEnv()
	return cmd
}

// HostSysCommand is [NetNS.Command] with the host's mounts under /sys, the
// cgroup v2 hierarchy and the BPF filesystem among them, as the bpf engine
// needs: nsenter enters the network namespace, then unshare a mount
// namespace of the command's own (propagation slave, as `ip netns exec`
// makes it), so that nothing the command mounts reaches the host; the files
// [NetNS.SetEtc] gave the namespace are bind-mounted over /etc there. Every
// step execs in place: cmd.Process.Pid is the pid of name.
func (ns *NetNS) HostSysCommand(ctx context.Context, name string, args ...string) *exec.Cmd {
	argv := []string{"--net=" + ns.path(), "--", "unshare", "--mount", "--propagation", "slave", "--"}
	if etc := filepath.Join("/etc/netns", ns.Name); isDir(etc) {
		argv = append(argv, "/bin/sh", "-c", `for f in "$0"/*; do mount --bind "$f" "/etc/${f##*/}" || exit 126; done; exec "$@"`, etc)
	}
	cmd := exec.CommandContext(ctx, "nsenter", append(append(argv, name), args...)...)
	cmd.Env = CleanEnv()
	return cmd
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// Do runs fn on an OS thread inside the namespace. The thread is thrown away
// afterwards; sockets fn creates stay in the namespace.
func (ns *NetNS) Do(tb testing.TB, fn func() error) {
	tb.Helper()
	if err := ns.do(fn); err != nil {
		tb.Fatalf("in netns %s: %v", ns.Name, err)
	}
}

func (ns *NetNS) do(fn func() error) error {
	f, err := os.Open(ns.path())
	if err != nil {
		return fmt.Errorf("open netns: %w", err)
	}
	defer func() { _ = f.Close() }()
	errc := make(chan error, 1)
	go func() {
		// No UnlockOSThread: a goroutine that exits while locked takes its
		// thread with it, so the changed namespace cannot leak to other
		// goroutines.
		runtime.LockOSThread()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Listen creates a listener inside the namespace; tb.Cleanup closes it.
func (ns *NetNS) Listen(tb testing.TB, network, addr string) net.Listener {
	tb.Helper()
	var ln net.Listener
	ns.Do(tb, func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	tb.Cleanup(func() { _ = ln.Close() })
	return ln
}

// ListenPacket creates a packet socket inside the namespace; tb.Cleanup
// closes it.
func (ns *NetNS) ListenPacket(tb testing.TB, network, addr string) net.PacketConn {
	tb.Helper()
	var pc net.PacketConn
	ns.Do(tb, func() (err error) {
		pc, err = net.ListenPacket(network, addr)
		return err
	})
	tb.Cleanup(func() { _ = pc.Close() })
	return pc
}

// Dial connects from inside the namespace. The error is returned, not
// reported, because refused connections are often what a test expects.
func (ns *NetNS) Dial(network, addr string) (net.Conn, error) {
	var c net.Conn
	err := ns.do(func() (err error) {
		c, err = net.Dial(network, addr)
		return err
	})
	return c, err
}

// Listening returns the local addresses of the TCP sockets listening in the
// namespace, as `ss -ltnH` reports them.
func (ns *NetNS) Listening(tb testing.TB) []netip.AddrPort {
	tb.Helper()
	RequireTool(tb, "ss")
	out, err := exec.Command("ip", "netns", "exec", ns.Name, "ss", "-ltnH").Output()
	if err != nil {
		tb.Fatalf("ss -ltnH: %v", err)
	}
	aps, err := ParseSSListening(out)
	if err != nil {
		tb.Fatalf("ss -ltnH: %v", err)
	}
	return aps
}

// IsRefused reports whether err is a refused connection.
func IsRefused(err error) bool { return errors.Is(err, unix.ECONNREFUSED) }

func mustRun(tb testing.TB, cmd *exec.Cmd) {
	tb.Helper()
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("%v: %v: %s", cmd.Args, err, out)
	}
}
