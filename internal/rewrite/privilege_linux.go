//go:build linux

package rewrite

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/notify"
)

// privChecker decides the privileged-port question for the program. The
// supervisor often runs as root; when it binds for the program, the kernel
// checks the supervisor's capabilities, so the program's must be checked here
// first, the way inet_bind does: a port below the socket's network
// namespace's net.ipv4.ip_unprivileged_port_start needs CAP_NET_BIND_SERVICE
// in the user namespace that owns that network namespace.
type privChecker struct{}

// defaultUnprivilegedPortStart is the kernel's default, used when the
// namespace's own value cannot be read.
const defaultUnprivilegedPortStart = 1024

func (privChecker) mayBindPort(r *notify.Request, sock int, port uint16) (bool, error) {
	netns, nsErr := unix.IoctlRetInt(sock, unix.SIOCGSKNS)
	if nsErr == nil {
		defer unix.Close(netns)
	}
	start, err := unprivilegedPortStart(netns, nsErr == nil)
	if err != nil {
		return false, err
	}
	if int(port) >= start {
		return true, nil
	}
	ok, err := threadHasCap(r.Pid, unix.CAP_NET_BIND_SERVICE, netns, nsErr == nil)
	// The thread's /proc entry was read after the pid was proven live; prove
	// it again, or a reused pid could lend its capabilities.
	if !r.Valid() {
		return false, nil
	}
	return ok, err
}

// unprivilegedPortStart reads ip_unprivileged_port_start of the socket's
// network namespace. /proc/sys/net shows the namespace of the thread that
// opens it, so for a foreign namespace a throwaway locked thread joins it.
func unprivilegedPortStart(netns int, haveNS bool) (int, error) {
	const path = "/proc/sys/net/ipv4/ip_unprivileged_port_start"
	if !haveNS || sameNS(netns, "/proc/thread-self/ns/net") {
		return readIntFile(path)
	}
	type result struct {
		v   int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// Never unlocked: the thread dies with the goroutine instead of
		// going back to the pool inside another namespace.
		runtime.LockOSThread()
		if err := unix.Setns(netns, unix.CLONE_NEWNET); err != nil {
			ch <- result{defaultUnprivilegedPortStart, nil}
			return
		}
		v, err := readIntFile(path)
		ch <- result{v, err}
	}()
	res := <-ch
	return res.v, res.err
}

// threadHasCap reports whether thread tid holds capability c in the user
// namespace owning netns (ns_capable). It ignores the rule that the owner of
// a child user namespace holds every capability in it: missing that can only
// refuse a bind the program could have made, never allow one it could not.
func threadHasCap(tid uint32, c int, netns int, haveNS bool) (bool, error) {
	base := "/proc/" + strconv.FormatUint(uint64(tid), 10)
	status, err := os.ReadFile(base + "/status")
	if err != nil {
		return false, fmt.Errorf("read capabilities of thread %d: %w", tid, err)
	}
	eff, err := capEff(status)
	if err != nil {
		return false, fmt.Errorf("read capabilities of thread %d: %w", tid, err)
	}
	if eff&(1<<uint(c)) == 0 {
		return false, nil
	}
	var progNS unix.Stat_t
	if err := unix.Stat(base+"/ns/user", &progNS); err != nil {
		return false, fmt.Errorf("user namespace of thread %d: %w", tid, err)
	}
	if !haveNS {
		// Without the socket's namespace, trust the capability only in the
		// supervisor's own user namespace.
		return isNS(progNS, "/proc/self/ns/user"), nil
	}
	userns, err := unix.IoctlRetInt(netns, unix.NS_GET_USERNS)
	if err != nil {
		return false, fmt.Errorf("owner of network namespace: %w", err)
	}
	// A capability counts in the namespace itself and in its descendants.
	for {
		var st unix.Stat_t
		err := unix.Fstat(userns, &st)
		if err == nil && st.Dev == progNS.Dev && st.Ino == progNS.Ino {
			unix.Close(userns)
			return true, nil
		}
		parent, perr := unix.IoctlRetInt(userns, unix.NS_GET_PARENT)
		unix.Close(userns)
		if err != nil || perr != nil {
			// EPERM: the top, or above what the supervisor may see.
			return false, nil
		}
		userns = parent
	}
}

// sameNS reports whether namespace file fd is the namespace at path.
func sameNS(fd int, path string) bool {
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && isNS(st, path)
}

// isNS reports whether st is the stat of the namespace at path.
func isNS(st unix.Stat_t, path string) bool {
	var b unix.Stat_t
	return unix.Stat(path, &b) == nil && st.Dev == b.Dev && st.Ino == b.Ino
}

// capEff parses the CapEff line of /proc/PID/status.
func capEff(status []byte) (uint64, error) {
	s := bufio.NewScanner(bytes.NewReader(status))
	for s.Scan() {
		if v, ok := bytes.CutPrefix(s.Bytes(), []byte("CapEff:")); ok {
			return strconv.ParseUint(strings.TrimSpace(string(v)), 16, 64)
		}
	}
	return 0, fmt.Errorf("no CapEff line")
}

func readIntFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
