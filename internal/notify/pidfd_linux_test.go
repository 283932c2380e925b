//go:build linux

package notify

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

func TestCacheLimit(t *testing.T) {
	tests := []struct {
		nofile  uint64
		workers int
		want    int
	}{
		{nofile: 4096, workers: 2, want: (4096 - fdReserve) / 2 / 2},
		{nofile: 4096, workers: 1, want: (4096 - fdReserve) / 2},
		{nofile: 1024, workers: 2, want: (1024 - fdReserve) / 2 / 2},
		{nofile: 1 << 20, workers: 2, want: maxCachedPidfds},
		{nofile: unix.RLIM_INFINITY, workers: 2, want: maxCachedPidfds},
		{nofile: fdReserve + 1, workers: 2, want: 1},
		{nofile: 10, workers: 2, want: 1},
		{nofile: 4096, workers: 0, want: (4096 - fdReserve) / 2},
	}
	for _, tt := range tests {
		if got := cacheLimit(tt.nofile, tt.workers); got != tt.want {
			t.Errorf("cacheLimit(%d, %d) = %d, want %d", tt.nofile, tt.workers, got, tt.want)
		}
	}
}

// thread is a real thread of the test process, parked until exit is called.
type testThread struct {
	tid  uint32
	exit func() // ends the thread and waits until it is gone
}

// startThread starts a thread for the cache to open pidfds of: a goroutine
// locked to its thread, which ends with the goroutine since it never unlocks.
// The main thread is no use: Go parks it instead of ending it, and it is the
// thread group's leader. A goroutine that lands there keeps it until the
// test ends, so that the next one lands elsewhere.
func startThread(t *testing.T) testThread {
	t.Helper()
	tids := make(chan uint32)
	done := make(chan struct{})
	var tid uint32
	for tid == 0 {
		go func() {
			runtime.LockOSThread()
			if unix.Gettid() == unix.Getpid() {
				tids <- 0
				<-t.Context().Done()
				runtime.UnlockOSThread()
				return
			}
			tids <- uint32(unix.Gettid())
			<-done
		}()
		tid = <-tids
	}
	var once sync.Once
	exit := func() {
		once.Do(func() {
			pfd, err := unix.PidfdOpen(int(tid), pidfdThread)
			close(done)
			if err != nil {
				t.Fatalf("pidfd_open(%d, PIDFD_THREAD): %v", tid, err)
			}
			defer func() { _ = unix.Close(pfd) }()
			// The pidfd polls readable once the thread has exited.
			fds := []unix.PollFd{{Fd: int32(pfd), Events: unix.POLLIN}}
			for {
				if _, err := unix.Poll(fds, -1); err != unix.EINTR {
					if err != nil {
						t.Fatalf("poll pidfd of thread %d: %v", tid, err)
					}
					return
				}
			}
		})
	}
	t.Cleanup(exit)
	return testThread{tid: tid, exit: exit}
}

// requireThreadPidfds stops the test on kernels without PIDFD_THREAD (6.9),
// whose caches hold no thread but a group leader.
func requireThreadPidfds(t *testing.T) {
	t.Helper()
	pfd, err := unix.PidfdOpen(unix.Gettid(), pidfdThread)
	if err == nil {
		_ = unix.Close(pfd)
	}
	testutil.Require(t, err == nil, "needs PIDFD_THREAD (Linux 6.9)")
}

// pipeFD is a descriptor of the test process for the cache to duplicate.
func pipeFD(t *testing.T) int {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(); _ = w.Close() })
	return int(r.Fd())
}

// getfd duplicates fd through c for thread tid and closes the duplicate.
func getfd(t *testing.T, c *pidfdCache, tid uint32, fd int) {
	t.Helper()
	dup, _, err := c.getfd(tid, fd)
	if err != nil {
		t.Fatalf("getfd(%d, %d): %v", tid, fd, err)
	}
	_ = unix.Close(dup)
}

func cached(c *pidfdCache, tids ...uint32) []uint32 {
	var in []uint32
	for _, tid := range tids {
		if _, ok := c.m[tid]; ok {
			in = append(in, tid)
		}
	}
	return in
}

