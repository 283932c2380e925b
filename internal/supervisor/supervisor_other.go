//go:build !linux

package supervisor

import (
	"errors"

	"github.com/vipa-exec/vipa-exec/internal/launch"
)

// Prepare fails: the supervisor is Linux-only.
func Prepare(LogSettings) launch.Prepare {
	return func(launch.Setup) (func(any) error, error) { return nil, errors.ErrUnsupported }
}
