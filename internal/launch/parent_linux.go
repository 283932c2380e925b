//go:build linux && cgo

package launch

// int vipa_exec_catch(int sig, int fd);
import "C"

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/notify"
)

// --supervise=parent: vipa-exec stays PROGRAM's parent and supervisor. The
// child is vipa-exec re-executed in stageProgram; it loads the filter, hands
// the listener to its parent in the same way as to a detached supervisor,
// and execs PROGRAM. Yama's ptrace_scope 1 lets a process read only its
// descendants' memory; this is the layout that satisfies it.

// childSpec is what the parent tells the program stage, as one JSON frame.
type childSpec struct {
	Path   string
	Argv   []string
	Env    []string
	Cred   *Credential
	Filter notify.FilterOptions
	// InKernel: wait for the parent to attach the bpf engine, and load
	// no filter unless it answers ackFallback.
	InKernel bool
}

// Supervise runs PROGRAM as a child of the calling process under the filter
// and serves it from here. It forwards signals to PROGRAM, reaps, and
// returns PROGRAM's exit status (128+N after death by signal N). When
// PROGRAM could not be started, the program stage has said why on stderr and
// its status (as FailureStatus) is returned. A non-nil error is a failure
// before the child existed, for the caller to print.
func Supervise(opts Options, prepare Prepare) (int, error) {
	// Pre-started when --supervise=auto chose parent: not needed.
	dropPrestarted()
	if opts.Meanwhile != nil {
		opts.Meanwhile()
	}
	if err := notify.CheckKernel(); err != nil && !opts.InKernel {
		return 2, err
	}
	if err := checkNotNested(); err != nil {
		return 2, err
	}
	policyPath, err := filepath.Abs(opts.PolicyPath)
	if err != nil {
		return 2, fmt.Errorf("policy file: %w", err)
	}
	spec, err := json.Marshal(childSpec{Path: opts.Path, Argv: opts.Argv, Env: opts.Env, Cred: opts.Cred, Filter: opts.Filter, InKernel: opts.InKernel})
	if err != nil {
		return 2, err
	}
	// From here a signal meant for PROGRAM is queued for it, not taken by
	// vipa-exec.
	sigs := make(chan arrival, 64)
	if err := notifyForwarded(sigs); err != nil {
		return 2, err
	}
	// Caught, not ignored (an ignored signal would stay ignored in
	// PROGRAM): a log line to a closed pipe must not kill the supervisor.
	signal.Notify(make(chan os.Signal, 1), unix.SIGPIPE)
	// Descendants orphaned while PROGRAM runs are re-parented to vipa-exec
	// rather than init: they stay descendants, whose memory Yama lets us
	// read, and vipa-exec reaps them.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return 2, fmt.Errorf("become subreaper: %w", err)
	}
	conn, child, err := startProgram(spec)
	if err != nil {
		return 2, err
	}
	exited := make(chan struct{})
	setup := Setup{Path: policyPath, Data: opts.PolicyData, Program: child.Pid, Parent: true,
		InKernel: opts.InKernel, Fallback: opts.Fallback, Exited: exited}
	serve, err := prepareEngine(conn, prepare, &setup)
	var l *notify.Listener
	if err == nil && !setup.InKernel {
		l, err = takeListener(conn, child.Pid)
	}
	if err == nil {
		_, err = conn.Write([]byte{ackOK})
	} else {
		// The program stage reads this instead of the acknowledgement,
		// prints it and exits 2. If the stage is gone already (it said why
		// itself), the write fails with EPIPE.
		fmt.Fprintf(conn, "supervisor: %v", err)
	}
	_ = conn.Close()
	served := make(chan struct{})
	if err == nil {
		go func() {
			defer close(served)
			if err := serve(l); err != nil {
				fmt.Fprintf(opts.Warn, "vipa-exec: supervisor: %v\n", err)
			}
		}()
	} else {
		close(served)
	}
	status, err := waitProgram(child, sigs)
	if err != nil {
		return 2, err
	}
	// A zombie still holds the filter until it is reaped: reap those that
	// PROGRAM left behind before asking whether anyone still uses it.
	for {
		if pid, err := unix.Wait4(-1, nil, unix.WNOHANG, nil); pid <= 0 || err != nil {
			break
		}
	}
	if setup.InKernel {
		// The bpf engine's serve returns once the cgroup is empty, or at
		// once with a warning when descendants outlive PROGRAM: it then
		// detaches the programs and cleans up.
		close(exited)
		<-served
	}
	if l != nil && l.InUse() {
		fmt.Fprintln(opts.Warn, "vipa-exec: warning: processes PROGRAM started outlive it; with vipa-exec gone, their trapped calls fail with ENOSYS: "+
			"keep PROGRAM in the foreground (nginx: daemon off; systemd: Type=simple, exec or notify), or use --supervise=detached where Yama allows it")
	}
	return status, nil
}

