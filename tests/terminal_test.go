//go:build linux

package tests

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// terminalTimeout bounds one terminal session: a program that should have
// stopped or exited and did not makes the test fail instead of hang.
const terminalTimeout = 30 * time.Second

// pyCountSIGINT connects once to HOST PORT, says ready, then counts the
// SIGINTs it receives: after the first it waits a grace second for a
// second one, then prints the count. It counts the bytes the C-level handler
// writes to the wakeup fd, one per delivery, because Python runs its own
// handler only once for deliveries that come close together.
const pyCountSIGINT = `
import os, select, signal, socket, sys
r, w = os.pipe()
os.set_blocking(w, False)
signal.set_wakeup_fd(w)
signal.signal(signal.SIGINT, lambda *_: None)
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.close()
print("ready", flush=True)
n, timeout = 0, None
while select.select([r], [], [], timeout)[0]:
    n += os.read(r, 64).count(signal.SIGINT)
    timeout = 1.0
print("sigint", n, flush=True)
`

// pyStopper says ready, is stopped by ^Z (SIGTSTP's default action), and
// says finished once a SIGCONT resumed it. SIGCONT is blocked so that
// sigwait catches it; blocking does not keep it from resuming the process.
const pyStopper = `
import signal
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCONT})
print("ready", flush=True)
signal.sigwait({signal.SIGCONT})
print("finished", flush=True)
`

// TestIntegrationTerminal runs vipa-exec --supervise=parent on a real
// pseudo-terminal, as PROGRAM's parent in the terminal's foreground process
// group, and types ^C and ^Z on it.
func TestIntegrationTerminal(t *testing.T) {
	testutil.RequireTool(t, python, "bash")
	e := newEnv(t)
	policy := e.policy(standardPolicy)
	vipa := func(argv ...string) []string {
		return append(e.exec("--supervise=parent", "-p", policy), argv...)
	}

	// vipa-exec is the session leader: its process group, PROGRAM's too,
	// is the terminal's foreground group, and ^C sends SIGINT to both.
	// vipa-exec must not forward its copy. Without that rule PROGRAM gets a
	// second SIGINT microseconds after the first and prints "sigint 2" (the
	// kernel could merge the two only if the second came before the first
	// was delivered, so the test might miss the bug, never fail wrongly).
	t.Run("^C reaches the program once", func(t *testing.T) {
		e := e.with(t)
		e.rec4.Reset()
		tm := startTerminal(t, e.command(vipa(python, "-c", pyCountSIGINT, dst4.String(), strconv.Itoa(serverPort))...))
		tm.expect(t, `ready\r\n`)
		tm.write(t, "\x03")
		m := tm.expect(t, `sigint (\d+)\r\n`)
		if m[1] != "1" {
			t.Errorf("the program got %s SIGINTs from one ^C, want 1:\n%s", m[1], tm.output())
		}
		if res := tm.wait(t); res.Exit != 0 || res.Signal != 0 {
			t.Errorf("vipa-exec: %v", res)
		}
		// The connection left from the VIPA: the program ran supervised.
		wantSources(t, "program on the terminal", e.rec4, map[netip.Addr]int{vipa4: 1})
	})

	// A SIGINT sent to vipa-exec alone (kill, not the terminal) reached
	// only vipa-exec, even in the terminal's foreground: it must be
	// forwarded, once.
	t.Run("kill -INT to vipa-exec on the terminal reaches the program once", func(t *testing.T) {
		e := e.with(t)
		tm := startTerminal(t, e.command(vipa(python, "-c", pyCountSIGINT, dst4.String(), strconv.Itoa(serverPort))...))
		tm.expect(t, `ready\r\n`)
		if err := unix.Kill(tm.cmd.Process.Pid, unix.SIGINT); err != nil {
			t.Fatal(err)
		}
		m := tm.expect(t, `sigint (\d+)\r\n`)
		if m[1] != "1" {
			t.Errorf("the program got %s SIGINTs from one kill, want 1:\n%s", m[1], tm.output())
		}
		if res := tm.wait(t); res.Exit != 0 || res.Signal != 0 {
			t.Errorf("vipa-exec: %v", res)
		}
	})

	// ^Z needs a session leader with job control: the kernel discards
	// SIGTSTP to an orphaned process group. bash -m runs vipa-exec as its
	// foreground job. ^Z stops PROGRAM and reaches vipa-exec, which catches
	// it; vipa-exec must then stop itself, or bash, waiting for the job,
	// would never print "after" (the test fails at terminalTimeout). The
	// status is 128 plus the signal that stopped vipa-exec (147, SIGSTOP).
	// fg gives the job the terminal back and SIGCONTs it; PROGRAM must
	// finish and vipa-exec pass on its status 0.
	//
	// fg, not "kill -CONT %1; wait %1": bash's wait may still see the job
	// stopped (it learns of the SIGCONT by SIGCHLD, later) and return 147;
	// and the job would be resumed in the background, where vipa-exec
	// forwards a SIGTSTP from ^Z that it handles only after its own stop,
	// stopping PROGRAM again for good (seen under CPU load).
	t.Run("^Z stops the job and fg resumes it", func(t *testing.T) {
		e := e.with(t)
		const script = `set -m; "$@"; echo "after $?"; fg %1; echo "done $?"`
		tm := startTerminal(t, e.command(append([]string{"bash", "-c", script, "bash"}, vipa(python, "-c", pyStopper)...)...))
		tm.expect(t, `ready\r\n`)
		tm.write(t, "\x1a")
		m := tm.expect(t, `after (\d+)\r\n`)
		if n, _ := strconv.Atoi(m[1]); n <= 128 {
			t.Errorf("bash saw the job end with status %d instead of stopping, want 128+signal:\n%s", n, tm.output())
		} else if n != 128+int(unix.SIGSTOP) {
			t.Logf("job stopped with status %d, not 128+SIGSTOP", n)
		}
		tm.expect(t, `finished\r\n`)
		if m := tm.expect(t, `done (\d+)\r\n`); m[1] != "0" {
			t.Errorf("resumed job exited %s, want 0:\n%s", m[1], tm.output())
		}
		if res := tm.wait(t); res.Exit != 0 || res.Signal != 0 {
			t.Errorf("bash: %v", res)
		}
	})
}

