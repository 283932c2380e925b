//go:build linux && cgo

package launch

// The detaching stage runs in detach_linux.c, before the Go runtime starts.

import "C"

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/notify"
)

// The supervisor is vipa-exec re-executed (runc's way of running code in a
// fresh process: a Go program cannot fork without exec). stageEnv tells the
// new process what it is; PROGRAM never sees it.
const (
	stageEnv     = "_VIPA_EXEC_STAGE"
	stageDetach  = "detach"  // start the supervisor in a new session, then exit
	stageServe   = "serve"   // the supervisor itself
	stageProgram = "program" // --supervise=parent: load the filter, then exec PROGRAM
	supervisorFD = 3         // the socket to the launching process
	// SupervisorName is argv[0] of the supervisor, so ps shows what it is.
	// argv[1] is the pid of the program it serves.
	SupervisorName = "vipa-exec-supervisor"
)

const ackOK = 'K'

// supervisorConn returns the socket to this run's supervisor: the
// pre-started one's, else one startSupervisor starts now, with the
// intermediate process to reap (nil for the pre-started one: the
// constructor reaped it).
func supervisorConn() (*os.File, *os.Process, error) {
	if conn := takePrestarted(); conn != nil {
		return conn, nil, nil
	}
	return startSupervisor()
}

// reapDetacher reaps the short-lived process that detached the supervisor
// (long gone by now), if any, so that PROGRAM does not inherit a zombie
// child.
func reapDetacher(p *os.Process) error {
	if p == nil {
		return nil
	}
	if _, err := p.Wait(); err != nil {
		return fmt.Errorf("start supervisor: %w", err)
	}
	return nil
}

// startSupervisor starts the supervisor as a grandchild: the intermediate
// process exits at once, so the supervisor is re-parented to init (or the
// nearest subreaper, such as systemd) and is never a child of PROGRAM, which
// keeps vipa-exec's pid. It returns the socket to the supervisor and the
// intermediate process, to be reaped. It is the path when the constructor
// (prestart_linux.c) started none.
func startSupervisor() (*os.File, *os.Process, error) {
	ours, theirs, exe, err := reexecPair()
	if err != nil {
		return nil, nil, fmt.Errorf("start supervisor: %w", err)
	}
	defer func() { _ = theirs.Close() }()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		_ = ours.Close()
		return nil, nil, fmt.Errorf("start supervisor: %w", err)
	}
	defer func() { _ = devnull.Close() }()
	// The supervisor keeps stderr for its warnings, and nothing else of
	// vipa-exec's: no terminal on stdin or stdout.
	p, err := os.StartProcess(exe, []string{SupervisorName, strconv.Itoa(os.Getpid())}, &os.ProcAttr{
		Dir:   "/",
		Env:   append(os.Environ(), stageEnv+"="+stageDetach),
		Files: []*os.File{devnull, devnull, os.Stderr, theirs},
	})
	if err != nil {
		_ = ours.Close()
		return nil, nil, fmt.Errorf("start supervisor: %w", err)
	}
	return ours, p, nil
}

