//go:build linux

package tests

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// cSummary parses the C client's stress summary: the connection and failure
// totals and the count per local address.
func cSummary(stdout string) (conns, failures int, sources map[netip.Addr]int, err error) {
	sources = make(map[netip.Addr]int)
	lines := testutil.Lines(stdout)
	if len(lines) == 0 {
		return 0, 0, nil, fmt.Errorf("no summary")
	}
	if _, err := fmt.Sscanf(lines[0], "connections=%d failures=%d", &conns, &failures); err != nil {
		return 0, 0, nil, fmt.Errorf("summary %q: %w", lines[0], err)
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "source" {
			return 0, 0, nil, fmt.Errorf("source line %q", l)
		}
		a, err := netip.ParseAddr(f[1])
		if err != nil {
			return 0, 0, nil, fmt.Errorf("source line %q: %w", l, err)
		}
		n, err := strconv.Atoi(f[2])
		if err != nil {
			return 0, 0, nil, fmt.Errorf("source line %q: %w", l, err)
		}
		sources[a.Unmap()] += n
	}
	return conns, failures, sources, nil
}

// TestIntegrationManyConnections: 16 threads x 500 connections of the
// dynamic C client, each closed by the client first; every one must arrive
// from the VIPA and none may fail.
func TestIntegrationManyConnections(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.ForEngines(t, testManyConnections)
}

func testManyConnections(t *testing.T, engine string) {
	tests := []struct {
		name          string
		dst, vipa     netip.Addr
		threads, each int
	}{
		{"ipv4 16x500", dst4, vipa4, 16, 500},
		{"ipv6 16x100", dst6, vipa6, 16, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngineEnv(t, engine)
			rec := e.rec(tt.dst)
			cc := cClient(t)

			// A small baseline: the kernel's own choice.
			res := e.run(append([]string{cc, "-t", "4", "-n", "10"}, hostPort(tt.dst)...)...)
			wantOK(t, "without vipa-exec", res)
			wantSources(t, "without vipa-exec", rec, map[netip.Addr]int{tt.dst: 40})

			rec.Reset()
			n := tt.threads * tt.each
			argv := append([]string{cc, "-t", fmt.Sprint(tt.threads), "-n", fmt.Sprint(tt.each)}, hostPort(tt.dst)...)
			res = e.wrapped(e.policy(standardPolicy), argv...)
			conns, failures, local, err := cSummary(res.Stdout)
			if err != nil {
				t.Fatalf("C client output: %v\n%v", err, res)
			}
			if conns != n || failures != 0 || res.Exit != 0 {
				t.Errorf("C client: %d connections, %d failed, exit %d; want %d, 0 failed, exit 0\n%v", conns, failures, res.Exit, n, res)
			}
			if d := testutil.Diff(map[netip.Addr]int{tt.vipa: n}, local); d != "" {
				t.Errorf("C client's local addresses (-want +got):\n%s", d)
			}
			wantSources(t, "under vipa-exec", rec, map[netip.Addr]int{tt.vipa: n})
		})
	}

	// The static Go client: 16 goroutines, 2000 connections.
	t.Run("go-static ipv6 2000 by 16 goroutines", func(t *testing.T) {
		e := newEngineEnv(t, engine)
		const n = 2000
		res := e.wrapped(e.policy(standardPolicy), goClient(t), "-n", fmt.Sprint(n), "-c", "16", "-connect", netip.AddrPortFrom(dst6, serverPort).String())
		wantOK(t, "go client", res)
		local := make(map[netip.Addr]int)
		for _, l := range testutil.Lines(res.Stdout) {
			ap, err := netip.ParseAddrPort(l)
			if err != nil {
				t.Fatalf("go client output line %q: %v", l, err)
			}
			local[ap.Addr()]++
		}
		if d := testutil.Diff(map[netip.Addr]int{vipa6: n}, local); d != "" {
			t.Errorf("go client's local addresses (-want +got):\n%s", d)
		}
		wantSources(t, "under vipa-exec", e.rec6, map[netip.Addr]int{vipa6: n})
	})
}

// TestIntegrationChildren: processes the program starts inherit the filter
// (or the cgroup), a python os.fork() child and the programs a shell runs
// alike.
func TestIntegrationChildren(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.ForEngines(t, testChildren)
}

