//go:build linux

package notify

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FilterOptions select what the filter traps beyond the default.
type FilterOptions struct {
	// TrapSendmsg traps every sendmsg(2) and sendmmsg(2): their destination
	// sits in a struct the filter cannot look into, so every such call,
	// whatever its socket, costs a round trip to the supervisor.
	TrapSendmsg bool
	// AllowIOUring lets io_uring_setup(2) through. io_uring can connect
	// and bind sockets without any syscall the filter sees, so by default
	// io_uring_setup fails with ENOSYS and programs fall back to ordinary
	// syscalls, as they do under Docker's default seccomp profile.
	AllowIOUring bool
	// SkipBind leaves bind(2) untrapped (the policy has no [[bind]] rule
	// that binds): every trapped call is a window in which a signal
	// handler without SA_RESTART makes it fail with EINTR before the
	// supervisor has seen it, and bind never does so by itself.
	SkipBind bool
	// Sendto is which sendto(2) calls with an INET address length are
	// trapped: every one by default.
	Sendto SendtoTrap
}

// SendtoTrap chooses the sendto(2) calls the filter traps.
type SendtoTrap uint8

const (
	SendtoAll      SendtoTrap = iota // a rule can match UDP
	SendtoFastOpen                   // TCP rules only: sendto(MSG_FASTOPEN) connects
	SendtoNone                       // no connect rule binds
)

// Filter is a compiled seccomp BPF program that sends bind(2) and connect(2)
// with an address length an INET address can have (16 to 128 bytes) to a
// user-space listener, refuses the ioctls that type into a terminal, and
// allows the rest. internal/launch compiles it with libseccomp: that is
// vipa-exec's one cgo dependency, and it stays out of this package so that
// the supervisor's side builds and tests without it.
type Filter struct {
	prog []unix.SockFilter
}

// NewFilter takes a classic BPF program as the kernel reads it (an array of
// struct sock_filter in host byte order, as libseccomp exports it).
func NewFilter(raw []byte) (*Filter, error) {
	const insn = unix.SizeofSockFilter
	if len(raw) == 0 || len(raw)%insn != 0 || len(raw)/insn > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("seccomp filter: %d bytes is not a BPF program of 1 to %d instructions", len(raw), unix.BPF_MAXINSNS)
	}
	prog := make([]unix.SockFilter, len(raw)/insn)
	for i := range prog {
		b := raw[i*insn:]
		prog[i] = unix.SockFilter{
			Code: binary.NativeEndian.Uint16(b[0:2]),
			Jt:   b[2],
			Jf:   b[3],
			K:    binary.NativeEndian.Uint32(b[4:8]),
		}
	}
	return &Filter{prog: prog}, nil
}

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
		case errno == unix.EBUSY:
			// NEW_LISTENER: a filter with a listener is on this process
			// already, and the kernel allows one.
			return nil, ErrNested
		case errno == unix.EACCES && !noNewPrivs:
			return nil, fmt.Errorf("load seccomp filter without no_new_privs (needs CAP_SYS_ADMIN): %w", errno)
		default:
			return nil, fmt.Errorf("load seccomp filter: %w", errno)
		}
	}
	return newListener(int(fd)), nil
}

// ErrNested is the error of a filter load in a process that already runs
// under a vipa-exec supervisor (or any other seccomp listener).
var ErrNested = errors.New("this process already runs under vipa-exec (or another seccomp supervisor), and the kernel allows only one per process: " +
	"PROGRAM's connections already follow that outer vipa-exec's policy; run PROGRAM without vipa-exec here, or give the outer vipa-exec the policy PROGRAM needs")

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
