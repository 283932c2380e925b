//go:build !linux

package trusted

import (
	"errors"
	"fmt"
)

// ReadFile needs Linux.
func ReadFile(path, what string, max int64) ([]byte, error) {
	return nil, fmt.Errorf("%s: %w", path, errors.ErrUnsupported)
}

// CheckDir needs Linux.
func CheckDir(dir, what string, uid int) error {
	return fmt.Errorf("%s: %w", dir, errors.ErrUnsupported)
}
