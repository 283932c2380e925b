//go:build linux && !amd64 && !arm64

package notify

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// ABIs is the native ABI only: on architectures other than x86_64 and
// arm64 vipa-exec covers the native ABI, and the filter kills a program
// using another one rather than letting it run unfiltered.
var ABIs = []ABI{{
	AuditArch:  nativeAuditArch(),
	Calls:      map[int32]Op{unix.SYS_CONNECT: OpConnect, unix.SYS_BIND: OpBind, unix.SYS_SENDTO: OpSendto},
	Socketcall: -1, Sendmsg: unix.SYS_SENDMSG, Sendmmsg: unix.SYS_SENDMMSG,
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
	return 0 // unknown: the filter's compiler refuses to run
}
