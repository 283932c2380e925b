//go:build linux

package testutil

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// SupervisorName is argv[0] of the vipa-exec supervisor; argv[1] is the pid
// of the program it supervises.
const SupervisorName = "vipa-exec-supervisor"

// ParseSupervisorCmdline returns the supervised pid if cmdline (the NUL
// separated contents of /proc/PID/cmdline) is exactly a supervisor's.
func ParseSupervisorCmdline(cmdline []byte) (pid int, ok bool) {
	const prefix = SupervisorName + "\x00"
	s := string(cmdline)
	if len(s) < len(prefix)+2 || s[:len(prefix)] != prefix || s[len(s)-1] != 0 {
		return 0, false
	}
	arg := s[len(prefix) : len(s)-1]
	if arg == "" || arg[0] == '+' || arg[0] == '-' || (len(arg) > 1 && arg[0] == '0') {
		return 0, false
	}
	pid, err := strconv.Atoi(arg)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}

// Supervisors returns the pids of the running supervisors of program pid.
func Supervisors(pid int) []int {
	paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var found []int
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the process went away meanwhile
		}
		if got, ok := ParseSupervisorCmdline(b); ok && got == pid {
			spid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			found = append(found, spid)
		}
	}
	return found
}

// WaitSupervisor waits until a supervisor of program pid runs and returns
// its pid; it fails the test after [WaitTimeout].
func WaitSupervisor(tb testing.TB, pid int) int {
	tb.Helper()
	var found []int
	waitFor(func() bool { found = Supervisors(pid); return len(found) > 0 })
	switch len(found) {
	case 0:
		tb.Fatalf("no %s %d process after %v", SupervisorName, pid, WaitTimeout)
	case 1:
	default:
		tb.Fatalf("%d supervisors for pid %d: %v", len(found), pid, found)
	}
	return found[0]
}

// WaitSupervisorGone fails the test unless every supervisor of program pid
// has exited within 10 seconds, a liveness bound: the supervisor must exit
// by itself once the last process under the filter is gone.
func WaitSupervisorGone(tb testing.TB, pid int) {
	tb.Helper()
	var found []int
	if !waitForT(10*time.Second, func() bool { found = Supervisors(pid); return len(found) == 0 }) {
		tb.Errorf("%s for pid %d still running 10s after the program exited: pids %v", SupervisorName, pid, found)
	}
}

// WaitFor waits until cond holds, checking it every 20 ms; it fails the test
// after [WaitTimeout], naming what it waited for. For conditions no event
// announces, such as a line in a file another process writes.
func WaitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	if !waitFor(cond) {
		tb.Fatalf("no %s after %v", what, WaitTimeout)
	}
}

func waitFor(cond func() bool) bool { return waitForT(WaitTimeout, cond) }

func waitForT(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
