//go:build linux

package rrstate

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/trusted"
)

// DefaultDir is where root's supervisors keep rr counters: on tmpfs,
// writable by root alone, so that nobody else can create, replace or
// remove a counter that root's programs use.
const DefaultDir = "/run/vipa-exec/rr"

// DirFor is the directory of counters of the supervisors that run as euid:
// DefaultDir for root, else one in the user's runtime directory (which
// systemd-logind makes, 0700), since only root may write DefaultDir.
func DirFor(euid int) string {
	if euid == 0 {
		return DefaultDir
	}
	return fmt.Sprintf("/run/user/%d/vipa-exec/rr", euid)
}

// The file: a page, its first line a header, the counter at counterOff, the
// description of the rule from descOff.
const (
	fileSize   = 4096
	header     = "vipa-exec rr counter v1\n"
	counterOff = 64
	descOff    = 128
	filePrefix = "rr-"
	tmpPrefix  = ".tmp-rr-"
)

// ErrForeign is wrapped by the error for a file at a counter's path that is
// not a counter, and ErrUntrusted by that for a directory or counter that
// another user could write.
var (
	ErrForeign   = errors.New("not a vipa-exec rr counter")
	ErrUntrusted = trusted.ErrUntrusted
)

// Dir is a directory of counters, open for one supervisor.
type Dir struct {
	path string
	fd   int // O_DIRECTORY: every file is reached relative to it

	mu       sync.Mutex
	counters map[string]*Counter // by file name
	closed   bool
}

// Open opens (and creates, with its parent) the directory of counters at
// path, and removes the counters that no instance uses any more. The
// directory and those above it must be owned by root or by this process's
// euid and writable by nobody else: whoever could write them could choose
// the sources of this user's programs.
func Open(path string) (*Dir, error) {
	euid := os.Geteuid()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("rr state: %w", err)
	}
	if err := trusted.CheckDir(filepath.Dir(path), "directory of rr state", euid); err != nil {
		return nil, fmt.Errorf("rr state: %w", err)
	}
	if err := unix.Mkdir(path, 0o755); err == nil {
		// Mkdir's mode passed through the umask.
		if err := unix.Chmod(path, 0o755); err != nil {
			return nil, fmt.Errorf("rr state: chmod %s: %w", path, err)
		}
	} else if err != unix.EEXIST {
		return nil, fmt.Errorf("rr state: mkdir %s: %w", path, err)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("rr state: open %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("rr state: stat %s: %w", path, err)
	}
	if int(st.Uid) == euid && st.Mode&0o022 != 0 {
		// This user's own directory, left writable by others by a
		// vipa-exec before 2026-12 (which shared one sticky directory
		// among all users): tighten it. The counters in it are checked
		// one by one as they are opened.
		if err := unix.Fchmod(fd, st.Mode&0o755); err != nil {
			_ = unix.Close(fd)
			return nil, fmt.Errorf("rr state: chmod go-w %s: %w", path, err)
		}
		st.Mode &= 0o755
	}
	if st.Uid != 0 && int(st.Uid) != euid || st.Mode&0o022 != 0 {
		// Anyone else could create a counter of this user's first, or
		// replace or remove one.
		_ = unix.Close(fd)
		return nil, fmt.Errorf("rr state: %w", &trusted.Error{Path: path, Err: ErrUntrusted,
			Msg: fmt.Sprintf("refusing a directory of counters that another user could write (mode %04o, owner uid %d); it must be owned by root or uid %d, fix with chmod go-w %s",
				st.Mode&0o7777, st.Uid, euid, path)})
	}
	d := &Dir{path: path, fd: fd, counters: map[string]*Counter{}}
	d.sweep()
	return d, nil
}

// FileName is the name of the counter for key in a Dir.
func FileName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filePrefix + hex.EncodeToString(sum[:16])
}

