//go:build linux

package bpfengine

import (
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

func progID(t *testing.T, p *ebpf.Program) ebpf.ProgramID {
	t.Helper()
	info, err := p.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	return id
}

// emptyCache removes the test's cache: the next Load loads and pins.
func emptyCache(t *testing.T) {
	t.Helper()
	testutil.RequireRoot(t)
	if err := os.RemoveAll(cacheDir()); err != nil {
		t.Fatal(err)
	}
}

func rrPolicy(t *testing.T) *policy.Policy {
	return mustPolicy(t, []policy.ConnectRule{{Destination: netip.MustParsePrefix("127.0.0.0/8"), Sources: vipas4, Policy: policy.RR}}, nil)
}

// TestCacheConcurrentStart: instances that start at once with no cache
// load the programs once: every one runs the same programs, those pinned.
func TestCacheConcurrentStart(t *testing.T) {
	emptyCache(t)
	p := rrPolicy(t)
	const n = 4
	engines := make([]*Engine, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { engines[i], errs[i] = Load(p, nil) })
	}
	wg.Wait()
	for i, e := range engines {
		if errs[i] != nil {
			t.Fatalf("Load %d: %v", i, errs[i])
		}
		t.Cleanup(func() { _ = e.Close() })
	}
	want := progID(t, pinnedObjs(t).VipaConnect4)
	for i, e := range engines {
		if got := progID(t, e.objs.VipaConnect4); got != want {
			t.Errorf("instance %d runs program %d, the cache holds %d: loaded twice", i, got, want)
		}
	}
}

// TestCacheKept: the last instance's Close leaves the programs pinned and
// the maps empty (its rr counters gone); the next instance uses them.
func TestCacheKept(t *testing.T) {
	emptyCache(t)
	p := rrPolicy(t)
	w := newWorld(t, p)
	w.goclient(t, "tcp4", "127.0.0.1", "", 2)
	first := progID(t, w.e.objs.VipaConnect4)
	if err := w.e.Close(); err != nil {
		t.Fatal(err)
	}
	objs := pinnedObjs(t)
	if k := keysOf[uint64](objs.Rr); len(k) != 0 {
		t.Errorf("rr counters %v left after the last instance", k)
	}
	e, err := Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.Close() }()
	if got := progID(t, e.objs.VipaConnect4); got != first {
		t.Errorf("the next instance runs program %d, not the cached %d", got, first)
	}
}

// kill leaves e as a SIGKILL of its supervisor does: its fds closed, links
// and locks with them, and its entries in the maps.
func kill(e *Engine) {
	for _, l := range e.links {
		_ = l.Close()
	}
	_ = e.trie.Close()
	_ = e.cache.lock.Close()
	if e.held != nil {
		_ = e.held.f.Close() // the lock's directory stays
		e.held = nil
	}
	_ = e.objs.Close()
}

// TestInstanceLocks: the sweep takes a free instance lock (a killed
// instance's), leaves a held one and reports it running, and never takes
// the lock of an instance that is being made: held under its new name, it
// is not reported running (it has no entries yet), and goes only once free.
func TestInstanceLocks(t *testing.T) {
	// flock works alike on every file system: a temporary directory
	// stands in for the BPF file system.
	c := &cache{dir: filepath.Join(t.TempDir(), "cache")}
	if err := os.Mkdir(c.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	held, err := c.holdInstance(1)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = held.release() }()
	killed, err := c.holdInstance(2)
	if err != nil {
		t.Fatal(err)
	}
	_ = killed.f.Close() // its directory stays, free
	making, err := openLock(filepath.Join(c.dir, newPrefix+instanceLock(3)))
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(making.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	var running []uint64
	c.removeInstanceLocks(func(id uint64) { running = append(running, id) })
	if !slices.Equal(running, []uint64{1}) {
		t.Errorf("running %v, want [1]", running)
	}
	for name, want := range map[string]bool{instanceLock(1): true, instanceLock(2): false, newPrefix + instanceLock(3): true} {
		if _, err := os.Stat(filepath.Join(c.dir, name)); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", name, err == nil, want)
		}
	}
	_ = making.Close() // its maker died before the rename
	c.removeInstanceLocks(nil)
	if _, err := os.Stat(making.Name()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a lock being made, once free: %v, want ErrNotExist", err)
	}
}

