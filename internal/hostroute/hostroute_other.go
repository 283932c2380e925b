//go:build !linux

package hostroute

import (
	"errors"
	"fmt"
	"net/netip"
)

var errUnsupported = fmt.Errorf("read the host's routes: %w", errors.ErrUnsupported)

// Table is Linux-only.
type Table struct{ *Cache }

// Watch fails: rtnetlink is Linux-only.
func Watch(func([]string), func(error)) (*Table, error) { return nil, errUnsupported }

// New returns a Table whose every lookup fails: rtnetlink is Linux-only.
func New(func([]string), func(error)) *Table {
	return &Table{NewCache(func(netip.Addr) (string, bool, error) { return "", false, errUnsupported })}
}

// Follow fails: rtnetlink is Linux-only.
func (*Table) Follow() error { return errUnsupported }

// Close does nothing.
func (*Table) Close() {}

// Lookup fails: rtnetlink is Linux-only.
func Lookup(netip.Addr) (string, bool, error) { return "", false, errUnsupported }
