//go:build linux && !amd64

package notify

import (
	"runtime"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// abis is the native ABI only: on other architectures vipa-exec covers the
// native ABI, and the filter kills a program using another one (arm64's
// 32-bit arm, for instance) rather than letting it run unfiltered.
var abis = []abi{{
	arch: seccomp.ArchNative, auditArch: nativeAuditArch(),
	nr:         map[int32]Op{unix.SYS_CONNECT: OpConnect, unix.SYS_BIND: OpBind, unix.SYS_SENDTO: OpSendto},
	socketcall: -1, sendmsg: unix.SYS_SENDMSG,
}}

func nativeAuditArch() uint32 {
	switch runtime.GOARCH {
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64
	case "ppc64le":
		return unix.AUDIT_ARCH_PPC64LE
	case "s390x":
		return unix.AUDIT_ARCH_S390X
	case "riscv64":
		return unix.AUDIT_ARCH_RISCV64
	}
	return 0 // unknown: no notification matches, every call continues
}
