//go:build !linux

package main

import (
	"errors"
	"io"
)

// runStatus fails: supervisors run on Linux only.
func runStatus(string, bool, io.Writer) (int, error) { return exitUsage, errors.ErrUnsupported }
