//go:build linux

package bpfengine

import (
	"net/netip"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/policy"
)

// The tests' instances share their cache with no instance outside them.
func init() { cachePrefix = "test-" }

// TestInstancesApart: two instances at once, on two cgroups with policies
// of their own, each bind their own program's sockets by their own policy
// and count only those calls.
func TestInstancesApart(t *testing.T) {
	dst := netip.MustParsePrefix("127.0.0.0/8")
	a := newWorld(t, mustPolicy(t, []policy.ConnectRule{{Destination: dst, Sources: vipas4[:1], Policy: policy.LRR}}, nil))
	cg := newCgroup(t)
	b := &world{ns: a.ns, cg: cg, rec: a.rec,
		e: loadEngine(t, cg, mustPolicy(t, []policy.ConnectRule{{Destination: dst, Sources: vipas4[1:2], Policy: policy.LRR}}, nil))}

	if got := a.goclient(t, "tcp4", "127.0.0.1", "", 2); !allAre(got, vipas4[0]) {
		t.Errorf("first instance's sources %v, want %v", got, vipas4[0])
	}
	if got := b.goclient(t, "tcp4", "127.0.0.1", "", 3); !allAre(got, vipas4[1]) {
		t.Errorf("second instance's sources %v, want %v", got, vipas4[1])
	}
	for _, c := range []struct {
		name string
		w    *world
		n    uint64
		src  netip.Addr
	}{{"first", a, 2, vipas4[0]}, {"second", b, 3, vipas4[1]}} {
		s := c.w.e.Snapshot()
		if s.Calls["connect"] != c.n || s.Bound != c.n {
			t.Errorf("%s instance counted %d connects, %d bound; want %d of its own", c.name, s.Calls["connect"], s.Bound, c.n)
		}
		if len(s.PerSource) != 1 || s.PerSource[0].Source != c.src || s.PerSource[0].Count != c.n {
			t.Errorf("%s instance's per-source counts %+v, want %d for %v alone", c.name, s.PerSource, c.n, c.src)
		}
	}
}

// pinnedObjs opens the cache's pins, as an instance that finds them would;
// the test's cleanup closes them.
func pinnedObjs(t *testing.T) *vipaObjects {
	t.Helper()
	objs, err := openPins(cacheDir())
	if err != nil {
		t.Fatalf("open the cache: %v", err)
	}
	t.Cleanup(func() { _ = objs.Close() })
	return objs
}

// instanceEntries counts the entries of the shared maps keyed by id.
func instanceEntries(t *testing.T, objs *vipaObjects, id uint64) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, k := range keysOf[uint64](objs.Policy) {
		if k == id {
			n["policy"]++
		}
	}
	for _, k := range keysOf[vipaVipaRuleKey](objs.Rules) {
		if k.Instance == id {
			n["rules"]++
		}
	}
	for _, k := range keysOf[vipaVipaSourceKey](objs.Sources) {
		if k.Instance == id {
			n["sources"]++
		}
	}
	for _, k := range keysOf[vipaVipaLrrKey](objs.Lrr) {
		if k.Instance == id {
			n["lrr"]++
		}
	}
	for _, k := range keysOf[vipaVipaSourceKey](objs.SourceStats) {
		if k.Instance == id {
			n["source_stats"]++
		}
	}
	return n
}

// TestCloseRemovesEntries: an instance's Close removes every entry keyed
// by it from the shared maps, and leaves another instance's.
func TestCloseRemovesEntries(t *testing.T) {
	dst := netip.MustParsePrefix("127.0.0.0/8")
	p := mustPolicy(t, []policy.ConnectRule{{Destination: dst, Sources: vipas4[:2], Policy: policy.LRR}}, nil)
	w := newWorld(t, p)
	cg := newCgroup(t)
	e, err := Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Attach(cg.fd); err != nil {
		_ = e.Close()
		t.Fatal(err)
	}
	w2 := &world{ns: w.ns, cg: cg, rec: w.rec, e: e}
	w.goclient(t, "tcp4", "127.0.0.1", "", 2)
	w2.goclient(t, "tcp4", "127.0.0.1", "", 2)
	id, objs := e.id, &e.objs
	want := map[string]int{"policy": 1, "rules": 1, "sources": 2, "lrr": 1, "source_stats": 1}
	if got := instanceEntries(t, objs, id); len(got) != len(want) {
		t.Fatalf("entries of a running instance %v, want some of each of %v", got, want)
	}
	// The maps are shared: the other instance's are this one's.
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if got := instanceEntries(t, &w.e.objs, id); len(got) != 0 {
		t.Errorf("entries of a closed instance %v, want none", got)
	}
	if got := instanceEntries(t, &w.e.objs, w.e.id); len(got) != len(want) {
		t.Errorf("entries of the running instance after the other's Close %v, want some of each of %v", got, want)
	}
}
