//go:build linux

package notify

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"unsafe"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Address lengths that are trapped: struct sockaddr_in and sockaddr_in6.
// Anything else (AF_UNIX, netlink, AF_PACKET...) never leaves the kernel.
var trappedLens = []uint64{16, 28}

// FilterOptions select what the filter traps beyond the default.
type FilterOptions struct {
	// TrapSendmsg traps every sendmsg(2): its destination sits in a struct
	// the filter cannot look into, so every sendmsg, whatever its socket,
	// costs a round trip to the supervisor.
	TrapSendmsg bool
	// AllowIOUring lets io_uring_setup(2) through. io_uring can connect
	// and bind sockets without any syscall the filter sees, so by default
	// io_uring_setup fails with ENOSYS and programs fall back to ordinary
	// syscalls, as they do under Docker's default seccomp profile.
	AllowIOUring bool
}

// Filter is a compiled seccomp BPF program that sends bind(2) and connect(2)
// with an INET-sized address to a user-space listener and allows the rest.
type Filter struct {
	prog []unix.SockFilter
}

// NewFilter compiles the filter with libseccomp for every ABI the kernel
// runs programs in (on x86_64: 64-bit, i386 and x32). A syscall made through
// any other ABI kills the process: an ABI the filter does not cover must not
// run unfiltered.
func NewFilter(opts FilterOptions) (*Filter, error) { return newFilter(abis, opts) }

// newFilter compiles the filter for the ABIs abis.
func newFilter(abis []abi, opts FilterOptions) (*Filter, error) {
	var f *seccomp.ScmpFilter
	for i := range abis {
		if abis[i].auditArch == 0 {
			return nil, fmt.Errorf("vipa-exec does not support %s: no system call table for it", runtime.GOARCH)
		}
		af, err := abiFilter(&abis[i], opts)
		if err != nil {
			return nil, fmt.Errorf("seccomp filter for %s: %w", abis[i].arch, err)
		}
		if f == nil {
			f = af
			continue
		}
		if err := f.Merge(af); err != nil {
			af.Release()
			f.Release()
			return nil, fmt.Errorf("seccomp filter for %s: merge: %w", abis[i].arch, err)
		}
	}
	defer f.Release()
	raw, err := exportBPF(f)
	if err != nil {
		return nil, fmt.Errorf("export seccomp filter: %w", err)
	}
	if len(raw) == 0 || len(raw)%8 != 0 {
		return nil, fmt.Errorf("export seccomp filter: %d bytes is not a BPF program", len(raw))
	}
	prog := make([]unix.SockFilter, len(raw)/8)
	for i := range prog {
		b := raw[i*8:]
		prog[i] = unix.SockFilter{
			Code: binary.NativeEndian.Uint16(b[0:2]),
			Jt:   b[2],
			Jf:   b[3],
			K:    binary.NativeEndian.Uint32(b[4:8]),
		}
	}
	return &Filter{prog: prog}, nil
}

// abiFilter is the filter of one ABI. Given "connect" on i386, libseccomp
// adds the direct syscall and also socketcall(SYS_CONNECT), but tests
// socketcall's third argument as if it were the address length, which it is
// not: the exact socketcall rules below trap those calls whatever their
// arguments, and the supervisor reads the real ones from memory.
func abiFilter(a *abi, opts FilterOptions) (*seccomp.ScmpFilter, error) {
	f, err := seccomp.NewFilter(seccomp.ActAllow)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			f.Release()
		}
	}()
	if err := f.SetBadArchAction(seccomp.ActKillProcess); err != nil {
		return nil, fmt.Errorf("set bad-arch action: %w", err)
	}
	native, err := seccomp.GetNativeArch()
	if err != nil {
		return nil, err
	}
	if a.arch != native && a.arch != seccomp.ArchNative {
		if err := f.AddArch(a.arch); err != nil {
			return nil, fmt.Errorf("add arch: %w", err)
		}
		if err := f.RemoveArch(native); err != nil {
			return nil, fmt.Errorf("remove native arch: %w", err)
		}
	}
	// Rules name syscalls in the native numbering; libseccomp translates
	// them to the ABI's own.
	for _, t := range []struct {
		name   string
		lenArg uint
	}{{"connect", 2}, {"bind", 2}, {"sendto", 5}} {
		nr, err := seccomp.GetSyscallFromName(t.name)
		if err != nil {
			return nil, err
		}
		for _, n := range trappedLens {
			// socklen_t is 32 bits: compare only those, as the kernel reads
			// only those, so junk in the upper half cannot slip past.
			c, err := seccomp.MakeCondition(t.lenArg, seccomp.CompareMaskedEqual, 0xffffffff, n)
			if err != nil {
				return nil, err
			}
			if err := f.AddRuleConditional(nr, seccomp.ActNotify, []seccomp.ScmpCondition{c}); err != nil {
				return nil, fmt.Errorf("rule for %s: %w", t.name, err)
			}
		}
	}
	if a.socketcall >= 0 {
		// Rules take the native numbering even when exact; socketcall has
		// none on x86_64, and libseccomp's pseudo number maps to i386's 102.
		sc, err := seccomp.GetSyscallFromName("socketcall")
		if err != nil {
			return nil, err
		}
		for call, op := range socketcallOps {
			if op == OpSendmsg && !opts.TrapSendmsg {
				continue
			}
			c, err := seccomp.MakeCondition(0, seccomp.CompareEqual, call)
			if err != nil {
				return nil, err
			}
			if err := f.AddRuleConditionalExact(sc, seccomp.ActNotify, []seccomp.ScmpCondition{c}); err != nil {
				return nil, fmt.Errorf("rule for socketcall(%d): %w", call, err)
			}
		}
	}
	if !opts.AllowIOUring {
		if err := addByName(f, "io_uring_setup", seccomp.ActErrno.SetReturnCode(int16(unix.ENOSYS))); err != nil {
			return nil, err
		}
	}
	if opts.TrapSendmsg {
		if err := addByName(f, "sendmsg", seccomp.ActNotify); err != nil {
			return nil, err
		}
	}
	ok = true
	return f, nil
}

