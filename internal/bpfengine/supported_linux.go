//go:build linux

package bpfengine

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"

	"github.com/vipa-exec/vipa-exec/internal/caps"
)

// ErrUnavailable is wrapped by the error of [Supported].
var ErrUnavailable = errors.New("bpf engine unavailable")

// Supported reports whether this process can run the engine: its
// capabilities, the kernel's program type and helper, and a trial load of
// the programs, which the verifier must accept. The error names what is
// missing, in one line.
func Supported() error {
	if err := caps.BPF(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err := features.HaveProgramType(ebpf.CGroupSockAddr); err != nil {
		return fmt.Errorf("%w: no cgroup sock_addr programs (Linux >= 4.17): %w", ErrUnavailable, err)
	}
	if err := features.HaveProgramHelper(ebpf.CGroupSockAddr, asm.FnBind); err != nil {
		return fmt.Errorf("%w: no bpf_bind helper (Linux >= 4.17): %w", ErrUnavailable, err)
	}
	spec, err := loadVipa()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var objs vipaObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return fmt.Errorf("%w: the kernel refuses the programs (Linux >= 5.12 needed): %w", ErrUnavailable, err)
	}
	return objs.Close()
}
