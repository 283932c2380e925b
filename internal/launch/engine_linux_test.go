//go:build linux && cgo

package launch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/notify"
)

// TestEngineRequest: the engine frame says what Options ask for, and the
// supervisor's Setup reads it back; anything else is refused.
func TestEngineRequest(t *testing.T) {
	for _, o := range []Options{{}, {InKernel: true}, {InKernel: true, Fallback: true}} {
		var s Setup
		if err := parseEngineRequest(engineRequest(o), &s); err != nil {
			t.Fatal(err)
		}
		if s.InKernel != o.InKernel || s.Fallback != o.Fallback {
			t.Errorf("%+v: read back InKernel %v, Fallback %v", o, s.InKernel, s.Fallback)
		}
	}
	for _, b := range [][]byte{nil, {'x'}, {'b', 'b'}} {
		if err := parseEngineRequest(b, new(Setup)); err == nil {
			t.Errorf("%q: no error", b)
		}
	}
}

// pipePair is a connected socket pair, closed with the test.
func pipePair(t *testing.T) (a, b *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b = os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return a, b
}

// TestPrepareEngineFallback: a bpf engine that fails to start under auto
// tells the launcher why (ackFallback) and the seccomp engine is prepared;
// under --engine bpf the failure is the answer.
func TestPrepareEngineFallback(t *testing.T) {
	errLoad := errors.New("load programs: permission denied")
	prepare := func(calls *[]bool) Prepare {
		return func(s Setup) (func(*notify.Listener) error, error) {
			*calls = append(*calls, s.InKernel)
			if s.InKernel {
				return nil, errLoad
			}
			return func(*notify.Listener) error { return nil }, nil
		}
	}

	sup, launcher := pipePair(t)
	var calls []bool
	s := Setup{InKernel: true, Fallback: true}
	if _, err := prepareEngine(sup, prepare(&calls), &s); err != nil {
		t.Fatal(err)
	}
	if s.InKernel || fmt.Sprint(calls) != "[true false]" {
		t.Errorf("after the fallback: InKernel %v, prepared %v; want false, [true false]", s.InKernel, calls)
	}
	var warn bytes.Buffer
	fallback, err := awaitEngine(launcher, &warn)
	if err != nil || !fallback {
		t.Fatalf("launcher: fallback %v, %v", fallback, err)
	}
	if want := "vipa-exec: warning: engine seccomp: the bpf engine failed: " + errLoad.Error() + "\n"; warn.String() != want {
		t.Errorf("warning %q, want %q", warn.String(), want)
	}

	sup, launcher = pipePair(t)
	calls = nil
	s = Setup{InKernel: true}
	if _, err := prepareEngine(sup, prepare(&calls), &s); !errors.Is(err, errLoad) || len(calls) != 1 {
		t.Errorf("--engine bpf: %v after %d prepares; want %v after 1", err, len(calls), errLoad)
	}
	// The supervisor's stage writes the error as today; the launcher
	// reads it as the error.
	fmt.Fprintf(sup, "supervisor: %v", errLoad)
	_ = sup.Close()
	if fallback, err := awaitEngine(launcher, io.Discard); fallback || err == nil || !strings.Contains(err.Error(), errLoad.Error()) {
		t.Errorf("launcher under --engine bpf: fallback %v, %v", fallback, err)
	}

	sup, launcher = pipePair(t)
	if _, err := sup.Write([]byte{ackOK}); err != nil {
		t.Fatal(err)
	}
	if fallback, err := awaitEngine(launcher, io.Discard); fallback || err != nil {
		t.Errorf("ack: fallback %v, %v", fallback, err)
	}
}

// TestTerminalFilter: the bpf engine's filter refuses the terminal
// injection ioctls, whatever the upper bits, on every ABI, traps nothing,
// allows everything else, and kills a foreign ABI.
func TestTerminalFilter(t *testing.T) {
	const (
		eperm = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
		allow = unix.SECCOMP_RET_ALLOW
	)
	vm := func(abis []notify.ABI) *bpf.VM {
		raw, err := compileTerminalFilter(abis)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := notify.NewFilter(raw); err != nil {
			t.Fatal(err)
		}
		return programVM(t, raw)
	}
	// Exact: the errno is part of the action.
	run := func(vm *bpf.VM, tests []filterCase) {
		for _, tt := range tests {
			got, err := vm.Run(seccompData(tt.arch, tt.nr, tt.args...))
			if err != nil {
				t.Fatal(err)
			}
			if uint32(got) != tt.want {
				t.Errorf("%s: action %#x, want %#x", tt.name, uint32(got), tt.want)
			}
		}
	}
	amd64, arm64 := vm(notify.ABIsAMD64), vm(notify.ABIsARM64)
	run(amd64, []filterCase{
		{"x86_64 TIOCSTI", native, 16, []uint64{0, unix.TIOCSTI}, eperm},
		{"x86_64 TIOCSTI high bits", native, 16, []uint64{0, 0xdead<<32 | unix.TIOCSTI}, eperm},
		{"x86_64 TIOCLINUX", native, 16, []uint64{0, unix.TIOCLINUX}, eperm},
		{"x86_64 TIOCGWINSZ", native, 16, []uint64{0, unix.TIOCGWINSZ}, allow},
		{"i386 TIOCSTI", unix.AUDIT_ARCH_I386, 54, []uint64{0, unix.TIOCSTI}, eperm},
		{"x32 TIOCSTI", native, notify.X32Bit | 514, []uint64{0, unix.TIOCSTI}, eperm},
		{"x86_64 connect", native, 42, []uint64{3, 0x1000, 16}, allow},
		{"x86_64 io_uring_setup", native, 425, nil, allow},
		{"i386 socketcall connect", unix.AUDIT_ARCH_I386, 102, []uint64{3, 0x1000}, allow},
		{"foreign ABI", unix.AUDIT_ARCH_AARCH64, 29, nil, unix.SECCOMP_RET_KILL_PROCESS},
	})
	run(arm64, []filterCase{
		{"arm64 TIOCSTI", unix.AUDIT_ARCH_AARCH64, 29, []uint64{0, unix.TIOCSTI}, eperm},
		{"arm TIOCLINUX", unix.AUDIT_ARCH_ARM, 54, []uint64{0, unix.TIOCLINUX}, eperm},
		{"arm64 connect", unix.AUDIT_ARCH_AARCH64, 203, []uint64{3, 0x1000, 16}, allow},
	})
}