func addByName(f *seccomp.ScmpFilter, name string, action seccomp.ScmpAction) error {
	nr, err := seccomp.GetSyscallFromName(name)
	if err != nil {
		return fmt.Errorf("resolve syscall %s: %w", name, err)
	}
	if err := f.AddRule(nr, action); err != nil {
		return fmt.Errorf("rule for %s: %w", name, err)
	}
	return nil
}

// exportBPF returns the compiled program. ExportBPFMem needs libseccomp
// 2.6; ExportBPF to a memfd works with the 2.5 that Debian 12 ships.
func exportBPF(f *seccomp.ScmpFilter) ([]byte, error) {
	fd, err := unix.MemfdCreate("vipa-exec-bpf", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	file := os.NewFile(uintptr(fd), "vipa-exec-bpf")
	defer file.Close()
	if err := f.ExportBPF(file); err != nil {
		return nil, err
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(file)
}

// Program returns the BPF instructions, for tests and debugging.
func (f *Filter) Program() []unix.SockFilter { return f.prog }

// Load installs the filter on every thread of the calling process and returns
// the listener. With noNewPrivs the no_new_privs bit is set first, as the
// kernel demands of callers without CAP_SYS_ADMIN; without it, setuid and
// file-capability programs exec'd later keep their privileges.
//
// The caller must not make a trapped call until somebody serves the listener:
// it would wait for an answer forever.
func (f *Filter) Load(noNewPrivs bool) (*Listener, error) {
	if noNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return nil, fmt.Errorf("set no_new_privs: %w", err)
		}
	}
	fprog := unix.SockFprog{Len: uint16(len(f.prog)), Filter: &f.prog[0]}
	// TSYNC: Go runs on many threads and any of them may exec the program.
	// TSYNC_ESRCH: required to combine TSYNC with NEW_LISTENER (Linux 5.7).
	flags := uintptr(unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | unix.SECCOMP_FILTER_FLAG_TSYNC | unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH)
	// WAIT_KILLABLE_RECV (Linux 5.19): once the supervisor has received a
	// notification, only a fatal signal interrupts the caller. Otherwise a
	// signal (Go programs get SIGURG all the time) would restart the call
	// and trap it a second time; the second round finds the work of the
	// first done (the socket bound, the VIPA in the address) and leaves it.
	fd, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags|unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, uintptr(unsafe.Pointer(&fprog)))
	if errno == unix.EINVAL {
		fd, _, errno = unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&fprog)))
	}
	if errno != 0 {
		switch {
		case errno == unix.ENOSYS:
			return nil, &FeatureError{Feature: "seccomp filters", MinVersion: "3.5", Err: errno}
		case errno == unix.EINVAL:
			return nil, &FeatureError{Feature: "seccomp user notification with TSYNC_ESRCH", MinVersion: "5.7", Err: errno}
		case errno == unix.EACCES && !noNewPrivs:
			return nil, fmt.Errorf("load seccomp filter without no_new_privs (needs CAP_SYS_ADMIN): %w", errno)
		default:
			return nil, fmt.Errorf("load seccomp filter: %w", errno)
		}
	}
	return newListener(int(fd)), nil
}

// ErrNotSupported is wrapped by every error that means the kernel lacks a
// feature vipa-exec needs.
var ErrNotSupported = errors.New("not supported by this kernel")

// FeatureError names a missing kernel feature and the Linux version that has it.
type FeatureError struct {
	Feature    string
	MinVersion string
	Err        error // what the kernel answered, if anything
}

func (e *FeatureError) Error() string {
	s := fmt.Sprintf("this kernel lacks %s: vipa-exec needs Linux >= %s", e.Feature, e.MinVersion)
	if e.Err != nil {
		s += " (" + e.Err.Error() + ")"
	}
	return s
}

func (e *FeatureError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrNotSupported}
	}
	return []error{ErrNotSupported, e.Err}
}
