//go:build !linux

package notify

import (
	"errors"
	"fmt"
)

// ErrNotSupported: vipa-exec needs Linux.
var ErrNotSupported = fmt.Errorf("vipa-exec needs Linux: %w", errors.ErrUnsupported)

// CheckKernel reports that seccomp user notification is Linux-only.
func CheckKernel() error { return ErrNotSupported }

// FilterOptions mirrors the Linux type.
type FilterOptions struct {
	TrapSendmsg  bool
	AllowIOUring bool
	SkipBind     bool
	Sendto       SendtoTrap
}

// SendtoTrap mirrors the Linux type.
type SendtoTrap uint8

const (
	SendtoAll SendtoTrap = iota
	SendtoFastOpen
	SendtoNone
)
