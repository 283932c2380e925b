//go:build !linux

package report

import (
	"errors"
	"io"
)

// Status fails: supervisors run on Linux only.
func Status(string, bool, io.Writer) (int, error) { return ExitUsage, errors.ErrUnsupported }