// startProgram starts the program stage with every descriptor vipa-exec
// would have passed to PROGRAM by exec (socket activation's among them) at
// its number, and the socket to this process above them. It returns that
// socket, with the child's orders already written, and the child.
func startProgram(spec []byte) (*os.File, *os.Process, error) {
	files, err := inheritedFiles()
	if err != nil {
		return nil, nil, fmt.Errorf("start program: %w", err)
	}
	ours, theirs, exe, err := reexecPair()
	if err != nil {
		return nil, nil, fmt.Errorf("start program: %w", err)
	}
	defer func() { _ = theirs.Close() }()
	connFD := len(files)
	p, err := os.StartProcess(exe, []string{"vipa-exec", strconv.Itoa(connFD)}, &os.ProcAttr{
		Env:   append(os.Environ(), stageEnv+"="+stageProgram),
		Files: append(files, theirs),
	})
	// PROGRAM has them now; vipa-exec must not keep a socket it was handed
	// open behind PROGRAM's back.
	for _, f := range files[3:] {
		if f != nil {
			_ = f.Close()
		}
	}
	if err != nil {
		_ = ours.Close()
		return nil, nil, fmt.Errorf("start program: %w", err)
	}
	// If the stage died at once this fails, and waitProgram collects its
	// status.
	_ = writeFrame(ours, spec)
	return ours, p, nil
}

// inheritedFiles returns, indexed by descriptor number, the descriptors an
// exec would keep: stdin, stdout and stderr, and whatever else is open
// without close-on-exec. Closed numbers are nil.
func inheritedFiles() ([]*os.File, error) {
	files := []*os.File{os.Stdin, os.Stdout, os.Stderr}
	for fd := range 3 {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			files[fd] = nil
		}
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < 3 {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			continue // the directory itself, or one of the Go runtime's
		}
		for len(files) <= fd {
			files = append(files, nil)
		}
		files[fd] = os.NewFile(uintptr(fd), "inherited")
	}
	return files, nil
}

// forwardedSignals are the signals vipa-exec passes on to PROGRAM: all but
// SIGKILL and SIGSTOP (which cannot be caught), SIGCHLD (about vipa-exec's
// own children), SIGURG (the Go runtime's preemption signal), SIGPIPE (only
// ever the kernel's, to vipa-exec's own writes) and glibc's internal 32 and
// 33.
func forwardedSignals() []os.Signal {
	var out []os.Signal
	for n := unix.Signal(1); n <= 64; n++ {
		switch n {
		case unix.SIGKILL, unix.SIGSTOP, unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE, 32, 33:
			continue
		}
		out = append(out, n)
	}
	return out
}

// arrival is one signal vipa-exec received, to forward.
type arrival struct {
	sig os.Signal
	// byKernel: the kernel sent it (si_code SI_KERNEL), not kill(2); known
	// for caughtInC only. For a terminalSignal that means the terminal.
	byKernel bool
}

// caughtInC are the forwarded signals a C handler takes
// (forward_linux.c): those os/signal cannot deliver, and the terminal
// signals, for their si_code.
var caughtInC = []unix.Signal{unix.SIGPROF, 34, unix.SIGINT, unix.SIGQUIT, unix.SIGTSTP, unix.SIGWINCH}

// notifyForwarded delivers every forwarded signal to ch: through os/signal,
// or for caughtInC through a C handler and a pipe.
func notifyForwarded(ch chan<- arrival) error {
	var viaGo []os.Signal
	for _, s := range forwardedSignals() {
		if !slices.Contains(caughtInC, s.(unix.Signal)) {
			viaGo = append(viaGo, s)
		}
	}
	goSigs := make(chan os.Signal, cap(ch))
	signal.Notify(goSigs, viaGo...)
	go func() {
		for s := range goSigs {
			ch <- arrival{sig: s}
		}
	}()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return fmt.Errorf("signal pipe: %w", err)
	}
	for _, s := range caughtInC {
		if rc, err := C.vipa_exec_catch(C.int(s), C.int(p[1])); rc != 0 {
			return fmt.Errorf("catch signal %d: %w", int(s), err)
		}
	}
	r := os.NewFile(uintptr(p[0]), "signals") // the poller reads it
	go func() {
		// Even: the handler writes whole pairs, atomically.
		var b [32]byte
		for {
			n, err := r.Read(b[:])
			if err != nil {
				return
			}
			for i := 0; i+1 < n; i += 2 {
				ch <- arrival{sig: unix.Signal(b[i]), byKernel: b[i+1] == 1}
			}
		}
	}()
	return nil
}

// terminalSignals are those a terminal sends to its whole foreground
// process group.
func terminalSignal(sig os.Signal) bool {
	switch sig {
	case unix.SIGINT, unix.SIGQUIT, unix.SIGTSTP, unix.SIGWINCH:
		return true
	}
	return false
}

