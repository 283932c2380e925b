//go:build !linux

package rrstate

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/vipa-exec/vipa-exec/internal/trusted"
)

// DefaultDir is where the supervisor keeps rr counters.
const DefaultDir = "/run/vipa-exec/rr"

// DirFor is the directory of counters of the supervisors that run as euid.
func DirFor(euid int) string {
	if euid == 0 {
		return DefaultDir
	}
	return fmt.Sprintf("/run/user/%d/vipa-exec/rr", euid)
}

// ErrForeign and ErrUntrusted are as on Linux.
var (
	ErrForeign   = errors.New("not a vipa-exec rr counter")
	ErrUntrusted = trusted.ErrUntrusted
)

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
