package hostroute

import (
	"net/netip"
	"sync"
	"sync/atomic"
)

// MaxEntries bounds the cached destinations; a full cache is emptied.
const MaxEntries = 4096

// Cache holds the outgoing interface of each destination asked about, for
// the generation of the routing it was asked in.
type Cache struct {
	gen    atomic.Uint64
	bypass atomic.Bool
	lookup func(netip.Addr) (iface string, ok bool, err error)

	mu sync.RWMutex
	m  map[netip.Addr]entry
}

type entry struct {
	gen   uint64
	iface string
	ok    bool
}

// NewCache returns a Cache that asks lookup on a miss: the interface
// name, ok=false for no route, or an error, which is not cached.
func NewCache(lookup func(netip.Addr) (string, bool, error)) *Cache {
	return &Cache{lookup: lookup, m: make(map[netip.Addr]entry)}
}

// Invalidate starts a new generation: the routing changed.
func (c *Cache) Invalidate() { c.gen.Add(1) }

// Bypass makes every later call ask lookup: changes can no longer be
// followed.
func (c *Cache) Bypass() { c.bypass.Store(true) }

// Interface returns the interface dst is routed out of, ok=false when
// there is no route or lookup failed.
func (c *Cache) Interface(dst netip.Addr) (string, bool) {
	if c.bypass.Load() {
		name, ok, err := c.lookup(dst)
		return name, ok && err == nil
	}
	g := c.gen.Load()
	c.mu.RLock()
	e, hit := c.m[dst]
	c.mu.RUnlock()
	if hit && e.gen == g {
		return e.iface, e.ok
	}
	name, ok, err := c.lookup(dst)
	if err != nil {
		return "", false
	}
	c.mu.Lock()
	if len(c.m) >= MaxEntries {
		clear(c.m)
	}
	// g, read before the lookup: a change during it makes the entry stale.
	c.m[dst] = entry{g, name, ok}
	c.mu.Unlock()
	return name, ok
}
