//go:build linux && cgo

package launch

import (
	"encoding/binary"
	"fmt"
	"testing"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/notify"
)

// seccompData encodes a struct seccomp_data for the x/net/bpf VM. The kernel
// loads seccomp words in host byte order while the VM reads them big-endian,
// so each 32-bit word is written big-endian at its host offset.
func seccompData(arch uint32, nr int32, args ...uint64) []byte {
	b := make([]byte, 64)
	be := binary.BigEndian
	be.PutUint32(b[0:], uint32(nr))
	be.PutUint32(b[4:], arch)
	for i, a := range args {
		off := 16 + 8*i
		lo, hi := uint32(a), uint32(a>>32)
		if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 { // little-endian host: low word first
			be.PutUint32(b[off:], lo)
			be.PutUint32(b[off+4:], hi)
		} else {
			be.PutUint32(b[off:], hi)
			be.PutUint32(b[off+4:], lo)
		}
	}
	return b
}

// filterVM compiles the filter of an x86_64 kernel's ABIs, whatever the
// machine running the test, and loads it into the x/net/bpf VM.
func filterVM(t *testing.T, opts notify.FilterOptions) *bpf.VM {
	t.Helper()
	return programVM(t, compile(t, notify.ABIsAMD64, opts))
}

// compile compiles the filter of abis, and checks that notify takes it.
func compile(t *testing.T, abis []notify.ABI, opts notify.FilterOptions) []byte {
	t.Helper()
	raw, err := compileFilter(abis, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := notify.NewFilter(raw); err != nil {
		t.Fatal(err)
	}
	return raw
}

// programVM loads the program raw, struct sock_filter in host byte order,
// into the x/net/bpf VM.
func programVM(t *testing.T, raw []byte) *bpf.VM {
	t.Helper()
	insns := make([]bpf.RawInstruction, len(raw)/unix.SizeofSockFilter)
	for i := range insns {
		b := raw[i*unix.SizeofSockFilter:]
		insns[i] = bpf.RawInstruction{Op: binary.NativeEndian.Uint16(b), Jt: b[2], Jf: b[3], K: binary.NativeEndian.Uint32(b[4:])}
	}
	dis, ok := bpf.Disassemble(insns)
	if !ok {
		t.Fatalf("the filter has instructions x/net/bpf cannot disassemble")
	}
	vm, err := bpf.NewVM(dis)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

type filterCase struct {
	name string
	arch uint32
	nr   int32
	args []uint64
	want uint32
}

func runFilterCases(t *testing.T, vm *bpf.VM, tests []filterCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := vm.Run(seccompData(tt.arch, tt.nr, tt.args...))
			if err != nil {
				t.Fatal(err)
			}
			if uint32(got)&unix.SECCOMP_RET_ACTION_FULL != tt.want {
				t.Errorf("action: want %#x, got %#x", tt.want, uint32(got))
			}
		})
	}
}

// native is x86_64, the filterVM's; numbers below are x86_64's.
const native = unix.AUDIT_ARCH_X86_64

// TestNewFilter compiles the filter of the machine running the test.
func TestNewFilter(t *testing.T) {
	for _, opts := range []notify.FilterOptions{{}, {TrapSendmsg: true, AllowIOUring: true}} {
		if _, err := newFilter(opts); err != nil {
			t.Errorf("newFilter(%+v): %v", opts, err)
		}
	}
}

