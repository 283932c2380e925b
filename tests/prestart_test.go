//go:build linux

package tests

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// reaped runs argv under tests/clients/reaper, a child subreaper that waits
// for argv and for every process argv left behind, and returns what it
// reaped: "program STATUS" for argv, "orphan STATUS" for each other one,
// sorted. No timing: the reaper exits only when no descendant is left.
func (e *env) reaped(argv ...string) (lines []string, res testutil.Result) {
	e.t.Helper()
	reaper := testutil.BuildC(e.t, "tests/clients/reaper/reaper.c")
	res = e.run(append([]string{reaper}, argv...)...)
	if res.Exit != 0 || res.Signal != 0 {
		e.t.Fatalf("reaper: %v", res)
	}
	for _, l := range testutil.Lines(res.Stdout) {
		if l, ok := strings.CutPrefix(l, "reaper: "); ok {
			lines = append(lines, l)
		}
	}
	slices.Sort(lines)
	return lines, res
}

// TestIntegrationPrestart checks the supervisor's start in vipa-exec's C
// constructor (internal/launch/prestart_linux.c): it starts with the
// launcher, before the policy is read; runs that start no detached
// supervisor start none; and it gets none of the caller's descriptors
// while PROGRAM gets them all, at their numbers.
func TestIntegrationPrestart(t *testing.T) {
	e := newEnv(t)
	pol := e.policy(standardPolicy)

	t.Run("started before the policy is read", func(t *testing.T) {
		e := e.with(t)
		// The launcher fails on the policy, before it would have started
		// a supervisor the old way; the pre-started one reads EOF and
		// exits, silently and with 0. The process that forked it, a zombie
		// the failed launcher did not reap, is the other orphan.
		bad := e.policy("[[connect]\n")
		got, res := e.reaped(e.vipa(bad, "/bin/true")...)
		want := []string{"orphan 0", "orphan 0", "program 2"}
		if d := testutil.Diff(want, got); d != "" {
			t.Errorf("reaped (-want +got):\n%s\nstderr:\n%s", d, res.Stderr)
		}
		if lines := testutil.Lines(res.Stderr); len(lines) != 1 || !strings.Contains(lines[0], bad) {
			t.Errorf("stderr %q, want the policy's one error line only", res.Stderr)
		}
		// The fallback path starts none before the policy.
		got, res = e.reaped(append([]string{"env", noPrestart}, e.vipa(bad, "/bin/true")...)...)
		if d := testutil.Diff([]string{"program 2"}, got); d != "" {
			t.Errorf("with %s, reaped (-want +got):\n%s\nstderr:\n%s", noPrestart, d, res.Stderr)
		}
	})

	t.Run("fallback", func(t *testing.T) {
		e := e.with(t)
		// The supervisor started by the launcher itself, after the
		// policy, serves the same.
		e.rec4.Reset()
		res := e.run(append([]string{"env", noPrestart}, e.vipa(pol, goClient(t), "-connect", netip.AddrPortFrom(dst4, serverPort).String())...)...)
		e.supervisorGone(res)
		wantOK(t, "goclient with "+noPrestart, res)
		wantSources(t, "with "+noPrestart, e.rec4, map[netip.Addr]int{vipa4: 1})
	})

	t.Run("a run leaves its supervisor only", func(t *testing.T) {
		e := e.with(t)
		got, res := e.reaped(e.vipa(pol, "/bin/true")...)
		if d := testutil.Diff([]string{"orphan 0", "program 0"}, got); d != "" {
			t.Errorf("reaped (-want +got):\n%s\nstderr:\n%s", d, res.Stderr)
		}
	})

	t.Run("a supervisor that cannot start", func(t *testing.T) {
		testutil.RequireTool(t, "unshare")
		e := e.with(t)
		// Without /proc the pre-started supervisor cannot exec itself: it
		// says so on its socket, and the launcher prints it as its one
		// error line, whatever it was writing when the supervisor went.
		marker := filepath.Join(e.dir, "noproc-started")
		res := e.run(append([]string{"unshare", "--mount", "sh", "-c", `umount -l /proc && exec "$@"`, "sh"},
			e.vipa(pol, "/bin/sh", "-c", `touch "$0"`, marker)...)...)
		lines := testutil.Lines(res.Stderr)
		if res.Exit != 2 || len(lines) != 1 || !strings.HasPrefix(lines[0], "vipa-exec: start supervisor: exec /proc/self/exe: ") {
			t.Errorf("got %v, want exit 2 and one line saying the supervisor could not exec /proc/self/exe", res)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Errorf("the program was started")
		}
	})

	t.Run("PROGRAM inherits no child", func(t *testing.T) {
		e := e.with(t)
		// read is the shell's own: no child of its own to list.
		res := e.wrapped(pol, "/bin/sh", "-c", `read -r c < /proc/$$/task/$$/children; echo "[$c]"`)
		wantOK(t, "program", res)
		if got := strings.TrimSpace(res.Stdout); got != "[]" {
			t.Errorf("PROGRAM's children %s, want none (the process that forked the supervisor reaped)", got)
		}
	})

	t.Run("none where no detached supervisor runs", func(t *testing.T) {
		e := e.with(t)
		for _, args := range [][]string{
			{"--version"},
			{"--help"},
			{"-h"},
			{"--check", "-p", pol},
			{"--explain", "10.1.2.3:80", "-p", pol},
			{"--status"},
			{"-p", pol}, // no PROGRAM
			{"--supervise=parent", "-p", pol, "/bin/true"},
			{"--supervise", "parent", "-p", pol, "/bin/true"},
			{"--frobnicate", "/bin/true"},
		} {
			got, res := e.reaped(append([]string{e.vipaExec}, args...)...)
			if len(got) != 1 || !strings.HasPrefix(got[0], "program ") {
				t.Errorf("vipa-exec %s: reaped %q, want vipa-exec alone\nstderr:\n%s", strings.Join(args, " "), got, res.Stderr)
			}
		}
	})

	for _, mode := range []struct {
		name   string
		prefix []string // of vipa-exec's command line
	}{{"descriptors", nil}, {"descriptors/fallback", []string{"env", noPrestart}}} {
		t.Run(mode.name, func(t *testing.T) { e.with(t).checkDescriptors(pol, mode.prefix) })
	}
}

