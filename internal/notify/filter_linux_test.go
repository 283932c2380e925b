//go:build linux

package notify

import (
	"encoding/binary"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
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

// filterVM compiles the filter and loads it into the x/net/bpf VM.
func filterVM(t *testing.T, opts FilterOptions) *bpf.VM {
	t.Helper()
	f, err := NewFilter(opts)
	if err != nil {
		t.Fatal(err)
	}
	insns := make([]bpf.RawInstruction, len(f.Program()))
	for i, in := range f.Program() {
		insns[i] = bpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
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

const native = unix.AUDIT_ARCH_X86_64

func TestFilterProgram(t *testing.T) {
	vm := filterVM(t, FilterOptions{})
	runFilterCases(t, vm, []filterCase{
		{"connect sockaddr_in", native, unix.SYS_CONNECT, []uint64{3, 0x1000, 16}, unix.SECCOMP_RET_USER_NOTIF},
		{"connect sockaddr_in6", native, unix.SYS_CONNECT, []uint64{3, 0x1000, 28}, unix.SECCOMP_RET_USER_NOTIF},
		{"bind sockaddr_in", native, unix.SYS_BIND, []uint64{3, 0x1000, 16}, unix.SECCOMP_RET_USER_NOTIF},
		{"bind sockaddr_in6", native, unix.SYS_BIND, []uint64{3, 0x1000, 28}, unix.SECCOMP_RET_USER_NOTIF},
		{"connect sockaddr_un", native, unix.SYS_CONNECT, []uint64{3, 0x1000, 110}, unix.SECCOMP_RET_ALLOW},
		{"bind sockaddr_nl", native, unix.SYS_BIND, []uint64{3, 0x1000, 12}, unix.SECCOMP_RET_ALLOW},
		// The kernel reads addrlen as a 32-bit int: junk above it must not
		// hide an INET address from the filter.
		{"connect junk high bits", native, unix.SYS_CONNECT, []uint64{3, 0x1000, 1<<32 | 16}, unix.SECCOMP_RET_USER_NOTIF},
		{"getpid", native, unix.SYS_GETPID, nil, unix.SECCOMP_RET_ALLOW},
		{"sendto sockaddr_in", native, unix.SYS_SENDTO, []uint64{3, 0, 0, 0, 0x1000, 16}, unix.SECCOMP_RET_USER_NOTIF},
		{"sendto sockaddr_in6", native, unix.SYS_SENDTO, []uint64{3, 0, 0, 0, 0x1000, 28}, unix.SECCOMP_RET_USER_NOTIF},
		{"sendto without address", native, unix.SYS_SENDTO, []uint64{3, 0x2000, 10, 0, 0, 0}, unix.SECCOMP_RET_ALLOW},
		{"sendto sockaddr_un", native, unix.SYS_SENDTO, []uint64{3, 0, 0, 0, 0x1000, 110}, unix.SECCOMP_RET_ALLOW},
		{"sendmsg not trapped by default", native, unix.SYS_SENDMSG, []uint64{3, 0x1000, 0}, unix.SECCOMP_RET_ALLOW},
		{"io_uring_setup fails by default", native, unix.SYS_IO_URING_SETUP, []uint64{8, 0x1000}, unix.SECCOMP_RET_ERRNO},
		{"i386 connect", unix.AUDIT_ARCH_I386, 362, []uint64{3, 0x1000, 16}, unix.SECCOMP_RET_USER_NOTIF},
		{"i386 bind in6", unix.AUDIT_ARCH_I386, 361, []uint64{3, 0x1000, 28}, unix.SECCOMP_RET_USER_NOTIF},
		{"i386 sendto", unix.AUDIT_ARCH_I386, 369, []uint64{3, 0, 0, 0, 0x1000, 16}, unix.SECCOMP_RET_USER_NOTIF},
		{"i386 connect sockaddr_un", unix.AUDIT_ARCH_I386, 362, []uint64{3, 0x1000, 110}, unix.SECCOMP_RET_ALLOW},
		// socketcall's arguments are in memory: trapped whatever they are.
		{"i386 socketcall(SYS_CONNECT)", unix.AUDIT_ARCH_I386, 102, []uint64{3, 0x1000}, unix.SECCOMP_RET_USER_NOTIF},
		{"i386 socketcall(SYS_BIND)", unix.AUDIT_ARCH_I386, 102, []uint64{2, 0x1000}, unix.SECCOMP_RET_USER_NOTIF},
		{"i386 socketcall(SYS_SENDTO)", unix.AUDIT_ARCH_I386, 102, []uint64{11, 0x1000}, unix.SECCOMP_RET_USER_NOTIF},
		{"i386 socketcall(SYS_SOCKET)", unix.AUDIT_ARCH_I386, 102, []uint64{1, 0x1000}, unix.SECCOMP_RET_ALLOW},
		{"i386 socketcall(SYS_SENDMSG) not by default", unix.AUDIT_ARCH_I386, 102, []uint64{16, 0x1000}, unix.SECCOMP_RET_ALLOW},
		{"i386 getpid", unix.AUDIT_ARCH_I386, 20, nil, unix.SECCOMP_RET_ALLOW},
		{"i386 io_uring_setup", unix.AUDIT_ARCH_I386, 425, []uint64{8, 0x1000}, unix.SECCOMP_RET_ERRNO},
		{"x32 connect", native, 0x40000000 | unix.SYS_CONNECT, []uint64{3, 0x1000, 16}, unix.SECCOMP_RET_USER_NOTIF},
		{"x32 bind", native, 0x40000000 | unix.SYS_BIND, []uint64{3, 0x1000, 28}, unix.SECCOMP_RET_USER_NOTIF},
		{"x32 getpid", native, 0x40000000 | unix.SYS_GETPID, nil, unix.SECCOMP_RET_ALLOW},
		{"an ABI the filter does not cover", unix.AUDIT_ARCH_AARCH64, 203, []uint64{3, 0x1000, 16}, unix.SECCOMP_RET_KILL_PROCESS},
	})
}

func TestFilterTrapSendmsg(t *testing.T) {
	vm := filterVM(t, FilterOptions{TrapSendmsg: true})
	runFilterCases(t, vm, []filterCase{
		{"sendmsg", native, unix.SYS_SENDMSG, []uint64{3, 0x1000, 0}, unix.SECCOMP_RET_USER_NOTIF},
		{"connect still trapped", native, unix.SYS_CONNECT, []uint64{3, 0x1000, 16}, unix.SECCOMP_RET_USER_NOTIF},
		{"getpid still allowed", native, unix.SYS_GETPID, nil, unix.SECCOMP_RET_ALLOW},
		{"i386 sendmsg", unix.AUDIT_ARCH_I386, 370, []uint64{3, 0x1000, 0}, unix.SECCOMP_RET_USER_NOTIF},
		{"i386 socketcall(SYS_SENDMSG)", unix.AUDIT_ARCH_I386, 102, []uint64{16, 0x1000}, unix.SECCOMP_RET_USER_NOTIF},
		{"x32 sendmsg", native, 0x40000000 | 518, []uint64{3, 0x1000, 0}, unix.SECCOMP_RET_USER_NOTIF},
	})
}

func TestFilterAllowIOUring(t *testing.T) {
	vm := filterVM(t, FilterOptions{AllowIOUring: true})
	runFilterCases(t, vm, []filterCase{
		{"io_uring_setup", native, unix.SYS_IO_URING_SETUP, []uint64{8, 0x1000}, unix.SECCOMP_RET_ALLOW},
	})
}

// TestFilterIOUringErrno checks the errno io_uring_setup gets by default.
func TestFilterIOUringErrno(t *testing.T) {
	vm := filterVM(t, FilterOptions{})
	got, err := vm.Run(seccompData(native, unix.SYS_IO_URING_SETUP, 8, 0x1000))
	if err != nil {
		t.Fatal(err)
	}
	if ret := uint32(got); ret != unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS) {
		t.Errorf("io_uring_setup: want SECCOMP_RET_ERRNO|ENOSYS (%#x), got %#x", unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS), ret)
	}
}