// terminal is a command running on the slave side of a pseudo-terminal, in
// a session of its own with the terminal as controlling terminal, and what
// it wrote there as read on the master.
type terminal struct {
	cmd    *exec.Cmd
	master *os.File
	cancel context.CancelFunc

	mu   sync.Mutex
	out  []byte
	pos  int           // how far expect has consumed out
	more chan struct{} // closed and replaced when out grows or reading ends
	eof  bool
	// killed: the session outlived terminalTimeout or the test.
	killed bool

	waited chan struct{} // closed once cmd.Wait returned
	err    error
}

// startTerminal starts cmd on a new pseudo-terminal. The kernel's default
// termios (ISIG, ICANON, ECHO, ONLCR; ^C is VINTR, ^Z VSUSP) is what the
// test needs. Everything ends after terminalTimeout.
func startTerminal(t *testing.T, cmd *exec.Cmd) *terminal {
	t.Helper()
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	// Non-blocking, the master is handled by Go's poller: Close interrupts
	// a pending Read.
	master := os.NewFile(uintptr(mfd), "/dev/ptmx")
	t.Cleanup(func() { _ = master.Close() })
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(mfd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	slave, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty slave: %v", err)
	}
	defer func() { _ = slave.Close() }() // the child has its copies

	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	// cmd's own context (runTimeout) is longer; this one kills sooner.
	ctx, cancel := context.WithTimeout(t.Context(), terminalTimeout)
	t.Cleanup(cancel)
	tm := &terminal{cmd: cmd, master: master, cancel: cancel, more: make(chan struct{}), waited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	pid := cmd.Process.Pid
	go func() {
		tm.err = cmd.Wait()
		close(tm.waited)
	}()
	go func() {
		select {
		case <-ctx.Done():
			tm.mu.Lock()
			tm.killed = true
			tm.mu.Unlock()
			// Everything in the session: a stopped job would outlive its
			// shell otherwise, holding the terminal.
			_ = unix.Kill(-pid, unix.SIGKILL)
			killSession(pid)
		case <-tm.waited:
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-tm.waited
	})
	go tm.read()
	return tm
}

// killSession SIGKILLs every process of session sid (and SIGCONTs none: a
// stopped process dies of SIGKILL too).
func killSession(sid int) {
	entries, _ := os.ReadDir("/proc")
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		if s, err := unix.Getsid(pid); err == nil && s == sid {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// read collects the master's output until the last slave descriptor is
// closed (EIO) or the master is.
func (tm *terminal) read() {
	buf := make([]byte, 4096)
	for {
		n, err := tm.master.Read(buf)
		tm.mu.Lock()
		tm.out = append(tm.out, buf[:n]...)
		if err != nil {
			tm.eof = true
		}
		close(tm.more)
		tm.more = make(chan struct{})
		tm.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// output is everything read so far, for failure messages.
func (tm *terminal) output() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return string(tm.out)
}

// expect waits for the output after the last match to match re and returns
// the submatches; the output up to the match's end is consumed. The
// terminal shows "\r\n" for "\n" and echoes ^C as "^C", which may precede a
// program's line. It fails the test when the output ends or the session
// times out first.
func (tm *terminal) expect(t *testing.T, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.NewTimer(terminalTimeout)
	defer deadline.Stop()
	for {
		tm.mu.Lock()
		loc := rx.FindSubmatchIndex(tm.out[tm.pos:])
		var m []string
		if loc != nil {
			for i := 0; i < len(loc); i += 2 {
				if loc[i] >= 0 {
					m = append(m, string(tm.out[tm.pos+loc[i]:tm.pos+loc[i+1]]))
				} else {
					m = append(m, "")
				}
			}
			tm.pos += loc[1]
		}
		eof, killed, more, out := tm.eof, tm.killed, tm.more, string(tm.out)
		tm.mu.Unlock()
		switch {
		case m != nil:
			return m
		case eof && killed:
			t.Fatalf("no %q on the terminal: session killed after %v (hung?):\n%s", re, terminalTimeout, out)
		case eof:
			t.Fatalf("terminal output ended without %q:\n%s", re, out)
		}
		select {
		case <-more:
		case <-deadline.C:
			t.Fatalf("no %q on the terminal after %v:\n%s", re, terminalTimeout, out)
		}
	}
}

// write types s on the terminal.
func (tm *terminal) write(t *testing.T, s string) {
	t.Helper()
	if _, err := tm.master.WriteString(s); err != nil {
		t.Fatalf("write %q to the terminal: %v", s, err)
	}
}

// wait waits for the command to exit (the session is killed at
// terminalTimeout) and returns its status; the output stays in tm.
func (tm *terminal) wait(t *testing.T) testutil.Result {
	t.Helper()
	<-tm.waited
	res := testutil.Result{Pid: tm.cmd.Process.Pid, Exit: -1, Stdout: tm.output()}
	var ee *exec.ExitError
	if tm.err != nil && !errors.As(tm.err, &ee) {
		t.Fatalf("wait %v: %v", tm.cmd.Args, tm.err)
	}
	if st := tm.cmd.ProcessState; st != nil {
		ws := st.Sys().(syscall.WaitStatus)
		res.Exit = ws.ExitStatus()
		if ws.Signaled() {
			res.Signal = ws.Signal()
		}
	}
	return res
}
