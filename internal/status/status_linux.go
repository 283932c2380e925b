//go:build linux

package status

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/rewrite"
	"github.com/vipa-exec/vipa-exec/internal/trusted"
)

// Schema is the version of the JSON that --status --json prints and that
// supervisors answer with: a Report, or a Listing. It changes when a field is
// removed or changes meaning, not when one is added (docs/vipa-exec.8).
const Schema = 1

// Report is what a supervisor says of itself.
type Report struct {
	Schema       int              `json:"schema"`
	Supervisor   int              `json:"supervisor"` // its pid
	UID          uint32           `json:"uid"`        // its user, as the kernel says (SO_PEERCRED)
	Program      int              `json:"program"`    // the pid of the program it serves
	Mode         string           `json:"mode"`       // "detached" or "parent"
	Engine       string           `json:"engine"`     // "seccomp" or "bpf"
	Policy       string           `json:"policy"`     // the policy file
	PolicyLoaded time.Time        `json:"policy_loaded"`
	Reloads      uint64           `json:"reloads"`
	Started      time.Time        `json:"started"`
	Now          time.Time        `json:"now"` // when the report was made, for the uptime
	Counters     rewrite.Snapshot `json:"counters"`
	// LCSockets is, for each source of the policy's lc rules, by address,
	// the live sockets bound to it as the supervisor last read them from
	// the kernel: what lc's next choice starts from. Omitted without lc
	// rules.
	LCSockets []SocketCount `json:"lc_sockets,omitempty"`
	// Serves answers the request's Pid: the supervisor serves it (see
	// Serves). Omitted when no pid was asked about.
	Serves *bool  `json:"serves,omitempty"`
	Error  string `json:"error,omitempty"` // set instead of the rest when the client may not know
}

// SocketCount is how many live sockets are bound to a source.
type SocketCount struct {
	Source netip.Addr `json:"source"`
	Count  int        `json:"count"`
}

// Listing is what --status --json prints without a pid.
type Listing struct {
	Schema      int      `json:"schema"`
	Supervisors []Report `json:"supervisors"`
}

// Request is what a client sends, as one line of JSON, before it reads
// the Report: Pid, if not 0, asks whether the supervisor serves it.
type Request struct {
	Pid int `json:"pid,omitempty"`
}

// maxRequest bounds a request line.
const maxRequest = 256

// ParseRequest decodes a request line: one JSON object, no unknown
// fields, a pid that is not negative.
func ParseRequest(b []byte) (Request, error) {
	var req Request
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&req); err != nil {
		return Request{}, fmt.Errorf("bad request: %w", err)
	}
	if d.More() {
		return Request{}, errors.New("bad request: more than one object")
	}
	if req.Pid < 0 {
		return Request{}, fmt.Errorf("bad request: pid %d", req.Pid)
	}
	return req, nil
}

// Uptime is how long the supervisor had run when it made the report.
func (r *Report) Uptime() time.Duration { return r.Now.Sub(r.Started) }

// Name is the abstract socket name of the supervisor of program pid.
func Name(pid int) string { return namePrefix + strconv.Itoa(pid) }

const namePrefix = "@vipa-exec/"

// soAcceptCon is the flag of a listening socket in /proc/net/unix:
// __SO_ACCEPTCON of include/linux/net.h, which x/sys does not have.
const soAcceptCon = 1 << 16

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
// either pid finds it) and answers each client's Request with
// report(request.Pid), after checking that it runs as root or as the
// supervisor's user. It fails if it can listen under none of them.
func Serve(pids []int, report func(asked int) Report) (*Server, error) {
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
		_ = c.Close()
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
		_ = l.Close()
		return nil, fmt.Errorf("status socket: %w", err)
	}
	return l, nil
}

// Close stops answering and removes the socket files.
func (s *Server) Close() error {
	for _, l := range s.ls {
		_ = l.Close()
	}
	return nil
}

func loop(l *net.UnixListener, report func(int) Report) {
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

func answer(c *net.UnixConn, report func(int) Report) {
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(answerTimeout))
	// An error names the supervisor too: the client checks that first.
	// Others are refused before their request is read: they cannot hold
	// the loop for answerTimeout.
	r := Report{Schema: Schema, Supervisor: os.Getpid()}
	if cred, err := peerCred(c); err != nil {
		r.Error = err.Error()
	} else if euid := os.Geteuid(); cred.Uid != 0 && int(cred.Uid) != euid {
		r.Error = fmt.Sprintf("permission denied: the supervisor answers only root and uid %d", euid)
	} else if line, err := bufio.NewReaderSize(io.LimitReader(c, maxRequest), maxRequest).ReadSlice('\n'); err != nil {
		r.Error = fmt.Sprintf("read request: %v", err)
	} else if req, err := ParseRequest(line); err != nil {
		r.Error = err.Error()
	} else {
		r = report(req.Pid)
		r.Schema = Schema
	}
	_ = json.NewEncoder(c).Encode(&r)
}