func TestFilterProgram(t *testing.T) {
	vm := filterVM(t, notify.FilterOptions{})
	runFilterCases(t, vm, []filterCase{
		{"connect sockaddr_in", native, 42, []uint64{3, 0x1000, 16}, unix.SECCOMP_RET_USER_NOTIF},
		{"connect sockaddr_in6", native, 42, []uint64{3, 0x1000, 28}, unix.SECCOMP_RET_USER_NOTIF},
		{"bind sockaddr_in", native, 49, []uint64{3, 0x1000, 16}, unix.SECCOMP_RET_USER_NOTIF},
		{"bind sockaddr_in6", native, 49, []uint64{3, 0x1000, 28}, unix.SECCOMP_RET_USER_NOTIF},
		{"connect short sockaddr_un", native, 42, []uint64{3, 0x1000, 13}, unix.SECCOMP_RET_ALLOW},
		{"bind sockaddr_nl", native, 49, []uint64{3, 0x1000, 12}, unix.SECCOMP_RET_ALLOW},
		// The kernel reads addrlen as a 32-bit int: junk above it must not
		// hide an INET address from the filter.
		{"connect junk high bits", native, 42, []uint64{3, 0x1000, 1<<32 | 16}, unix.SECCOMP_RET_USER_NOTIF},
		{"getpid", native, 39, nil, unix.SECCOMP_RET_ALLOW},
		{"sendto sockaddr_in", native, 44, []uint64{3, 0, 0, 0, 0x1000, 16}, unix.SECCOMP_RET_USER_NOTIF},
		{"sendto sockaddr_in6", native, 44, []uint64{3, 0, 0, 0, 0x1000, 28}, unix.SECCOMP_RET_USER_NOTIF},
		{"sendto without address", native, 44, []uint64{3, 0x2000, 10, 0, 0, 0}, unix.SECCOMP_RET_ALLOW},
		{"sendto short sockaddr_un", native, 44, []uint64{3, 0, 0, 0, 0x1000, 13}, unix.SECCOMP_RET_ALLOW},
		{"sendmsg not trapped by default", native, 46, []uint64{3, 0x1000, 0}, unix.SECCOMP_RET_ALLOW},
		{"sendmmsg not trapped by default", native, 307, []uint64{3, 0x1000, 2, 0}, unix.SECCOMP_RET_ALLOW},
		{"io_uring_setup fails by default", native, 425, []uint64{8, 0x1000}, unix.SECCOMP_RET_ERRNO},
		{"i386 connect", unix.AUDIT_ARCH_I386, 362, []uint64{3, 0x1000, 16}, unix.SECCOMP_RET_USER_NOTIF},
		{"i386 bind in6", unix.AUDIT_ARCH_I386, 361, []uint64{3, 0x1000, 28}, unix.SECCOMP_RET_USER_NOTIF},
		{"i386 sendto", unix.AUDIT_ARCH_I386, 369, []uint64{3, 0, 0, 0, 0x1000, 16}, unix.SECCOMP_RET_USER_NOTIF},
		{"i386 connect short sockaddr_un", unix.AUDIT_ARCH_I386, 362, []uint64{3, 0x1000, 13}, unix.SECCOMP_RET_ALLOW},
		// socketcall's arguments are in memory: trapped whatever they are.
		{"i386 socketcall(SYS_CONNECT)", unix.AUDIT_ARCH_I386, 102, []uint64{3, 0x1000}, unix.SECCOMP_RET_USER_NOTIF},
		{"i386 socketcall(SYS_BIND)", unix.AUDIT_ARCH_I386, 102, []uint64{2, 0x1000}, unix.SECCOMP_RET_USER_NOTIF},
		{"i386 socketcall(SYS_SENDTO)", unix.AUDIT_ARCH_I386, 102, []uint64{11, 0x1000}, unix.SECCOMP_RET_USER_NOTIF},
		{"i386 socketcall(SYS_SOCKET)", unix.AUDIT_ARCH_I386, 102, []uint64{1, 0x1000}, unix.SECCOMP_RET_ALLOW},
		{"i386 socketcall(SYS_SENDMSG) not by default", unix.AUDIT_ARCH_I386, 102, []uint64{16, 0x1000}, unix.SECCOMP_RET_ALLOW},
		{"i386 socketcall(SYS_SENDMMSG) not by default", unix.AUDIT_ARCH_I386, 102, []uint64{20, 0x1000}, unix.SECCOMP_RET_ALLOW},
		{"i386 getpid", unix.AUDIT_ARCH_I386, 20, nil, unix.SECCOMP_RET_ALLOW},
		{"i386 io_uring_setup", unix.AUDIT_ARCH_I386, 425, []uint64{8, 0x1000}, unix.SECCOMP_RET_ERRNO},
		{"x32 connect", native, 0x40000000 | 42, []uint64{3, 0x1000, 16}, unix.SECCOMP_RET_USER_NOTIF},
		{"x32 bind", native, 0x40000000 | 49, []uint64{3, 0x1000, 28}, unix.SECCOMP_RET_USER_NOTIF},
		{"x32 getpid", native, 0x40000000 | 39, nil, unix.SECCOMP_RET_ALLOW},
		{"an ABI the filter does not cover", unix.AUDIT_ARCH_AARCH64, 203, []uint64{3, 0x1000, 16}, unix.SECCOMP_RET_KILL_PROCESS},
	})
}

