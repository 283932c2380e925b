//go:build linux

package bpfengine

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// The cache: the programs and maps, loaded and verified once, pinned in the
// BPF filesystem in a directory of the euid and of the object's identity,
// so that the next instance opens them instead of loading them again
// (loading is most of the engine's start). Each instance only adds its
// entries, keyed by its id, and removes them on exit; the cache keeps code
// and empty tables.
const (
	bpffsRoot = "/sys/fs/bpf"
	pinRoot   = bpffsRoot + "/vipa-exec"
	lockName  = "lock" // a directory: the BPF filesystem holds no regular files
	// cacheLayout changes when the Go side uses the maps differently
	// with the same object: its directory then differs too.
	cacheLayout = "instance-keys-1"
	maxRetries  = 10
)

// cachePrefix begins the cache directory's name. Tests set their own, so
// that instances outside the test neither share their cache nor find it
// unused.
var cachePrefix = ""

// ErrUntrustedCache is wrapped by the error of a cache directory that
// another user could write: whoever can replace a pin runs code in every
// program the engine serves.
var ErrUntrustedCache = errors.New("untrusted bpf cache directory")

// cache is an instance's hold on the pinned programs and maps.
//
// Locking: every instance holds a shared flock on the directory DIR/lock
// while it runs. Load first tries it exclusively without waiting: it
// succeeds when no instance runs, and then (alone) opens the pins, or loads
// and pins the objects if there are none (or not this binary's), empties
// every map (whatever is in them was left by killed instances), and turns
// its lock into a shared one. Otherwise it waits for a shared lock, which it
// gets once the loader is done, and opens the pins. Entries are added only
// under the shared lock, so an instance that holds the lock exclusively
// knows every entry to be stale. Close tries the lock exclusively without
// waiting: the last instance empties the maps (rr's counters, lc's counts).
type cache struct {
	dir  string
	lock *os.File
}

// cacheDir is the cache directory of this binary's object for the euid.
func cacheDir() string {
	h := sha256.New()
	h.Write(_VipaBytes)
	h.Write([]byte("\x00" + cacheLayout))
	return filepath.Join(pinRoot, cachePrefix+strconv.Itoa(os.Geteuid())+"-"+hex.EncodeToString(h.Sum(nil)[:8]))
}

// openCache returns the programs and maps from the cache, loading and
// pinning them if it holds none, and the hold on it.
func openCache() (*cache, *vipaObjects, error) {
	if err := mountBPFFS(); err != nil {
		return nil, nil, err
	}
	if err := checkRoot(); err != nil {
		return nil, nil, err
	}
	if err := trustedDir(pinRoot, true); err != nil {
		return nil, nil, err
	}
	c := &cache{dir: cacheDir()}
	if err := trustedDir(c.dir, false); err != nil {
		return nil, nil, err
	}
	lock, err := openLock(filepath.Join(c.dir, lockName))
	if err != nil {
		return nil, nil, err
	}
	c.lock = lock
	objs, err := c.open()
	if err != nil {
		_ = lock.Close()
		return nil, nil, err
	}
	return c, objs, nil
}

func (c *cache) flock(how int) error {
	if err := unix.Flock(int(c.lock.Fd()), how); err != nil {
		return fmt.Errorf("bpf cache %s: lock: %w", c.dir, err)
	}
	return nil
}

