//go:build !linux

package launch

// Prepare mirrors the Linux type; there is no notify.Listener outside Linux.
type Prepare func(s Setup) (func(any) error, error)
