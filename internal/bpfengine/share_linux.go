//go:build linux

package bpfengine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Where rr counters are shared: the map is pinned in the BPF filesystem,
// one per euid, and every instance holds a shared flock on a directory
// beside the pin while it uses it. The lock lives in the same BPF
// filesystem as the pin, so that instances that see another one (in
// another mount namespace) neither share a lock nor unpin each other's map.
const (
	bpffsRoot  = "/sys/fs/bpf"
	pinDir     = bpffsRoot + "/vipa-exec"
	maxRetries = 10
)

// rrPrefix begins the names of the pin and the lock file (and the map's
// name, at most 15 bytes). Tests set their own, so that instances outside
// the test cannot share their counters.
var rrPrefix = "rr_"

// rrShare is an instance's hold on the pinned rr map.
//
// Lifetime: Load takes the lock exclusively without waiting; it succeeds
// only when no instance holds it, and then removes a pin left by instances
// that were killed, before it creates and pins a fresh map. Otherwise it
// waits for a shared lock and uses the pinned map. Close tries the lock
// exclusively without waiting: the last instance succeeds and unpins the
// map, which the kernel frees with its last reference. The kernel drops the
// flocks of killed instances, so the next instance cleans up after them.
type rrShare struct {
	lock *os.File
	pin  string
}

// shareRR prepares spec's rr map to be pinned and shared, and returns the
// hold on it and the options to load spec with.
func shareRR(spec *ebpf.CollectionSpec) (*rrShare, *ebpf.CollectionOptions, error) {
	if err := mountBPFFS(); err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(pinDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("rr share: %w", err)
	}
	name := rrPrefix + strconv.Itoa(os.Geteuid())
	// The BPF filesystem holds no regular files, and no dots in names: the
	// lock is a directory, NAME_lock.
	lockPath := filepath.Join(pinDir, name+"_lock")
	if err := unix.Mkdir(lockPath, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, nil, fmt.Errorf("rr share: %w", &os.PathError{Op: "mkdir", Path: lockPath, Err: err})
	}
	lock, err := os.OpenFile(lockPath, os.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("rr share: %w", err)
	}
	s := &rrShare{lock: lock, pin: filepath.Join(pinDir, name)}
	for range maxRetries {
		err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			// Alone: whatever is pinned is left by the dead.
			if err := os.Remove(s.pin); err != nil && !errors.Is(err, os.ErrNotExist) {
				_ = lock.Close()
				return nil, nil, fmt.Errorf("rr share: remove stale pin: %w", err)
			}
			break // keep the exclusive lock until the map is pinned
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			_ = lock.Close()
			return nil, nil, fmt.Errorf("rr share: lock: %w", err)
		}
		if err := unix.Flock(int(lock.Fd()), unix.LOCK_SH); err != nil {
			_ = lock.Close()
			return nil, nil, fmt.Errorf("rr share: lock: %w", err)
		}
		if _, err := os.Stat(s.pin); err == nil {
			break
		}
		// The last holder unpinned it on its way out: start over.
		_ = unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	}
	m := spec.Maps[vipaMapRr]
	m.Name = name
	m.Pinning = ebpf.PinByName
	return s, &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: pinDir}}, nil
}

// loaded turns an exclusive lock into a shared one once the map is pinned.
func (s *rrShare) loaded() error {
	if err := unix.Flock(int(s.lock.Fd()), unix.LOCK_SH); err != nil {
		return fmt.Errorf("rr share: lock: %w", err)
	}
	return nil
}

// close releases the hold; the last instance unpins the map.
func (s *rrShare) close() error {
	var err error
	if unix.Flock(int(s.lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
		if rerr := os.Remove(s.pin); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = fmt.Errorf("rr share: unpin: %w", rerr)
		}
	}
	return errors.Join(err, s.lock.Close())
}

// mountBPFFS mounts the BPF filesystem at /sys/fs/bpf unless it is there,
// as systemd does at boot.
func mountBPFFS() error {
	var st unix.Statfs_t
	if err := unix.Statfs(bpffsRoot, &st); err != nil {
		return fmt.Errorf("rr share: %s: %w", bpffsRoot, err)
	}
	if st.Type == unix.BPF_FS_MAGIC {
		return nil
	}
	if err := unix.Mount("bpf", bpffsRoot, "bpf", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700"); err != nil {
		return fmt.Errorf("rr share: mount bpf filesystem on %s: %w", bpffsRoot, err)
	}
	return nil
}
