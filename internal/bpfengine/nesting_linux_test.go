//go:build linux

package bpfengine

import (
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestNesting: an engine on a child cgroup (an inner vipa-exec) applies its
// policy first; the engine of the parent (the outer one) then sees a bound
// socket and leaves it alone. Processes of the parent alone get the outer
// policy.
func TestNesting(t *testing.T) {
	dst := netip.MustParsePrefix("127.0.0.0/8")
	outer := newWorld(t, mustPolicy(t, []policy.ConnectRule{{Destination: dst, Sources: vipas4[:1]}}, nil))
	child := newCgroupIn(t, outer.cg.path)
	inner := &world{ns: outer.ns, cg: child, rec: outer.rec,
		e: loadEngine(t, child, mustPolicy(t, []policy.ConnectRule{{Destination: dst, Sources: vipas4[1:2]}}, nil))}

	if got := inner.goclient(t, "tcp4", "127.0.0.1", "", 2); !allAre(got, vipas4[1]) {
		t.Errorf("inner program's sources %v, want %v", got, vipas4[1])
	}
	if n := outer.e.Snapshot().LeftAlone["bound_by_program"]; n != 2 {
		t.Errorf("outer engine left %d connects alone as bound, want 2", n)
	}
	if got := outer.goclient(t, "tcp4", "127.0.0.1", "", 2); !allAre(got, vipas4[0]) {
		t.Errorf("outer program's sources %v, want %v", got, vipas4[0])
	}
}

// TestCloseDetaches: after Close no program is attached to the cgroup, the
// instance's trie is freed and no entry of the instance is left in the
// cached maps, which stay pinned.
func TestCloseDetaches(t *testing.T) {
	cg := newCgroup(t)
	e, err := Load(mustPolicy(t, []policy.ConnectRule{{Destination: netip.MustParsePrefix("127.0.0.0/8"), Sources: vipas4[:1]}}, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Attach(cg.fd); err != nil {
		_ = e.Close()
		t.Fatal(err)
	}
	attached := func() int {
		n := 0
		for _, h := range e.hooks() {
			r, err := link.QueryPrograms(link.QueryOptions{Target: cg.fd, Attach: h.attach})
			if err != nil {
				t.Fatalf("query %v: %v", h.attach, err)
			}
			n += len(r.Programs)
		}
		return n
	}
	if n := attached(); n != len(e.hooks()) {
		t.Fatalf("%d programs attached, want %d", n, len(e.hooks()))
	}
	info, err := e.trie.Info()
	if err != nil {
		t.Fatal(err)
	}
	trie, _ := info.ID()
	id := e.id
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if n := attached(); n != 0 {
		t.Errorf("%d programs still attached after Close", n)
	}
	if got := instanceEntries(t, pinnedObjs(t), id); len(got) != 0 {
		t.Errorf("entries of the closed instance %v, want none", got)
	}
	// The kernel frees a map after an RCU grace period.
	testutil.WaitFor(t, "the instance's trie freed", func() bool {
		m, err := ebpf.NewMapFromID(trie)
		if err == nil {
			_ = m.Close()
			return false
		}
		return true
	})
}
