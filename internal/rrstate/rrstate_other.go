//go:build !linux

package rrstate

import (
	"errors"
	"fmt"
	"io/fs"
)

// DefaultDir is where the supervisor keeps rr counters.
const DefaultDir = "/run/vipa-exec/rr"

// Dir is a directory of counters; shared counters need Linux.
type Dir struct{}

// Open fails: shared counters need Linux.
func Open(string) (*Dir, error) { return nil, fmt.Errorf("rr state: %w", errors.ErrUnsupported) }

// Counter fails: shared counters need Linux.
func (*Dir) Counter(string, fs.FileMode) (*Counter, error) {
	return nil, fmt.Errorf("rr state: %w", errors.ErrUnsupported)
}

// Close does nothing.
func (*Dir) Close() error { return nil }

// Counter is a shared counter; it does not exist here.
type Counter struct{}

// Next returns 0.
func (*Counter) Next() uint64 { return 0 }

// Load returns 0.
func (*Counter) Load() uint64 { return 0 }
