package cgroup

import (
	"errors"
	"path"
	"strings"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// Lines of /proc/self/mountinfo.
const (
	miTmpfs   = "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
	miV1      = "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
	miHybrid  = "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
	miUnified = "29 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
	miProc    = "22 1 0:20 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
)

func TestParseMountinfo(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want mount
		err  error
	}{
		{name: "hybrid", in: miProc + miTmpfs + miV1 + miHybrid, want: mount{point: "/sys/fs/cgroup/unified", root: "/"}},
		{name: "unified", in: miProc + miUnified, want: mount{point: "/sys/fs/cgroup", root: "/"}},
		{name: "unified before another", in: "50 22 0:40 / /mnt/cg rw - cgroup2 cgroup2 rw\n" + miUnified, want: mount{point: "/sys/fs/cgroup", root: "/"}},
		{name: "elsewhere only", in: miProc + "50 22 0:40 / /mnt/cg rw - cgroup2 cgroup2 rw\n", want: mount{point: "/mnt/cg", root: "/"}},
		{name: "container root", in: "50 22 0:40 /system.slice/x.service /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n",
			want: mount{point: "/sys/fs/cgroup", root: "/system.slice/x.service"}},
		{name: "optional fields", in: "29 22 0:26 / /sys/fs/cgroup rw shared:4 master:1 propagate_from:2 - cgroup2 cgroup2 rw\n", want: mount{point: "/sys/fs/cgroup", root: "/"}},
		{name: "escaped space", in: `50 22 0:40 / /mnt/c\040g rw - cgroup2 none rw` + "\n", want: mount{point: "/mnt/c g", root: "/"}},
		{name: "hidden by a later mount", in: miUnified + "60 29 0:50 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n" + miHybrid,
			want: mount{point: "/sys/fs/cgroup/unified", root: "/"}},
		{name: "v1 only", in: miProc + miTmpfs + miV1, err: ErrNoCgroup2},
		{name: "empty", in: "", err: ErrNoCgroup2},
		{name: "no separator", in: "29 22 0:26 / /sys/fs/cgroup rw cgroup2 cgroup2 rw\n", err: ErrNoCgroup2},
		{name: "cgroup2 as a source name", in: "29 22 0:26 / /x rw - tmpfs cgroup2 rw\n", err: ErrNoCgroup2},
		{name: "bad escape", in: `50 22 0:40 / /mnt/c\04 rw - cgroup2 none rw` + "\n", err: ErrFormat},
		{name: "relative point", in: "50 22 0:40 / mnt rw - cgroup2 none rw\n", err: ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMountinfo([]byte(tt.in))
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if d := testutil.Diff(tt.want, got); d != "" {
				t.Errorf("mount (-want +got):\n%s", d)
			}
		})
	}
}

func TestParseProcCgroup(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
		err  error
	}{
		{name: "root", in: "0::/\n", want: "/"},
		{name: "hybrid", in: "9:name=systemd:/user.slice\n4:memory:/a/b\n0::/user.slice/session-1.scope\n", want: "/user.slice/session-1.scope"},
		{name: "no newline", in: "0::/a", want: "/a"},
		{name: "v1 only", in: "1:cpu:/\n", err: ErrNoCgroup2},
		{name: "empty", in: "", err: ErrNoCgroup2},
		{name: "relative", in: "0::a/b\n", err: ErrFormat},
		{name: "dot dot", in: "0::/a/../../b\n", err: ErrFormat},
		{name: "trailing slash", in: "0::/a/\n", err: ErrFormat},
		{name: "deleted", in: "0::/a (deleted)\n", err: ErrFormat},
		{name: "empty path", in: "0::\n", err: ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcCgroup([]byte(tt.in))
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Errorf("path %q, want %q", got, tt.want)
			}
		})
	}
}

