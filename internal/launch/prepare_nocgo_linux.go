//go:build linux && !cgo

package launch

import "github.com/vipa-exec/vipa-exec/internal/notify"

// Prepare mirrors the type of the cgo build, so that the supervisor's side
// builds and vets with CGO_ENABLED=0.
type Prepare func(s Setup) (serve func(l *notify.Listener) error, err error)
