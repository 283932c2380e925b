//go:build linux

package notify

import (
	"testing"

	"golang.org/x/sys/unix"
)

// ioctlSize extracts the argument size from an _IOC-encoded ioctl number
// (include/uapi/asm-generic/ioctl.h: 14 size bits at bit 16).
func ioctlSize(req uint) uintptr { return uintptr(req>>16) & (1<<14 - 1) }

func TestKernelStructSizes(t *testing.T) {
	tests := []struct {
		name string
		got  uintptr
		req  uint
	}{
		{"seccomp_notif", sizeofNotif, unix.SECCOMP_IOCTL_NOTIF_RECV},
		{"seccomp_notif_resp", sizeofNotifResp, unix.SECCOMP_IOCTL_NOTIF_SEND},
	}
	for _, tt := range tests {
		if want := ioctlSize(tt.req); tt.got != want {
			t.Errorf("sizeof(struct %s): ioctl says %d, Go struct is %d", tt.name, want, tt.got)
		}
	}
	if sizeofNotif != 80 || sizeofNotifResp != 24 {
		t.Errorf("sizes %d/%d, want 80/24", sizeofNotif, sizeofNotifResp)
	}
}
