package policy

import (
	"net/netip"
	"sync/atomic"
)

// AddrSet is the set of addresses a host has at one moment, as [Env.Present]
// reports it: immutable, so that callers on every trapped call read it
// without a lock, and replaced by a new one on every change.
type AddrSet struct{ m map[netip.Addr]struct{} }

// NewAddrSet returns the set of addrs.
func NewAddrSet(addrs ...netip.Addr) *AddrSet {
	s := &AddrSet{m: make(map[netip.Addr]struct{}, len(addrs))}
	for _, a := range addrs {
		s.m[a] = struct{}{}
	}
	return s
}

// Has reports whether a is in s. The unspecified address (a bind rule's
// 0.0.0.0 or ::, which leaves the bind on every address) is in every set.
func (s *AddrSet) Has(a netip.Addr) bool {
	if a.IsUnspecified() {
		return true
	}
	_, ok := s.m[a]
	return ok
}

// Len is the number of addresses in s.
func (s *AddrSet) Len() int { return len(s.m) }

// present returns the sources of srcs that are in s, in order: srcs itself
// when all are.
func (s *AddrSet) present(srcs []netip.Addr) []netip.Addr {
	for i, a := range srcs {
		if s.Has(a) {
			continue
		}
		out := append([]netip.Addr(nil), srcs[:i]...)
		for _, b := range srcs[i+1:] {
			if s.Has(b) {
				out = append(out, b)
			}
		}
		return out
	}
	return srcs
}

// presentCache holds a rule's present sources for one AddrSet, computed on
// the first call after the set changed: calls then pay two atomic loads for
// presence, and allocate only when an address comes or goes.
type presentCache struct{ v atomic.Pointer[presentView] }

type presentView struct {
	set  *AddrSet
	srcs []netip.Addr
}

func (c *presentCache) sources(set *AddrSet, srcs []netip.Addr) []netip.Addr {
	v := c.v.Load()
	if v == nil || v.set != set {
		v = &presentView{set: set, srcs: set.present(srcs)}
		c.v.Store(v)
	}
	return v.srcs
}

// Range calls f for each address of s, in no particular order, until f
// returns false.
func (s *AddrSet) Range(f func(netip.Addr) bool) {
	for a := range s.m {
		if !f(a) {
			return
		}
	}
}
