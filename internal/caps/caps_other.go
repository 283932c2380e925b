//go:build !linux

package caps

import (
	"errors"
	"fmt"
)

// Effective is Linux-only.
func Effective() (Set, error) { return 0, fmt.Errorf("capabilities: %w", errors.ErrUnsupported) }

// BPF is Linux-only.
func BPF() error { return fmt.Errorf("the bpf engine: %w", errors.ErrUnsupported) }
