//go:build linux

package status

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/rewrite"
	"github.com/vipa-exec/vipa-exec/internal/trusted"
)

// Report is what a supervisor says of itself.
type Report struct {
	Supervisor   int              `json:"supervisor"` // its pid
	Program      int              `json:"program"`    // the pid of the program it serves
	Mode         string           `json:"mode"`       // "detached" or "parent"
	Policy       string           `json:"policy"`     // the policy file
	PolicyLoaded time.Time        `json:"policy_loaded"`
	Reloads      uint64           `json:"reloads"`
	Started      time.Time        `json:"started"`
	Now          time.Time        `json:"now"` // when the report was made, for the uptime
	Counters     rewrite.Snapshot `json:"counters"`
	Error        string           `json:"error,omitempty"` // set instead of the rest when the client may not know
}

// Uptime is how long the supervisor had run when it made the report.
func (r *Report) Uptime() time.Duration { return r.Now.Sub(r.Started) }

// Name is the abstract socket name of the supervisor of program pid.
func Name(pid int) string { return "@vipa-exec/" + strconv.Itoa(pid) }

// rootDir is where root's supervisors put their sockets; userDir (with the
// uid) where another user's do. Only the supervisor's user can write
// either, so a name there cannot be taken first, unlike an abstract one.
// Tests change them.
var (
	rootDir = "/run/vipa-exec/status"
	userDir = "/run/user/%d/vipa-exec/status"
)

// dirFor is the socket directory of the supervisors that run as euid.
func dirFor(euid int) string {
	if euid == 0 {
		return rootDir
	}
	return fmt.Sprintf(userDir, euid)
}

// Path is the socket path of the supervisor of program pid, run as euid.
func Path(euid, pid int) string {
	return filepath.Join(dirFor(euid), strconv.Itoa(pid)+".sock")
}

// answerTimeout bounds how long a client may keep a supervisor's answer
// waiting.
const answerTimeout = 5 * time.Second

// Server answers status queries until Close.
type Server struct {
	ls []*net.UnixListener
}

// Serve listens under the socket path (in the directory of this process's
// euid, if it can make one only that user can write) and the abstract name
// of each of pids (the program served, and the supervisor itself, so that
// either pid finds it) and answers each client with report(), after
// checking that it runs as root or as the supervisor's user. It fails if
// it can listen under none of them.
func Serve(pids []int, report func() Report) (*Server, error) {
	s := &Server{}
	var errs []error
	euid := os.Geteuid()
	dirErr := socketDir(dirFor(euid), euid)
	if dirErr != nil {
		errs = append(errs, dirErr)
	}
	for _, pid := range pids {
		if dirErr == nil {
			l, err := listenPath(Path(euid, pid))
			if err != nil {
				errs = append(errs, err)
			} else {
				s.ls = append(s.ls, l)
				go loop(l, report)
			}
		}
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: Name(pid), Net: "unix"})
		if err != nil {
			errs = append(errs, fmt.Errorf("status socket %s: %w", Name(pid), err))
			continue
		}
		s.ls = append(s.ls, l)
		go loop(l, report)
	}
	if len(s.ls) == 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// socketDir makes dir (and those above it) if need be, and checks that
// only root and euid can write it.
func socketDir(dir string, euid int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("status socket directory: %w", err)
	}
	if err := trusted.CheckDir(dir, "status socket directory", euid); err != nil {
		return fmt.Errorf("status socket directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o022 != 0 {
		// CheckDir lets a root-owned sticky directory be writable by all.
		return fmt.Errorf("status socket directory %s: mode %v: %w", dir, fi.Mode(), trusted.ErrUntrusted)
	}
	return nil
}

// listenPath listens on the socket at path, replacing a stale one that
// nobody listens on (its supervisor was killed); one in use is left to its
// owner, the supervisor of a vipa-exec that PROGRAM ran in its place.
func listenPath(path string) (*net.UnixListener, error) {
	if c, err := net.DialTimeout("unix", path, answerTimeout); err == nil {
		c.Close()
		return nil, fmt.Errorf("status socket %s: in use", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	// Anybody may ask: the supervisor tells those it does not answer why.
	if err := os.Chmod(path, 0o666); err != nil {
		l.Close()
		return nil, fmt.Errorf("status socket: %w", err)
	}
	return l, nil
}

// Close stops answering and removes the socket files.
func (s *Server) Close() error {
	for _, l := range s.ls {
		l.Close()
	}
	return nil
}

func loop(l *net.UnixListener, report func() Report) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // EMFILE and the like: don't spin
			continue
		}
		answer(c, report)
	}
}

func answer(c *net.UnixConn, report func() Report) {
	defer c.Close()
	_ = c.SetWriteDeadline(time.Now().Add(answerTimeout))
	// An error names the supervisor too: the client checks that first.
	r := Report{Supervisor: os.Getpid()}
	if cred, err := peerCred(c); err != nil {
		r.Error = err.Error()
	} else if euid := os.Geteuid(); cred.Uid != 0 && int(cred.Uid) != euid {
		r.Error = fmt.Sprintf("permission denied: the supervisor answers only root and uid %d", euid)
	} else {
		r = report()
	}
	_ = json.NewEncoder(c).Encode(&r)
}

