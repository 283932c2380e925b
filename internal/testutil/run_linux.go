//go:build linux

package testutil

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Result is what a finished command left behind.
type Result struct {
	Pid    int
	Stdout string
	Stderr string
	// Exit is the exit status, or -1 when the process died by a signal.
	Exit int
	// Signal is the signal that killed the process, or 0.
	Signal syscall.Signal
}

// String describes the result for failure messages.
func (r Result) String() string {
	status := "exit " + strconv.Itoa(r.Exit)
	if r.Signal != 0 {
		status = "killed by " + r.Signal.String()
	}
	return status + "\n--- stdout:\n" + r.Stdout + "--- stderr:\n" + r.Stderr
}

// Lines splits output into lines, without the empty string a final newline
// would leave.
func Lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// Run runs cmd to completion and captures the output it did not redirect
// (see [Start]).
func Run(tb testing.TB, cmd *exec.Cmd) Result {
	tb.Helper()
	return Start(tb, cmd).Wait(tb)
}

// Proc is a started command whose stdout can be read line by line while it
// runs.
type Proc struct {
	Cmd     *exec.Cmd
	lines   chan string
	done    chan struct{} // closed when Wait returned
	waitErr error
	mu      sync.Mutex
	stdout  lineWriter
	stderr  bytes.Buffer
}

// Start starts cmd and captures its stdout and stderr, each unless the
// caller set it: a program whose descendants outlive it and keep its stdout
// or stderr (vipa-exec's supervisor keeps stderr) needs files there, since
// Wait waits for the pipes to close. A command that cannot start fails the
// test. If cmd.WaitDelay is unset it becomes 10 seconds, so that a
// descendant left holding a pipe cannot hang the test.
func Start(tb testing.TB, cmd *exec.Cmd) *Proc {
	tb.Helper()
	p := &Proc{Cmd: cmd, lines: make(chan string, 1<<16), done: make(chan struct{})}
	p.stdout.lines = p.lines
	if cmd.Stdout == nil {
		cmd.Stdout = &lockedWriter{mu: &p.mu, w: &p.stdout}
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &lockedWriter{mu: &p.mu, w: &p.stderr}
	}
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = 10 * time.Second
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %v: %v", cmd.Args, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p
}

// Pid is the process id of the command.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Line returns the next line of stdout; it fails the test if the command
// exits without printing one, or after [WaitTimeout].
func (p *Proc) Line(tb testing.TB) string {
	tb.Helper()
	timeout := time.After(WaitTimeout)
	for {
		select {
		case line := <-p.lines:
			return line
		case <-p.done:
			select {
			case line := <-p.lines:
				return line
			default:
				tb.Fatalf("%v exited without the line expected on stdout:\n%s", p.Cmd.Args, p.result())
			}
		case <-timeout:
			tb.Fatalf("%v: no line on stdout after %v", p.Cmd.Args, WaitTimeout)
		}
	}
}

// Stderr is what the command wrote to stderr so far.
func (p *Proc) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// Wait waits for the command to exit and returns its result; it fails the
// test after [WaitTimeout]. A non-zero exit is a result, not an error.
func (p *Proc) Wait(tb testing.TB) Result {
	tb.Helper()
	select {
	case <-p.done:
	case <-time.After(WaitTimeout):
		tb.Fatalf("%v still running after %v; stderr:\n%s", p.Cmd.Args, WaitTimeout, p.Stderr())
	}
	var ee *exec.ExitError
	switch {
	case p.waitErr == nil || errors.As(p.waitErr, &ee):
	case errors.Is(p.waitErr, exec.ErrWaitDelay):
		// The exit status is known; what is wrong is a process left behind.
		tb.Errorf("%v exited, but its stdout or stderr stayed open %v longer: a descendant (or vipa-exec's supervisor) still runs", p.Cmd.Args, p.Cmd.WaitDelay)
	default:
		tb.Fatalf("wait %v: %v", p.Cmd.Args, p.waitErr)
	}
	return p.result()
}

// result is only complete after done is closed.
func (p *Proc) result() Result {
	res := Result{Pid: p.Pid(), Exit: -1}
	if st := p.Cmd.ProcessState; st != nil {
		ws := st.Sys().(syscall.WaitStatus)
		res.Exit = ws.ExitStatus()
		if ws.Signaled() {
			res.Signal = ws.Signal()
		}
	}
	p.mu.Lock()
	res.Stdout, res.Stderr = p.stdout.all.String(), p.stderr.String()
	p.mu.Unlock()
	return res
}

// lineWriter keeps everything written and passes each complete line to
// lines, dropping lines when nobody reads that far.
type lineWriter struct {
	all     strings.Builder
	partial []byte
	lines   chan<- string
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.all.Write(b)
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		select {
		case w.lines <- string(w.partial[:i]):
		default:
		}
		w.partial = w.partial[i+1:]
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