// TestCacheStale: entries of killed instances go: of one whose cgroup is
// gone when the next instance starts while others run, and of all of them,
// rr counters too, when the next instance is alone.
func TestCacheStale(t *testing.T) {
	emptyCache(t)
	p := rrPolicy(t)
	w := newWorld(t, p) // runs throughout the first part
	w.goclient(t, "tcp4", "127.0.0.1", "", 1)

	parent := filepath.Dir(w.cg.path)
	killed := func() uint64 {
		cg := newCgroupIn(t, parent)
		e, err := Load(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Attach(cg.fd); err != nil {
			t.Fatal(err)
		}
		(&world{ns: w.ns, cg: cg, rec: w.rec, e: e}).goclient(t, "tcp4", "127.0.0.1", "", 1)
		id := e.id
		kill(e)
		_ = unix.Close(cg.fd)
		cg.fd = -1
		return id
	}
	objs := pinnedObjs(t)
	id := killed()
	if got := instanceEntries(t, objs, id); len(got) == 0 {
		t.Fatal("no entries of the killed instance to clean")
	}
	// Its cgroup and that cgroup's storage are still there (the kernel
	// frees the storage asynchronously, after the next vipa-exec under the
	// parent removed the group): its lock, free, tells it is stale.
	e, err := Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if got := instanceEntries(t, objs, id); len(got) != 0 {
		t.Errorf("entries of a killed instance whose cgroup is gone %v, after the next start; want none", got)
	}
	if got := instanceEntries(t, objs, w.e.id); len(got) == 0 {
		t.Error("the running instance's entries went too")
	}
	if _, err := os.Stat(filepath.Join(cacheDir(), instanceLock(id))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the killed instance's lock after the next start: %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Join(cacheDir(), instanceLock(w.e.id))); err != nil {
		t.Errorf("the running instance's lock: %v", err)
	}
	removeCgroupOf(t, id, parent)

	// Everything killed: the next instance is alone, and empties the maps.
	id = killed()
	kill(w.e)
	w.e.links, w.e.trie, w.e.cache, w.e.objs = nil, nil, nil, vipaObjects{}
	w.e.id = 0
	e, err = Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.Close() }()
	if got := instanceEntries(t, objs, id); len(got) != 0 {
		t.Errorf("entries of a killed instance %v after everything was killed and the next started; want none", got)
	}
	if k := keysOf[uint64](objs.Rr); len(k) != 0 {
		t.Errorf("rr counters %v of killed instances left", k)
	}
}