// TestPidfdCacheEvictsExited: a full cache drops the threads that have
// exited and keeps the live ones.
func TestPidfdCacheEvictsExited(t *testing.T) {
	requireThreadPidfds(t)
	fd := pipeFD(t)
	c := newPidfdCache(4)
	defer c.close()
	var threads []testThread
	for range 4 {
		th := startThread(t)
		threads = append(threads, th)
		getfd(t, c, th.tid, fd)
	}
	threads[0].exit()
	threads[2].exit()
	next := startThread(t)
	getfd(t, c, next.tid, fd)

	all := []uint32{threads[0].tid, threads[1].tid, threads[2].tid, threads[3].tid, next.tid}
	want := []uint32{threads[1].tid, threads[3].tid, next.tid}
	if d := testutil.Diff(want, cached(c, all...)); d != "" {
		t.Errorf("cached threads (-want +got):\n%s", d)
	}
}

// TestPidfdCacheBound: live threads beyond the limit never grow the cache
// past it, and every call still succeeds.
func TestPidfdCacheBound(t *testing.T) {
	requireThreadPidfds(t)
	fd := pipeFD(t)
	const limit = 8
	c := newPidfdCache(limit)
	defer c.close()
	for i := range 3 * limit {
		th := startThread(t)
		getfd(t, c, th.tid, fd)
		if len(c.m) > limit {
			t.Fatalf("after %d threads the cache holds %d pidfds, limit %d", i+1, len(c.m), limit)
		}
	}
}

// TestPidfdCacheReopens: an entry whose thread has exited (ESRCH from
// pidfd_getfd), as when its id has been reused, is opened afresh.
func TestPidfdCacheReopens(t *testing.T) {
	requireThreadPidfds(t)
	fd := pipeFD(t)
	c := newPidfdCache(4)
	defer c.close()
	gone := startThread(t)
	stale, err := unix.PidfdOpen(int(gone.tid), pidfdThread)
	if err != nil {
		t.Fatal(err)
	}
	gone.exit()
	live := startThread(t)
	c.m[live.tid] = &thread{pidfd: stale} // live's id, a dead thread's pidfd
	before := len(testutil.OpenFDs())

	dup, fresh, err := c.getfd(live.tid, fd)
	if err != nil {
		t.Fatalf("getfd through a stale entry: %v", err)
	}
	_ = unix.Close(dup)
	if !fresh {
		t.Error("getfd through a stale entry: fresh = false, want true (the caller must check ID_VALID)")
	}
	// The entry now pins the live thread: its pidfd works.
	if dup, err := pidfdGetfd(c.m[live.tid].pidfd, fd); err != nil {
		t.Errorf("pidfd_getfd through the new entry: %v", err)
	} else {
		_ = unix.Close(dup)
	}
	// The stale pidfd was closed, not leaked beside the new one.
	if after := len(testutil.OpenFDs()); after != before {
		t.Errorf("%d descriptors open before, %d after: the stale pidfd leaked", before, after)
	}
}

// TestPidfdCacheEMFILE: with the descriptor table full, getfd gives back
// the cached pidfds and succeeds uncached.
func TestPidfdCacheEMFILE(t *testing.T) {
	requireThreadPidfds(t)
	fd := pipeFD(t)
	c := newPidfdCache(64)
	defer c.close()
	for range 4 {
		getfd(t, c, startThread(t).tid, fd)
	}
	caller := startThread(t)

	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	low := old
	low.Cur = 256
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	var fill []int
	defer func() {
		for _, f := range fill {
			_ = unix.Close(f)
		}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
			t.Error(err)
		}
	}()
	for {
		f, err := unix.Dup(fd)
		if err == unix.EMFILE {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		fill = append(fill, f)
	}

	dup, fresh, err := c.getfd(caller.tid, fd)
	if err != nil {
		t.Fatalf("getfd with no descriptor free: %v", err)
	}
	_ = unix.Close(dup)
	if !fresh || len(c.m) != 0 {
		t.Errorf("getfd with no descriptor free: fresh %v, %d cached; want fresh and none cached", fresh, len(c.m))
	}
}

// withoutThreadPidfds makes pidfd_open refuse PIDFD_THREAD with EINVAL, as
// kernels before 6.9 do, until the test ends, and counts the refusals.
func withoutThreadPidfds(t *testing.T) *int {
	t.Helper()
	old := pidfdOpen
	t.Cleanup(func() { pidfdOpen = old })
	refused := new(int)
	pidfdOpen = func(pid, flags int) (int, error) {
		if flags&pidfdThread != 0 {
			*refused++
			return -1, unix.EINVAL
		}
		return old(pid, flags)
	}
	return refused
}

