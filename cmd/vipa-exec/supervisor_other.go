//go:build !linux

package main

import (
	"errors"

	"github.com/vipa-exec/vipa-exec/internal/launch"
)

// supervisorPrepare fails: the supervisor is Linux-only.
func supervisorPrepare(logSettings) launch.Prepare {
	return func(launch.Setup) (func(any) error, error) { return nil, errors.ErrUnsupported }
}
