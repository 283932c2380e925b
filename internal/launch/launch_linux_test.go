//go:build linux && cgo

package launch

import (
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestChooseMode(t *testing.T) {
	tests := []struct {
		mode      Mode
		scope     int
		ptraceCap bool
		want      Mode
		why       bool   // a line to print
		err       string // part of the error, "" for none
	}{
		{ModeAuto, 0, false, ModeDetached, false, ""},
		{ModeAuto, 0, true, ModeDetached, false, ""},
		{ModeAuto, 1, true, ModeDetached, false, ""},
		{ModeAuto, 1, false, ModeParent, true, ""},
		{ModeAuto, 2, true, ModeDetached, false, ""},
		{ModeAuto, 2, false, "", false, "ptrace_scope is 2"},
		{ModeAuto, 3, true, "", false, "ptrace_scope is 3"},
		{ModeDetached, 0, false, ModeDetached, false, ""},
		{ModeDetached, 1, false, "", false, "use --supervise=parent"},
		{ModeDetached, 1, true, ModeDetached, false, ""},
		{ModeParent, 0, false, ModeParent, false, ""},
		{ModeParent, 1, false, ModeParent, false, ""},
		{ModeParent, 2, false, "", false, "ptrace_scope is 2"},
		{ModeParent, 3, true, "", false, "ptrace_scope is 3"},
	}
	for _, tt := range tests {
		got, why, err := chooseMode(tt.mode, tt.scope, tt.ptraceCap)
		name := string(tt.mode) + "/" + string(rune('0'+tt.scope))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s cap=%v: error %v, want one with %q", name, tt.ptraceCap, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want || (why != "") != tt.why {
			t.Errorf("%s cap=%v: got %q, %q, %v; want %q, line %v", name, tt.ptraceCap, got, why, err, tt.want, tt.why)
		}
		if why != "" && strings.Contains(why, "\n") {
			t.Errorf("%s: the line %q is not one line", name, why)
		}
	}
}

func TestParseMode(t *testing.T) {
	for _, s := range []string{"auto", "detached", "parent"} {
		if m, err := ParseMode(s); err != nil || string(m) != s {
			t.Errorf("ParseMode(%q) = %q, %v", s, m, err)
		}
	}
	for _, s := range []string{"", "Parent", "child", "detach"} {
		if _, err := ParseMode(s); err == nil || !strings.Contains(err.Error(), "--supervise") {
			t.Errorf("ParseMode(%q): error %v, want one naming --supervise", s, err)
		}
	}
}

func TestListenPID(t *testing.T) {
	tests := []struct {
		env, want []string
	}{
		{[]string{"A=1", "LISTEN_PID=10", "LISTEN_FDS=1"}, []string{"A=1", "LISTEN_PID=20", "LISTEN_FDS=1"}},
		{[]string{"LISTEN_PID=11", "LISTEN_FDS=1"}, []string{"LISTEN_PID=11", "LISTEN_FDS=1"}}, // not vipa-exec's: left alone
		{[]string{"LISTEN_PID=100"}, []string{"LISTEN_PID=100"}},                               // no prefix match
		{[]string{"XLISTEN_PID=10"}, []string{"XLISTEN_PID=10"}},
		{nil, nil},
	}
	for _, tt := range tests {
		in := slices.Clone(tt.env)
		got := listenPID(tt.env, 10, 20)
		if !slices.Equal(got, tt.want) {
			t.Errorf("listenPID(%q) = %q, want %q", tt.env, got, tt.want)
		}
		if !slices.Equal(tt.env, in) {
			t.Errorf("listenPID changed its argument to %q", tt.env)
		}
	}
}

func TestForwardedSignals(t *testing.T) {
	got := forwardedSignals()
	has := func(s unix.Signal) bool { return slices.Contains(got, os.Signal(s)) }
	for _, s := range []unix.Signal{unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM,
		unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH, unix.SIGCONT, unix.SIGTSTP,
		unix.SIGALRM, unix.SIGABRT, 34, 64} {
		if !has(s) {
			t.Errorf("%v (%d) is not forwarded", s, int(s))
		}
	}
	for _, s := range []unix.Signal{unix.SIGKILL, unix.SIGSTOP, unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE, 32, 33} {
		if has(s) {
			t.Errorf("%v (%d) is forwarded", s, int(s))
		}
	}
	if len(got) != 64-7 {
		t.Errorf("%d signals forwarded, want %d", len(got), 64-7)
	}
}

func TestFailureStatus(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{&ExecError{Path: "/x", Err: unix.ENOENT}, 127},
		{&ExecError{Path: "/x", Err: unix.EACCES}, 126},
		{&ExecError{Path: "/x", Err: unix.ENOEXEC}, 126},
		{unix.ENOENT, 2}, // not from exec: a setup failure
		{os.ErrInvalid, 2},
	}
	for _, tt := range tests {
		if got := FailureStatus(tt.err); got != tt.want {
			t.Errorf("FailureStatus(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// TestCheckNotNested: a test binary runs under no seccomp listener. (Under
// one, end to end: TestIntegrationLauncher/nested.)
func TestCheckNotNested(t *testing.T) {
	if err := checkNotNested(); err != nil {
		t.Fatalf("checkNotNested: %v", err)
	}
}

// BenchmarkCheckNotNested is what the nesting probe adds to every start.
func BenchmarkCheckNotNested(b *testing.B) {
	for b.Loop() {
		if err := checkNotNested(); err != nil {
			b.Fatal(err)
		}
	}
}
