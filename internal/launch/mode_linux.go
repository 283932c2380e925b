//go:build linux && cgo

package launch

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Mode is where the supervisor runs.
type Mode string

const (
	// ModeAuto is ModeDetached unless the detached supervisor could not
	// read PROGRAM's memory: then ModeParent.
	ModeAuto Mode = "auto"
	// ModeDetached runs the supervisor in its own session, no relative of
	// PROGRAM, which keeps vipa-exec's pid.
	ModeDetached Mode = "detached"
	// ModeParent keeps vipa-exec as PROGRAM's parent and supervisor.
	ModeParent Mode = "parent"
)

// ParseMode reads a --supervise value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeAuto, ModeDetached, ModeParent:
		return m, nil
	}
	return "", fmt.Errorf("--supervise %q: want auto, detached or parent", s)
}

// yamaPath is Yama's ptrace restriction; absent when Yama is not built in.
const yamaPath = "/proc/sys/kernel/yama/ptrace_scope"

// yamaScope returns Yama's ptrace_scope, 0 (classic ptrace permissions)
// when Yama is absent or the file cannot be read.
func yamaScope() int {
	b, err := os.ReadFile(yamaPath)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return n
}

// ChooseMode resolves m for this process: Yama's ptrace_scope and whether it
// holds CAP_SYS_PTRACE decide who may read PROGRAM's memory, as the
// supervisor must. why is the one line to print when ModeAuto chose
// ModeParent, and "" otherwise.
func ChooseMode(m Mode) (mode Mode, why string, err error) {
	return chooseMode(m, yamaScope(), hasCap(unix.CAP_SYS_PTRACE))
}

// chooseMode is ChooseMode for a given ptrace_scope and CAP_SYS_PTRACE.
// See Documentation/admin-guide/LSM/Yama.rst: 1 lets only ancestors (and
// CAP_SYS_PTRACE) attach, 2 only CAP_SYS_PTRACE, 3 nobody.
func chooseMode(m Mode, scope int, ptraceCap bool) (Mode, string, error) {
	switch {
	case scope >= 3:
		return "", "", fmt.Errorf("kernel.yama.ptrace_scope is %d: no process may read another's memory, which the supervisor must", scope)
	case scope == 2 && !ptraceCap:
		return "", "", errors.New("kernel.yama.ptrace_scope is 2: only CAP_SYS_PTRACE may read another process's memory, which the supervisor must; run vipa-exec as root")
	case scope == 1 && !ptraceCap:
		switch m {
		case ModeDetached:
			return "", "", fmt.Errorf("--supervise=detached: Yama ptrace_scope is 1 and vipa-exec lacks CAP_SYS_PTRACE, so only PROGRAM's ancestors may read its memory; use --supervise=parent")
		case ModeAuto:
			return ModeParent, "vipa-exec: Yama ptrace_scope is 1 and vipa-exec lacks CAP_SYS_PTRACE, so only PROGRAM's ancestors may read its memory: supervising as PROGRAM's parent (--supervise=parent)", nil
		}
	}
	if m == ModeAuto {
		return ModeDetached, "", nil
	}
	return m, "", nil
}

// ptraceHint explains an EPERM from pidfd_getfd or process_vm_readv.
func ptraceHint() string {
	if s := yamaScope(); s > 0 {
		return fmt.Sprintf("Yama ptrace_scope is %d; --supervise=parent lets PROGRAM's parent read it", s)
	}
	return "the supervisor may not read its memory: a process made undumpable, or a security module, forbids it"
}
