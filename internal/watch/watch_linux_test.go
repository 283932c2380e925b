//go:build linux

package watch

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// waitCalls waits until calls reaches want, failing after a generous
// deadline: a liveness bound, not a timing assertion.
func waitCalls(t *testing.T, calls *atomic.Int32, want int32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for calls.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("changed called %d times, want %d", calls.Load(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkWatch makes the changes every watch must see, an in-place write and
// an atomic replacement, and one it must not, a write to another file in
// the directory, and checks the calls they bring.
func checkWatch(t *testing.T, path string, calls *atomic.Int32) {
	t.Helper()
	before := calls.Load()
	if err := os.WriteFile(path, []byte("b"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitCalls(t, calls, before+1)

	// As editors and configuration management do.
	tmp := filepath.Join(filepath.Dir(path), ".policy.toml.tmp")
	if err := os.WriteFile(tmp, []byte("c"), 0o644); err != nil {
		t.Fatal(err)
	}
	before = calls.Load()
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	waitCalls(t, calls, before+1)

	before = calls.Load()
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "other"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Give a wrong call time to happen; then the count must be unchanged.
	time.Sleep(4 * Settle)
	if got := calls.Load(); got != before {
		t.Errorf("a write to another file called changed: %d calls, want %d", got, before)
	}
}

func TestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.toml")
	if err := os.WriteFile(path, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	w, err := File(path, func() { calls.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Close() }()
	checkWatch(t, path, &calls)
}

func TestPoll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.toml")
	if err := os.WriteFile(path, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	w := Poll(path, 10*time.Millisecond, func() { calls.Add(1) })
	// The in-place write is of the same size: the times tell.
	checkWatch(t, path, &calls)

	// Removed, then back.
	n := calls.Load()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitCalls(t, &calls, n+1)
	if err := os.WriteFile(path, []byte("d"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitCalls(t, &calls, n+2)

	_ = w.Close()
	if err := os.WriteFile(path, []byte("e"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * Settle)
	if got := calls.Load(); got != n+2 {
		t.Errorf("%d calls after Close, want %d", got, n+2)
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
	// Same size, same content, mtime set back: ctime still moves.
	mtime := time.Unix(a.mtime.Unix())
	time.Sleep(10 * time.Millisecond)
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