func TestJoin(t *testing.T) {
	tests := []struct {
		name string
		m    mount
		p    string
		want string
		err  error
	}{
		{name: "root mount", m: mount{point: "/sys/fs/cgroup/unified", root: "/"}, p: "/a/b", want: "/sys/fs/cgroup/unified/a/b"},
		{name: "root cgroup", m: mount{point: "/sys/fs/cgroup", root: "/"}, p: "/", want: "/sys/fs/cgroup"},
		{name: "subtree mount", m: mount{point: "/sys/fs/cgroup", root: "/x.service"}, p: "/x.service/y", want: "/sys/fs/cgroup/y"},
		{name: "subtree itself", m: mount{point: "/sys/fs/cgroup", root: "/x.service"}, p: "/x.service", want: "/sys/fs/cgroup"},
		{name: "outside", m: mount{point: "/sys/fs/cgroup", root: "/x.service"}, p: "/x.serviceB", err: ErrNoCgroup2},
		{name: "above", m: mount{point: "/sys/fs/cgroup", root: "/x.service"}, p: "/", err: ErrNoCgroup2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := join(tt.m, tt.p)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Errorf("directory %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParsePopulated(t *testing.T) {
	tests := []struct {
		in   string
		want bool
		err  error
	}{
		{in: "populated 0\nfrozen 0\n"},
		{in: "populated 1\nfrozen 0\n", want: true},
		{in: "frozen 1\npopulated 1", want: true},
		{in: "populated 2\n", err: ErrFormat},
		{in: "populated\n", err: ErrFormat},
		{in: "", err: ErrFormat},
	}
	for _, tt := range tests {
		got, err := parsePopulated([]byte(tt.in))
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("parsePopulated(%q) = %v, %v; want %v, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestOwnerPID(t *testing.T) {
	tests := []struct {
		name string
		want int
		ok   bool
	}{
		{"vipa-exec.42", 42, true},
		{"vipa-exec.0", 0, false},
		{"vipa-exec.042", 0, false},
		{"vipa-exec.+42", 0, false},
		{"vipa-exec.-1", 0, false},
		{"vipa-exec.", 0, false},
		{"vipa-exec.4x", 0, false},
		{"other.42", 0, false},
	}
	for _, tt := range tests {
		if n, ok := ownerPID(tt.name); ok != tt.ok || ok && n != tt.want {
			t.Errorf("ownerPID(%q) = %d, %v; want %d, %v", tt.name, n, ok, tt.want, tt.ok)
		}
	}
}

// FuzzParseMountinfo: whatever the text, a mount found is absolute and
// clean, and an error is one of the package's.
func FuzzParseMountinfo(f *testing.F) {
	for _, s := range []string{miProc + miTmpfs + miV1 + miHybrid, miUnified, `50 22 0:40 /a\040b /m\134 rw - cgroup2 none rw`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseMountinfo(data)
		if err != nil {
			if !errors.Is(err, ErrNoCgroup2) && !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v is neither ErrNoCgroup2 nor ErrFormat", err)
			}
			return
		}
		if !isCleanAbs(m.point) || !isCleanAbs(m.root) {
			t.Fatalf("mount %+v: not absolute and clean", m)
		}
	})
}

// FuzzParseProcCgroup: a path accepted is absolute and clean, and joined to
// a mount it stays under the mount point.
func FuzzParseProcCgroup(f *testing.F) {
	for _, s := range []string{"0::/\n", "1:cpu:/\n0::/a/b\n", "0::/a/../b", "0::x"} {
		f.Add([]byte(s), "/")
	}
	f.Add([]byte("0::/x.service/y\n"), "/x.service")
	f.Fuzz(func(t *testing.T, data []byte, root string) {
		p, err := parseProcCgroup(data)
		if err != nil {
			if !errors.Is(err, ErrNoCgroup2) && !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v is neither ErrNoCgroup2 nor ErrFormat", err)
			}
			return
		}
		if !isCleanAbs(p) {
			t.Fatalf("path %q: not absolute and clean", p)
		}
		if !isCleanAbs(root) {
			return
		}
		const point = "/sys/fs/cgroup"
		dir, err := join(mount{point: point, root: root}, p)
		if err != nil {
			return
		}
		if dir != point && !isUnder(dir, point) {
			t.Fatalf("join(%q, %q) = %q: outside %s", root, p, dir, point)
		}
	})
}

// FuzzParsePopulated: no panic, and only the two values.
func FuzzParsePopulated(f *testing.F) {
	f.Add([]byte("populated 1\nfrozen 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := parsePopulated(data); err != nil && !errors.Is(err, ErrFormat) {
			t.Fatalf("error %v is not ErrFormat", err)
		}
	})
}

func isCleanAbs(p string) bool { return path.IsAbs(p) && path.Clean(p) == p }

func isUnder(p, dir string) bool { return strings.HasPrefix(p, dir+"/") }
