//go:build linux

package notify

import (
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MinKernel is the oldest kernel vipa-exec supports.
const MinKernel = "5.9"

// CheckKernel reports the first kernel feature vipa-exec needs that this
// kernel lacks, as a *FeatureError, so that the user reads which one and
// which Linux version has it rather than a bare EINVAL later.
func CheckKernel() error {
	// SECCOMP_GET_ACTION_AVAIL answers EOPNOTSUPP for an unknown action,
	// EINVAL before Linux 4.14, ENOSYS without seccomp at all.
	action := uint32(unix.SECCOMP_RET_USER_NOTIF)
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&action)))
	switch errno {
	case 0:
	case unix.ENOSYS:
		return &FeatureError{Feature: "seccomp (CONFIG_SECCOMP_FILTER)", MinVersion: MinKernel, Err: errno}
	default:
		return &FeatureError{Feature: "seccomp user notification (SECCOMP_RET_USER_NOTIF)", MinVersion: MinKernel, Err: errno}
	}
	self, err := unix.PidfdOpen(unix.Getpid(), 0)
	if err != nil {
		return &FeatureError{Feature: "pidfd_open", MinVersion: MinKernel, Err: err}
	}
	defer func() { _ = unix.Close(self) }()
	dup, err := unix.PidfdGetfd(self, self, 0)
	if err != nil {
		return &FeatureError{Feature: "pidfd_getfd", MinVersion: MinKernel, Err: err}
	}
	_ = unix.Close(dup)
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return fmt.Errorf("uname: %w", err)
	}
	release := unix.ByteSliceToString(uts.Release[:])
	if !versionAtLeast(release, MinKernel) {
		return &FeatureError{Feature: "the seccomp notification fixes of " + MinKernel, MinVersion: MinKernel, Err: fmt.Errorf("running %s", release)}
	}
	return nil
}

// versionAtLeast compares the leading "major.minor" of a kernel release.
func versionAtLeast(release, min string) bool {
	parse := func(s string) (int, int) {
		s, _, _ = strings.Cut(s, "-")
		parts := strings.SplitN(s, ".", 3)
		if len(parts) < 2 {
			return 0, 0
		}
		maj, _ := strconv.Atoi(parts[0])
		minor, _ := strconv.Atoi(strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
		return maj, minor
	}
	a, b := parse(release)
	x, y := parse(min)
	return a > x || (a == x && b >= y)
}
