//go:build linux

package notify

import (
	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// The ABI tables of the architectures whose every ABI vipa-exec covers. They
// are built on every architecture, so that the tests compile and check
// each one wherever they run; abis picks the one of the running kernel.
// Numbers from the kernel's syscall tables, checked against libseccomp's
// in the tests. A program using an ABI of its architecture's table is
// covered; the filter kills one that uses another.

// x32Bit marks an x32 system call number (__X32_SYSCALL_BIT).
const x32Bit = 0x40000000

// abisAMD64 are the ABIs an x86_64 kernel runs: 64-bit, i386 and x32
// (arch/x86/entry/syscalls/syscall_64.tbl and syscall_32.tbl).
var abisAMD64 = []abi{
	{
		arch: seccomp.ArchAMD64, auditArch: unix.AUDIT_ARCH_X86_64,
		nr:         map[int32]Op{42: OpConnect, 49: OpBind, 44: OpSendto},
		socketcall: -1, sendmsg: 46, sendmmsg: 307,
	},
	{
		arch: seccomp.ArchX86, auditArch: unix.AUDIT_ARCH_I386, compat: true,
		nr:         map[int32]Op{362: OpConnect, 361: OpBind, 369: OpSendto},
		socketcall: 102, sendmsg: 370, sendmmsg: 345,
	},
	{
		// x32 shares AUDIT_ARCH_X86_64 and tells itself by the number.
		arch: seccomp.ArchX32, auditArch: unix.AUDIT_ARCH_X86_64, compat: true,
		nr:         map[int32]Op{x32Bit | 42: OpConnect, x32Bit | 49: OpBind, x32Bit | 44: OpSendto},
		socketcall: -1, sendmsg: x32Bit | 518, sendmmsg: x32Bit | 538,
	},
}

// abisARM64 are the ABIs an arm64 kernel runs: 64-bit
// (include/uapi/asm-generic/unistd.h) and, with CONFIG_COMPAT on a CPU that
// has AArch32, 32-bit arm EABI (arch/arm/tools/syscall.tbl). The compat
// ABI has no socketcall: arm has it for OABI programs only, which arm64
// does not run.
var abisARM64 = []abi{
	{
		arch: seccomp.ArchARM64, auditArch: unix.AUDIT_ARCH_AARCH64,
		nr:         map[int32]Op{203: OpConnect, 200: OpBind, 206: OpSendto},
		socketcall: -1, sendmsg: 211, sendmmsg: 269,
	},
	{
		arch: seccomp.ArchARM, auditArch: unix.AUDIT_ARCH_ARM, compat: true,
		nr:         map[int32]Op{283: OpConnect, 282: OpBind, 290: OpSendto},
		socketcall: -1, sendmsg: 296, sendmmsg: 374,
	},
}
