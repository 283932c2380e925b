//go:build linux

package rrstate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		helper()
		return
	}
	testutil.Main(m)
}

var diff = testutil.Diff

// files lists the names in dir.
func files(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func open(t *testing.T, dir string) *Dir {
	t.Helper()
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func counter(t *testing.T, d *Dir, key string, mode fs.FileMode) *Counter {
	t.Helper()
	c, err := d.Counter(key, mode)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSharedRotation(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run", "rr")
	a, b := open(t, dir), open(t, dir)
	ca, cb := counter(t, a, "policy=/p connect x", 0o640), counter(t, b, "policy=/p connect x", 0o640)
	if again := counter(t, a, "policy=/p connect x", 0o600); again != ca {
		t.Error("a second Counter for the same key is another counter")
	}
	other := counter(t, a, "policy=/p connect y", 0o600)

	// Two instances, one sequence of values.
	first := ca.Next()
	var got []uint64
	for i := range 10 {
		c := ca
		if i%3 == 0 {
			c = cb
		}
		got = append(got, c.Next()-first)
	}
	if d := diff([]uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, got); d != "" {
		t.Errorf("values across two instances (-want +got):\n%s", d)
	}
	if v := other.Load(); v == ca.Load() {
		t.Errorf("another rule's counter has the same value %d", v)
	}

	// The directory is writable by its owner alone; the file has the
	// rule's mode.
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&(fs.ModePerm|fs.ModeSticky) != 0o755 {
		t.Errorf("directory mode %v, want 0755", st.Mode())
	}
	fst, err := os.Stat(filepath.Join(dir, FileName("policy=/p connect x")))
	if err != nil {
		t.Fatal(err)
	}
	if fst.Mode() != 0o640 {
		t.Errorf("counter file mode %v, want 0640", fst.Mode())
	}
	text, _ := os.ReadFile(filepath.Join(dir, FileName("policy=/p connect x")))
	if len(text) != fileSize || string(text[:len(header)]) != header {
		t.Errorf("counter file: %d bytes, header %q", len(text), text[:min(len(text), len(header))])
	}

	// The last instance to close removes the files.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if d := diff([]string{FileName("policy=/p connect x")}, files(t, dir)); d != "" {
		t.Errorf("after the first instance closed (-want +got):\n%s", d)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if d := diff([]string(nil), files(t, dir)); d != "" {
		t.Errorf("after the last instance closed (-want +got):\n%s", d)
	}
	if _, err := a.Counter("k", 0o600); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Counter after Close = %v, want fs.ErrClosed", err)
	}
}

func TestConcurrentInstances(t *testing.T) {
	dir := t.TempDir()
	const instances, per = 8, 500
	values := make([][]uint64, instances)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range instances {
		wg.Go(func() {
			<-start
			d, err := Open(dir)
			if err != nil {
				t.Error(err)
				return
			}
			defer func() { _ = d.Close() }()
			c, err := d.Counter("k", 0o600)
			if err != nil {
				t.Error(err)
				return
			}
			for range per {
				values[i] = append(values[i], c.Next())
			}
		})
	}
	close(start)
	wg.Wait()
	// Instances that overlapped shared a counter; one that came after all
	// others had closed started afresh. Either way no value was handed out
	// twice within one counter's life, and the directory ends empty.
	if d := diff([]string(nil), files(t, dir)); d != "" {
		t.Errorf("after all instances closed (-want +got):\n%s", d)
	}
	for i, v := range values {
		if len(v) != per {
			t.Fatalf("instance %d got %d values", i, len(v))
		}
		for j := 1; j < len(v); j++ {
			if v[j] <= v[j-1] {
				t.Fatalf("instance %d: values not increasing: %d then %d", i, v[j-1], v[j])
			}
		}
	}
}

// The helper process opens a counter, prints its value, and waits to be
// killed.
const helperEnv = "RRSTATE_TEST_HELPER"

func helper() {
	d, err := Open(os.Getenv(helperEnv))
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	c, err := d.Counter("killed", 0o600)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("value", c.Next())
	select {}
}

func TestKilledInstanceIsSwept(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	p := testutil.Start(t, cmd)
	if line := p.Line(t); len(line) < 6 || line[:6] != "value " {
		t.Fatalf("helper: %q", line)
	}
	// While the helper runs, its counter is in use: a new instance neither
	// removes it nor gets another one.
	d := open(t, dir)
	if d := diff([]string{FileName("killed")}, files(t, dir)); d != "" {
		t.Errorf("with the helper running (-want +got):\n%s", d)
	}
	_ = d.Close()
	if d := diff([]string{FileName("killed")}, files(t, dir)); d != "" {
		t.Errorf("after an instance that did not use it closed (-want +got):\n%s", d)
	}

	if err := p.Cmd.Process.Signal(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if res := p.Wait(t); res.Signal != unix.SIGKILL {
		t.Fatalf("helper: %v", res)
	}
	// Killed, the helper could not remove its file; the next instance does.
	if d := diff([]string{FileName("killed")}, files(t, dir)); d != "" {
		t.Errorf("after the helper was killed (-want +got):\n%s", d)
	}
	_ = open(t, dir).Close()
	if d := diff([]string(nil), files(t, dir)); d != "" {
		t.Errorf("after the next instance opened the directory (-want +got):\n%s", d)
	}
}

func TestRemovedWhileOpening(t *testing.T) {
	// An instance that opened the file just before the last user removed it
	// must not keep using the removed file.
	dir := t.TempDir()
	a := open(t, dir)
	ca := counter(t, a, "k", 0o600)
	name := filepath.Join(dir, FileName("k"))
	stale, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stale.Close() }()
	_ = a.Close()
	if _, err := os.Stat(name); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("counter file still there after its only user closed: %v", err)
	}
	_ = ca
	// The stale descriptor names no file any more; names() says so.
	b := open(t, dir)
	defer func() { _ = b.Close() }()
	if b.names(int(stale.Fd()), FileName("k")) {
		t.Error("names() accepts a removed file")
	}
	cb := counter(t, b, "k", 0o600)
	if !b.names(cb.fd, FileName("k")) {
		t.Error("a new counter is not the file at its path")
	}
}

func TestForeignFile(t *testing.T) {
	dir := t.TempDir()
	d := open(t, dir)
	defer func() { _ = d.Close() }()
	for name, content := range map[string]string{
		"short":     "vipa-exec rr counter v1\n",
		"no header": string(make([]byte, fileSize)),
	} {
		key := "foreign " + name
		if err := os.WriteFile(filepath.Join(dir, FileName(key)), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Counter(key, 0o600); !errors.Is(err, ErrForeign) {
			t.Errorf("%s: Counter = %v, want ErrForeign", name, err)
		}
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, FileName("link"))); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Counter("link", 0o600); !errors.Is(err, unix.ELOOP) {
		t.Errorf("symlink: Counter = %v, want ELOOP", err)
	}
}

func TestTruncatedUnderMapping(t *testing.T) {
	dir := t.TempDir()
	d := open(t, dir)
	defer func() { _ = d.Close() }()
	c := counter(t, d, "k", 0o600)
	v := c.Next()
	if err := os.Truncate(filepath.Join(dir, FileName("k")), 0); err != nil {
		t.Fatal(err)
	}
	// The access faults (SIGBUS); the counter goes on in this process.
	if got := c.Next(); got != v+1 {
		t.Errorf("Next after truncation = %d, want %d", got, v+1)
	}
	if got := c.Load(); got != v+2 {
		t.Errorf("Load after truncation = %d, want %d", got, v+2)
	}
}

func TestUnsafeDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rr")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	// This user's own: tightened (TestUntrusted has other users').
	if d, err := Open(dir); err != nil {
		t.Errorf("Open of this user's directory writable by all = %v, want it tightened", err)
	} else {
		_ = d.Close()
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("this user's directory writable by all: now %v (%v), want 0755", fi.Mode(), err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(t.TempDir(), link); err != nil {
		t.Fatal(err)
	}
	if d, err := Open(link); !errors.Is(err, unix.ENOTDIR) && !errors.Is(err, unix.ELOOP) {
		if d != nil {
			_ = d.Close()
		}
		t.Errorf("Open(symlink) = %v, want ELOOP or ENOTDIR", err)
	}
}

// TestUntrusted: a counter directory or a counter file that another user
// could write is refused; so is a counter with mode bits beyond rr_mode.
func TestUntrusted(t *testing.T) {
	testutil.RequireRoot(t)
	const nobody = 65534
	for _, tt := range []struct {
		name string
		mode fs.FileMode // of the directory, os.ModeSticky included
		uid  int         // its owner
	}{
		{"sticky, writable by all, another user's", 0o777 | os.ModeSticky, nobody},
		{"group-writable, another user's", 0o775, nobody},
		{"owned by another user", 0o755, nobody},
	} {
		dir := filepath.Join(testutil.PublicDir(t), "rr")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, tt.uid, 0); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, tt.mode); err != nil {
			t.Fatal(err)
		}
		if d, err := Open(dir); !errors.Is(err, ErrUntrusted) {
			if d != nil {
				_ = d.Close()
			}
			t.Errorf("%s: Open = %v, want ErrUntrusted", tt.name, err)
		}
	}
	// This user's own directory, left sticky and writable by all by an older
	// vipa-exec, is tightened rather than refused.
	for _, mode := range []fs.FileMode{0o777 | os.ModeSticky, 0o775} {
		dir := filepath.Join(testutil.PublicDir(t), "rr")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		d, err := Open(dir)
		if err != nil {
			t.Fatalf("own directory of mode %v: Open = %v, want it tightened", mode, err)
		}
		_ = d.Close()
		if fi, err := os.Stat(dir); err != nil || fi.Mode() != fs.ModeDir|0o755 {
			t.Errorf("own directory of mode %v: now %v (%v), want drwxr-xr-x", mode, fi.Mode(), err)
		}
	}
	above := filepath.Join(testutil.PublicDir(t), "above")
	if err := os.Mkdir(above, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(above, 0o777); err != nil {
		t.Fatal(err)
	}
	if d, err := Open(filepath.Join(above, "rr")); !errors.Is(err, ErrUntrusted) {
		if d != nil {
			_ = d.Close()
		}
		t.Errorf("under a directory writable by all: Open = %v, want ErrUntrusted", err)
	}

	dir := filepath.Join(testutil.PublicDir(t), "rr")
	d := open(t, dir)
	defer func() { _ = d.Close() }()
	page := make([]byte, fileSize)
	copy(page, header)
	for _, tt := range []struct {
		name string
		mode fs.FileMode // of the file planted
		uid  int
	}{
		{"another user's", 0o600, nobody},
		{"beyond rr_mode", 0o666, 0},
	} {
		key := "planted " + tt.name
		p := filepath.Join(dir, FileName(key))
		if err := os.WriteFile(p, page, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, tt.uid, 0); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, tt.mode); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Counter(key, 0o600); !errors.Is(err, ErrUntrusted) {
			t.Errorf("%s counter: %v, want ErrUntrusted", tt.name, err)
		}
	}
}

func TestLocal(t *testing.T) {
	l := NewLocal()
	v := l.Load()
	if l.Next() != v || l.Next() != v+1 || l.Load() != v+2 {
		t.Error("Local does not count")
	}
}

func BenchmarkNext(b *testing.B) {
	d, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = d.Close() }()
	c, err := d.Counter("k", 0o600)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Next()
	}
}