// peerCred returns the credentials of the process at the other end of c:
// for a client, those of the server when it called listen(2).
func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	if cerr != nil {
		return nil, fmt.Errorf("peer credentials: %w", cerr)
	}
	return cred, nil
}

// ErrNoSupervisor is returned by Query and Find when no supervisor serves
// the pid, and ErrNoProcess by Find when there is no such process.
var (
	ErrNoSupervisor = errors.New("no vipa-exec supervisor")
	ErrNoProcess    = errors.New("no process")
)

// Query asks the supervisor of program pid for its report: at the socket
// path of root's supervisors, then at that of the caller's, then at the
// abstract name.
//
// Abstract socket names are anybody's to take, and a program that runs as
// another user under root's supervisor can take the names of its own
// children. So who answered is checked before anything it says is used:
// only a peer (SO_PEERCRED) running as root or as the caller is believed,
// and only if it is the supervisor its report names.
func Query(pid int) (*Report, error) {
	d, addr, err := dial(pid)
	if err != nil {
		return nil, err
	}
	c := d.(*net.UnixConn)
	defer c.Close()
	cred, err := peerCred(c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	if err := trustedPeer(cred, os.Geteuid()); err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	_ = c.SetReadDeadline(time.Now().Add(answerTimeout))
	var r Report
	if err := json.NewDecoder(io.LimitReader(c, 1<<20)).Decode(&r); err != nil {
		return nil, fmt.Errorf("read status of %s: %w", addr, err)
	}
	if int(cred.Pid) != r.Supervisor {
		return nil, fmt.Errorf("%s: answered by pid %d, which says it is supervisor %d: %w", addr, cred.Pid, r.Supervisor, ErrUntrusted)
	}
	if r.Error != "" {
		return nil, errors.New(Clean(r.Error))
	}
	return &r, nil
}

// dial connects to the first socket of the supervisor of pid that
// answers, and returns its address.
func dial(pid int) (net.Conn, string, error) {
	addrs := []string{Path(0, pid)}
	if euid := os.Geteuid(); euid != 0 {
		addrs = append(addrs, Path(euid, pid))
	}
	for _, a := range append(addrs, Name(pid)) {
		c, err := net.DialTimeout("unix", a, answerTimeout)
		if err == nil {
			return c, a, nil
		}
		if !errors.Is(err, unix.ECONNREFUSED) && !errors.Is(err, unix.ENOENT) {
			return nil, "", err
		}
	}
	return nil, "", ErrNoSupervisor
}

// ErrUntrusted is wrapped by the error for an answer --status must not
// believe.
var ErrUntrusted = errors.New("not a vipa-exec supervisor --status may believe")

// trustedPeer checks that the peer runs as root or as the caller (euid):
// another user's process may have taken the name, even a program that
// root's supervisor serves as that user.
func trustedPeer(cred *unix.Ucred, euid int) error {
	if cred.Uid == 0 || int(cred.Uid) == euid {
		return nil
	}
	return fmt.Errorf("answered by pid %d of uid %d, neither root nor you: %w", cred.Pid, cred.Uid, ErrUntrusted)
}

// Clean is s with every control and format character (escape sequences,
// bidirectional overrides) replaced by "?": what a report says is printed
// on a terminal.
func Clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
}

// Find asks the supervisor serving pid: pid's own if pid is a program
// started by vipa-exec or a supervisor, else that of its nearest ancestor
// started by vipa-exec, as a program's children share its filter. The
// report's Program and Supervisor tell which it was.
func Find(pid int) (*Report, error) {
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
		return nil, fmt.Errorf("%w %d", ErrNoProcess, pid)
	}
	for p := pid; p > 1; {
		r, err := Query(p)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, ErrNoSupervisor) {
			return nil, err
		}
		next, err := parentPid(p)
		if err != nil || next == p {
			break
		}
		p = next
	}
	err := fmt.Errorf("%w serves pid %d or its ancestors", ErrNoSupervisor, pid)
	if otherNetns(pid) {
		err = fmt.Errorf("%w; pid %d is in another network namespace, where its supervisor's socket is: run --status there (nsenter -n -t %d)", err, pid, pid)
	}
	return nil, err
}

// parentPid reads the parent of pid from /proc/PID/stat.
func parentPid(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseParent(string(b))
}

// parseParent reads the ppid field of a /proc/PID/stat line: the comm field
// may hold spaces and parentheses, so fields count from its last ')'.
func parseParent(stat string) (int, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 2 {
		return 0, fmt.Errorf("malformed stat %q", stat)
	}
	return strconv.Atoi(f[1])
}

// otherNetns reports whether pid's network namespace is known to differ
// from the caller's.
func otherNetns(pid int) bool {
	theirs, err1 := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/net")
	ours, err2 := os.Readlink("/proc/self/ns/net")
	return err1 == nil && err2 == nil && theirs != ours
}
