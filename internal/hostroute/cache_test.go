package hostroute

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// fakeRoutes answers from a table of destination → interface and counts
// the questions, as the kernel would answer RTM_GETROUTE.
type fakeRoutes struct {
	table map[netip.Addr]string
	err   error
	asked int
}

func (f *fakeRoutes) lookup(dst netip.Addr) (string, bool, error) {
	f.asked++
	if f.err != nil {
		return "", false, f.err
	}
	name, ok := f.table[dst]
	return name, ok, nil
}

func TestCache(t *testing.T) {
	a, b, c := netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.2.0.1"), netip.MustParseAddr("2001:db8::1")
	f := &fakeRoutes{table: map[netip.Addr]string{a: "veth1", b: "veth2"}}
	cache := NewCache(f.lookup)
	type step struct {
		name  string
		do    func()
		dst   netip.Addr
		iface string
		ok    bool
		asked int // questions asked so far
	}
	steps := []step{
		{"first: asked", nil, a, "veth1", true, 1},
		{"again: cached", nil, a, "veth1", true, 1},
		{"other destination", nil, b, "veth2", true, 2},
		{"no route: asked", nil, c, "", false, 3},
		{"no route: cached too", nil, c, "", false, 3},
		{"route changed, not yet announced: cached", func() { f.table[a] = "veth2" }, a, "veth1", true, 3},
		{"announced: asked again", cache.Invalidate, a, "veth2", true, 4},
		{"then cached", nil, a, "veth2", true, 4},
		{"others asked again once", nil, b, "veth2", true, 5},
		{"an error is not cached", func() { cache.Invalidate(); f.err = errors.New("EMFILE") }, a, "", false, 6},
		{"asked again", func() { f.err = nil }, a, "veth2", true, 7},
		{"bypassed: asked every time", cache.Bypass, a, "veth2", true, 8},
		{"bypassed: again", nil, a, "veth2", true, 9},
	}
	for _, s := range steps {
		if s.do != nil {
			s.do()
		}
		iface, ok := cache.Interface(s.dst)
		type result struct {
			Iface string
			OK    bool
			Asked int
		}
		if d := testutil.Diff(result{s.iface, s.ok, s.asked}, result{iface, ok, f.asked}); d != "" {
			t.Errorf("%s: Interface(%s) (-want +got):\n%s", s.name, s.dst, d)
		}
	}
}

// TestCacheBounded: a program connecting to ever new destinations cannot
// grow the cache without bound.
func TestCacheBounded(t *testing.T) {
	f := &fakeRoutes{table: map[netip.Addr]string{}}
	cache := NewCache(f.lookup)
	a := netip.MustParseAddr("10.0.0.0")
	for range 3 * MaxEntries {
		a = a.Next()
		cache.Interface(a)
	}
	if n := len(cache.m); n > MaxEntries {
		t.Errorf("%d entries, want at most %d", n, MaxEntries)
	}
}

// BenchmarkCacheHit is the cost a warm cache adds to a trapped call of a
// policy with [[interface]] rules.
func BenchmarkCacheHit(b *testing.B) {
	f := &fakeRoutes{table: map[netip.Addr]string{netip.MustParseAddr("10.1.0.1"): "veth1"}}
	cache := NewCache(f.lookup)
	dst := netip.MustParseAddr("10.1.0.1")
	cache.Interface(dst)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			cache.Interface(dst)
		}
	})
	if f.asked != 1 {
		b.Fatalf("asked %d times, want 1", f.asked)
	}
}
