//go:build linux

package watch

import (
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// recorder counts the calls of changed and tells each one on calls.
type recorder struct {
	n     atomic.Int32
	calls chan struct{}
}

func newRecorder() *recorder { return &recorder{calls: make(chan struct{}, 16)} }

func (r *recorder) changed() {
	r.n.Add(1)
	r.calls <- struct{}{}
}

// wait waits for the next call, failing after a generous deadline: a
// liveness bound, not a timing assertion.
func (r *recorder) wait(t *testing.T, what string) {
	t.Helper()
	select {
	case <-r.calls:
	case <-time.After(testutil.WaitTimeout):
		t.Fatalf("%s: changed not called within %v", what, testutil.WaitTimeout)
	}
}

// checkWatch makes the changes every watch must see, an in-place write and
// an atomic replacement, and checks that each brings one call.
func checkWatch(t *testing.T, path string, r *recorder) {
	t.Helper()
	if err := os.WriteFile(path, []byte("b"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.wait(t, "in-place write")

	// As editors and configuration management do.
	tmp := filepath.Join(filepath.Dir(path), ".policy.toml.tmp")
	if err := os.WriteFile(tmp, []byte("c"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	r.wait(t, "rename into place")
}

func TestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.toml")
	if err := os.WriteFile(path, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newRecorder()
	w, err := File(path, r.changed)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	checkWatch(t, path, r)
}

// TestFileIgnoresOthers: an event about another file of the directory is
// no tick. The inotify queue drained, then the reader stopped, prove the
// event was read and passed over.
func TestFileIgnoresOthers(t *testing.T) {
	dir := t.TempDir()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO|unix.IN_CREATE); err != nil {
		_ = unix.Close(fd)
		t.Fatal(err)
	}
	w := &Watcher{f: os.NewFile(uintptr(fd), "inotify"), done: make(chan struct{})}
	events := make(chan struct{}, 16)
	w.wg.Go(func() { w.read("policy.toml", events) })

	if err := os.WriteFile(filepath.Join(dir, "other"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the watcher to read the inotify events", func() bool {
		n, err := unix.IoctlGetInt(fd, unix.TIOCINQ) // FIONREAD
		return err == nil && n == 0
	})
	if err := w.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if n := len(events); n != 0 {
		t.Errorf("a write to another file made %d ticks, want 0", n)
	}
}

func TestPoll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.toml")
	if err := os.WriteFile(path, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newRecorder()
	w := Poll(path, 10*time.Millisecond, r.changed)
	// The in-place write is of the same size: the times tell.
	checkWatch(t, path, r)

	// Removed, then back.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	r.wait(t, "removal")
	if err := os.WriteFile(path, []byte("d"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.wait(t, "creation")
	if err := w.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if n := len(r.calls); n != 0 {
		t.Errorf("%d calls more than changes", n)
	}
}

// TestCloseWaits: Close returns only once a call of changed in progress
// has returned, so that nothing runs after it.
func TestCloseWaits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.toml")
	if err := os.WriteFile(path, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	var w *Watcher
	var returned atomic.Bool
	w = Poll(path, 10*time.Millisecond, func() {
		close(entered)
		<-w.done // Close has begun
		returned.Store(true)
	})
	if err := os.WriteFile(path, []byte("bb"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(testutil.WaitTimeout):
		t.Fatalf("changed not called within %v", testutil.WaitTimeout)
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if !returned.Load() {
		t.Error("Close returned while changed still ran")
	}
}

// TestIdentify: what Poll compares tells each kind of change apart from
// none.
func TestIdentify(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if id := identify(path); id.exists {
		t.Errorf("a missing file identifies as %+v", id)
	}
	if err := os.WriteFile(path, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := identify(path)
	if !a.exists || a != identify(path) {
		t.Fatalf("identify is not stable: %+v, %+v", a, identify(path))
	}
	// Same size, same content, mtime set back: ctime still moves, once
	// the clock the kernel stamps it with has.
	mtime := time.Unix(a.mtime.Unix())
	for {
		var now unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_REALTIME_COARSE, &now); err != nil {
			t.Fatal(err)
		}
		if now.Nano() > a.ctime.Nano() {
			break
		}
		runtime.Gosched()
	}
	if err := os.WriteFile(path, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if b := identify(path); b == a {
		t.Errorf("a rewrite with its mtime set back went unseen: %+v", b)
	}
}
