//go:build linux

package sockdiag

import "net/netip"

// The tests' ways in: the supervisor refreshes through Views, and counts
// once per address set only in tests.

// Refresh reads the counts from the kernel now.
func (h *Host) Refresh() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.refreshLocked()
}

// Count returns the live TCP and UDP sockets bound to each of addrs, read
// from the kernel once.
func Count(addrs []netip.Addr) (map[netip.Addr]int, error) {
	h := NewHost(0, nil)
	defer func() { _ = h.Close() }()
	plain := make([]netip.Addr, len(addrs))
	for i, a := range addrs {
		plain[i] = a.Unmap()
	}
	return h.dump(plain)
}
