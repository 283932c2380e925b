//go:build linux

package cgroup

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// CanCreate reports whether the caller may make a group under parent and
// move itself into it, by the permissions its effective ids and
// capabilities give it on parent and parent's cgroup.procs (a mode 555
// root, as in the hybrid layout, needs CAP_DAC_OVERRIDE). nil if it may.
func CanCreate(parent string) error {
	if err := unix.Faccessat(unix.AT_FDCWD, parent, unix.W_OK|unix.X_OK, unix.AT_EACCESS); err != nil {
		return fmt.Errorf("cannot create a cgroup under %s: %w", parent, err)
	}
	if err := unix.Faccessat(unix.AT_FDCWD, parent+"/cgroup.procs", unix.W_OK, unix.AT_EACCESS); err != nil {
		return fmt.Errorf("cannot move a process out of cgroup %s: %w", parent, err)
	}
	return nil
}