// testProcess is a child process, the leader of its thread group, that
// lives until exit is called.
type testProcess struct {
	pid  uint32
	exit func() // ends the process and reaps it
}

// startProcess starts cat, which holds its standard input (descriptor 0,
// a pipe) open until the test closes the other end.
func startProcess(t *testing.T) testProcess {
	t.Helper()
	cmd := exec.Command("cat")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	exit := func() {
		once.Do(func() {
			if err := in.Close(); err != nil {
				t.Errorf("close cat's stdin: %v", err)
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("cat: %v", err)
			}
		})
	}
	t.Cleanup(exit)
	return testProcess{pid: uint32(cmd.Process.Pid), exit: exit}
}

// TestPidfdCacheHit: a second call of the same thread uses the cached
// pidfd: not fresh, and no new descriptor is kept.
func TestPidfdCacheHit(t *testing.T) {
	requireThreadPidfds(t)
	fd := pipeFD(t)
	c := newPidfdCache(4)
	defer c.close()
	th := startThread(t)
	getfd(t, c, th.tid, fd)
	before := len(testutil.OpenFDs())
	pfd := c.m[th.tid].pidfd

	dup, fresh, err := c.getfd(th.tid, fd)
	if err != nil {
		t.Fatalf("getfd: %v", err)
	}
	_ = unix.Close(dup)
	if fresh || len(c.m) != 1 || c.m[th.tid].pidfd != pfd {
		t.Errorf("second getfd: fresh %v, %d cached; want the cached pidfd, not fresh", fresh, len(c.m))
	}
	if after := len(testutil.OpenFDs()); after != before {
		t.Errorf("%d descriptors open before, %d after the cache hit", before, after)
	}
	if tgid, err := c.tgid(th.tid); err != nil || tgid != os.Getpid() {
		t.Errorf("tgid(%d) = %d, %v; want %d", th.tid, tgid, err, os.Getpid())
	}
}

// TestPidfdFallbackLeader: without PIDFD_THREAD, the kernel is asked once;
// a thread-group leader's pidfd is cached, and serves the next call.
func TestPidfdFallbackLeader(t *testing.T) {
	testutil.RequireRoot(t) // pidfd_getfd of another process: PTRACE_MODE_ATTACH
	refused := withoutThreadPidfds(t)
	c := newPidfdCache(4)
	defer c.close()
	p, q := startProcess(t), startProcess(t)

	for i, pid := range []uint32{p.pid, p.pid, q.pid} {
		dup, fresh, err := c.getfd(pid, 0)
		if err != nil {
			t.Fatalf("getfd(%d, 0): %v", pid, err)
		}
		_ = unix.Close(dup)
		if want := i != 1; fresh != want {
			t.Errorf("call %d: fresh = %v, want %v", i, fresh, want)
		}
	}
	// Once for the first call's thread, once for the cache's own.
	if *refused != 2 || !c.noThreadFds {
		t.Errorf("PIDFD_THREAD asked for %d times, noThreadFds %v; want twice, true", *refused, c.noThreadFds)
	}
	if d := testutil.Diff([]uint32{p.pid, q.pid}, cached(c, p.pid, q.pid)); d != "" {
		t.Errorf("cached (-want +got):\n%s", d)
	}
}

// TestPidfdFallbackThread: without PIDFD_THREAD, a thread other than its
// group's leader is reached through the leader's pidfd, which is not
// cached: another process may reuse the thread's id while the group lives.
func TestPidfdFallbackThread(t *testing.T) {
	withoutThreadPidfds(t)
	fd := pipeFD(t)
	c := newPidfdCache(4)
	defer c.close()
	th := startThread(t)
	before := len(testutil.OpenFDs())

	for range 2 {
		dup, fresh, err := c.getfd(th.tid, fd)
		if err != nil {
			t.Fatalf("getfd(%d): %v", th.tid, err)
		}
		_ = unix.Close(dup)
		if !fresh || len(c.m) != 0 {
			t.Errorf("getfd of a non-leader thread: fresh %v, %d cached; want fresh, none cached", fresh, len(c.m))
		}
	}
	if after := len(testutil.OpenFDs()); after != before {
		t.Errorf("%d descriptors open before, %d after: the group's pidfd leaked", before, after)
	}
	if tgid, err := c.tgid(th.tid); err != nil || tgid != os.Getpid() {
		t.Errorf("tgid(%d) = %d, %v; want %d", th.tid, tgid, err, os.Getpid())
	}
}

