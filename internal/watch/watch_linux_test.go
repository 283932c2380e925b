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

func TestFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.toml")
	if err := os.WriteFile(path, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	w, err := File(path, func() { calls.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	// An in-place write.
	if err := os.WriteFile(path, []byte("b"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitCalls(t, &calls, 1)

	// An atomic replacement, as editors and configuration management do.
	tmp := filepath.Join(dir, ".policy.toml.tmp")
	if err := os.WriteFile(tmp, []byte("c"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := calls.Load()
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	waitCalls(t, &calls, before+1)

	// Another file in the directory is not the policy.
	before = calls.Load()
	if err := os.WriteFile(filepath.Join(dir, "other"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Give a wrong call time to happen; then the count must be unchanged.
	time.Sleep(4 * Settle)
	if got := calls.Load(); got != before {
		t.Errorf("a write to another file called changed: %d calls, want %d", got, before)
	}
}