// open takes the lock, shared, and returns the objects; see cache.
func (c *cache) open() (*vipaObjects, error) {
	var lastErr error
	for range maxRetries {
		err := unix.Flock(int(c.lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return c.openAlone()
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("bpf cache %s: lock: %w", c.dir, err)
		}
		if err := c.flock(unix.LOCK_SH); err != nil {
			return nil, err
		}
		objs, err := openPins(c.dir)
		if err == nil {
			c.removeStale(objs)
			return objs, nil
		}
		// Other instances run, but the pins are gone (removed by hand):
		// try to be the one that loads them again.
		lastErr = err
		if err := c.flock(unix.LOCK_UN); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("bpf cache %s: other instances run, but it is incomplete (removed while in use?): %w", c.dir, lastErr)
}

// openAlone, with the lock held exclusively, opens or makes the pins,
// empties the maps, and turns the lock into a shared one.
func (c *cache) openAlone() (_ *vipaObjects, err error) {
	removeUnused(c.dir)
	objs, err := openPins(c.dir)
	if err != nil {
		if err := removePins(c.dir); err != nil {
			return nil, err
		}
		if objs, err = loadAndPin(c.dir); err != nil {
			return nil, err
		}
	}
	wipe(objs)
	c.removeInstanceLocks(nil)
	// Not atomic: another instance may take the lock exclusively in
	// between, and empty the maps, which hold no entry of this one yet.
	if err := c.flock(unix.LOCK_SH); err != nil {
		_ = objs.Close()
		return nil, err
	}
	return objs, nil
}

// close releases the hold; the last instance empties the maps.
func (c *cache) close(objs *vipaObjects) error {
	if unix.Flock(int(c.lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
		wipe(objs)
	}
	return c.lock.Close()
}

// trustedDir makes the directory path (mode 0700) unless it is there, and
// checks that only the euid (or root, for the shared root) can change it.
func trustedDir(path string, root bool) error {
	if err := unix.Mkdir(path, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("bpf cache: %w", &os.PathError{Op: "mkdir", Path: path, Err: err})
	}
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bpf cache: %w", err)
	}
	defer func() { _ = f.Close() }()
	return checkOwner(f, root)
}

// checkOwner refuses a directory not owned by the euid (or root, if root)
// or that its group or others can write (with root: any access at all by
// them, the cache's own directories being 0700).
func checkOwner(f *os.File, root bool) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("bpf cache: %s: %w", f.Name(), err)
	}
	euid := uint32(os.Geteuid())
	mode := st.Mode & 0o7777
	ownerOK := st.Uid == euid || (root && st.Uid == 0)
	permOK := mode&0o077 == 0 || (root && mode&0o022 == 0)
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || !ownerOK || !permOK {
		return fmt.Errorf("%s: owner uid %d, mode %#o: %w (want a directory of uid %d, mode 0700; remove it)", f.Name(), st.Uid, mode, ErrUntrustedCache, euid)
	}
	return nil
}

// checkRoot refuses a BPF filesystem whose root others could rename
// vipa-exec's directory in: not root's, or writable by others without the
// sticky bit.
func checkRoot() error {
	var st unix.Stat_t
	if err := unix.Stat(bpffsRoot, &st); err != nil {
		return fmt.Errorf("bpf cache: %s: %w", bpffsRoot, err)
	}
	if st.Uid != 0 || (st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0) {
		return fmt.Errorf("%s: owner uid %d, mode %#o: %w (want root's, writable by others only if sticky)", bpffsRoot, st.Uid, st.Mode&0o7777, ErrUntrustedCache)
	}
	return nil
}

// openLock opens the lock directory path, making it unless it is there.
func openLock(path string) (*os.File, error) {
	if err := unix.Mkdir(path, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("bpf cache: %w", &os.PathError{Op: "mkdir", Path: path, Err: err})
	}
	return openLockDir(path)
}

// openLockDir is openLock of a lock that must exist.
func openLockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("bpf cache: %w", err)
	}
	if err := checkOwner(f, false); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// mapLayout is each map of the object as the kernel reports it, which
// openPins checks a pinned map against without parsing the object (that
// costs a warm start milliseconds); TestMapLayout checks it against the
// object's.
var mapLayout = map[string]struct {
	typ        ebpf.MapType
	key, value int
	maxEntries uint32
}{
	"instances":    {ebpf.PerCPUCGroupStorage, 8, binary.Size(vipaVipaInstance{}), 0},
	"policy":       {ebpf.HashOfMaps, 8, 4, 1024},
	"rules":        {ebpf.Hash, binary.Size(vipaVipaRuleKey{}), binary.Size(vipaVipaRule{}), 32768},
	"sources":      {ebpf.Hash, binary.Size(vipaVipaSourceKey{}), binary.Size(vipaVipaAddr{}), 131072},
	"rr":           {ebpf.Hash, 8, 8, 1024},
	"lrr":          {ebpf.LRUHash, binary.Size(vipaVipaLrrKey{}), 8, 8192},
	"lc":           {ebpf.Hash, binary.Size(vipaVipaAddr{}), 8, 4096},
	"source_stats": {ebpf.LRUCPUHash, binary.Size(vipaVipaSourceKey{}), 8, 4096},
}

// trieSpec is the inner map of policy: one generation of an instance's
// rules (TestMapLayout checks it against the object's).
var trieSpec = &ebpf.MapSpec{
	Type:       ebpf.LPMTrie,
	KeySize:    uint32(binary.Size(vipaVipaKey{})),
	ValueSize:  uint32(binary.Size(vipaVipaChain{})),
	MaxEntries: 4096, // VIPA_MAX_PREFIXES
	Flags:      unix.BPF_F_NO_PREALLOC,
}

