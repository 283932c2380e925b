//go:build linux

package notify

import (
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDecodeCall decodes trapped calls of every ABI of both tables, with a
// fake memory for socketcall's arguments.
func TestDecodeCall(t *testing.T) {
	// socketcall(SYS_CONNECT, args) of an i386 program: args at 0x2000
	// are fd 5, address 0x3000, length 16, as 32-bit words.
	mem := map[uint64][]byte{0x2000: make([]byte, 24)}
	for i, w := range []uint32{5, 0x3000, 16, 0, 0, 0} {
		binary.LittleEndian.PutUint32(mem[0x2000][4*i:], w)
	}
	readMem := func(addr uint64, buf []byte) error {
		b, ok := mem[addr]
		if !ok || len(b) < len(buf) {
			return unix.EFAULT
		}
		copy(buf, b)
		return nil
	}
	const junk = 0xdead_beef_0000_0000 // upper halves a 32-bit caller leaves
	tests := []struct {
		name  string
		abis  []ABI
		data  SeccompData
		want  Call
		error bool
	}{
		{"x86_64 connect", ABIsAMD64, SeccompData{Arch: unix.AUDIT_ARCH_X86_64, Nr: 42, Args: [6]uint64{3, 0x7fff_0000_1000, 16}},
			Call{Op: OpConnect, Fd: 3, Addr: 0x7fff_0000_1000, AddrLen: 16}, false},
		{"x86_64 sendto", ABIsAMD64, SeccompData{Arch: unix.AUDIT_ARCH_X86_64, Nr: 44, Args: [6]uint64{4, 0x100, 9, 0, 0x1000, 28}},
			Call{Op: OpSendto, Fd: 4, Addr: 0x1000, AddrLen: 28}, false},
		{"x86_64 sendmsg", ABIsAMD64, SeccompData{Arch: unix.AUDIT_ARCH_X86_64, Nr: 46, Args: [6]uint64{4, 0x1000, 0}},
			Call{Op: OpSendmsg, Fd: 4, Addr: 0x1000}, false},
		{"x86_64 sendmmsg", ABIsAMD64, SeccompData{Arch: unix.AUDIT_ARCH_X86_64, Nr: 307, Args: [6]uint64{4, 0x1000, 2, 0}},
			Call{Op: OpSendmmsg, Fd: 4, Addr: 0x1000, AddrLen: 2}, false},
		{"i386 sendmmsg", ABIsAMD64, SeccompData{Arch: unix.AUDIT_ARCH_I386, Nr: 345, Args: [6]uint64{4, junk | 0x1000, junk | 2}},
			Call{Op: OpSendmmsg, Fd: 4, Addr: 0x1000, AddrLen: 2, Compat: true}, false},
		{"i386 socketcall(SYS_SENDMMSG)", ABIsAMD64, SeccompData{Arch: unix.AUDIT_ARCH_I386, Nr: 102, Args: [6]uint64{sysSendmmsg, 0x2000}},
			Call{Op: OpSendmmsg, Fd: 5, Addr: 0x3000, AddrLen: 16, Compat: true}, false},
		{"x32 sendmmsg", ABIsAMD64, SeccompData{Arch: unix.AUDIT_ARCH_X86_64, Nr: X32Bit | 538, Args: [6]uint64{4, junk | 0x1000, 1}},
			Call{Op: OpSendmmsg, Fd: 4, Addr: 0x1000, AddrLen: 1, Compat: true}, false},
		{"arm sendmmsg", ABIsARM64, SeccompData{Arch: unix.AUDIT_ARCH_ARM, Nr: 374, Args: [6]uint64{3, junk | 0x1000, 3}},
			Call{Op: OpSendmmsg, Fd: 3, Addr: 0x1000, AddrLen: 3, Compat: true}, false},
		{"x86_64 getpid", ABIsAMD64, SeccompData{Arch: unix.AUDIT_ARCH_X86_64, Nr: 39}, Call{}, false},
		{"i386 bind", ABIsAMD64, SeccompData{Arch: unix.AUDIT_ARCH_I386, Nr: 361, Args: [6]uint64{3, junk | 0x1000, junk | 16}},
			Call{Op: OpBind, Fd: 3, Addr: 0x1000, AddrLen: 16, Compat: true}, false},
		{"i386 socketcall(SYS_CONNECT)", ABIsAMD64, SeccompData{Arch: unix.AUDIT_ARCH_I386, Nr: 102, Args: [6]uint64{sysConnect, 0x2000}},
			Call{Op: OpConnect, Fd: 5, Addr: 0x3000, AddrLen: 16, Compat: true}, false},
		{"i386 socketcall(SYS_SOCKET)", ABIsAMD64, SeccompData{Arch: unix.AUDIT_ARCH_I386, Nr: 102, Args: [6]uint64{1, 0x2000}}, Call{}, false},
		{"i386 socketcall, arguments unreadable", ABIsAMD64, SeccompData{Arch: unix.AUDIT_ARCH_I386, Nr: 102, Args: [6]uint64{sysConnect, 0x9000}}, Call{}, true},
		{"x32 connect", ABIsAMD64, SeccompData{Arch: unix.AUDIT_ARCH_X86_64, Nr: X32Bit | 42, Args: [6]uint64{3, junk | 0x1000, 16}},
			Call{Op: OpConnect, Fd: 3, Addr: 0x1000, AddrLen: 16, Compat: true}, false},
		{"arm64 connect", ABIsARM64, SeccompData{Arch: unix.AUDIT_ARCH_AARCH64, Nr: 203, Args: [6]uint64{3, 0xffff_0000_1000, 16}},
			Call{Op: OpConnect, Fd: 3, Addr: 0xffff_0000_1000, AddrLen: 16}, false},
		{"arm64 bind", ABIsARM64, SeccompData{Arch: unix.AUDIT_ARCH_AARCH64, Nr: 200, Args: [6]uint64{7, 0x1000, 28}},
			Call{Op: OpBind, Fd: 7, Addr: 0x1000, AddrLen: 28}, false},
		{"arm64 sendmsg", ABIsARM64, SeccompData{Arch: unix.AUDIT_ARCH_AARCH64, Nr: 211, Args: [6]uint64{7, 0x1000, 0}},
			Call{Op: OpSendmsg, Fd: 7, Addr: 0x1000}, false},
		{"arm connect", ABIsARM64, SeccompData{Arch: unix.AUDIT_ARCH_ARM, Nr: 283, Args: [6]uint64{3, junk | 0x1000, junk | 16}},
			Call{Op: OpConnect, Fd: 3, Addr: 0x1000, AddrLen: 16, Compat: true}, false},
		{"arm sendto", ABIsARM64, SeccompData{Arch: unix.AUDIT_ARCH_ARM, Nr: 290, Args: [6]uint64{3, 0x100, 5, 0, junk | 0x1000, 16}},
			Call{Op: OpSendto, Fd: 3, Addr: 0x1000, AddrLen: 16, Compat: true}, false},
		{"arm sendmsg", ABIsARM64, SeccompData{Arch: unix.AUDIT_ARCH_ARM, Nr: 296, Args: [6]uint64{3, junk | 0x1000}},
			Call{Op: OpSendmsg, Fd: 3, Addr: 0x1000, Compat: true}, false},
		// arm64 runs no OABI programs: 102 is no socketcall there.
		{"arm 102", ABIsARM64, SeccompData{Arch: unix.AUDIT_ARCH_ARM, Nr: 102, Args: [6]uint64{sysConnect, 0x2000}}, Call{}, false},
		{"x86_64 call in the arm64 table", ABIsARM64, SeccompData{Arch: unix.AUDIT_ARCH_X86_64, Nr: 42, Args: [6]uint64{3, 0x1000, 16}}, Call{}, false},
	}
	for _, tt := range tests {
		got, err := decodeCall(tt.abis, &tt.data, readMem)
		if (err != nil) != tt.error || got != tt.want {
			t.Errorf("%s: got %+v, %v; want %+v, error %v", tt.name, got, err, tt.want, tt.error)
		}
		if err != nil && !errors.Is(err, unix.EFAULT) {
			t.Errorf("%s: %v does not wrap the memory error", tt.name, err)
		}
	}
}

// TestABITablesDistinct: no two ABIs of a kernel could be taken for each
// other. (internal/launch checks the numbers against libseccomp's.)
func TestABITablesDistinct(t *testing.T) {
	for goarch, table := range map[string][]ABI{"amd64": ABIsAMD64, "arm64": ABIsARM64} {
		for _, a := range table {
			for nr := range a.Calls {
				if b := findABI(table, a.AuditArch, nr); b.Arch != a.Arch {
					t.Errorf("%s: %v's call %d is taken for %v's", goarch, a.Arch, nr, b.Arch)
				}
			}
		}
	}
}