// TestPidfdFallbackReopens: without PIDFD_THREAD, an entry whose process has
// exited (ESRCH), as when its id has been reused, is opened afresh as well.
func TestPidfdFallbackReopens(t *testing.T) {
	testutil.RequireRoot(t)
	withoutThreadPidfds(t)
	c := newPidfdCache(4)
	defer c.close()
	gone := startProcess(t)
	stale, err := unix.PidfdOpen(int(gone.pid), 0)
	if err != nil {
		t.Fatal(err)
	}
	gone.exit()
	live := startProcess(t)
	c.m[live.pid] = &thread{pidfd: stale} // live's id, a dead process's pidfd
	before := len(testutil.OpenFDs())

	dup, fresh, err := c.getfd(live.pid, 0)
	if err != nil {
		t.Fatalf("getfd through a stale entry: %v", err)
	}
	_ = unix.Close(dup)
	if !fresh {
		t.Error("getfd through a stale entry: fresh = false, want true")
	}
	if dup, err := pidfdGetfd(c.m[live.pid].pidfd, 0); err != nil {
		t.Errorf("pidfd_getfd through the new entry: %v", err)
	} else {
		_ = unix.Close(dup)
	}
	if after := len(testutil.OpenFDs()); after != before {
		t.Errorf("%d descriptors open before, %d after: the stale pidfd leaked", before, after)
	}
}

// TestPidfdFallbackEvictsExited: without PIDFD_THREAD, a full cache drops
// the processes that have exited (their group pidfds poll readable).
func TestPidfdFallbackEvictsExited(t *testing.T) {
	testutil.RequireRoot(t)
	withoutThreadPidfds(t)
	c := newPidfdCache(4)
	defer c.close()
	var procs []testProcess
	for range 4 {
		p := startProcess(t)
		procs = append(procs, p)
		dup, _, err := c.getfd(p.pid, 0)
		if err != nil {
			t.Fatal(err)
		}
		_ = unix.Close(dup)
	}
	procs[1].exit()
	procs[3].exit()
	next := startProcess(t)
	dup, _, err := c.getfd(next.pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = unix.Close(dup)

	all := []uint32{procs[0].pid, procs[1].pid, procs[2].pid, procs[3].pid, next.pid}
	want := []uint32{procs[0].pid, procs[2].pid, next.pid}
	if d := testutil.Diff(want, cached(c, all...)); d != "" {
		t.Errorf("cached processes (-want +got):\n%s", d)
	}
}

// TestPidfdCacheReapedThread: a kernel with PIDFD_THREAD that refuses a
// thread already reaped with EINVAL (Linux 6.9 to 6.14) does not make the
// cache take PIDFD_THREAD for unknown: the call's caller is gone (ESRCH).
func TestPidfdCacheReapedThread(t *testing.T) {
	requireThreadPidfds(t)
	fd := pipeFD(t)
	old := pidfdOpen
	t.Cleanup(func() { pidfdOpen = old })
	pidfdOpen = func(pid, flags int) (int, error) {
		pfd, err := old(pid, flags)
		if errors.Is(err, unix.ESRCH) && flags&pidfdThread != 0 {
			err = unix.EINVAL // as before Linux 6.15
		}
		return pfd, err
	}
	c := newPidfdCache(4)
	defer c.close()
	gone := startThread(t)
	gone.exit()

	if dup, _, err := c.getfd(gone.tid, fd); !errors.Is(err, unix.ESRCH) {
		if err == nil {
			_ = unix.Close(dup)
		}
		t.Errorf("getfd of a reaped thread: %v, want ESRCH", err)
	}
	if c.noThreadFds {
		t.Error("after a reaped thread's EINVAL, the cache takes the kernel for one without PIDFD_THREAD")
	}
	getfd(t, c, startThread(t).tid, fd)
	if len(c.m) != 1 {
		t.Errorf("%d threads cached after a live one's call, want 1", len(c.m))
	}
}