// TestFilterLengths: every address length that can carry an INET address,
// 16 to 128 (sizeof(struct sockaddr_storage)), is trapped on every call and
// ABI; shorter and longer ones, and lengths whose lower 32 bits are out of
// range whatever the upper ones say, are not.
func TestFilterLengths(t *testing.T) {
	const arm64, arm, i386 = unix.AUDIT_ARCH_AARCH64, unix.AUDIT_ARCH_ARM, unix.AUDIT_ARCH_I386
	calls := []struct {
		name   string
		abis   []notify.ABI
		arch   uint32
		nr     int32
		lenArg int
	}{
		{"x86_64 connect", notify.ABIsAMD64, native, 42, 2},
		{"x86_64 bind", notify.ABIsAMD64, native, 49, 2},
		{"x86_64 sendto", notify.ABIsAMD64, native, 44, 5},
		{"i386 connect", notify.ABIsAMD64, i386, 362, 2},
		{"i386 bind", notify.ABIsAMD64, i386, 361, 2},
		{"i386 sendto", notify.ABIsAMD64, i386, 369, 5},
		{"x32 connect", notify.ABIsAMD64, native, notify.X32Bit | 42, 2},
		{"x32 bind", notify.ABIsAMD64, native, notify.X32Bit | 49, 2},
		{"x32 sendto", notify.ABIsAMD64, native, notify.X32Bit | 44, 5},
		{"arm64 connect", notify.ABIsARM64, arm64, 203, 2},
		{"arm64 bind", notify.ABIsARM64, arm64, 200, 2},
		{"arm64 sendto", notify.ABIsARM64, arm64, 206, 5},
		{"arm connect", notify.ABIsARM64, arm, 283, 2},
		{"arm bind", notify.ABIsARM64, arm, 282, 2},
		{"arm sendto", notify.ABIsARM64, arm, 290, 5},
	}
	trapped := []uint64{16, 17, 24, 28, 31, 32, 63, 64, 110, 127, 128,
		1<<32 | 16, 0xffffffff_00000080, 0xdead_beef_0000_0018}
	allowed := []uint64{0, 2, 12, 15, 129, 255, 256, 0xffffffff, 1 << 32, 1<<32 | 15, 1<<32 | 129}
	vms := map[string]*bpf.VM{}
	for _, c := range calls {
		key := c.abis[0].Arch
		if vms[key] == nil {
			vms[key] = programVM(t, compile(t, c.abis, notify.FilterOptions{}))
		}
		var cases []filterCase
		for _, want := range []struct {
			lens   []uint64
			action uint32
		}{{trapped, unix.SECCOMP_RET_USER_NOTIF}, {allowed, unix.SECCOMP_RET_ALLOW}} {
			for _, n := range want.lens {
				args := []uint64{3, 0x1000, 0, 0, 0, 0}
				args[c.lenArg] = n
				cases = append(cases, filterCase{fmt.Sprintf("%s len %#x", c.name, n), c.arch, c.nr, args, want.action})
			}
		}
		runFilterCases(t, vms[key], cases)
	}
}

func TestFilterTrapSendmsg(t *testing.T) {
	vm := filterVM(t, notify.FilterOptions{TrapSendmsg: true})
	runFilterCases(t, vm, []filterCase{
		{"sendmsg", native, 46, []uint64{3, 0x1000, 0}, unix.SECCOMP_RET_USER_NOTIF},
		{"connect still trapped", native, 42, []uint64{3, 0x1000, 16}, unix.SECCOMP_RET_USER_NOTIF},
		{"getpid still allowed", native, 39, nil, unix.SECCOMP_RET_ALLOW},
		{"i386 sendmsg", unix.AUDIT_ARCH_I386, 370, []uint64{3, 0x1000, 0}, unix.SECCOMP_RET_USER_NOTIF},
		{"i386 socketcall(SYS_SENDMSG)", unix.AUDIT_ARCH_I386, 102, []uint64{16, 0x1000}, unix.SECCOMP_RET_USER_NOTIF},
		{"x32 sendmsg", native, 0x40000000 | 518, []uint64{3, 0x1000, 0}, unix.SECCOMP_RET_USER_NOTIF},
		{"sendmmsg", native, 307, []uint64{3, 0x1000, 2, 0}, unix.SECCOMP_RET_USER_NOTIF},
		{"i386 sendmmsg", unix.AUDIT_ARCH_I386, 345, []uint64{3, 0x1000, 2, 0}, unix.SECCOMP_RET_USER_NOTIF},
		{"i386 socketcall(SYS_SENDMMSG)", unix.AUDIT_ARCH_I386, 102, []uint64{20, 0x1000}, unix.SECCOMP_RET_USER_NOTIF},
		{"x32 sendmmsg", native, 0x40000000 | 538, []uint64{3, 0x1000, 2, 0}, unix.SECCOMP_RET_USER_NOTIF},
		{"i386 socketcall(SYS_RECVMMSG)", unix.AUDIT_ARCH_I386, 102, []uint64{19, 0x1000}, unix.SECCOMP_RET_ALLOW},
	})
}

