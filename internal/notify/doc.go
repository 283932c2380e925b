// Package notify owns the seccomp side of vipa-exec: the tables of the ABIs
// the filter traps bind(2) and connect(2) in, the filter's load, the
// listener descriptor, and the loop that answers its notifications.
// internal/launch compiles the filter (libseccomp, cgo) from these tables;
// this package needs no cgo.
//
// # Invariants
//
//   - Every notification received is answered, also when the handler panics
//     (with "continue"): a traced program never hangs on the supervisor.
//   - unsafe and raw syscalls only in the packages that own a piece of the
//     kernel, this one among them (.golangci.yml's depguard rules).
//   - The filter is never loaded into the supervisor: it would trap the
//     supervisor's own binds.
//   - A notification names the calling thread. Descriptors are taken through
//     a pidfd of that thread (PIDFD_THREAD, Linux 6.9) or, on older kernels,
//     of its thread group, and checked with SECCOMP_IOCTL_NOTIF_ID_VALID
//     afterwards, so a reused pid can never hand over another process's socket.
//     Memory is written through /proc/TID/mem opened before that check, so a
//     reused pid can never receive the write.
//   - The pidfds cached per worker never exceed a share of RLIMIT_NOFILE,
//     however many threads a program starts and ends.
//   - One worker at a time waits for a notification, and hands that role on
//     before handling what it received: the kernel wakes no worker for a
//     notification it does not get, and a slow answer stalls no other.
//
// # Kernel features
//
// seccomp user notification (5.0), SECCOMP_USER_NOTIF_FLAG_CONTINUE (5.5),
// pidfd_getfd (5.6), SECCOMP_FILTER_FLAG_TSYNC_ESRCH (5.7), POLLHUP on the
// listener when the last user exits (5.8); vipa-exec requires 5.9. Used when
// present: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (5.19),
// SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (6.6), PIDFD_THREAD (6.9).
package notify