// checkDescriptors runs prefix + vipa-exec with fd 0 closed and fds 3 and 4
// open, and checks that PROGRAM gets exactly those of the same program
// without vipa-exec, and the supervisor none of them.
func (e *env) checkDescriptors(pol string, prefix []string) {
	t := e.t
	// fd 0 closed by the caller, 3 and 4 open: socket activation's.
	f3, err := os.Open(pol)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f3.Close() }()
	r4, w4, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r4.Close(); _ = w4.Close() }()
	pipe := readlink(t, fmt.Sprintf("/proc/self/fd/%d", w4.Fd()))
	// PROGRAM lists its descriptors, then waits for a line on fd 4. Go's
	// runtime opens /dev/null on a closed 0, 1 or 2 at start, so fd 0
	// is vipa-exec's, not the caller's: PROGRAM closes it, and the
	// listing's own directory lands there, in either run.
	const list = `exec 0<&-; for f in /proc/$$/fd/*; do echo "${f##*/} $(readlink "$f")"; done; echo ready; read x <&4`
	start := func(argv ...string) (*testutil.Proc, map[string]string) {
		cmd := e.command(append([]string{"/bin/sh", "-c", `exec 0<&- "$@"`, "sh"}, argv...)...)
		cmd.ExtraFiles = []*os.File{f3, r4}
		p := testutil.Start(t, cmd)
		fds := map[string]string{}
		for line := p.Line(t); line != "ready"; line = p.Line(t) {
			fd, target, _ := strings.Cut(line, " ")
			fds[fd] = target
		}
		return p, fds
	}
	// The same without vipa-exec: what the caller passes (the test
	// binary may hold descriptors of its own caller's).
	p, bare := start("/bin/sh", "-c", list)
	if _, err := w4.WriteString("go\n"); err != nil {
		t.Fatal(err)
	}
	wantOK(t, "bare program", p.Wait(t))

	p, fds := start(append(slices.Clone(prefix), e.vipa(pol, "/bin/sh", "-c", list)...)...)
	if fds["3"] != pol || fds["4"] != pipe || !slices.Equal(slices.Sorted(maps.Keys(fds)), slices.Sorted(maps.Keys(bare))) {
		t.Errorf("PROGRAM's descriptors %v, want those of the same program without vipa-exec %v, with 3 at %s and 4 at %s", fds, bare, pol, pipe)
	}
	for fd, target := range fds {
		if strings.HasPrefix(target, "socket:") {
			t.Errorf("PROGRAM inherited vipa-exec's socket on fd %s", fd)
		}
	}

	spid := testutil.WaitSupervisor(t, p.Pid())
	sup := map[string]string{}
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", spid))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range entries {
		sup[d.Name()] = readlink(t, fmt.Sprintf("/proc/%d/fd/%s", spid, d.Name()))
	}
	if sup["0"] != os.DevNull || sup["1"] != os.DevNull || sup["2"] != fds["2"] {
		t.Errorf("supervisor's stdin, stdout, stderr: %q, %q, %q; want /dev/null, /dev/null and PROGRAM's stderr %q", sup["0"], sup["1"], sup["2"], fds["2"])
	}
	for fd, target := range sup {
		if n, _ := strconv.Atoi(fd); n > 2 && slices.Contains(slices.Collect(maps.Values(bare)), target) {
			t.Errorf("supervisor's fd %s is the caller's %s", fd, target)
		}
	}
	// top and /proc/PID/comm name every thread of it, the runtime's
	// first ones included: named before the Go runtime started.
	comms, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/comm", spid))
	if err != nil || len(comms) == 0 {
		t.Fatalf("supervisor's threads: %v", err)
	}
	for _, c := range comms {
		if b, err := os.ReadFile(c); err == nil && strings.TrimSpace(string(b)) != "vipa-exec-sup" {
			t.Errorf("supervisor's thread %s is named %q, want vipa-exec-sup", c, strings.TrimSpace(string(b)))
		}
	}
	if cwd := readlink(t, fmt.Sprintf("/proc/%d/cwd", spid)); cwd != "/" {
		t.Errorf("supervisor's directory %s, want /", cwd)
	}
	if _, err := w4.WriteString("go\n"); err != nil {
		t.Fatal(err)
	}
	res := p.Wait(t)
	wantOK(t, "program", res)
	e.supervisorGone(res)
}

// noPrestart makes vipa-exec start its supervisor the fallback way, after
// the policy is read, instead of in its C constructor.
const noPrestart = "_VIPA_EXEC_PRESTART=off"

// readlink is the target of the symbolic link path; a test failure if none.
func readlink(t *testing.T, path string) string {
	t.Helper()
	target, err := os.Readlink(path)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Clean(target)
}
