//go:build linux && !amd64 && !arm64

package notify

import (
	"runtime"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// abis is the native ABI only: on architectures other than x86_64 and
// arm64 vipa-exec covers the native ABI, and the filter kills a program
// using another one rather than letting it run unfiltered.
var abis = []abi{{
	arch: seccomp.ArchNative, auditArch: nativeAuditArch(),
	nr:         map[int32]Op{unix.SYS_CONNECT: OpConnect, unix.SYS_BIND: OpBind, unix.SYS_SENDTO: OpSendto},
	socketcall: -1, sendmsg: unix.SYS_SENDMSG, sendmmsg: unix.SYS_SENDMMSG,
}}

func nativeAuditArch() uint32 {
	switch runtime.GOARCH {
	case "ppc64le":
		return unix.AUDIT_ARCH_PPC64LE
	case "s390x":
		return unix.AUDIT_ARCH_S390X
	case "riscv64":
		return unix.AUDIT_ARCH_RISCV64
	}
	return 0 // unknown: NewFilter refuses to run
}
