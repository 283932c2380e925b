//go:build linux

package cgroup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Mountpoint returns the directory of the cgroup v2 hierarchy, as
// /proc/self/mountinfo shows it (/sys/fs/cgroup, or /sys/fs/cgroup/unified
// in the hybrid layout), or an error wrapping [ErrNoCgroup2].
func Mountpoint() (string, error) {
	m, err := cgroup2Mount()
	return m.point, err
}

func cgroup2Mount() (mount, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return mount{}, fmt.Errorf("find the cgroup v2 mount: %w", err)
	}
	return parseMountinfo(data)
}

// Own returns the directory of pid's cgroup v2: the "0::" line of
// /proc/PID/cgroup joined to the mountpoint.
func Own(pid int) (string, error) {
	m, err := cgroup2Mount()
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return "", fmt.Errorf("cgroup of pid %d: %w", pid, err)
	}
	p, err := parseProcCgroup(data)
	if err != nil {
		return "", fmt.Errorf("/proc/%d/cgroup: %w", pid, err)
	}
	return join(m, p)
}

// Group is a cgroup that [Create] made. Its methods are not safe for
// concurrent use with Close.
type Group struct {
	path   string
	name   string // in parent
	parent int    // the parent's directory, for Remove
	fd     int    // the group's directory
}

// beneath resolves a path below a directory descriptor without leaving it,
// its mount, or following any symlink.
const beneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

func openBeneath(dir int, name string, flags int) (int, error) {
	return unix.Openat2(dir, name, &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC | unix.O_NOFOLLOW), Resolve: beneath})
}

// Create makes parent/vipa-exec.PID (mode 0755), pid being the program's,
// and returns it open. It first removes the stale groups of earlier
// instances under parent (see the package doc). A group of the same name
// that is empty is stale too: pid is the caller's now, so that group's
// owner is gone; one that holds processes is an error wrapping EEXIST.
// parent must be a directory of a cgroup2 file system reached without
// symlinks.
func Create(parent string, pid int) (*Group, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("create cgroup under %s: pid %d: %w", parent, pid, unix.EINVAL)
	}
	pfd, err := unix.Openat2(unix.AT_FDCWD, parent, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, fmt.Errorf("open cgroup %s: %w", parent, err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = unix.Close(pfd)
		}
	}()
	var fs unix.Statfs_t
	if err := unix.Fstatfs(pfd, &fs); err != nil {
		return nil, fmt.Errorf("open cgroup %s: %w", parent, err)
	}
	if fs.Type != unix.CGROUP2_SUPER_MAGIC {
		return nil, fmt.Errorf("%s: not a cgroup2 directory: %w", parent, ErrNoCgroup2)
	}
	removeStale(pfd, pid)

	name := namePrefix + strconv.Itoa(pid)
	full := path.Join(parent, name)
	for retried := false; ; retried = true {
		err := unix.Mkdirat(pfd, name, 0o755)
		if err == nil {
			break
		}
		if err != unix.EEXIST || retried {
			return nil, fmt.Errorf("create cgroup %s: %w", full, err)
		}
		if !removeIfEmpty(pfd, name) {
			return nil, fmt.Errorf("create cgroup %s: it exists, and is not empty or cannot be removed: %w", full, err)
		}
	}
	fd, err := openBeneath(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY)
	if err == nil {
		// mkdir's mode went through the umask. The lock is the owner's
		// until it closes the group (or dies): no sweep removes the group
		// while it is held. Nobody else holds it: the group is new, and a
		// sweep takes only groups of dead PIDs.
		if err = unix.Fchmod(fd, 0o755); err == nil {
			err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		}
		if err != nil {
			_ = unix.Close(fd)
		}
	}
	if err != nil {
		_ = unix.Unlinkat(pfd, name, unix.AT_REMOVEDIR)
		return nil, fmt.Errorf("open cgroup %s: %w", full, err)
	}
	ok = true
	return &Group{path: full, name: name, parent: pfd, fd: fd}, nil
}

// removeStale removes the empty vipa-exec.N groups under the directory dir
// whose N is no live process other than pid. It is best effort: a group it
// cannot read or remove is left.
func removeStale(dir, pid int) {
	fd, err := unix.Openat(dir, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), ".")
	names, _ := f.Readdirnames(-1)
	_ = f.Close()
	for _, name := range names {
		n, ok := ownerPID(name)
		if !ok || n == pid || Alive(n) {
			continue
		}
		removeIfEmpty(dir, name)
	}
}

// Alive reports whether pid is a process of this PID namespace (kill(pid,
// 0)): a zombie is until reaped, and one that is not the caller's to signal
// is too. The stale-group sweep asks it of a group's N, and lrr (through
// internal/supervisor) of the processes it counts.
func Alive(pid int) bool { return !errors.Is(unix.Kill(pid, 0), unix.ESRCH) }

