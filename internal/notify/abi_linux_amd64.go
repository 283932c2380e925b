//go:build linux

package notify

import (
	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// x32Bit marks an x32 system call number (__X32_SYSCALL_BIT).
const x32Bit = 0x40000000

// abis are the ABIs an x86_64 kernel runs: 64-bit, i386 and x32. Numbers
// from arch/x86/entry/syscalls/syscall_64.tbl and syscall_32.tbl. A program
// using any of them is covered; the filter kills one that uses another.
var abis = []abi{
	{
		arch: seccomp.ArchAMD64, auditArch: unix.AUDIT_ARCH_X86_64,
		nr:         map[int32]Op{unix.SYS_CONNECT: OpConnect, unix.SYS_BIND: OpBind, unix.SYS_SENDTO: OpSendto},
		socketcall: -1, sendmsg: unix.SYS_SENDMSG,
	},
	{
		arch: seccomp.ArchX86, auditArch: unix.AUDIT_ARCH_I386, compat: true,
		nr:         map[int32]Op{362: OpConnect, 361: OpBind, 369: OpSendto},
		socketcall: 102, sendmsg: 370,
	},
	{
		// x32 shares AUDIT_ARCH_X86_64 and tells itself by the number.
		arch: seccomp.ArchX32, auditArch: unix.AUDIT_ARCH_X86_64, compat: true,
		nr:         map[int32]Op{x32Bit | 42: OpConnect, x32Bit | 49: OpBind, x32Bit | 44: OpSendto},
		socketcall: -1, sendmsg: x32Bit | 518,
	},
}
