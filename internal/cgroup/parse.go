package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Errors of this package, for errors.Is.
var (
	// ErrNoCgroup2 is wrapped when the system has no cgroup v2 hierarchy,
	// or a path is not on one.
	ErrNoCgroup2 = errors.New("no cgroup v2 hierarchy")
	// ErrFormat is wrapped when a kernel file does not read as expected.
	ErrFormat = errors.New("unexpected format")
)

// mount is one cgroup2 mount of /proc/self/mountinfo.
type mount struct {
	point string // where it is mounted
	root  string // the cgroup it shows at point, "/" for the whole hierarchy
}

// parseMountinfo returns the cgroup2 mount to use from the text of
// /proc/self/mountinfo: the one at /sys/fs/cgroup (the unified layout), else
// the one at /sys/fs/cgroup/unified (systemd's hybrid layout), else the first
// other. A later mount on the same point hides an earlier one.
func parseMountinfo(data []byte) (mount, error) {
	var mounts []mount
	for line := range bytes.Lines(data) {
		// ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
		fields := strings.Fields(string(line))
		sep := -1
		for i, f := range fields {
			if f == "-" && i >= 6 {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(fields) {
			continue
		}
		point, err := unescape(fields[4])
		if err != nil {
			return mount{}, err
		}
		// Any mount, of whatever type, hides an earlier cgroup2 at its point.
		mounts = slices.DeleteFunc(mounts, func(m mount) bool { return m.point == point })
		if fields[sep+1] != "cgroup2" {
			continue
		}
		root, err := unescape(fields[3])
		if err != nil {
			return mount{}, err
		}
		if !path.IsAbs(point) || !path.IsAbs(root) {
			return mount{}, fmt.Errorf("mountinfo: cgroup2 mount %q of %q: %w", point, root, ErrFormat)
		}
		mounts = append(mounts, mount{point: path.Clean(point), root: path.Clean(root)})
	}
	for _, want := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		for _, m := range mounts {
			if m.point == want {
				return m, nil
			}
		}
	}
	if len(mounts) > 0 {
		return mounts[0], nil
	}
	return mount{}, fmt.Errorf("mountinfo: no cgroup2 mount: %w", ErrNoCgroup2)
}

// unescape undoes mountinfo's octal escapes (\040 for a space, \011, \012,
// \134 for a backslash).
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+4 > len(s) {
			return "", fmt.Errorf("mountinfo: escape in %q: %w", s, ErrFormat)
		}
		v := 0
		for _, c := range []byte(s[i+1 : i+4]) {
			if c < '0' || c > '7' {
				return "", fmt.Errorf("mountinfo: escape in %q: %w", s, ErrFormat)
			}
			v = v*8 + int(c-'0')
		}
		if v > 0xff {
			return "", fmt.Errorf("mountinfo: escape in %q: %w", s, ErrFormat)
		}
		b.WriteByte(byte(v))
		i += 3
	}
	return b.String(), nil
}

// parseProcCgroup returns the cgroup v2 path of /proc/PID/cgroup's text: the
// "0::PATH" line. PATH must be absolute and clean: the kernel writes it, but
// it is joined to a directory that will be written to.
func parseProcCgroup(data []byte) (string, error) {
	for line := range bytes.Lines(data) {
		p, ok := strings.CutPrefix(strings.TrimSuffix(string(line), "\n"), "0::")
		if !ok {
			continue
		}
		// The kernel appends " (deleted)" to a removed cgroup's path;
		// neither that nor a relative path is a directory to use.
		if !path.IsAbs(p) || strings.HasSuffix(p, " (deleted)") || path.Clean(p) != p || strings.ContainsAny(p, "\x00\n") {
			return "", fmt.Errorf("cgroup v2 path %q: %w", p, ErrFormat)
		}
		return p, nil
	}
	return "", fmt.Errorf("no 0:: line: %w", ErrNoCgroup2)
}

// join returns the directory of cgroup path p under mount m. p must lie
// under m.root: a cgroup outside what is mounted has no directory.
func join(m mount, p string) (string, error) {
	rel := p
	if m.root != "/" {
		r, ok := strings.CutPrefix(p, m.root)
		if !ok || r != "" && r[0] != '/' {
			return "", fmt.Errorf("cgroup %s is outside the cgroup2 mount of %s at %s: %w", p, m.root, m.point, ErrNoCgroup2)
		}
		rel = r
	}
	return path.Join(m.point, rel), nil
}

// parsePopulated returns the "populated" field of cgroup.events.
func parsePopulated(data []byte) (bool, error) {
	for line := range bytes.Lines(data) {
		v, ok := strings.CutPrefix(strings.TrimSuffix(string(line), "\n"), "populated ")
		if !ok {
			continue
		}
		switch v {
		case "0":
			return false, nil
		case "1":
			return true, nil
		}
		return false, fmt.Errorf("cgroup.events: populated %q: %w", v, ErrFormat)
	}
	return false, fmt.Errorf("cgroup.events: no populated line: %w", ErrFormat)
}

// namePrefix starts the name of every group this package makes; the owner's
// PID follows.
const namePrefix = "vipa-exec."

// ownerPID returns N of a name "vipa-exec.N" written as this package
// writes it.
func ownerPID(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, namePrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0 && strconv.Itoa(n) == s
}