// reachedProgram reports whether a reached PROGRAM too, without vipa-exec:
// a terminal signal the terminal sent went to vipa-exec's process group,
// which is PROGRAM's unless PROGRAM has moved to one of its own.
func reachedProgram(a arrival, pid int) bool {
	if !a.byKernel || !terminalSignal(a.sig) {
		return false
	}
	pg, err := unix.Getpgid(pid)
	return err == nil && pg == unix.Getpgrp()
}

// onTerminal reports whether stdin, stdout or stderr is vipa-exec's
// controlling terminal.
func onTerminal() bool {
	for fd := range 3 {
		// ENOTTY for anything but the controlling terminal.
		if _, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP); err == nil {
			return true
		}
	}
	return false
}

// waitProgram forwards signals to child until it exits, and returns its
// status. A signal the terminal sent to the foreground process group
// reached PROGRAM too and is not sent again; the same signal sent by
// kill(2) to vipa-exec alone is. When a job-control signal
// stops PROGRAM and vipa-exec has a controlling terminal (so a shell may be
// doing job control), vipa-exec stops itself, so that the shell sees the
// job stopped (^Z, or a background job reading the terminal); the SIGCONT
// that resumes it is forwarded. A SIGSTOP sent to PROGRAM alone leaves
// vipa-exec running: only a SIGCONT to PROGRAM alone would follow it, and
// a stopped supervisor would then leave PROGRAM's calls waiting.
func waitProgram(child *os.Process, sigs <-chan arrival) (int, error) {
	type report struct {
		ws  unix.WaitStatus
		err error
	}
	reports := make(chan report, 1)
	go func() {
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WUNTRACED, nil)
			switch {
			case err == unix.EINTR:
				continue
			case err != nil:
				reports <- report{err: fmt.Errorf("wait for pid %d: %w", child.Pid, err)}
				return
			case pid != child.Pid:
				continue // an orphaned descendant, reaped
			}
			reports <- report{ws: ws}
			if !ws.Stopped() {
				return
			}
		}
	}()
	for {
		select {
		case a := <-sigs:
			if reachedProgram(a, child.Pid) {
				continue
			}
			_ = child.Signal(a.sig) // by pidfd: never a stranger that reused the pid
		case r := <-reports:
			switch {
			case r.err != nil:
				return 2, r.err
			case r.ws.Stopped():
				if jobControlStop(r.ws.StopSignal()) {
					if onTerminal() {
						_ = unix.Kill(os.Getpid(), unix.SIGSTOP)
					}
				}
			case r.ws.Signaled():
				return 128 + int(r.ws.Signal()), nil
			default:
				return r.ws.ExitStatus(), nil
			}
		}
	}
}

// jobControlStop reports whether sig is one a terminal or a job-control
// shell stops a job with.
func jobControlStop(sig unix.Signal) bool {
	return sig == unix.SIGTSTP || sig == unix.SIGTTIN || sig == unix.SIGTTOU
}

// runProgram is the program stage: load the filter, hand the listener to
// the parent, exec PROGRAM. It returns only on failure, with the exit status.
func runProgram() int {
	err := programStage()
	fmt.Fprintf(os.Stderr, "vipa-exec: %s\n", strings.Join(strings.Fields(err.Error()), " "))
	return FailureStatus(err)
}

func programStage() error {
	if len(os.Args) < 2 {
		return errors.New("program stage: no descriptor")
	}
	fd, err := strconv.Atoi(os.Args[1])
	if err != nil {
		return fmt.Errorf("program stage: descriptor %q: %w", os.Args[1], err)
	}
	unix.CloseOnExec(fd)
	conn := os.NewFile(uintptr(fd), "supervisor")
	defer func() { _ = conn.Close() }()
	b, err := readFrame(conn)
	if err != nil {
		return err
	}
	var spec childSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("program stage: %w", err)
	}
	fallback := true
	if spec.InKernel {
		if fallback, err = awaitEngine(conn, os.Stderr); err != nil {
			return err
		}
	}
	if fallback {
		filter, err := newFilter(spec.Filter)
		if err != nil {
			return err
		}
		if err := handOver(conn, filter, os.Stderr); err != nil {
			return err
		}
	} else if err := loadTerminalFilter(os.Stderr); err != nil {
		return err
	}
	_ = conn.Close()
	return execProgram(spec.Path, spec.Argv, listenPID(spec.Env, os.Getppid(), os.Getpid()), spec.Cred)
}

// listenPID points socket activation's LISTEN_PID, when it names vipa-exec
// (the parent), at PROGRAM, as sd_listen_fds(3) checks it against getpid().
func listenPID(env []string, parent, self int) []string {
	want := "LISTEN_PID=" + strconv.Itoa(parent)
	for i, kv := range env {
		if kv == want {
			out := append([]string(nil), env...)
			out[i] = "LISTEN_PID=" + strconv.Itoa(self)
			return out
		}
	}
	return env
}