// Counter returns the counter for key (the policy file and rule), created
// with mode if no instance has it yet. The same key gives the same Counter
// until Close.
func (d *Dir) Counter(key string, mode fs.FileMode) (*Counter, error) {
	name := FileName(key)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, fmt.Errorf("rr state %s: %w", d.path, fs.ErrClosed)
	}
	if c := d.counters[name]; c != nil {
		return c, nil
	}
	c, err := d.open(name, key, mode)
	if err != nil {
		return nil, fmt.Errorf("rr state %s: %w", filepath.Join(d.path, name), err)
	}
	d.counters[name] = c
	return c, nil
}

// open returns the counter file name, holding its shared lock, creating it
// if needed. A file removed between open and lock is retried.
func (d *Dir) open(name, key string, mode fs.FileMode) (*Counter, error) {
	for range 100 {
		fd, err := unix.Openat(d.fd, name, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			fd, err = d.create(name, key, mode)
			if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOENT) {
				continue // another instance was faster, or swept our temporary file
			}
			if err != nil {
				return nil, err
			}
		} else if err != nil {
			return nil, err
		} else if err := owned(fd, mode); err != nil {
			_ = unix.Close(fd)
			return nil, err
		} else if err := unix.Flock(fd, unix.LOCK_SH); err != nil {
			_ = unix.Close(fd)
			return nil, fmt.Errorf("lock: %w", err)
		}
		if !d.names(fd, name) {
			_ = unix.Close(fd) // removed by its last user or a sweep meanwhile
			continue
		}
		c, err := mapCounter(fd)
		if err != nil {
			_ = unix.Close(fd)
			return nil, err
		}
		c.dir, c.name = d, name
		return c, nil
	}
	return nil, errors.New("the file keeps being replaced")
}

// owned checks that the counter file fd, made by another instance, is
// owned by root or this process's euid and has no mode bits beyond mode
// (the rule's rr_mode): a counter someone else could write would let them
// steer which source this instance's next connections get.
func owned(fd int, mode fs.FileMode) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Uid != 0 && int(st.Uid) != os.Geteuid() || st.Mode&0o7777&^uint32(mode.Perm()) != 0 {
		return &trusted.Error{Err: ErrUntrusted,
			Msg: fmt.Sprintf("refusing a counter that another user could write (mode %04o, owner uid %d, rr_mode %04o); remove it", st.Mode&0o7777, st.Uid, mode.Perm())}
	}
	return nil
}

// create makes the counter file under a temporary name and renames it into
// place, so that no instance ever sees it half written. It returns the file
// with its shared lock held, or EEXIST if another instance created it
// first.
func (d *Dir) create(name, key string, mode fs.FileMode) (int, error) {
	tmp := tmpPrefix + randomHex()
	fd, err := unix.Openat(d.fd, tmp, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return -1, fmt.Errorf("create: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = unix.Unlinkat(d.fd, tmp, 0)
			_ = unix.Close(fd)
		}
	}()
	if err := unix.Flock(fd, unix.LOCK_SH); err != nil {
		return -1, fmt.Errorf("lock: %w", err)
	}
	page := make([]byte, fileSize)
	copy(page, header)
	var start [8]byte
	if _, err := rand.Read(start[:]); err != nil {
		return -1, err
	}
	// A random start: instances that never overlap still spread their
	// first connections. Within 2^32 so the counter never wraps.
	binary.NativeEndian.PutUint64(page[counterOff:], uint64(binary.NativeEndian.Uint32(start[:])))
	desc := "rule: " + strings.ReplaceAll(key, "\x00", " ") + "\n"
	copy(page[descOff:fileSize-1], desc)
	if _, err := unix.Pwrite(fd, page, 0); err != nil {
		return -1, fmt.Errorf("write: %w", err)
	}
	if err := unix.Fchmod(fd, uint32(mode.Perm())); err != nil {
		return -1, fmt.Errorf("chmod: %w", err)
	}
	if err := unix.Renameat2(d.fd, tmp, d.fd, name, unix.RENAME_NOREPLACE); err != nil {
		return -1, err
	}
	ok = true
	return fd, nil
}

