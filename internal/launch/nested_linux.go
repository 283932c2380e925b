//go:build linux && cgo

package launch

// int vipa_exec_probe_listener(void);
import "C"

import (
	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/notify"
)

// checkNotNested fails with notify.ErrNested when vipa-exec already runs
// under a seccomp listener, an outer vipa-exec's: its filter could not be
// loaded. It asks before the supervisor or the program stage starts, so
// that nothing is started in vain and nothing outlives vipa-exec to keep the
// outer vipa-exec waiting. When it cannot tell, the filter load says.
//
// The probe costs a vfork and a filter load, some hundred microseconds: it
// runs only where the kernel says some seccomp filter is on this process.
func checkNotNested() error {
	if !filtered() {
		return nil
	}
	if C.vipa_exec_probe_listener() == 1 {
		return notify.ErrNested
	}
	return nil
}

// filtered reports whether a seccomp filter may be on the calling thread,
// and so on the process: vipa-exec loads its filter on all threads, and so
// did any outer one (TSYNC), or it was inherited.
func filtered() bool {
	mode, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0)
	return err != nil || mode != 0
}