// Serves reports whether the supervisor of program (whose own pid is
// supervisor) serves pid: pid or one of its ancestors is the program, the
// supervisor, or a process that called (a thread of it made a trapped
// call). A daemon that forked away from the program is reparented to init
// and no longer descends from it: it is known by its calls, or by those of
// an ancestor (nginx's master for its workers). One that never made a
// trapped call is not known.
func Serves(pid, program, supervisor int, called func(pid int) bool) bool {
	for p, n := pid, 0; p > 1 && n < maxDepth; n++ {
		if p == program || p == supervisor || called(p) {
			return true
		}
		next, err := parentPid(p)
		if err != nil || next == p {
			return false
		}
		p = next
	}
	return false
}

// maxDepth bounds the walks up a process's ancestry.
const maxDepth = 4096

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
// abstract name. asked, if not 0, is the pid the caller wants served
// (for the error of a refusal, and the report's Serves).
//
// Abstract socket names are anybody's to take, and a program that runs as
// another user under root's supervisor can take the names of its own
// children. So who answered is checked before anything it says is used:
// only a peer (SO_PEERCRED) running as root or as the caller is believed,
// and only if it is the supervisor its report names.
func Query(pid, asked int) (*Report, error) {
	d, addr, err := dial(pid)
	if err != nil {
		return nil, err
	}
	return ask(d.(*net.UnixConn), addr, asked, trustedPeer)
}

// ask sends the request for asked on c, connected to addr, and reads the
// report of a peer that trust accepts.
func ask(c *net.UnixConn, addr string, asked int, trust func(cred *unix.Ucred, euid int) error) (*Report, error) {
	defer func() { _ = c.Close() }()
	cred, err := peerCred(c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	euid := os.Geteuid()
	if err := trust(cred, euid); err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	_ = c.SetDeadline(time.Now().Add(answerTimeout))
	req, _ := json.Marshal(Request{Pid: asked})
	// A peer that answers without reading is judged by its answer.
	_, werr := c.Write(append(req, '\n'))
	var r Report
	if err := json.NewDecoder(io.LimitReader(c, 1<<20)).Decode(&r); err != nil {
		if werr != nil {
			err = werr
		}
		return nil, fmt.Errorf("read status of %s: %w", addr, err)
	}
	if int(cred.Pid) != r.Supervisor {
		return nil, fmt.Errorf("%s: answered by pid %d, which says it is supervisor %d: %w", addr, cred.Pid, r.Supervisor, ErrUntrusted)
	}
	if r.Error != "" {
		if cred.Uid != uint32(euid) && euid != 0 {
			return nil, &RefusedError{Pid: asked, Supervisor: r.Supervisor, UID: cred.Uid}
		}
		return nil, errors.New(Clean(r.Error))
	}
	r.UID = cred.Uid
	return &r, nil
}

// RefusedError is a supervisor's refusal to tell a caller that is neither
// root nor its user.
type RefusedError struct {
	Pid        int    // the pid asked about
	Supervisor int    // the pid of the supervisor that refused
	UID        uint32 // the supervisor's user
}

func (e *RefusedError) Error() string {
	if e.UID == 0 {
		return fmt.Sprintf("--status %d: the supervisor (pid %d) runs as root; ask as root (sudo vipa-exec --status %d)", e.Pid, e.Supervisor, e.Pid)
	}
	return fmt.Sprintf("--status %d: the supervisor (pid %d) runs as uid %d; ask as that user or as root (sudo vipa-exec --status %d)", e.Pid, e.Supervisor, e.UID, e.Pid)
}

// Unwrap makes a refusal fs.ErrPermission.
func (e *RefusedError) Unwrap() error { return fs.ErrPermission }

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
// started by vipa-exec, as a program's children share its filter; failing
// that, every supervisor the caller may ask, whether it serves pid (see
// Serves): a daemon that forked away is no longer a descendant. The
// report's Program and Supervisor tell which it was.
func Find(pid int) (*Report, error) {
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
		return nil, fmt.Errorf("%w %d", ErrNoProcess, pid)
	}
	for p, n := pid, 0; p > 1 && n < maxDepth; n++ {
		r, err := Query(p, pid)
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
	var refused error
	asked := map[int]bool{} // a supervisor listens under its pid and its program's
	for _, sp := range Supervisors() {
		if asked[sp] {
			continue
		}
		r, err := Query(sp, pid)
		switch {
		case err == nil && r.Serves != nil && *r.Serves:
			return r, nil
		case err == nil:
			asked[r.Supervisor], asked[r.Program] = true, true
		case refused == nil && errors.Is(err, fs.ErrPermission):
			refused = err
		}
	}
	err := fmt.Errorf("%w serves pid %d, its ancestors or a process of theirs that made a trapped call", ErrNoSupervisor, pid)
	if refused != nil {
		err = fmt.Errorf("%w; some supervisors do not answer you: ask as root (sudo vipa-exec --status %d)", err, pid)
	}
	if otherNetns(pid) {
		err = fmt.Errorf("%w; pid %d is in another network namespace, where its supervisor's socket is: run --status there (nsenter -n -t %d)", err, pid, pid)
	}
	return nil, err
}

// Supervisors returns the pids under which supervisors listen that the
// caller can see: the socket files in root's directory and in the
// caller's, and the abstract names of the caller's network namespace. Most
// supervisors listen under two pids (the program's and their own).
func Supervisors() []int {
	seen := map[int]bool{}
	var pids []int
	add := func(pid int) {
		if pid > 0 && !seen[pid] {
			seen[pid] = true
			pids = append(pids, pid)
		}
	}
	dirs := []string{rootDir}
	if euid := os.Geteuid(); euid != 0 {
		dirs = append(dirs, dirFor(euid))
	}
	for _, dir := range dirs {
		names, _ := filepath.Glob(filepath.Join(dir, "*.sock"))
		for _, n := range names {
			if pid, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(n), ".sock")); err == nil {
				add(pid)
			}
		}
	}
	if b, err := os.ReadFile("/proc/net/unix"); err == nil {
		for _, pid := range abstractNames(string(b)) {
			add(pid)
		}
	}
	sort.Ints(pids)
	return pids
}

