//go:build linux

package notify

import "unsafe"

// The structs below mirror include/uapi/linux/seccomp.h
// (https://github.com/torvalds/linux/blob/master/include/uapi/linux/seccomp.h).
// Their sizes are fixed by the ioctl numbers that carry them:
// SECCOMP_IOCTL_NOTIF_RECV encodes 80 bytes, SECCOMP_IOCTL_NOTIF_SEND 24;
// kernel_linux_test.go checks both against golang.org/x/sys/unix.

// SeccompData is struct seccomp_data: what the filter sees of a syscall.
type SeccompData struct {
	Nr                 int32
	Arch               uint32
	InstructionPointer uint64
	Args               [6]uint64
}

// Notif is struct seccomp_notif, filled in by SECCOMP_IOCTL_NOTIF_RECV.
type Notif struct {
	ID    uint64
	Pid   uint32 // the calling thread's id, in the supervisor's PID namespace
	Flags uint32
	Data  SeccompData
}

// NotifResp is struct seccomp_notif_resp, sent with SECCOMP_IOCTL_NOTIF_SEND.
type NotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

const (
	sizeofNotif     = unsafe.Sizeof(Notif{})
	sizeofNotifResp = unsafe.Sizeof(NotifResp{})
)

// futex(2) operations, from include/uapi/linux/futex.h
// (https://github.com/torvalds/linux/blob/master/include/uapi/linux/futex.h);
// golang.org/x/sys/unix names the system call but not these.
const (
	futexWait        = 0
	futexWake        = 1
	futexPrivateFlag = 128
)
