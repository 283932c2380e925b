//go:build linux

package trusted

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ReadFile reads the regular file at path, refusing one of more than max
// bytes and, when the caller is root, one that the package's rule refuses
// (the file, or a directory above it as named or resolved). what names the
// file in errors, as in "policy file".
func ReadFile(path, what string, max int64) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused
	// below.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, refuse(ErrNotRegular, path, "the %s must be a regular file (this is %s)", what, kind(fi.Mode()))
	}
	if fi.Size() > max {
		return nil, refuse(ErrTooLarge, path, "the %s has %d bytes, more than the %d allowed", what, fi.Size(), max)
	}
	if os.Geteuid() == 0 {
		if err := checkOpened(path, what, fi, os.Getuid()); err != nil {
			return nil, err
		}
	}
	// The file may grow after the Stat.
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, refuse(ErrTooLarge, path, "the %s has more than the %d bytes allowed", what, max)
	}
	return data, nil
}

// checkOpened checks the opened file (fi) at path and the directories above
// it for root, uid being the caller.
func checkOpened(path, what string, fi fs.FileInfo, uid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return err
	}
	// The path resolved now must still name the file opened: nobody who
	// may not write the directories can have swapped it in between, but
	// anybody could have before the check.
	if rfi, err := os.Stat(real); err != nil || !os.SameFile(fi, rfi) {
		return refuse(ErrUntrusted, path, "the %s changed while it was checked", what)
	}
	if err := check(path, "a "+what, fi, uid); err != nil {
		return err
	}
	in := "the " + what + " " + path + ", in a directory"
	seen := map[string]bool{}
	for _, p := range []string{abs, real} {
		for d := filepath.Dir(p); !seen[d]; d = filepath.Dir(d) {
			seen[d] = true
			dfi, err := os.Stat(d)
			if err != nil {
				return err
			}
			if err := check(d, in, dfi, uid); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckDir checks, for the caller uid, the directory dir (not following a
// symbolic link) and the directories above it.
func CheckDir(dir, what string, uid int) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return refuse(ErrUntrusted, dir, "the %s must be a directory (this is %s)", what, kind(fi.Mode()))
	}
	if err := check(dir, "a "+what, fi, uid); err != nil {
		return err
	}
	in := "the " + what + " " + dir + ", in a directory"
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		dfi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if err := check(d, in, dfi, uid); err != nil {
			return err
		}
		if d == "/" || d == "." {
			return nil
		}
	}
}

// check applies the rule to one file or directory at path; what says what
// is refused, as in "a policy file".
func check(path, what string, fi fs.FileInfo, uid int) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return refuse(ErrUntrusted, path, "no owner")
	}
	mode := st.Mode & 0o7777
	if st.Uid != 0 && int(st.Uid) != uid {
		return refuse(ErrUntrusted, path, "refusing %s owned by uid %d, neither root nor you (mode %04o); fix with chown root %s",
			what, st.Uid, mode, path)
	}
	sticky := fi.IsDir() && st.Mode&syscall.S_ISVTX != 0 && st.Uid == 0
	if st.Mode&0o002 != 0 && !sticky || st.Mode&0o020 != 0 && st.Gid != 0 {
		return refuse(ErrUntrusted, path, "refusing %s writable by others (mode %04o, owner uid %d, group gid %d); fix with chmod go-w %s",
			what, mode, st.Uid, st.Gid, path)
	}
	return nil
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}