// reexecPair returns the two ends of a socket between this process and a
// re-executed vipa-exec, and the executable to run.
func reexecPair() (ours, theirs *os.File, exe string, err error) {
	exe, err = os.Executable()
	if err != nil {
		return nil, nil, "", err
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, "", fmt.Errorf("socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "ours"), os.NewFile(uintptr(fds[1]), "theirs"), exe, nil
}

// Stage returns what this process was started as: "" for the vipa-exec the
// user ran, or an internal stage. main calls RunStage when it is not "".
func Stage() string { return os.Getenv(stageEnv) }

// Setup is what the supervisor is given to serve.
type Setup struct {
	Path    string // the policy file, absolute
	Data    []byte // its bytes, as the launcher validated them
	Program int    // the pid of PROGRAM
	// Parent is true when the supervisor is PROGRAM's parent
	// (--supervise=parent): signals sent to it are PROGRAM's, so it takes
	// none for itself.
	Parent bool
	// InKernel asks for the bpf engine, for which no filter is loaded;
	// with Fallback a failure to start it falls back to the seccomp engine
	// (Prepare is called again, with InKernel false).
	InKernel, Fallback bool
	// Exited is closed, in parent mode, once PROGRAM has exited and its
	// exited descendants are reaped; nil when detached.
	Exited <-chan struct{}
}

// Prepare readies the supervisor's work from s. It runs before PROGRAM is
// told to go on, so a failure still keeps PROGRAM from starting. The
// returned serve function answers notifications on l and returns when no
// process uses the filter any more; for the bpf engine (Setup.InKernel) l
// is nil, and it returns when PROGRAM's cgroup is empty.
type Prepare func(s Setup) (serve func(l *notify.Listener) error, err error)

// RunStage runs an internal stage and returns the exit status. The
// supervisor calls prepare for its Prepare once the launcher's
// Options.SupervisorEnv is in its environment.
func RunStage(prepare func() Prepare) int {
	switch Stage() {
	case stageServe:
		return supervise(prepare)
	case stageProgram:
		return runProgram()
	}
	fmt.Fprintf(os.Stderr, "vipa-exec: unknown internal stage %q\n", Stage())
	return 2
}

func supervise(newPrepare func() Prepare) int {
	// Signals meant for PROGRAM or its terminal must not end the supervisor
	// while PROGRAM still needs it; it ends by itself after PROGRAM. (The
	// supervisor's own work may take SIGHUP back, to reload its policy.)
	signal.Ignore(unix.SIGINT, unix.SIGQUIT, unix.SIGHUP, unix.SIGTERM,
		unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGPIPE)
	conn := os.NewFile(supervisorFD, "launcher")
	err := receiveEnv(conn)
	if errors.Is(err, io.EOF) {
		// A pre-started supervisor whose launcher went on without it
		// (a failure, --supervise=parent): nobody to tell, nothing to say.
		return 0
	}
	var setup Setup
	if err == nil {
		setup, err = receive(conn)
	}
	var serve func(*notify.Listener) error
	if err == nil {
		serve, err = prepareEngine(conn, newPrepare(), &setup)
	}
	var l *notify.Listener
	if err == nil && !setup.InKernel {
		l, err = takeListener(conn, setup.Program)
	}
	if err != nil {
		// The launcher gives up on PROGRAM when it reads this.
		fmt.Fprintf(conn, "supervisor: %v", err)
		_ = conn.Close()
		return 1
	}
	if _, err := conn.Write([]byte{ackOK}); err != nil {
		return 1 // the launcher is gone; nothing to serve
	}
	_ = conn.Close()
	if l != nil {
		defer func() { _ = l.Close() }()
	}
	if err := serve(l); err != nil {
		fmt.Fprintf(os.Stderr, "vipa-exec-supervisor: %v\n", err)
		return 1
	}
	return 0
}

// envPrefix starts the names of the variables the launcher may set in the
// supervisor's environment (Options.SupervisorEnv).
const envPrefix = "_VIPA_EXEC_"

// encodeEnv is the frame of Options.SupervisorEnv: its entries, each
// ended by a NUL.
func encodeEnv(env []string) []byte {
	var b []byte
	for _, e := range env {
		b = append(append(b, e...), 0)
	}
	return b
}

// receiveEnv reads the launcher's first frame, encodeEnv's, and sets its
// variables. It fails with io.EOF when the launcher closed the socket
// unused.
func receiveEnv(conn io.Reader) error {
	var n [4]byte
	if _, err := io.ReadFull(conn, n[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
		return fmt.Errorf("read from launcher: %w", err)
	}
	b, err := readFrameBody(conn, n)
	if err != nil {
		return err
	}
	return applyEnv(b)
}

// applyEnv sets the variables of encodeEnv's frame b.
func applyEnv(b []byte) error {
	for len(b) > 0 {
		entry, rest, ok := bytes.Cut(b, []byte{0})
		if !ok {
			return errors.New("environment from the launcher: no NUL after the last entry")
		}
		b = rest
		name, value, ok := strings.Cut(string(entry), "=")
		if !ok || !strings.HasPrefix(name, envPrefix) || name == stageEnv {
			return fmt.Errorf("environment from the launcher: %q is no %s* variable", entry, envPrefix)
		}
		if err := os.Setenv(name, value); err != nil {
			return fmt.Errorf("environment from the launcher: %w", err)
		}
	}
	return nil
}

// receive reads what the launcher sends after the environment: the policy
// file's name and bytes. PROGRAM's pid is the supervisor's argv[1].
func receive(conn *os.File) (Setup, error) {
	if len(os.Args) < 2 {
		return Setup{}, errors.New("no launcher pid")
	}
	launcher, err := strconv.Atoi(os.Args[1])
	if err != nil {
		return Setup{}, fmt.Errorf("launcher pid %q: %w", os.Args[1], err)
	}
	path, err := readFrame(conn)
	if err != nil {
		return Setup{}, err
	}
	data, err := readFrame(conn)
	if err != nil {
		return Setup{}, err
	}
	s := Setup{Path: string(path), Data: data, Program: launcher}
	eng, err := readFrame(conn)
	if err != nil {
		return Setup{}, err
	}
	return s, parseEngineRequest(eng, &s)
}

// takeListener reads the listener's descriptor number in process pid, which
// has loaded the filter, and takes the listener out of it with pidfd_getfd:
// no SCM_RIGHTS message, so no sendmsg that a future filter might trap.
func takeListener(conn *os.File, pid int) (*notify.Listener, error) {
	var fdmsg [4]byte
	if _, err := io.ReadFull(conn, fdmsg[:]); err != nil {
		return nil, fmt.Errorf("read listener number: %w", err)
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("open pid %d: %w", pid, err)
	}
	defer func() { _ = unix.Close(pidfd) }()
	fd, err := unix.PidfdGetfd(pidfd, int(binary.NativeEndian.Uint32(fdmsg[:])), 0)
	if err != nil {
		err = fmt.Errorf("take the filter's listener from pid %d: %w", pid, err)
		if errors.Is(err, unix.EPERM) {
			err = fmt.Errorf("%w (%s)", err, ptraceHint())
		}
		return nil, err
	}
	l := notify.NewListener(fd)
	// Best effort: without it (Linux < 6.6) each round trip costs a full
	// wake-up on another CPU, but works.
	_ = l.SetSyncWakeUp()
	return l, nil
}

// maxFrame bounds what the supervisor reads from its socket.
const maxFrame = 16 << 20

func writeFrame(w io.Writer, b []byte) error {
	var n [4]byte
	binary.NativeEndian.PutUint32(n[:], uint32(len(b)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

func readFrame(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, fmt.Errorf("read from launcher: %w", err)
	}
	return readFrameBody(r, n)
}

// readFrameBody reads the frame whose length n has been read.
func readFrameBody(r io.Reader, n [4]byte) ([]byte, error) {
	size := binary.NativeEndian.Uint32(n[:])
	if size > maxFrame {
		return nil, fmt.Errorf("read from launcher: frame of %d bytes", size)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("read from launcher: %w", err)
	}
	return b, nil
}

// handOffError is the error of a failed write to the supervisor on conn:
// what the supervisor said before it went (such as why it could not
// start), else err.
func handOffError(conn *os.File, err error) error {
	msg, _ := io.ReadAll(io.LimitReader(conn, 4096))
	if len(msg) > 0 {
		return fmt.Errorf("%s", msg)
	}
	return fmt.Errorf("hand policy to supervisor: %w", err)
}

// readAck waits for the supervisor to hold the listener. Anything but the
// ack byte is the supervisor's (or the detaching process's) error message.
func readAck(conn *os.File) error {
	var b [1]byte
	n, err := conn.Read(b[:])
	return ackResult(conn, b[0], n, err)
}

// ackResult is readAck's answer for the first byte b (n: whether there was
// one; err: the read's error).
func ackResult(conn *os.File, b byte, n int, err error) error {
	if n == 1 && b == ackOK {
		return nil
	}
	msg, _ := io.ReadAll(io.LimitReader(conn, 4096))
	switch {
	case n == 1:
		return fmt.Errorf("%s", append([]byte{b}, msg...))
	case err != nil && !errors.Is(err, io.EOF):
		return fmt.Errorf("start supervisor: %w", err)
	default:
		return errors.New("start supervisor: it exited without a word")
	}
}
