//go:build linux

package trusted

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

const user = 65534 // nobody

// TestReadFile: as root, a file nobody else can change is read; one that
// another user could change (through its mode, its owner, a directory
// above it, or a symbolic link's directory) is refused, naming the path to
// fix; so are what is not a regular file, and a file over the cap.
func TestReadFile(t *testing.T) {
	testutil.RequireRoot(t)
	tests := []struct {
		name string
		// setup builds the case in dir (0755, root's) and returns the path
		// to read and the path the error must name ("" for no error).
		setup func(t *testing.T, dir string) (path, blame string)
		err   error
	}{
		{"root's 0644", func(t *testing.T, dir string) (string, string) {
			return file(t, dir, "p", 0o644, 0, 0), ""
		}, nil},
		{"group root may write", func(t *testing.T, dir string) (string, string) {
			return file(t, dir, "p", 0o664, 0, 0), ""
		}, nil},
		{"in a root-owned sticky directory", func(t *testing.T, dir string) (string, string) {
			d := mkdir(t, dir, "tmp", 0o1777, 0)
			return file(t, d, "p", 0o644, 0, 0), ""
		}, nil},
		{"0666", func(t *testing.T, dir string) (string, string) {
			p := file(t, dir, "p", 0o666, 0, 0)
			return p, p
		}, ErrUntrusted},
		{"group-writable, group not root", func(t *testing.T, dir string) (string, string) {
			p := file(t, dir, "p", 0o664, 0, user)
			return p, p
		}, ErrUntrusted},
		{"owned by another user", func(t *testing.T, dir string) (string, string) {
			p := file(t, dir, "p", 0o644, user, 0)
			return p, p
		}, ErrUntrusted},
		{"directory writable by all", func(t *testing.T, dir string) (string, string) {
			d := mkdir(t, dir, "d", 0o777, 0)
			return file(t, d, "p", 0o644, 0, 0), d
		}, ErrUntrusted},
		{"directory owned by another user", func(t *testing.T, dir string) (string, string) {
			d := mkdir(t, dir, "d", 0o755, user)
			return file(t, d, "p", 0o644, 0, 0), d
		}, ErrUntrusted},
		{"sticky directory of another user", func(t *testing.T, dir string) (string, string) {
			d := mkdir(t, dir, "d", 0o1777, user)
			return file(t, d, "p", 0o644, 0, 0), d
		}, ErrUntrusted},
		{"directory above, writable by all", func(t *testing.T, dir string) (string, string) {
			d := mkdir(t, dir, "d", 0o777, 0)
			e := mkdir(t, d, "e", 0o755, 0)
			return file(t, e, "p", 0o644, 0, 0), d
		}, ErrUntrusted},
		{"symlink to a file in a directory writable by all", func(t *testing.T, dir string) (string, string) {
			d := mkdir(t, dir, "d", 0o777, 0)
			target := file(t, d, "p", 0o644, 0, 0)
			return link(t, target, filepath.Join(dir, "l")), d
		}, ErrUntrusted},
		{"symlink in a directory writable by all", func(t *testing.T, dir string) (string, string) {
			target := file(t, dir, "p", 0o644, 0, 0)
			d := mkdir(t, dir, "d", 0o777, 0)
			return link(t, target, filepath.Join(d, "l")), d
		}, ErrUntrusted},
		{"symlink to a good file", func(t *testing.T, dir string) (string, string) {
			d := mkdir(t, dir, "d", 0o755, 0)
			target := file(t, d, "p", 0o644, 0, 0)
			return link(t, target, filepath.Join(dir, "l")), ""
		}, nil},
		{"FIFO", func(t *testing.T, dir string) (string, string) {
			p := filepath.Join(dir, "fifo")
			if err := unix.Mkfifo(p, 0o600); err != nil {
				t.Fatal(err)
			}
			return p, p
		}, ErrNotRegular},
		{"directory", func(t *testing.T, dir string) (string, string) {
			return dir, dir
		}, ErrNotRegular},
		{"over the cap", func(t *testing.T, dir string) (string, string) {
			p := file(t, dir, "p", 0o644, 0, 0)
			if err := os.Truncate(p, 1<<40); err != nil {
				t.Fatal(err)
			}
			return p, p
		}, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testutil.PublicDir(t)
			path, blame := tt.setup(t, dir)
			data, err := ReadFile(path, "policy file", 1<<10)
			if !errors.Is(err, tt.err) {
				t.Fatalf("ReadFile(%s) error %v, want %v", path, err, tt.err)
			}
			if err == nil {
				if string(data) != "x = 1\n" {
					t.Errorf("ReadFile(%s) = %q", path, data)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Path != blame {
				t.Errorf("error %q names %v, want %s", err, e, blame)
			}
			if strings.ContainsAny(err.Error(), "\n") {
				t.Errorf("error %q is not one line", err)
			}
		})
	}
}

// TestCheckCaller: files and directories of the user who ran vipa-exec are
// that user's to write.
func TestCheckCaller(t *testing.T) {
	testutil.RequireRoot(t)
	dir := testutil.PublicDir(t)
	d := mkdir(t, dir, "d", 0o755, user)
	p := file(t, d, "p", 0o644, user, 0)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := checkOpened(p, "policy file", fi, user); err != nil {
		t.Errorf("the caller's own file: %v", err)
	}
	if err := checkOpened(p, "policy file", fi, 1000); !errors.Is(err, ErrUntrusted) {
		t.Errorf("another user's file: %v, want ErrUntrusted", err)
	}
	if err := CheckDir(d, "state directory", user); err != nil {
		t.Errorf("the caller's own directory: %v", err)
	}
	if err := CheckDir(d, "state directory", 0); !errors.Is(err, ErrUntrusted) {
		t.Errorf("another user's directory: %v, want ErrUntrusted", err)
	}
	l := link(t, d, filepath.Join(dir, "l"))
	if err := CheckDir(l, "state directory", user); !errors.Is(err, ErrUntrusted) {
		t.Errorf("a symbolic link as directory: %v, want ErrUntrusted", err)
	}
}

func file(t *testing.T, dir, name string, mode os.FileMode, uid, gid int) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("x = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	own(t, p, mode, uid, gid)
	return p
}

func mkdir(t *testing.T, dir, name string, mode os.FileMode, uid int) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.Mkdir(p, 0o700); err != nil {
		t.Fatal(err)
	}
	own(t, p, mode, uid, 0)
	return p
}

func own(t *testing.T, p string, mode os.FileMode, uid, gid int) {
	t.Helper()
	if err := os.Chown(p, uid, gid); err != nil {
		t.Fatal(err)
	}
	// os.Chmod takes Go's mode bits: the sticky bit is os.ModeSticky.
	m := mode.Perm()
	if mode&0o1000 != 0 {
		m |= os.ModeSticky
	}
	if err := os.Chmod(p, m); err != nil {
		t.Fatal(err)
	}
}

func link(t *testing.T, target, p string) string {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
	return p
}
