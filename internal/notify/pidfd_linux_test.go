//go:build linux

package notify

import (
	"os"
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