// openPins opens the pinned objects in dir, checking that each is what the
// object would load: a program of the type and name, a map of mapLayout's
// type, sizes and entries. An error means the cache is incomplete or not
// this binary's.
func openPins(dir string) (_ *vipaObjects, err error) {
	objs := new(vipaObjects)
	defer func() {
		if err != nil {
			_ = objs.Close()
		}
	}()
	progs, maps := objs.slots()
	for name, slot := range progs {
		p, err := ebpf.LoadPinnedProgram(filepath.Join(dir, name), nil)
		if err != nil {
			return nil, err
		}
		*slot = p
		// String names the program as the kernel does; Info would cost
		// another round of syscalls.
		if p.Type() != ebpf.CGroupSockAddr || !strings.Contains(p.String(), "("+truncName(name)+")") {
			return nil, fmt.Errorf("pinned program %s: %v, not the object's", name, p)
		}
	}
	for name, slot := range maps {
		m, err := ebpf.LoadPinnedMap(filepath.Join(dir, name), nil)
		if err != nil {
			return nil, err
		}
		*slot = m
		l := mapLayout[name]
		if m.Type() != l.typ || int(m.KeySize()) != l.key || int(m.ValueSize()) != l.value || m.MaxEntries() != l.maxEntries {
			return nil, fmt.Errorf("pinned map %s: not the object's (type %v, key %d, value %d, entries %d)",
				name, m.Type(), m.KeySize(), m.ValueSize(), m.MaxEntries())
		}
	}
	return objs, nil
}

// truncName is name as the kernel keeps it (BPF_OBJ_NAME_LEN with the NUL).
func truncName(name string) string {
	if len(name) > unix.BPF_OBJ_NAME_LEN-1 {
		return name[:unix.BPF_OBJ_NAME_LEN-1]
	}
	return name
}

// slots are where openPins puts each object, by name.
func (o *vipaObjects) slots() (map[string]**ebpf.Program, map[string]**ebpf.Map) {
	return map[string]**ebpf.Program{
			"vipa_connect4": &o.VipaConnect4, "vipa_connect6": &o.VipaConnect6,
			"vipa_bind4": &o.VipaBind4, "vipa_bind6": &o.VipaBind6,
			"vipa_sendmsg4": &o.VipaSendmsg4, "vipa_sendmsg6": &o.VipaSendmsg6,
		}, map[string]**ebpf.Map{
			"instances": &o.Instances, "policy": &o.Policy, "rules": &o.Rules, "sources": &o.Sources,
			"rr": &o.Rr, "lrr": &o.Lrr, "lc": &o.Lc, "source_stats": &o.SourceStats,
		}
}

// loadAndPin loads the object (the verifier's work, most of the engine's
// start) and pins its programs and maps in dir.
func loadAndPin(dir string) (_ *vipaObjects, err error) {
	spec, err := loadVipa()
	if err != nil {
		return nil, fmt.Errorf("bpf engine: %w", err)
	}
	_, maps := (&vipaObjects{}).slots()
	for name := range maps {
		spec.Maps[name].Pinning = ebpf.PinByName
	}
	objs := new(vipaObjects)
	if err := spec.LoadAndAssign(objs, &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: dir}}); err != nil {
		_ = removePins(dir)
		return nil, fmt.Errorf("bpf engine: load programs: %w", err)
	}
	defer func() {
		if err != nil {
			_ = objs.Close()
			_ = removePins(dir)
		}
	}()
	progs, _ := objs.slots()
	for name, p := range progs {
		if err := (*p).Pin(filepath.Join(dir, name)); err != nil {
			return nil, fmt.Errorf("bpf cache: pin %s: %w", name, err)
		}
	}
	return objs, nil
}

// loadPrivate loads the object unpinned, for an instance that cannot use
// the cache.
func loadPrivate() (*vipaObjects, error) {
	spec, err := loadVipa()
	if err != nil {
		return nil, fmt.Errorf("bpf engine: %w", err)
	}
	objs := new(vipaObjects)
	if err := spec.LoadAndAssign(objs, nil); err != nil {
		return nil, fmt.Errorf("bpf engine: load programs: %w", err)
	}
	return objs, nil
}

// removePins removes everything in dir but the lock.
func removePins(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("bpf cache: %w", err)
	}
	for _, ent := range ents {
		if _, ok := instanceOf(ent.Name()); ok || ent.Name() == lockName {
			continue
		}
		if err := os.Remove(filepath.Join(dir, ent.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("bpf cache: remove stale pin: %w", err)
		}
	}
	return nil
}

