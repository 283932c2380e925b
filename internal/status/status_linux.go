//go:build linux

package status

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/rewrite"
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

// answerTimeout bounds how long a client may keep a supervisor's answer
// waiting.
const answerTimeout = 5 * time.Second

// Server answers status queries until Close.
type Server struct {
	ls []*net.UnixListener
}

// Serve listens under the name of each of pids (the program served, and
// the supervisor itself, so that either pid finds it) and answers each
// client with report(), after checking that it runs as root or as the
// supervisor's user. It fails if it can listen under none of the names.
func Serve(pids []int, report func() Report) (*Server, error) {
	s := &Server{}
	var errs []error
	for _, pid := range pids {
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

// Close stops answering.
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

// Query asks the supervisor of program pid for its report.
//
// Abstract socket names are anybody's to take, and a program that runs as
// another user under root's supervisor can take the names of its own
// children. So who answered is checked before anything it says is used:
// only a peer (SO_PEERCRED) running as root or as the caller is believed,
// and only if it is the supervisor its report names.
func Query(pid int) (*Report, error) {
	d, err := net.DialTimeout("unix", Name(pid), answerTimeout)
	if err != nil {
		if errors.Is(err, unix.ECONNREFUSED) || errors.Is(err, unix.ENOENT) {
			return nil, ErrNoSupervisor
		}
		return nil, err
	}
	c := d.(*net.UnixConn)
	defer c.Close()
	cred, err := peerCred(c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name(pid), err)
	}
	if err := trustedPeer(cred, os.Geteuid()); err != nil {
		return nil, fmt.Errorf("%s: %w", Name(pid), err)
	}
	_ = c.SetReadDeadline(time.Now().Add(answerTimeout))
	var r Report
	if err := json.NewDecoder(io.LimitReader(c, 1<<20)).Decode(&r); err != nil {
		return nil, fmt.Errorf("read status of %s: %w", Name(pid), err)
	}
	if int(cred.Pid) != r.Supervisor {
		return nil, fmt.Errorf("%s: answered by pid %d, which says it is supervisor %d: %w", Name(pid), cred.Pid, r.Supervisor, ErrUntrusted)
	}
	if r.Error != "" {
		return nil, errors.New(Clean(r.Error))
	}
	return &r, nil
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