// names reports whether name in d is still the file fd refers to.
func (d *Dir) names(fd int, name string) bool {
	var a, b unix.Stat_t
	if unix.Fstat(fd, &a) != nil || unix.Fstatat(d.fd, name, &b, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// sweep removes the counters and temporary files that nobody holds: those
// of instances that were killed before they could remove them.
func (d *Dir) sweep() {
	dup, err := unix.Dup(d.fd)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(dup), d.path)
	names, _ := f.Readdirnames(-1)
	_ = f.Close()
	for _, name := range names {
		if strings.HasPrefix(name, filePrefix) || strings.HasPrefix(name, tmpPrefix) {
			d.removeUnused(name)
		}
	}
}

// removeUnused removes name if no instance holds its lock. Files this user
// may not open (another user's, with a mode that keeps us out) are left to
// their owners.
func (d *Dir) removeUnused(name string) {
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer func() { _ = unix.Close(fd) }()
	if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil {
		return // in use
	}
	if d.names(fd, name) {
		_ = unix.Unlinkat(d.fd, name, 0)
	}
}

// Close unmaps every counter and removes those no other instance holds. The
// counters must not be used any more.
func (d *Dir) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	var errs []error
	for _, c := range d.counters {
		errs = append(errs, c.close())
	}
	errs = append(errs, unix.Close(d.fd))
	return errors.Join(errs...)
}

// Counter is one shared rr counter. It implements policy.Counter.
type Counter struct {
	dir  *Dir
	name string
	fd   int    // holds the shared lock
	mem  []byte // the mapped page
	v    *atomic.Uint64

	// After a fault on the mapping (the file was truncated under it), the
	// counter goes on in this process alone.
	broken atomic.Bool
	local  atomic.Uint64
}

func mapCounter(fd int) (*Counter, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != fileSize {
		return nil, fmt.Errorf("%w: mode %o, %d bytes", ErrForeign, st.Mode, st.Size)
	}
	var head [len(header)]byte
	if n, err := unix.Pread(fd, head[:], 0); err != nil || n != len(head) || !bytes.Equal(head[:], []byte(header)) {
		return nil, fmt.Errorf("%w: no header", ErrForeign)
	}
	mem, err := unix.Mmap(fd, 0, fileSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap: %w", err)
	}
	// The mapping is page aligned, so the uint64 at counterOff is 8-byte
	// aligned, as atomic operations need.
	c := &Counter{fd: fd, mem: mem, v: (*atomic.Uint64)(unsafe.Pointer(&mem[counterOff]))}
	c.local.Store(c.v.Load())
	return c, nil
}

// Next increments the shared counter and returns its previous value.
func (c *Counter) Next() (n uint64) {
	if c.broken.Load() {
		return c.local.Add(1) - 1
	}
	defer func() {
		if recover() != nil {
			c.broken.Store(true)
			n = c.local.Add(1) - 1
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	n = c.v.Add(1) - 1
	c.local.Store(n + 1) // where to go on from, should the mapping fail
	return n
}

// Load returns the counter's value, what the next Next returns unless
// another instance is first.
func (c *Counter) Load() (n uint64) {
	if c.broken.Load() {
		return c.local.Load()
	}
	defer func() {
		if recover() != nil {
			c.broken.Store(true)
			n = c.local.Load()
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return c.v.Load()
}

// close unmaps the counter and removes its file if no other instance holds
// it: converting the shared lock to an exclusive one without waiting
// succeeds only for the last holder.
func (c *Counter) close() error {
	err := unix.Munmap(c.mem)
	c.mem, c.v = nil, nil
	if unix.Flock(c.fd, unix.LOCK_EX|unix.LOCK_NB) == nil && c.dir.names(c.fd, c.name) {
		if uerr := unix.Unlinkat(c.dir.fd, c.name, 0); uerr != nil && uerr != unix.ENOENT {
			err = errors.Join(err, uerr)
		}
	}
	return errors.Join(err, unix.Close(c.fd))
}

func randomHex() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