// removeIfEmpty removes the group name under dir, with the vipa-exec.N
// groups below it, if no owner holds its lock and its cgroup.events says
// populated 0, and reports whether it is gone. rmdir itself refuses a group
// that got a process in between (EBUSY).
//
// The lock matters after the program exits: the group is empty and its N
// dead, but its supervisor, alive, waits for cgroup.events to say so. The
// kernel sends that event from a work queue, and drops it if the group is
// gone by then: a group removed under its supervisor would keep the
// supervisor waiting for good.
func removeIfEmpty(dir int, name string) bool {
	fd, err := openBeneath(dir, name, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return errors.Is(err, unix.ENOENT)
	}
	defer func() { _ = unix.Close(fd) }()
	if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil {
		return false // its owner runs
	}
	data, err := readBeneath(fd, "cgroup.events")
	if err != nil {
		return false
	}
	if populated, err := parsePopulated(data); err != nil || populated {
		return false
	}
	err = removeGroup(dir, name)
	return err == nil || errors.Is(err, unix.ENOENT)
}

func readBeneath(dir int, name string) ([]byte, error) {
	fd, err := openBeneath(dir, name, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer func() { _ = f.Close() }()
	return io.ReadAll(io.LimitReader(f, 4096))
}

// Path returns the group's directory.
func (g *Group) Path() string { return g.path }

// FD returns a descriptor of the group's directory (O_RDONLY|O_DIRECTORY),
// owned by g: for link.AttachCgroup and for SysProcAttr.CgroupFD
// (CLONE_INTO_CGROUP, Linux 5.7), which starts a child in the group.
func (g *Group) FD() int { return g.fd }

// Enter moves process pid into the group by writing it to cgroup.procs.
// Moving a process needs write permission on cgroup.procs of the common
// ancestor of its cgroup and the group, besides the group's own: root has
// both; a delegated user only within the delegated subtree.
func (g *Group) Enter(pid int) error {
	fd, err := openBeneath(g.fd, "cgroup.procs", unix.O_WRONLY)
	if err == nil {
		_, err = unix.Write(fd, []byte(strconv.Itoa(pid)))
		if cerr := unix.Close(fd); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("move pid %d into cgroup %s: %w", pid, g.path, err)
	}
	return nil
}

// Populated reports whether the group or a group below it holds a
// process (cgroup.events).
func (g *Group) Populated() (bool, error) {
	data, err := readBeneath(g.fd, "cgroup.events")
	if err == nil {
		var p bool
		if p, err = parsePopulated(data); err == nil {
			return p, nil
		}
	}
	return false, fmt.Errorf("cgroup %s: %w", g.path, err)
}

// WaitEmpty returns when the group holds no process, or with ctx's error.
// It waits for the kernel's file-modified event on cgroup.events, the
// notification cgroup v2 documents, and reads the file again after each.
// A group that is gone was empty: rmdir removes only empty groups.
func (g *Group) WaitEmpty(ctx context.Context) error {
	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return fmt.Errorf("watch cgroup %s: %w", g.path, err)
	}
	// Non-blocking, so that reads go through the runtime's poller and a
	// deadline can end them.
	in := os.NewFile(uintptr(ifd), "inotify")
	defer func() { _ = in.Close() }()
	// The watch is set before the first read, so no change is missed.
	events := "/proc/self/fd/" + strconv.Itoa(g.fd) + "/cgroup.events"
	if _, err := unix.InotifyAddWatch(ifd, events, unix.IN_MODIFY); err == unix.ENOENT {
		return nil
	} else if err != nil {
		return fmt.Errorf("watch cgroup %s: %w", g.path, err)
	}
	// A non-blocking inotify descriptor is pollable: SetReadDeadline fails
	// only once in is closed, when nothing waits any more.
	stop := context.AfterFunc(ctx, func() { _ = in.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, 4*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		populated, err := g.Populated()
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		if err != nil {
			return err
		}
		if !populated {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("wait for cgroup %s to empty: %w", g.path, err)
		}
		if _, err := in.Read(buf); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue // ctx is done: the check above returns
			}
			return fmt.Errorf("watch cgroup %s: %w", g.path, err)
		}
	}
}

// Remove removes the group's directory, and first the empty groups of
// nested instances below it that were killed before they could remove
// their own. A group already gone is no error; one that still holds
// processes or other groups is, wrapping EBUSY.
func (g *Group) Remove() error {
	if g.fd < 0 {
		return fmt.Errorf("remove cgroup %s: %w", g.path, os.ErrClosed)
	}
	if err := removeGroup(g.parent, g.name); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove cgroup %s: %w", g.path, err)
	}
	return nil
}

// removeGroup removes the group name under dir, after the vipa-exec.N
// groups below it if it has any. rmdir refuses every group that is not
// empty.
func removeGroup(dir int, name string) error {
	err := unix.Unlinkat(dir, name, unix.AT_REMOVEDIR)
	if err != unix.EBUSY {
		return err
	}
	fd, oerr := openBeneath(dir, name, unix.O_RDONLY|unix.O_DIRECTORY)
	if oerr != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	names, _ := f.Readdirnames(-1)
	for _, n := range names {
		if _, ok := ownerPID(n); ok {
			_ = removeIfEmpty(fd, n) // the rmdir below reports what is left
		}
	}
	_ = f.Close()
	return unix.Unlinkat(dir, name, unix.AT_REMOVEDIR)
}

// Close closes the group's descriptors; it does not remove the group.
// Closing twice is no error.
func (g *Group) Close() error {
	if g.fd < 0 {
		return nil
	}
	err := unix.Close(g.fd)
	if perr := unix.Close(g.parent); err == nil {
		err = perr
	}
	g.fd, g.parent = -1, -1
	if err != nil {
		return fmt.Errorf("close cgroup %s: %w", g.path, err)
	}
	return nil
}