// TestFilterTrapsFromPolicy: bind and sendto are trapped only as far as
// the policy needs them, on every ABI; connect always is.
func TestFilterTrapsFromPolicy(t *testing.T) {
	const i386, arm64 = unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_AARCH64
	const fastOpen, noSignal = unix.MSG_FASTOPEN, unix.MSG_NOSIGNAL
	notif, allow := uint32(unix.SECCOMP_RET_USER_NOTIF), uint32(unix.SECCOMP_RET_ALLOW)
	t.Run("no bind, no sendto", func(t *testing.T) {
		opts := notify.FilterOptions{SkipBind: true, Sendto: notify.SendtoNone}
		runFilterCases(t, filterVM(t, opts), []filterCase{
			{"connect", native, 42, []uint64{3, 0x1000, 16}, notif},
			{"bind", native, 49, []uint64{3, 0x1000, 16}, allow},
			{"sendto", native, 44, []uint64{3, 0, 0, 0, 0x1000, 16}, allow},
			{"sendto MSG_FASTOPEN", native, 44, []uint64{3, 0, 0, fastOpen, 0x1000, 16}, allow},
			{"i386 connect", i386, 362, []uint64{3, 0x1000, 16}, notif},
			{"i386 bind", i386, 361, []uint64{3, 0x1000, 16}, allow},
			{"i386 sendto", i386, 369, []uint64{3, 0, 0, 0, 0x1000, 16}, allow},
			{"i386 socketcall(SYS_CONNECT)", i386, 102, []uint64{3, 0x1000}, notif},
			{"i386 socketcall(SYS_BIND)", i386, 102, []uint64{2, 0x1000}, allow},
			{"i386 socketcall(SYS_SENDTO)", i386, 102, []uint64{11, 0x1000}, allow},
			{"x32 bind", native, notify.X32Bit | 49, []uint64{3, 0x1000, 28}, allow},
			{"x32 connect", native, notify.X32Bit | 42, []uint64{3, 0x1000, 28}, notif},
		})
		runFilterCases(t, programVM(t, compile(t, notify.ABIsARM64, opts)), []filterCase{
			{"arm64 connect", arm64, 203, []uint64{3, 0x1000, 16}, notif},
			{"arm64 bind", arm64, 200, []uint64{3, 0x1000, 16}, allow},
			{"arm64 sendto", arm64, 206, []uint64{3, 0, 0, 0, 0x1000, 16}, allow},
		})
	})
	t.Run("TCP Fast Open only", func(t *testing.T) {
		runFilterCases(t, filterVM(t, notify.FilterOptions{Sendto: notify.SendtoFastOpen}), []filterCase{
			{"bind", native, 49, []uint64{3, 0x1000, 16}, notif},
			{"sendto", native, 44, []uint64{3, 0, 0, 0, 0x1000, 16}, allow},
			{"sendto MSG_FASTOPEN", native, 44, []uint64{3, 0, 0, fastOpen, 0x1000, 16}, notif},
			{"sendto MSG_FASTOPEN|MSG_NOSIGNAL len 128", native, 44, []uint64{3, 0, 0, fastOpen | noSignal, 0x1000, 128}, notif},
			{"sendto MSG_FASTOPEN only in the upper half", native, 44, []uint64{3, 0, 0, fastOpen << 32, 0x1000, 16}, allow},
			{"sendto MSG_FASTOPEN, AF_UNIX length", native, 44, []uint64{3, 0, 0, fastOpen, 0x1000, 13}, allow},
			{"i386 sendto", i386, 369, []uint64{3, 0, 0, 0, 0x1000, 16}, allow},
			{"i386 sendto MSG_FASTOPEN", i386, 369, []uint64{3, 0, 0, fastOpen, 0x1000, 28}, notif},
			{"i386 socketcall(SYS_SENDTO): flags out of sight", i386, 102, []uint64{11, 0x1000}, notif},
			{"x32 sendto MSG_FASTOPEN", native, notify.X32Bit | 44, []uint64{3, 0, 0, fastOpen, 0x1000, 16}, notif},
			{"x32 sendto", native, notify.X32Bit | 44, []uint64{3, 0, 0, 0, 0x1000, 16}, allow},
		})
	})
}

