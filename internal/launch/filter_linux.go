//go:build linux && cgo

package launch

import (
	"fmt"
	"io"
	"os"
	"runtime"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/notify"
)

// The filter is compiled here, in the launcher, with libseccomp: the one
// cgo dependency stays in the one package that has C already, and
// internal/notify (the supervisor's side) builds without cgo. The ABI
// tables it compiles from are notify's, the ones the supervisor decodes
// with.

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

// newFilter compiles the filter with libseccomp for every ABI the kernel
// runs programs in (on x86_64: 64-bit, i386 and x32). A syscall made through
// any other ABI kills the process: an ABI the filter does not cover must not
// run unfiltered.
func newFilter(opts notify.FilterOptions) (*notify.Filter, error) {
	raw, err := compileFilter(notify.ABIs, opts)
	if err != nil {
		return nil, err
	}
	return notify.NewFilter(raw)
}

// compileFilter compiles the filter for the ABIs abis and returns the
// program as libseccomp exports it.
func compileFilter(abis []notify.ABI, opts notify.FilterOptions) ([]byte, error) {
	return compileABIs(abis, func(arch seccomp.ScmpArch, socketcall bool) (*seccomp.ScmpFilter, error) {
		return abiFilter(arch, socketcall, opts)
	})
}

// compileABIs merges the filters forABI makes for each of abis into one
// and returns the program as libseccomp exports it.
func compileABIs(abis []notify.ABI, forABI func(arch seccomp.ScmpArch, socketcall bool) (*seccomp.ScmpFilter, error)) ([]byte, error) {
	var f *seccomp.ScmpFilter
	for i := range abis {
		if abis[i].AuditArch == 0 {
			return nil, fmt.Errorf("vipa-exec does not support %s: no system call table for it", runtime.GOARCH)
		}
		arch, err := scmpArch(abis[i].Arch)
		if err != nil {
			return nil, err
		}
		af, err := forABI(arch, abis[i].Socketcall >= 0)
		if err != nil {
			return nil, fmt.Errorf("seccomp filter for %s: %w", arch, err)
		}
		if f == nil {
			f = af
			continue
		}
		if err := f.Merge(af); err != nil {
			af.Release()
			f.Release()
			return nil, fmt.Errorf("seccomp filter for %s: merge: %w", arch, err)
		}
	}
	if f == nil {
		return nil, fmt.Errorf("vipa-exec does not support %s: no system call table for it", runtime.GOARCH)
	}
	defer f.Release()
	raw, err := exportBPF(f)
	if err != nil {
		return nil, fmt.Errorf("export seccomp filter: %w", err)
	}
	return raw, nil
}

// scmpArch is libseccomp's architecture of the name an ABI table gives.
func scmpArch(name string) (seccomp.ScmpArch, error) {
	if name == "" {
		return seccomp.ArchNative, nil
	}
	arch, err := seccomp.GetArchFromString(name)
	if err != nil {
		return seccomp.ArchInvalid, fmt.Errorf("seccomp filter for %s: %w", name, err)
	}
	return arch, nil
}

// abiFilter is the filter of one ABI. Given "connect" on i386, libseccomp
// adds the direct syscall and also socketcall(SYS_CONNECT), but tests
// socketcall's third argument as if it were the address length, which it is
// not: the exact socketcall rules below trap those calls whatever their
// arguments, and the supervisor reads the real ones from memory.
// socketcall says the ABI has socketcall(2).
func abiFilter(arch seccomp.ScmpArch, socketcall bool, opts notify.FilterOptions) (*seccomp.ScmpFilter, error) {
	f, err := archFilter(arch)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			f.Release()
		}
	}()
	// Rules name syscalls in the native numbering; libseccomp translates
	// them to the ABI's own.
	for _, t := range []struct {
		name   string
		lenArg uint
		on     bool
	}{{"connect", 2, true}, {"bind", 2, !opts.SkipBind}, {"sendto", 5, opts.Sendto != notify.SendtoNone}} {
		if !t.on {
			continue
		}
		nr, err := seccomp.GetSyscallFromName(t.name)
		if err != nil {
			return nil, err
		}
		var also []seccomp.ScmpCondition
		if t.name == "sendto" && opts.Sendto == notify.SendtoFastOpen {
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
	if socketcall {
		// Rules take the native numbering even when exact; socketcall has
		// none on x86_64, and libseccomp's pseudo number maps to i386's 102.
		sc, err := seccomp.GetSyscallFromName("socketcall")
		if err != nil {
			return nil, err
		}
		for call, op := range notify.SocketcallOps {
			// socketcall's flags are out of sight: SendtoFastOpen traps every
			// socketcall(SYS_SENDTO).
			if (op == notify.OpSendmsg || op == notify.OpSendmmsg) && !opts.TrapSendmsg ||
				op == notify.OpBind && opts.SkipBind || op == notify.OpSendto && opts.Sendto == notify.SendtoNone {
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

// archFilter is an empty filter (everything allowed) for the ABI arch
// alone, which kills a process that calls through another.
func archFilter(arch seccomp.ScmpArch) (*seccomp.ScmpFilter, error) {
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
	if arch != native && arch != seccomp.ArchNative {
		if err := f.AddArch(arch); err != nil {
			return nil, fmt.Errorf("add arch: %w", err)
		}
		if err := f.RemoveArch(native); err != nil {
			return nil, fmt.Errorf("remove native arch: %w", err)
		}
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
	defer func() { _ = file.Close() }()
	if err := f.ExportBPF(file); err != nil {
		return nil, err
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(file)
}
