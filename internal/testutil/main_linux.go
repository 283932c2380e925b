//go:build linux

package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// Main runs the tests of a package and exits: with m.Run's status, or 1 if
// the tests passed but left file descriptors open. It also removes the
// binaries the builders made. Call it from TestMain:
//
//	func TestMain(m *testing.M) { testutil.Main(m) }
//
// m is a *testing.M, or one wrapping it with work of its own after the
// tests (which then counts in the descriptor check).
func Main(m interface{ Run() int }) {
	// The poller's epoll and wake-up descriptors are opened on first use and
	// live forever; open them now so they are not counted as leaks.
	if r, w, err := os.Pipe(); err == nil {
		_ = r.Close()
		_ = w.Close()
	}
	before := OpenFDs()
	code := m.Run()
	if err := removeBuilds(); err != nil {
		fmt.Fprintf(os.Stderr, "testutil: remove built binaries: %v\n", err)
	}
	if leaked := LeakedFDs(before, OpenFDs()); code == 0 && len(leaked) > 0 {
		fmt.Fprintf(os.Stderr, "testutil: %d file descriptors leaked by the tests:\n", len(leaked))
		for _, l := range leaked {
			fmt.Fprintf(os.Stderr, "\t%s\n", l)
		}
		code = 1
	}
	os.Exit(code)
}

// OpenFDs maps each open descriptor of this process to what it refers to.
func OpenFDs() map[int]string {
	fds := make(map[int]string)
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fds
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// The directory's own descriptor is gone by now: readlink fails.
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue
		}
		fds[fd] = target
	}
	return fds
}

// LeakedFDs lists the descriptors open in after that were not open (with
// the same target) in before, as "FD -> TARGET" in descriptor order.
func LeakedFDs(before, after map[int]string) []string {
	var fds []int
	for fd, target := range after {
		if old, ok := before[fd]; !ok || old != target {
			fds = append(fds, fd)
		}
	}
	slices.Sort(fds)
	leaked := make([]string, len(fds))
	for i, fd := range fds {
		leaked[i] = fmt.Sprintf("%d -> %s", fd, after[fd])
	}
	return leaked
}
