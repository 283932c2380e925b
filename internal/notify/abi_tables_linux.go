//go:build linux

package notify

import "golang.org/x/sys/unix"

// The ABI tables of the architectures whose every ABI vipa-exec covers. They
// are built on every architecture, so that the tests compile and check
// each one wherever they run; ABIs picks the one of the running kernel.
// Numbers from the kernel's syscall tables, checked against libseccomp's
// in internal/launch's tests. A program using an ABI of its architecture's
// table is covered; the filter kills one that uses another.

// X32Bit marks an x32 system call number (__X32_SYSCALL_BIT).
const X32Bit = 0x40000000

// ABIsAMD64 are the ABIs an x86_64 kernel runs: 64-bit, i386 and x32
// (arch/x86/entry/syscalls/syscall_64.tbl and syscall_32.tbl).
var ABIsAMD64 = []ABI{
	{
		Arch: "amd64", AuditArch: unix.AUDIT_ARCH_X86_64,
		Calls:      map[int32]Op{42: OpConnect, 49: OpBind, 44: OpSendto},
		Socketcall: -1, Sendmsg: 46, Sendmmsg: 307,
	},
	{
		Arch: "x86", AuditArch: unix.AUDIT_ARCH_I386, Compat: true,
		Calls:      map[int32]Op{362: OpConnect, 361: OpBind, 369: OpSendto},
		Socketcall: 102, Sendmsg: 370, Sendmmsg: 345,
	},
	{
		// x32 shares AUDIT_ARCH_X86_64 and tells itself by the number.
		Arch: "x32", AuditArch: unix.AUDIT_ARCH_X86_64, Compat: true,
		Calls:      map[int32]Op{X32Bit | 42: OpConnect, X32Bit | 49: OpBind, X32Bit | 44: OpSendto},
		Socketcall: -1, Sendmsg: X32Bit | 518, Sendmmsg: X32Bit | 538,
	},
}

// ABIsARM64 are the ABIs an arm64 kernel runs: 64-bit
// (include/uapi/asm-generic/unistd.h) and, with CONFIG_COMPAT on a CPU that
// has AArch32, 32-bit arm EABI (arch/arm/tools/syscall.tbl). The compat
// ABI has no socketcall: arm has it for OABI programs only, which arm64
// does not run.
var ABIsARM64 = []ABI{
	{
		Arch: "arm64", AuditArch: unix.AUDIT_ARCH_AARCH64,
		Calls:      map[int32]Op{203: OpConnect, 200: OpBind, 206: OpSendto},
		Socketcall: -1, Sendmsg: 211, Sendmmsg: 269,
	},
	{
		Arch: "arm", AuditArch: unix.AUDIT_ARCH_ARM, Compat: true,
		Calls:      map[int32]Op{283: OpConnect, 282: OpBind, 290: OpSendto},
		Socketcall: -1, Sendmsg: 296, Sendmmsg: 374,
	},
}
