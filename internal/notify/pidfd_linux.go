//go:build linux

package notify

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// pidfdThread is PIDFD_THREAD (Linux 6.9): a pidfd for one thread rather
// than its thread group. It equals O_EXCL, and x/sys has no name for it.
const pidfdThread = unix.O_EXCL

// maxCachedPidfds bounds a worker's cache whatever RLIMIT_NOFILE allows:
// finding the dead among its entries polls them all.
const maxCachedPidfds = 4096

// fdReserve is what cacheLimit leaves of RLIMIT_NOFILE for everything else
// the supervisor holds: the listener, the status socket, inotify, rr state,
// netlink, and the duplicate and mem file of each call in progress.
const fdReserve = 64

// cacheLimit is the number of pidfds each of workers caches may hold
// under an RLIMIT_NOFILE of nofile: half of what fdReserve leaves, shared,
// so that the duplicates of calls in progress always find a free
// descriptor; at least 1, at most maxCachedPidfds.
func cacheLimit(nofile uint64, workers int) int {
	if nofile < fdReserve {
		return 1
	}
	n := (nofile - fdReserve) / uint64(max(workers, 1)) / 2
	return int(max(1, min(n, maxCachedPidfds)))
}

// pidfdCache maps the thread ids that notifications name to pidfds. It is
// owned by one worker and needs no lock.
//
// A notification names the calling thread, not its process (a Go program
// connects from any of its threads). With PIDFD_THREAD the cached pidfd is
// that very thread: while it lives no other thread can hold its id, and once
// it has died pidfd_getfd fails with ESRCH and the entry is opened afresh,
// so a reused id can never reach another process's descriptors. Kernels
// without PIDFD_THREAD get a pidfd of the thread group; those are cached only
// for group leaders, whose id stays reserved while the group lives.
//
// The cache holds at most limit pidfds. Once full, it drops the entries of
// threads that have exited (their pidfds poll readable), and if that is not
// enough, others at random, down to three quarters, so that the next sweep
// is limit/4 new threads away. A program that churns threads therefore
// costs the supervisor at most limit descriptors per worker, and an EMFILE
// all the same (the supervisor's RLIMIT_NOFILE lowered under it, or many
// calls at once) empties the cache and retries once with an uncached pidfd.
type pidfdCache struct {
	m           map[uint32]*thread
	limit       int
	noThreadFds bool          // the kernel refused PIDFD_THREAD once
	poll        []unix.PollFd // scratch for evict
	polled      []uint32      // the thread ids of poll
}

// thread is what the cache knows of one traced thread.
type thread struct {
	pidfd int
	tgid  int // 0 until asked for
}

func newPidfdCache(limit int) *pidfdCache {
	return &pidfdCache{m: make(map[uint32]*thread), limit: max(limit, 1)}
}

func (c *pidfdCache) close() {
	for tid := range c.m {
		c.drop(tid)
	}
}

func (c *pidfdCache) drop(tid uint32) {
	_ = unix.Close(c.m[tid].pidfd)
	delete(c.m, tid)
}

// evict makes room for one entry: it drops the threads that have exited (a
// pidfd polls readable once its thread, or for a group pidfd its process,
// is gone), then, if more than three quarters of limit remain, random ones.
func (c *pidfdCache) evict() {
	c.poll, c.polled = c.poll[:0], c.polled[:0]
	for tid, t := range c.m {
		c.poll = append(c.poll, unix.PollFd{Fd: int32(t.pidfd), Events: unix.POLLIN})
		c.polled = append(c.polled, tid)
	}
	if _, err := unix.Ppoll(c.poll, &unix.Timespec{}, nil); err == nil {
		for i, p := range c.poll {
			if p.Revents != 0 {
				c.drop(c.polled[i])
			}
		}
	}
	keep := c.limit * 3 / 4
	for tid := range c.m { // map order: random enough
		if len(c.m) <= keep {
			break
		}
		c.drop(tid)
	}
}

// getfd duplicates descriptor fd of thread tid. fresh reports that the
// pidfd was opened for this call, after the notification arrived: the
// thread could have died and its id been reused in between, so the caller
// must check the notification is still pending before trusting the result.
// A cached pidfd needs no such check: it pins the thread it was opened for,
// and while that thread lives no other thread holds its id.
func (c *pidfdCache) getfd(tid uint32, fd int) (dup int, fresh bool, err error) {
	dup, fresh, err = c.cachedGetfd(tid, fd)
	if !errors.Is(err, unix.EMFILE) && !errors.Is(err, unix.ENFILE) {
		return dup, fresh, err
	}
	// Out of descriptors: give back every cached one and try once more,
	// keeping nothing.
	c.close()
	pfd, _, err := c.open(tid)
	if err != nil {
		return -1, true, err
	}
	dup, err = pidfdGetfd(pfd, fd)
	_ = unix.Close(pfd)
	return dup, true, err
}

