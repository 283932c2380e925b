//go:build linux

package caps

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Effective returns the calling thread's effective capabilities.
func Effective() (Set, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData // version 3: 64 bits in two halves
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, fmt.Errorf("capget: %w", err)
	}
	return Set(data[0].Effective) | Set(data[1].Effective)<<32, nil
}

// BPF returns nil when the effective set allows the bpf engine, CAP_BPF and
// CAP_NET_ADMIN or CAP_SYS_ADMIN, else an error wrapping [ErrMissing] whose
// one line names what is missing.
func BPF() error {
	eff, err := Effective()
	if err != nil {
		return err
	}
	return bpf(eff)
}

// bpf is [BPF] for an effective set.
func bpf(eff Set) error {
	if eff.Has(unix.CAP_SYS_ADMIN) {
		return nil
	}
	var missing []string
	if !eff.Has(unix.CAP_BPF) {
		missing = append(missing, "CAP_BPF")
	}
	if !eff.Has(unix.CAP_NET_ADMIN) {
		missing = append(missing, "CAP_NET_ADMIN")
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%s %w (the bpf engine needs CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN)", strings.Join(missing, " and "), ErrMissing)
}
