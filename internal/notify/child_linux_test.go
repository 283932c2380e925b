//go:build linux

package notify

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// childEnv holds the address a filtered child connects to; its presence
// makes the test binary that child.
const childEnv = "_NOTIFY_TEST_CHILD_DST"

// FilteredChild is the test binary re-executed under the filter (connect
// trapped, bind and sendto not), whose listener the test holds. The child
// waits for Run, then makes that many connects of fresh UDP sockets to the
// address it was started with: every one a real trapped call for the test
// to serve.
type FilteredChild struct {
	L    *Listener
	cmd  *exec.Cmd
	conn *os.File
}

// ChildResult is what the child's connects returned.
type ChildResult struct {
	Errnos map[unix.Errno]int // errno (0 for success) -> calls
	Source netip.Addr         // the local address of the last connected socket
}

// StartFilteredChild starts a child that connects to dst and takes its
// listener. Nobody serves it yet: the caller starts Serve before Run.
func StartFilteredChild(tb testing.TB, dst netip.AddrPort) *FilteredChild {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "ours"), os.NewFile(uintptr(fds[1]), "theirs")
	defer func() { _ = theirs.Close() }()
	c := &FilteredChild{conn: ours, cmd: exec.Command(exe)}
	c.cmd.Env = append(os.Environ(), childEnv+"="+dst.String())
	c.cmd.ExtraFiles = []*os.File{theirs}
	c.cmd.Stderr = os.Stderr
	if err := c.cmd.Start(); err != nil {
		_ = ours.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(c.stop)
	var msg [4]byte
	if _, err := io.ReadFull(ours, msg[:]); err != nil {
		tb.Fatalf("filtered child: read listener number: %v", err)
	}
	pidfd, err := unix.PidfdOpen(c.cmd.Process.Pid, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = unix.Close(pidfd) }()
	fd, err := unix.PidfdGetfd(pidfd, int(binary.NativeEndian.Uint32(msg[:])), 0)
	if err != nil {
		tb.Fatalf("take the child's listener: %v", err)
	}
	c.L = newListener(fd)
	return c
}

// Run tells the child to make n connects and returns their results once it
// has exited.
func (c *FilteredChild) Run(tb testing.TB, n int) ChildResult {
	tb.Helper()
	var msg [4]byte
	binary.NativeEndian.PutUint32(msg[:], uint32(n))
	if _, err := c.conn.Write(msg[:]); err != nil {
		tb.Fatalf("filtered child: %v", err)
	}
	line, err := bufio.NewReader(c.conn).ReadString('\n')
	if err != nil {
		tb.Fatalf("filtered child: read result: %v", err)
	}
	if err := c.cmd.Wait(); err != nil {
		tb.Fatalf("filtered child: %v", err)
	}
	c.cmd = nil
	r := ChildResult{Errnos: map[unix.Errno]int{}}
	for _, f := range strings.Fields(line) {
		if src, ok := strings.CutPrefix(f, "src="); ok {
			r.Source, _ = netip.ParseAddr(src)
			continue
		}
		e, n, _ := strings.Cut(f, ":")
		errno, err1 := strconv.Atoi(e)
		count, err2 := strconv.Atoi(n)
		if err1 != nil || err2 != nil {
			tb.Fatalf("filtered child: bad result %q", line)
		}
		r.Errnos[unix.Errno(errno)] = count
	}
	return r
}

// stop ends a child that Run did not see through, and closes what c holds.
func (c *FilteredChild) stop() {
	if c.cmd != nil {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	}
	_ = c.conn.Close()
	if c.L != nil {
		_ = c.L.Close()
	}
}

// runFilteredChild is the child's side: load the filter, hand over the
// listener's number, wait for the count, connect, report.
func runFilteredChild() int {
	dst, err := netip.ParseAddrPort(os.Getenv(childEnv))
	if err != nil || !dst.Addr().Is4() {
		fmt.Fprintf(os.Stderr, "filtered child: bad %s: %v\n", childEnv, err)
		return 2
	}
	conn := os.NewFile(3, "parent")
	f, err := NewFilter(trapConnect())
	if err != nil {
		fmt.Fprintf(os.Stderr, "filtered child: %v\n", err)
		return 1
	}
	l, err := f.Load(true)
	if err != nil {
		fmt.Fprintf(os.Stderr, "filtered child: %v\n", err)
		return 1
	}
	var msg [4]byte
	binary.NativeEndian.PutUint32(msg[:], uint32(l.FD()))
	if _, err := conn.Write(msg[:]); err != nil {
		return 1
	}
	if _, err := io.ReadFull(conn, msg[:]); err != nil {
		return 1
	}
	n := int(binary.NativeEndian.Uint32(msg[:]))
	sa := &unix.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().As4()}
	errnos := map[unix.Errno]int{}
	var src netip.Addr
	for range n {
		s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			fmt.Fprintf(os.Stderr, "filtered child: %v\n", err)
			return 1
		}
		var errno unix.Errno
		if err := unix.Connect(s, sa); err != nil {
			_ = errors.As(err, &errno)
		} else if local, err := unix.Getsockname(s); err == nil {
			if in4, ok := local.(*unix.SockaddrInet4); ok {
				src = netip.AddrFrom4(in4.Addr)
			}
		}
		errnos[errno]++
		_ = unix.Close(s)
	}
	var b strings.Builder
	for errno, count := range errnos {
		fmt.Fprintf(&b, "%d:%d ", int(errno), count)
	}
	if src.IsValid() {
		fmt.Fprintf(&b, "src=%s", src)
	}
	b.WriteByte('\n')
	if _, err := conn.WriteString(b.String()); err != nil {
		return 1
	}
	return 0
}

func netipAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// trapConnect is a filter that traps connect(2) of the native ABI and
// allows every other call: enough for the serve loop's tests, without the
// filter compiler, which lives in internal/launch (libseccomp, cgo).
func trapConnect() []byte {
	native := ABIs[0]
	var connect uint32
	for nr, op := range native.Calls {
		if op == OpConnect {
			connect = uint32(nr)
		}
	}
	ld := func(off uint32) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off}
	}
	jne := func(k uint32, skip uint8) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: k, Jf: skip}
	}
	ret := func(k uint32) unix.SockFilter { return unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: k} }
	return encodeProgram([]unix.SockFilter{
		ld(4), // seccomp_data.arch
		jne(native.AuditArch, 3),
		ld(0), // seccomp_data.nr
		jne(connect, 1),
		ret(unix.SECCOMP_RET_USER_NOTIF),
		ret(unix.SECCOMP_RET_ALLOW),
	})
}
