//go:build !linux

package main

import "errors"

// prepareSupervisor fails: the supervisor is Linux-only.
func prepareSupervisor(string, []byte) (func(any) error, error) {
	return nil, errors.ErrUnsupported
}