func testChildren(t *testing.T, engine string) {
	t.Run("python fork", func(t *testing.T) {
		testutil.RequireTool(t, python)
		e := newEngineEnv(t, engine)
		argv := append([]string{python, "-c", pyFork}, hostPort(dst4)...)

		res := e.run(argv...)
		wantOK(t, "without vipa-exec", res)
		wantSources(t, "without vipa-exec", e.rec4, map[netip.Addr]int{dst4: 2})

		e.rec4.Reset()
		res = e.wrapped(e.policy(standardPolicy), argv...)
		wantOK(t, "under vipa-exec", res)
		wantSources(t, "under vipa-exec", e.rec4, map[netip.Addr]int{vipa4: 2})
		want := []string{"child " + vipa4.String(), "parent " + vipa4.String()}
		if d := testutil.Diff(want, testutil.Lines(res.Stdout)); d != "" {
			t.Errorf("python's local addresses (-want +got):\n%s", d)
		}
	})

	t.Run("shell pipeline", func(t *testing.T) {
		testutil.RequireTool(t, "busybox", "curl")
		e := newEngineEnv(t, engine)
		argv := []string{"/bin/sh", "-c", `busybox wget -q -O- "$0" | cat && curl -sS --noproxy '*' "$1" && (busybox wget -q -O- "$0")`, url(dst4), url(dst6)}

		res := e.run(argv...)
		wantOK(t, "without vipa-exec", res)
		wantSources(t, "without vipa-exec", e.rec4, map[netip.Addr]int{dst4: 2})
		wantSources(t, "without vipa-exec", e.rec6, map[netip.Addr]int{dst6: 1})

		e.rec4.Reset()
		e.rec6.Reset()
		res = e.wrapped(e.policy(standardPolicy), argv...)
		wantOK(t, "under vipa-exec", res)
		wantSources(t, "under vipa-exec", e.rec4, map[netip.Addr]int{vipa4: 2})
		wantSources(t, "under vipa-exec", e.rec6, map[netip.Addr]int{vipa6: 1})
	})

	// The program exits while a background child it started still runs:
	// the child's connection is rewritten, and the supervisor stays until
	// that child is gone, then exits.
	t.Run("child outlives the program", func(t *testing.T) {
		testutil.RequireTool(t, "busybox")
		e := newEngineEnv(t, engine)
		fifo := filepath.Join(e.dir, "go")
		if err := unix.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			// Should the test stop early, end the child's wait: a writer
			// that opens and closes gives the reader end of file.
			if f, err := os.OpenFile(fifo, os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
				_ = f.Close()
			}
		})
		argv := []string{"/bin/sh", "-c", `(read x < "$0"; busybox wget -q -O- "$1") >/dev/null 2>&1 </dev/null & echo started`, fifo, url(dst4)}

		// The supervisor keeps vipa-exec's stderr and lives on with the
		// child: a pipe there would stay open, so use files.
		cmd := e.command(e.vipa(e.policy(standardPolicy), argv...)...)
		out, errOut := tempFile(t), tempFile(t)
		cmd.Stdout, cmd.Stderr = out, errOut
		res := testutil.Run(t, cmd)
		wantOK(t, "program", res)
		if got := readFile(t, out); got != "started\n" {
			t.Fatalf("program output %q, want started; stderr %q", got, readFile(t, errOut))
		}
		// The background child is still under the filter.
		if len(testutil.Supervisors(res.Pid)) == 0 {
			t.Errorf("supervisor of pid %d gone while a child of the program still runs", res.Pid)
		}
		release(t, fifo)
		wantSources(t, "background child", e.rec4, map[netip.Addr]int{vipa4: 1})
		e.supervisorGone(res)
	})
}

func tempFile(t *testing.T) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

func readFile(t *testing.T, f *os.File) string {
	t.Helper()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// release opens fifo for writing (which waits for the reader) and closes it,
// which ends the reader's `read`.
func release(t *testing.T, fifo string) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err == nil {
			_, err = f.WriteString("go\n")
			_ = f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("release %s: %v", fifo, err)
		}
	case <-time.After(testutil.WaitTimeout):
		// The opener goroutine stays blocked; the test binary ends soon.
		t.Fatalf("release %s: no reader after %v", fifo, testutil.WaitTimeout)
	}
}