// removeUnused removes the caches of this euid's other objects (other
// vipa-exec binaries) that no instance uses: their lock is free. So does
// it with the rr map that binaries before the cache pinned alone
// (rr_EUID, locked by the directory rr_EUID_lock). Best effort: a cache it
// cannot remove only takes room.
func removeUnused(own string) {
	ents, err := os.ReadDir(pinRoot)
	if err != nil {
		return
	}
	euid := strconv.Itoa(os.Geteuid())
	prefix := cachePrefix + euid + "-"
	for _, ent := range ents {
		dir := filepath.Join(pinRoot, ent.Name())
		switch {
		case dir != own && ent.IsDir() && strings.HasPrefix(ent.Name(), prefix):
			removeIfFree(filepath.Join(dir, lockName), dir)
		case cachePrefix == "" && ent.Name() == "rr_"+euid+"_lock":
			removeIfFree(dir, filepath.Join(pinRoot, "rr_"+euid), dir)
		}
	}
}

// removeIfFree removes paths (recursively) if nobody holds the flock on
// the directory lock.
func removeIfFree(lock string, paths ...string) {
	f, err := os.OpenFile(lock, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer func() { _ = f.Close() }()
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		return
	}
	for _, p := range paths {
		_ = os.RemoveAll(p)
	}
}

// wipe empties every map but the cgroup storage (which the kernel frees
// with its cgroup).
func wipe(objs *vipaObjects) {
	deleteAll[uint64](objs.Policy, nil)
	deleteAll[vipaVipaRuleKey](objs.Rules, nil)
	deleteAll[vipaVipaSourceKey](objs.Sources, nil)
	deleteAll[uint64](objs.Rr, nil)
	deleteAll[vipaVipaLrrKey](objs.Lrr, nil)
	deleteAll[vipaVipaAddr](objs.Lc, nil)
	deleteAll[vipaVipaSourceKey](objs.SourceStats, nil)
}

// removeInstance removes every entry of the instance id.
func removeInstance(objs *vipaObjects, id uint64) {
	_ = objs.Policy.Delete(id)
	deleteAll(objs.Rules, func(k *vipaVipaRuleKey) bool { return k.Instance == id })
	deleteAll(objs.Sources, func(k *vipaVipaSourceKey) bool { return k.Instance == id })
	deleteAll(objs.Lrr, func(k *vipaVipaLrrKey) bool { return k.Instance == id })
	deleteAll(objs.SourceStats, func(k *vipaVipaSourceKey) bool { return k.Instance == id })
}

// deleteAll deletes the entries of m whose key match accepts (nil: all).
func deleteAll[K any](m *ebpf.Map, match func(*K) bool) {
	for _, k := range keysOf[K](m) {
		if match == nil || match(&k) {
			_ = m.Delete(k)
		}
	}
}

// An instance's lock: the directory DIR/iID (ID its cgroup's id), on which
// the instance holds an exclusive flock from before it adds its first
// entry until it has removed its last. An entry whose instance's lock is
// free (or gone) is stale: its supervisor was killed. The cgroup's storage
// cannot tell: the kernel frees it with the cgroup, asynchronously, after
// the next instance's start removed the killed one's group.
const instancePrefix = "i"

// instanceLock is the name of the lock of instance id.
func instanceLock(id uint64) string { return instancePrefix + strconv.FormatUint(id, 10) }

// instanceOf returns the id of the instance lock name, if it is one.
func instanceOf(name string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, instancePrefix)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseUint(s, 10, 64)
	return id, err == nil && instanceLock(id) == name
}

// holdInstance makes and locks the lock of the instance id. The lock is
// made and taken under another name, then renamed: a lock of this name
// that is free is stale, and another instance's sweep, between a mkdir
// and the flock, would take it away (or hold it first).
func (c *cache) holdInstance(id uint64) (*instanceHold, error) {
	path := filepath.Join(c.dir, instanceLock(id))
	tmp := filepath.Join(c.dir, newPrefix+instanceLock(id))
	f, err := openLock(tmp)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("bpf cache: lock %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("bpf cache: %w", err)
	}
	return &instanceHold{f: f, path: path}, nil
}

// instanceHold is an instance's held lock.
type instanceHold struct {
	f    *os.File
	path string
}

