//go:build !linux

package hostaddr

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vipa-exec/vipa-exec/internal/policy"
)

// Addr is one address of one interface.
type Addr struct {
	Addr      netip.Addr
	Iface     string
	Tentative bool
}

var errUnsupported = fmt.Errorf("read the host's addresses: %w", errors.ErrUnsupported)

// Dump fails: rtnetlink is Linux-only.
func Dump() ([]Addr, error) { return nil, errUnsupported }

// DumpUsable fails: rtnetlink is Linux-only.
func DumpUsable() (*policy.AddrSet, error) { return nil, errUnsupported }

// Watcher is Linux-only.
type Watcher struct{}

// Watch fails: rtnetlink is Linux-only.
func Watch(func(old, new *policy.AddrSet), func(error)) (*Watcher, error) { return nil, errUnsupported }

// Set returns nil: every source counts as present.
func (*Watcher) Set() *policy.AddrSet { return nil }

// Close does nothing.
func (*Watcher) Close() {}
