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

// trappedLens are the address lengths that are trapped, as masked-equal
// tests on socklen_t: 16..31, 32..63, 64..127 and 128. The kernel copies
// any length up to sizeof(struct sockaddr_storage) = 128
// (move_addr_to_kernel), and inet accepts anything from 16 bytes
// (sizeof(struct sockaddr_in)) and inet6 from 24 (SIN6_LEN_RFC2133), so
// sizeof(struct sockaddr_storage) carries an INET address as well as the
// exact sizes do. Shorter lengths (netlink's 12, AF_UNIX's shortest) and
// longer ones (which the kernel refuses with EINVAL) never leave the kernel;
// AF_UNIX addresses of 16 to 110 bytes come to the supervisor, which lets
// them go on after reading their family.
var trappedLens = []struct{ mask, value uint64 }{
	{0xfffffff0, 16},
	{0xffffffe0, 32},
	{0xffffffc0, 64},
	{0xffffffff, 128},
}

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
// allows the rest.
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
		on     bool
	}{{"connect", 2, true}, {"bind", 2, !opts.SkipBind}, {"sendto", 5, opts.Sendto != SendtoNone}} {
		if !t.on {
			continue
		}
		nr, err := seccomp.GetSyscallFromName(t.name)
		if err != nil {
			return nil, err
		}
		var also []seccomp.ScmpCondition
		if t.name == "sendto" && opts.Sendto == SendtoFastOpen {
			// flags is an int: the mask leaves the upper half out.
			c, err := seccomp.MakeCondition(3, seccomp.CompareMaskedEqual, unix.MSG_FASTOPEN, unix.MSG_FASTOPEN)
			if err != nil {
				return nil, err
			}
			also = append(also, c)
		}
		for _, n := range trappedLens {
			// socklen_t is 32 bits: every mask leaves out the upper half, as
			// the kernel reads only the lower, so junk there cannot slip past.
			c, err := seccomp.MakeCondition(t.lenArg, seccomp.CompareMaskedEqual, n.mask, n.value)
			if err != nil {
				return nil, err
			}
			if err := f.AddRuleConditional(nr, seccomp.ActNotify, append([]seccomp.ScmpCondition{c}, also...)); err != nil {
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
			// socketcall's flags are out of sight: SendtoFastOpen traps every
			// socketcall(SYS_SENDTO).
			if (op == OpSendmsg || op == OpSendmmsg) && !opts.TrapSendmsg ||
				op == OpBind && opts.SkipBind || op == OpSendto && opts.Sendto == SendtoNone {
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
		for _, name := range []string{"sendmsg", "sendmmsg"} {
			if err := addByName(f, name, seccomp.ActNotify); err != nil {
				return nil, err
			}
		}
	}
	if err := denyTerminalInjection(f); err != nil {
		return nil, err
	}
	ok = true
	return f, nil
}

// terminalInjection are the ioctls that push input into a terminal, as if
// typed there: TIOCSTI one character, TIOCLINUX (TIOCL_SETSEL and
// TIOCL_PASTESEL) a virtual console's selection. With either, a program that
// -u made nobody, or that dropped privileges itself, could make the shell
// that started vipa-exec run commands as root once it exits (CVE-2016-2779,
// su and runuser). Flatpak's filter refuses the same two. The values
// are those of asm-generic/ioctls.h, which every ABI of x86_64 and arm64
// shares.
var terminalInjection = []uint64{unix.TIOCSTI, unix.TIOCLINUX}

// denyTerminalInjection makes the terminalInjection ioctls fail with EPERM,
// on any descriptor, whatever the program's credentials: the filter cannot
// tell whether a descriptor is a terminal, and a program can reach its
// controlling terminal through /dev/tty even when none is on 0-2.
func denyTerminalInjection(f *seccomp.ScmpFilter) error {
	nr, err := seccomp.GetSyscallFromName("ioctl")
	if err != nil {
		return fmt.Errorf("resolve syscall ioctl: %w", err)
	}
	for _, req := range terminalInjection {
		// The kernel takes the request as an unsigned int: compare the low
		// 32 bits only, or high bits would step around the rule
		// (CVE-2019-10063, flatpak).
		c, err := seccomp.MakeCondition(1, seccomp.CompareMaskedEqual, 0xffffffff, req)
		if err != nil {
			return err
		}
		if err := f.AddRuleConditional(nr, seccomp.ActErrno.SetReturnCode(int16(unix.EPERM)), []seccomp.ScmpCondition{c}); err != nil {
			return fmt.Errorf("rule for ioctl(%#x): %w", req, err)
		}
	}
	return nil
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