func TestFilterAllowIOUring(t *testing.T) {
	vm := filterVM(t, notify.FilterOptions{AllowIOUring: true})
	runFilterCases(t, vm, []filterCase{
		{"io_uring_setup", native, 425, []uint64{8, 0x1000}, unix.SECCOMP_RET_ALLOW},
	})
}

// TestFilterIOUringErrno checks the errno io_uring_setup gets by default.
func TestFilterIOUringErrno(t *testing.T) {
	vm := filterVM(t, notify.FilterOptions{})
	got, err := vm.Run(seccompData(native, 425, 8, 0x1000))
	if err != nil {
		t.Fatal(err)
	}
	if ret := uint32(got); ret != unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS) {
		t.Errorf("io_uring_setup: want SECCOMP_RET_ERRNO|ENOSYS (%#x), got %#x", unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS), ret)
	}
}

// TestFilterTerminalInjection: TIOCSTI and TIOCLINUX fail with EPERM in
// every ABI, whatever the options, also with junk in the request's upper
// half (the kernel reads 32 bits); other ioctls run.
func TestFilterTerminalInjection(t *testing.T) {
	const (
		arm64, arm = unix.AUDIT_ARCH_AARCH64, unix.AUDIT_ARCH_ARM
		eperm      = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
		allow      = unix.SECCOMP_RET_ALLOW
		high       = 0xdead << 32
	)
	ioctls := []struct {
		abi  string
		arch uint32
		nr   int32
	}{
		{"x86_64", native, 16},
		{"i386", unix.AUDIT_ARCH_I386, 54},
		{"x32", native, notify.X32Bit | 514},
		{"arm64", arm64, 29},
		{"arm", arm, 54},
	}
	requests := []struct {
		name string
		req  uint64
		want uint32
	}{
		{"TIOCSTI", unix.TIOCSTI, eperm},
		{"TIOCSTI high bits", high | unix.TIOCSTI, eperm},
		{"TIOCSTI bit 32", 1<<32 | unix.TIOCSTI, eperm},
		{"TIOCLINUX", unix.TIOCLINUX, eperm},
		{"TIOCLINUX high bits", high | unix.TIOCLINUX, eperm},
		{"TIOCGWINSZ", unix.TIOCGWINSZ, allow},
		{"TIOCSPGRP", unix.TIOCSPGRP, allow},
		{"TIOCINQ", unix.TIOCINQ, allow},
		{"TIOCSTI in the upper half only", unix.TIOCSTI << 32, allow},
	}
	for _, opts := range []notify.FilterOptions{{}, {TrapSendmsg: true, AllowIOUring: true}} {
		vms := map[uint32]*bpf.VM{native: filterVM(t, opts), unix.AUDIT_ARCH_I386: filterVM(t, opts)}
		vms[arm64] = programVM(t, compile(t, notify.ABIsARM64, opts))
		vms[arm] = vms[arm64]
		for _, io := range ioctls {
			for _, r := range requests {
				t.Run(fmt.Sprintf("%+v/%s/%s", opts, io.abi, r.name), func(t *testing.T) {
					got, err := vms[io.arch].Run(seccompData(io.arch, io.nr, 0, r.req, 0x1000))
					if err != nil {
						t.Fatal(err)
					}
					if uint32(got) != r.want {
						t.Errorf("ioctl(0, %#x): want %#x, got %#x", r.req, r.want, uint32(got))
					}
				})
			}
		}
	}
}