func (c *pidfdCache) cachedGetfd(tid uint32, fd int) (dup int, fresh bool, err error) {
	if t, ok := c.m[tid]; ok {
		dup, err := pidfdGetfd(t.pidfd, fd)
		if !errors.Is(err, unix.ESRCH) {
			return dup, false, err
		}
		// The cached thread is gone and its id now names another one.
		c.drop(tid)
	}
	pfd, cacheable, err := c.open(tid)
	if err != nil {
		return -1, true, err
	}
	dup, err = pidfdGetfd(pfd, fd)
	if !cacheable || err != nil {
		_ = unix.Close(pfd)
		return dup, true, err
	}
	if len(c.m) >= c.limit {
		c.evict()
	}
	c.m[tid] = &thread{pidfd: pfd}
	return dup, true, nil
}

// pidfdGetfd is pidfd_getfd(2) without the scheduler hand-off of
// unix.PidfdGetfd: it never blocks, and it runs once per trapped call.
func pidfdGetfd(pidfd, fd int) (int, error) {
	r, _, errno := unix.RawSyscall(unix.SYS_PIDFD_GETFD, uintptr(pidfd), uintptr(fd), 0)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// tgid returns the process (thread group) of thread tid. Call it after a
// successful getfd for the same notification: that proved the cached entry
// still names the live thread.
func (c *pidfdCache) tgid(tid uint32) (int, error) {
	t, ok := c.m[tid]
	if ok && t.tgid != 0 {
		return t.tgid, nil
	}
	id, err := threadGroup(tid)
	if err != nil {
		return 0, err
	}
	if ok {
		t.tgid = id
	}
	return id, nil
}

// pidfdOpen is pidfd_open(2). Tests replace it with one that refuses
// PIDFD_THREAD, as kernels before 6.9 do, to run the fallback below.
var pidfdOpen = unix.PidfdOpen

func (c *pidfdCache) open(tid uint32) (pfd int, cacheable bool, err error) {
	if !c.noThreadFds {
		pfd, err = pidfdOpen(int(tid), pidfdThread)
		if err == nil {
			return pfd, true, nil
		}
		if !errors.Is(err, unix.EINVAL) {
			return -1, false, fmt.Errorf("pidfd_open(%d): %w", tid, err)
		}
		// Linux 6.9 to 6.14 refuse a thread already reaped with EINVAL
		// too: only if the flag fails for this very thread is it unknown.
		if self, err := pidfdOpen(unix.Gettid(), pidfdThread); err == nil {
			_ = unix.Close(self)
			return -1, false, fmt.Errorf("pidfd_open(%d): %w", tid, unix.ESRCH)
		}
		c.noThreadFds = true
	}
	// Without PIDFD_THREAD only a thread-group leader can be opened. Any
	// other thread is refused: with EINVAL by the kernels that lack
	// PIDFD_THREAD, with ENOENT by newer ones (6.18).
	pfd, err = pidfdOpen(int(tid), 0)
	if err == nil {
		return pfd, true, nil
	}
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return -1, false, fmt.Errorf("pidfd_open(%d): %w", tid, err)
	}
	tgid, err := threadGroup(tid)
	if err != nil {
		return -1, false, err
	}
	pfd, err = pidfdOpen(tgid, 0)
	if err != nil {
		return -1, false, fmt.Errorf("pidfd_open(%d): %w", tgid, err)
	}
	// Not cacheable: the id of a non-leader thread may be reused by a
	// thread of another process while this group lives on.
	return pfd, false, nil
}

// threadGroup reads the thread-group id of thread tid from /proc.
func threadGroup(tid uint32) (int, error) {
	data, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(tid), 10) + "/status")
	if err != nil {
		return 0, fmt.Errorf("find process of thread %d: %w", tid, err)
	}
	s := bufio.NewScanner(bytes.NewReader(data))
	for s.Scan() {
		if v, ok := bytes.CutPrefix(s.Bytes(), []byte("Tgid:")); ok {
			return strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	return 0, fmt.Errorf("find process of thread %d: no Tgid in /proc status", tid)
}
