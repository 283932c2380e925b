//go:build !linux

package main

import (
	"errors"
	"fmt"
)

// hostAddrs fails: reading addresses over rtnetlink is Linux-only.
func hostAddrs() ([]hostAddr, error) {
	return nil, fmt.Errorf("read the host's addresses: %w", errors.ErrUnsupported)
}
