//go:build linux

package notify

import (
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Listener owns a seccomp notification file descriptor.
type Listener struct {
	fd        int
	closeOnce sync.Once
	syncWake  bool
}

func newListener(fd int) *Listener { return &Listener{fd: fd} }

// NewListener takes ownership of fd, a seccomp listener received from the
// process that loaded the filter.
func NewListener(fd int) *Listener { return newListener(fd) }

// FD returns the descriptor; it stays owned by l.
func (l *Listener) FD() int { return l.fd }

// Close closes the descriptor once. Closing the last listener makes every
// pending and future trapped call of the filtered processes fail with ENOSYS.
func (l *Listener) Close() error {
	var err error = unix.EBADF
	l.closeOnce.Do(func() { err = unix.Close(l.fd) })
	if err == nil {
		return nil
	}
	return fmt.Errorf("close seccomp listener: %w", err)
}

// SetSyncWakeUp asks the kernel to switch between the traced thread and the
// supervisor thread on the same CPU (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
// Linux 6.6). It cuts a round trip from tens of microseconds to a few. On
// older kernels it returns an error wrapping ErrNotSupported and l works as
// before.
func (l *Listener) SetSyncWakeUp() error {
	if before66 {
		return &FeatureError{Feature: "SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP", MinVersion: "6.6", Err: unix.EINVAL}
	}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(l.fd), unix.SECCOMP_IOCTL_NOTIF_SET_FLAGS, unix.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)
	if errno != 0 {
		return &FeatureError{Feature: "SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP", MinVersion: "6.6", Err: errno}
	}
	l.syncWake = true
	return nil
}

// before66, set by tests, makes SetSyncWakeUp answer as a kernel before 6.6
// does (EINVAL, an unknown ioctl), so that Serve takes the path of those
// kernels, poll before RECV, on any kernel.
var before66 bool

// SyncWakeUp reports whether SetSyncWakeUp succeeded.
func (l *Listener) SyncWakeUp() bool { return l.syncWake }

// recv waits for the next notification. n must be zero: the kernel refuses
// a dirty buffer with EINVAL. Errors are bare errnos: EINTR (a signal),
// ENOENT (the caller went away, or no process uses the filter any more).
func (l *Listener) recv(n *Notif) unix.Errno {
	*n = Notif{}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(l.fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(n)))
	return errno
}

// send answers a notification. ENOENT means the caller is gone or was
// interrupted by a signal: there is nobody left to answer.
func (l *Listener) send(r *NotifResp) unix.Errno {
	for {
		// Raw: SEND only takes the filter's mutex and wakes the caller.
		_, _, errno := unix.RawSyscall(unix.SYS_IOCTL, uintptr(l.fd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(r)))
		if errno != unix.EINTR {
			return errno
		}
	}
}

// idValid reports whether notification id is still pending: the thread that
// made it is alive and still waiting, so its pid has not been reused.
func (l *Listener) idValid(id uint64) bool {
	_, _, errno := unix.RawSyscall(unix.SYS_IOCTL, uintptr(l.fd), unix.SECCOMP_IOCTL_NOTIF_ID_VALID, uintptr(unsafe.Pointer(&id)))
	return errno == 0
}

// wait blocks until a notification is pending (true) or no process uses the
// filter any more (false). Before Linux 6.6 a blocked RECV is not woken when
// the last user exits, so poll is the only way to see the end.
func (l *Listener) wait() (bool, error) {
	fds := []unix.PollFd{{Fd: int32(l.fd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("poll seccomp listener: %w", err)
		}
		if fds[0].Revents&unix.POLLIN != 0 {
			return true, nil
		}
		if fds[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
			return false, nil
		}
	}
}

// InUse reports, without blocking, whether a process still uses the filter.
func (l *Listener) InUse() bool { return !l.hungUp() }

// hungUp reports, without blocking, whether no process uses the filter any more.
func (l *Listener) hungUp() bool {
	fds := []unix.PollFd{{Fd: int32(l.fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0 && fds[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 && fds[0].Revents&unix.POLLIN == 0
}
