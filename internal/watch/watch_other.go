//go:build !linux

package watch

import (
	"errors"
	"time"
)

// Settle mirrors the Linux constant.
const Settle = 50 * time.Millisecond

// Watcher mirrors the Linux type.
type Watcher struct{}

// File fails: inotify is Linux-only.
func File(string, func()) (*Watcher, error) { return nil, errors.ErrUnsupported }

// Poll returns a Watcher that never calls changed: only Linux runs a
// supervisor.
func Poll(string, time.Duration, func()) *Watcher { return &Watcher{} }

// Close does nothing.
func (*Watcher) Close() error { return nil }