// abstractNames returns the pids of the listening abstract sockets named
// "@vipa-exec/PID" in the text of /proc/net/unix.
func abstractNames(table string) []int {
	var pids []int
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		// Num RefCount Protocol Flags Type St Inode Path
		if len(f) != 8 {
			continue
		}
		flags, err := strconv.ParseUint(f[3], 16, 32)
		if err != nil || flags&soAcceptCon == 0 {
			continue
		}
		rest, ok := strings.CutPrefix(f[7], namePrefix)
		if !ok {
			continue
		}
		if pid, err := strconv.Atoi(rest); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// List asks every supervisor the caller may ask for its report, one per
// supervisor, by supervisor pid. Those that refuse or cannot be believed
// are left out. Root also asks the supervisors of other users at their
// socket paths, and believes one there if it runs as the user whose
// directory holds it: what it says is that user's word about their own
// supervisor, and its UID says whose.
func List() []Report {
	var out []Report
	seen := map[int]bool{}
	add := func(r *Report, err error) {
		if err == nil && !seen[r.Supervisor] {
			seen[r.Supervisor] = true
			out = append(out, *r)
		}
	}
	for _, pid := range Supervisors() {
		add(Query(pid, 0))
	}
	if os.Geteuid() == 0 {
		socks, _ := filepath.Glob(filepath.Join(strings.Replace(userDir, "%d", "*", 1), "*.sock"))
		for _, sock := range socks {
			add(askUser(sock))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Supervisor < out[j].Supervisor })
	return out
}

// askUser asks the supervisor at sock, in the socket directory of a user,
// believing only a peer that runs as that user, who owns the directory
// and alone (with root) can write it.
func askUser(sock string) (*Report, error) {
	dir := filepath.Dir(sock)
	var uid uint32
	if _, err := fmt.Sscanf(dir, userDir, &uid); err != nil || dir != dirFor(int(uid)) {
		return nil, fmt.Errorf("%s: not a user's socket directory", sock)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.IsDir() || st.Uid != uid || fi.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("%s: %w", dir, ErrUntrusted)
	}
	c, err := net.DialTimeout("unix", sock, answerTimeout)
	if err != nil {
		return nil, err
	}
	return ask(c.(*net.UnixConn), sock, 0, func(cred *unix.Ucred, _ int) error {
		if cred.Uid != uid {
			return fmt.Errorf("answered by pid %d of uid %d in the directory of uid %d: %w", cred.Pid, cred.Uid, uid, ErrUntrusted)
		}
		return nil
	})
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