// TestFilterProgramARM64 compiles the filter of an arm64 kernel, whatever
// the machine running the test: libseccomp builds filters for any
// architecture.
func TestFilterProgramARM64(t *testing.T) {
	const arm64, arm = unix.AUDIT_ARCH_AARCH64, unix.AUDIT_ARCH_ARM
	for _, opts := range []notify.FilterOptions{{}, {TrapSendmsg: true, AllowIOUring: true}} {
		raw := compile(t, notify.ABIsARM64, opts)
		sendmsg, ioUring := uint32(unix.SECCOMP_RET_ALLOW), uint32(unix.SECCOMP_RET_ERRNO)
		if opts.TrapSendmsg {
			sendmsg, ioUring = unix.SECCOMP_RET_USER_NOTIF, unix.SECCOMP_RET_ALLOW
		}
		t.Run(fmt.Sprintf("%+v", opts), func(t *testing.T) {
			runFilterCases(t, programVM(t, raw), []filterCase{
				{"arm64 connect", arm64, 203, []uint64{3, 0x1000, 16}, unix.SECCOMP_RET_USER_NOTIF},
				{"arm64 bind in6", arm64, 200, []uint64{3, 0x1000, 28}, unix.SECCOMP_RET_USER_NOTIF},
				{"arm64 sendto", arm64, 206, []uint64{3, 0, 0, 0, 0x1000, 16}, unix.SECCOMP_RET_USER_NOTIF},
				{"arm64 connect short sockaddr_un", arm64, 203, []uint64{3, 0x1000, 13}, unix.SECCOMP_RET_ALLOW},
				{"arm64 getpid", arm64, 172, nil, unix.SECCOMP_RET_ALLOW},
				{"arm64 sendmsg", arm64, 211, []uint64{3, 0x1000, 0}, sendmsg},
				{"arm64 sendmmsg", arm64, 269, []uint64{3, 0x1000, 2, 0}, sendmsg},
				{"arm64 io_uring_setup", arm64, 425, []uint64{8, 0x1000}, ioUring},
				{"arm connect", arm, 283, []uint64{3, 0x1000, 16}, unix.SECCOMP_RET_USER_NOTIF},
				{"arm bind", arm, 282, []uint64{3, 0x1000, 16}, unix.SECCOMP_RET_USER_NOTIF},
				{"arm sendto in6", arm, 290, []uint64{3, 0, 0, 0, 0x1000, 28}, unix.SECCOMP_RET_USER_NOTIF},
				{"arm connect junk high bits", arm, 283, []uint64{3, 0x1000, 1<<32 | 16}, unix.SECCOMP_RET_USER_NOTIF},
				{"arm bind sockaddr_nl", arm, 282, []uint64{3, 0x1000, 12}, unix.SECCOMP_RET_ALLOW},
				{"arm getpid", arm, 20, nil, unix.SECCOMP_RET_ALLOW},
				{"arm sendmsg", arm, 296, []uint64{3, 0x1000, 0}, sendmsg},
				{"arm sendmmsg", arm, 374, []uint64{3, 0x1000, 2, 0}, sendmsg},
				{"arm io_uring_setup", arm, 425, []uint64{8, 0x1000}, ioUring},
				{"x86_64 on arm64: not covered", unix.AUDIT_ARCH_X86_64, 42, []uint64{3, 0x1000, 16}, unix.SECCOMP_RET_KILL_PROCESS},
			})
		})
	}
}

// TestABITables checks every table's numbers against libseccomp's system
// call tables.
func TestABITables(t *testing.T) {
	names := map[notify.Op]string{notify.OpConnect: "connect", notify.OpBind: "bind", notify.OpSendto: "sendto"}
	for goarch, table := range map[string][]notify.ABI{"amd64": notify.ABIsAMD64, "arm64": notify.ABIsARM64} {
		for _, a := range table {
			arch, err := scmpArch(a.Arch)
			if err != nil {
				t.Fatal(err)
			}
			check := func(want string, nr int32) {
				// By number: libseccomp answers a name lookup of i386's
				// socket calls with socketcall's pseudo numbers.
				got, err := seccomp.ScmpSyscall(nr).GetNameByArch(arch)
				if err != nil || got != want {
					t.Errorf("%s %v: %d is %s, libseccomp says %q (%v)", goarch, arch, nr, want, got, err)
				}
			}
			for nr, op := range a.Calls {
				check(names[op], nr)
			}
			if len(a.Calls) != len(names) {
				t.Errorf("%s %v: %d trapped calls, want %d", goarch, arch, len(a.Calls), len(names))
			}
			check("sendmsg", a.Sendmsg)
			check("sendmmsg", a.Sendmmsg)
			if a.Socketcall >= 0 {
				check("socketcall", a.Socketcall)
			}
		}
	}
}