// release removes the instance's lock, its entries being gone.
func (h *instanceHold) release() error {
	err := os.Remove(h.path)
	if errors.Is(err, os.ErrNotExist) {
		err = nil // an instance alone took it, as it does after a SIGKILL
	}
	if cerr := h.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeStale removes the entries of instances whose lock nobody holds,
// and those locks. Only policy's and rules' keys are read, a few per
// instance: every instance has those while it runs (the LRU maps, lrr and
// source_stats, can hold thousands of keys, and evict what a supervisor
// killed while it removed its entries left in them). The keys are read
// before the locks: an instance holds its lock, under its final name,
// before it adds an entry, so an id read here whose lock the sweep does
// not find held is stale.
func (c *cache) removeStale(objs *vipaObjects) {
	ids := map[uint64]bool{}
	for _, k := range keysOf[uint64](objs.Policy) {
		ids[k] = true
	}
	for _, k := range keysOf[vipaVipaRuleKey](objs.Rules) {
		ids[k.Instance] = true
	}
	c.removeInstanceLocks(func(id uint64) { delete(ids, id) })
	for id := range ids {
		removeInstance(objs, id)
	}
}

// removeInstanceLocks removes the instance locks nobody holds, and tells
// running of each id whose lock is held (nil: nobody's can be).
func (c *cache) removeInstanceLocks(running func(id uint64)) {
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	for _, ent := range ents {
		name, making := strings.CutPrefix(ent.Name(), newPrefix)
		id, ok := instanceOf(name)
		if !ok || !ent.IsDir() {
			continue
		}
		path := filepath.Join(c.dir, ent.Name())
		f, err := openLockDir(path)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			// Stale: its entries go too. (One being made whose maker
			// died before its flock goes as well: it has none.)
			_ = os.Remove(path)
		} else if running != nil && !making {
			running(id)
		}
		_ = f.Close()
	}
}

// newPrefix begins the name of an instance's lock while it is made
// (holdInstance).
const newPrefix = "new"

// mountBPFFS mounts the BPF filesystem at /sys/fs/bpf unless it is there,
// as systemd does at boot.
func mountBPFFS() error {
	var st unix.Statfs_t
	if err := unix.Statfs(bpffsRoot, &st); err != nil {
		return fmt.Errorf("bpf cache: %s: %w", bpffsRoot, err)
	}
	if st.Type == unix.BPF_FS_MAGIC {
		return nil
	}
	if err := unix.Mount("bpf", bpffsRoot, "bpf", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700"); err != nil {
		return fmt.Errorf("bpf cache: mount bpf filesystem on %s: %w", bpffsRoot, err)
	}
	return nil
}

// CachedMaps are the names of the maps the cache keeps pinned: what stays
// of the engine when no instance runs (with the programs).
var CachedMaps = []string{"instances", "policy", "rules", "sources", "rr", "lrr", "lc", "source_stats"}

// CacheDir is the cache directory of this binary for its euid; CacheDir()
// + "/lock" is the directory every running instance holds a shared flock on.
func CacheDir() string { return cacheDir() }

// RRCounters returns how many rr counters the cache's rr map holds, for
// tests and diagnosis: none once the last instance has exited.
func RRCounters() (int, error) {
	return countPinned(func(objs *vipaObjects) int { return len(keysOf[uint64](objs.Rr)) })
}

// Entries returns how many entries of the instance of the cgroup of id
// cgroupID the cache's maps hold, for tests and diagnosis: 0 once the
// instance is gone and cleaned up. With no cache it returns 0.
func Entries(cgroupID uint64) (int, error) {
	return countPinned(func(objs *vipaObjects) int {
		n := 0
		count := func(match bool) {
			if match {
				n++
			}
		}
		for _, k := range keysOf[uint64](objs.Policy) {
			count(k == cgroupID)
		}
		for _, k := range keysOf[vipaVipaRuleKey](objs.Rules) {
			count(k.Instance == cgroupID)
		}
		for _, k := range keysOf[vipaVipaSourceKey](objs.Sources) {
			count(k.Instance == cgroupID)
		}
		for _, k := range keysOf[vipaVipaLrrKey](objs.Lrr) {
			count(k.Instance == cgroupID)
		}
		for _, k := range keysOf[vipaVipaSourceKey](objs.SourceStats) {
			count(k.Instance == cgroupID)
		}
		return n
	})
}

// countPinned opens the cache's pins and counts in them with count; with
// no cache it returns 0.
func countPinned(count func(*vipaObjects) int) (int, error) {
	objs, err := openPins(cacheDir())
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer func() { _ = objs.Close() }()
	return count(objs), nil
}