// removeCgroupOf removes the child of parent whose id is id.
func removeCgroupOf(t *testing.T, id uint64, parent string) {
	t.Helper()
	ents, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		var st unix.Stat_t
		path := filepath.Join(parent, ent.Name())
		if err := unix.Stat(path, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		if st.Ino == id {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no cgroup %d under %s", id, parent)
}

// TestCacheUntrusted: a cache directory another user could write, or owned
// by another user, is refused with one line.
func TestCacheUntrusted(t *testing.T) {
	emptyCache(t)
	p := rrPolicy(t)
	e, err := Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	dir := cacheDir()
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	for _, tt := range []struct {
		name  string
		spoil func() error
	}{
		{"group writable", func() error { return os.Chmod(dir, 0o770) }},
		{"other user's", func() error { return os.Chown(dir, 65534, -1) }},
		{"lock of other user's", func() error { return os.Chown(filepath.Join(dir, lockName), 65534, -1) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.spoil(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				_ = os.Chmod(dir, 0o700)
				_ = os.Chown(dir, os.Geteuid(), -1)
				_ = os.Chown(filepath.Join(dir, lockName), os.Geteuid(), -1)
			}()
			e, err := Load(p, nil)
			if err == nil {
				_ = e.Close()
				t.Fatal("Load used an untrusted cache")
			}
			if !errors.Is(err, ErrUntrustedCache) {
				t.Errorf("Load: %v; want ErrUntrustedCache", err)
			}
		})
	}
}

// TestCacheOthersRemoved: the caches of other objects go once no instance
// uses them, when an instance starts alone; one in use stays.
func TestCacheOthersRemoved(t *testing.T) {
	emptyCache(t)
	mk := func(name string) (string, *os.File) {
		dir := filepath.Join(pinRoot, cachePrefix+strconv.Itoa(os.Geteuid())+"-"+name)
		if err := trustedDir(dir, false); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		lock, err := openLock(filepath.Join(dir, lockName))
		if err != nil {
			t.Fatal(err)
		}
		return dir, lock
	}
	unused, l1 := mk("0000000000000001")
	_ = l1.Close()
	used, l2 := mk("0000000000000002")
	defer func() { _ = l2.Close() }()
	if err := unix.Flock(int(l2.Fd()), unix.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	e, err := Load(rrPolicy(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.Close() }()
	if _, err := os.Stat(unused); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unused cache %s: %v; want it removed", unused, err)
	}
	if _, err := os.Stat(used); err != nil {
		t.Errorf("cache in use %s: %v", used, err)
	}
}

// TestRRShared: two instances of the same rr rule of the same file (two
// engines, two cgroups) share one rotation.
func TestRRShared(t *testing.T) {
	p := rrPolicy(t)
	w := newWorld(t, p)
	cg2 := newCgroup(t)
	w2 := &world{ns: w.ns, cg: cg2, rec: w.rec, e: loadEngine(t, cg2, p)}
	var got []netip.Addr
	for range 3 {
		got = append(got, w.goclient(t, "tcp4", "127.0.0.1", "", 1)...)
		got = append(got, w2.goclient(t, "tcp4", "127.0.0.1", "", 1)...)
	}
	if !rotates(got, vipas4) {
		t.Errorf("sources %v, alternating between the instances: want one rotation over %v", got, vipas4)
	}
}

// TestMapLayout: the layout openPins checks pins against, and the trie of
// a generation, are the object's.
func TestMapLayout(t *testing.T) {
	spec, err := loadVipa()
	if err != nil {
		t.Fatal(err)
	}
	_, maps := (&vipaObjects{}).slots()
	if len(maps) != len(mapLayout) {
		t.Errorf("%d maps in the objects, %d in mapLayout", len(maps), len(mapLayout))
	}
	for name := range maps {
		ms, l := spec.Maps[name], mapLayout[name]
		value := int(ms.ValueSize)
		if ms.Type == ebpf.HashOfMaps {
			value = 4 // a map's id, which the kernel stores
		}
		if ms.Type != l.typ || int(ms.KeySize) != l.key || value != l.value || ms.MaxEntries != l.maxEntries {
			t.Errorf("map %s: object %v key %d value %d entries %d; mapLayout %+v", name, ms.Type, ms.KeySize, value, ms.MaxEntries, l)
		}
	}
	in := spec.Maps[vipaMapPolicy].InnerMap
	if in.Type != trieSpec.Type || in.KeySize != trieSpec.KeySize || in.ValueSize != trieSpec.ValueSize ||
		in.MaxEntries != trieSpec.MaxEntries || in.Flags != trieSpec.Flags {
		t.Errorf("trie: object %+v, trieSpec %+v", in, trieSpec)
	}
}

// TestCacheUnusable: where the cache cannot be made (here a pinned map
// stands where its directory would be), the engine loads the programs for
// the instance alone, with a warning, and serves.
func TestCacheUnusable(t *testing.T) {
	emptyCache(t)
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Close() }()
	if err := m.Pin(cacheDir()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Unpin() }()
	var logs strings.Builder
	p := mustPolicy(t, []policy.ConnectRule{{Destination: netip.MustParsePrefix("127.0.0.0/8"), Sources: vipas4[:1]}}, nil)
	e, err := Load(p, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("Load without a cache: %v", err)
	}
	w := &world{ns: testutil.NewNetNS(t), cg: newCgroup(t), e: e}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := e.Attach(w.cg.fd); err != nil {
		t.Fatal(err)
	}
	w.ns.AddAddr(t, netip.PrefixFrom(vipas4[0], 32).String())
	w.rec = testutil.NewRecorder(t, w.ns.Listen(t, "tcp", "[::]:0"))
	if got := w.goclient(t, "tcp4", "127.0.0.1", "", 1); !allAre(got, vipas4[0]) {
		t.Errorf("sources %v, want %v", got, vipas4[0])
	}
	if !strings.Contains(logs.String(), "for this instance alone") {
		t.Errorf("no warning of the private load: %q", logs.String())
	}
}
