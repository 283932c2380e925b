//go:build linux

package tests

import (
	"debug/buildinfo"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestIntegrationLauncher checks vipa-exec as a launcher: PROGRAM keeps the
// pid, its exit status and death by signal pass through, the supervisor
// exits by itself, and the command line works as documented.
func TestIntegrationLauncher(t *testing.T) {
	e := newEnv(t)
	pol := e.policy(standardPolicy)

	t.Run("program keeps the pid", func(t *testing.T) {
		e := e.with(t)
		res := e.wrapped(pol, "/bin/sh", "-c", "echo $$")
		wantOK(t, "sh", res)
		if got, want := strings.TrimSpace(res.Stdout), fmt.Sprint(res.Pid); got != want {
			t.Errorf("program's pid %s, want vipa-exec's pid %s", got, want)
		}
	})

	t.Run("exit status passes through", func(t *testing.T) {
		e := e.with(t)
		for _, code := range []int{0, 1, 7, 255} {
			res := e.wrapped(pol, "/bin/sh", "-c", fmt.Sprintf("exit %d", code))
			if res.Exit != code || res.Signal != 0 {
				t.Errorf("exit %d: got %v", code, res)
			}
		}
	})

	t.Run("death by signal passes through", func(t *testing.T) {
		e := e.with(t)
		for _, sig := range []unix.Signal{unix.SIGTERM, unix.SIGKILL, unix.SIGUSR1} {
			res := e.wrapped(pol, "/bin/sh", "-c", fmt.Sprintf("kill -%d $$", int(sig)))
			if res.Signal != sig {
				t.Errorf("kill -%d $$: got %v, want death by %v", int(sig), res, sig)
			}
		}
	})

	t.Run("signal sent from outside", func(t *testing.T) {
		e := e.with(t)
		cmd := e.command(e.vipa(pol, "/bin/sh", "-c", "echo ready; exec sleep 300")...)
		p := testutil.Start(t, cmd)
		if got := p.Line(t); got != "ready" {
			t.Fatalf("first line %q, want ready", got)
		}
		_ = p.Cmd.Process.Signal(unix.SIGTERM)
		res := p.Wait(t)
		if res.Signal != unix.SIGTERM {
			t.Errorf("after SIGTERM: got %v, want death by SIGTERM", res)
		}
		e.supervisorGone(res)
	})

	t.Run("supervisor lives while the program runs", func(t *testing.T) {
		e := e.with(t)
		cmd := e.command(e.vipa(pol, "/bin/sh", "-c", "echo $$; read x")...)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		p := testutil.Start(t, cmd)
		if got, want := p.Line(t), fmt.Sprint(p.Pid()); got != want {
			t.Errorf("program's pid %s, want %s", got, want)
		}
		spid := testutil.WaitSupervisor(t, p.Pid())
		if spid == p.Pid() {
			t.Errorf("supervisor pid %d is the program's own", spid)
		}
		ppid, sid := procStat(t, spid)
		if ppid == p.Pid() {
			t.Errorf("supervisor %d is a child of the program", spid)
		}
		if sid != spid {
			t.Errorf("supervisor %d: session id %d, want its own session (setsid)", spid, sid)
		}
		if _, err := io.WriteString(stdin, "done\n"); err != nil {
			t.Fatal(err)
		}
		_ = stdin.Close()
		res := p.Wait(t)
		wantOK(t, "program", res)
		e.supervisorGone(res)
	})

	t.Run("--help", func(t *testing.T) {
		e := e.with(t)
		res := e.run(e.vipaExec, "--help")
		wantOK(t, "--help", res)
		if !strings.Contains(res.Stdout, "--policy") || !strings.Contains(res.Stdout, "PROGRAM") {
			t.Errorf("--help stdout does not show the usage (--policy, PROGRAM):\n%s", res.Stdout)
		}
	})

	t.Run("-h", func(t *testing.T) {
		e := e.with(t)
		res := e.run(e.vipaExec, "-h")
		wantOK(t, "-h", res)
		if !strings.Contains(res.Stdout, "--policy") {
			t.Errorf("-h stdout does not show the usage:\n%s", res.Stdout)
		}
	})

	t.Run("--version", func(t *testing.T) {
		e := e.with(t)
		res := e.run(e.vipaExec, "--version")
		wantOK(t, "--version", res)
		if strings.TrimSpace(res.Stdout) == "" {
			t.Errorf("--version printed nothing on stdout")
		}
		if os.Getenv("VIPA_EXEC") != "" {
			return // somebody else's build, with its own version
		}
		// What the toolchain stamped in a plain go build (the module's
		// version, or the checkout's revision) is what --version names.
		info, err := buildinfo.ReadFile(e.vipaExec)
		if err != nil {
			t.Fatalf("build info of %s: %v", e.vipaExec, err)
		}
		want := info.Main.Version
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && (want == "" || want == "(devel)") {
				want = s.Value[:min(12, len(s.Value))]
			}
		}
		if want == "" || want == "(devel)" {
			t.Logf("the toolchain stamped no version or revision (no VCS here): nothing to compare")
		} else if !strings.Contains(res.Stdout, want) {
			t.Errorf("--version printed %q, want the stamped %s", res.Stdout, want)
		}
	})

	t.Run("unknown option", func(t *testing.T) {
		e := e.with(t)
		marker := filepath.Join(e.dir, "unknown-option-started")
		res := e.run(e.vipaExec, "--polcy", pol, "/bin/sh", "-c", `touch "$0"`, marker)
		if res.Exit != 2 {
			t.Errorf("exit %d, want 2: %v", res.Exit, res)
		}
		if want := "vipa-exec: unknown option --polcy (did you mean --policy?) (see vipa-exec --help)\n"; res.Stderr != want {
			t.Errorf("stderr %q, want %q", res.Stderr, want)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Errorf("the program was started")
		}
	})

	// A login through a supervised sshd that runs vipa-exec again: one line
	// saying what happened and what to do, and PROGRAM not started.
	for _, outer := range []string{"detached", "parent"} {
		for _, inner := range []string{"detached", "parent"} {
			t.Run("nested/"+outer+"/"+inner, func(t *testing.T) {
				e := e.with(t)
				marker := filepath.Join(e.dir, "nested-started")
				argv := e.supervised(outer, pol, e.supervised(inner, pol, "/bin/sh", "-c", `touch "$0"`, marker)...)
				res := e.run(argv...)
				if res.Exit != 2 {
					t.Errorf("exit %d, want 2: %v", res.Exit, res)
				}
				lines := testutil.Lines(res.Stderr)
				if len(lines) != 1 || !strings.HasPrefix(lines[0], "vipa-exec: this process already runs under vipa-exec") {
					t.Errorf("stderr %q, want one line that says it runs under vipa-exec already", res.Stderr)
				}
				if _, err := os.Stat(marker); err == nil {
					t.Errorf("the program was started")
				}
				e.supervisorGone(res)
			})
		}
	}

	// Under a filter without a listener (a container's, systemd's
	// SystemCallFilter=), vipa-exec is not nested: it loads its own.
	t.Run("under another seccomp filter", func(t *testing.T) {
		e := e.with(t)
		withFilter := testutil.BuildC(t, "tests/clients/withfilter/withfilter.c")
		for _, mode := range []string{"detached", "parent"} {
			res := e.run(append([]string{withFilter}, e.supervised(mode, pol, cClient(t), "-w", dst4.String(), "8080")...)...)
			wantOK(t, mode+" under another filter", res)
			wantLocal(t, mode+" under another filter", res, vipa4)
		}
	})

	t.Run("no program", func(t *testing.T) {
		e := e.with(t)
		res := e.run(e.vipaExec, "-p", pol)
		if res.Exit != 2 {
			t.Errorf("exit %d, want 2: %v", res.Exit, res)
		}
	})

	t.Run("-- ends the options", func(t *testing.T) {
		e := e.with(t)
		res := e.run(e.vipaExec, "-p", pol, "--", "/bin/echo", "--help", "-p", "x")
		e.supervisorGone(res)
		wantOK(t, "echo", res)
		if got, want := res.Stdout, "--help -p x\n"; got != want {
			t.Errorf("stdout %q, want %q", got, want)
		}
	})

	t.Run("the first non-option ends the options", func(t *testing.T) {
		e := e.with(t)
		res := e.run(e.vipaExec, "--policy", pol, "/bin/echo", "-u", "nobody", "--", "-h")
		e.supervisorGone(res)
		wantOK(t, "echo", res)
		if got, want := res.Stdout, "-u nobody -- -h\n"; got != want {
			t.Errorf("stdout %q, want %q", got, want)
		}
	})

	t.Run("program not found", func(t *testing.T) {
		e := e.with(t)
		res := e.run(e.vipaExec, "-p", pol, filepath.Join(e.dir, "no-such-program"))
		if res.Exit == 0 || res.Signal != 0 {
			t.Errorf("want a failure exit: %v", res)
		}
		if len(testutil.Lines(res.Stderr)) == 0 {
			t.Errorf("no message on stderr")
		}
		e.supervisorGone(res)
	})
}

// procStat reads the parent and the session of pid from /proc.
func procStat(t *testing.T, pid int) (ppid, sid int) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// "pid (comm) state ppid pgrp session ...": comm may hold spaces and
	// parentheses, so read after the last ')'.
	s := string(b)
	var state byte
	var pgrp int
	if _, err := fmt.Sscanf(s[strings.LastIndexByte(s, ')')+2:], "%c %d %d %d", &state, &ppid, &pgrp, &sid); err != nil {
		t.Fatalf("/proc/%d/stat: %v", pid, err)
	}
	return ppid, sid
}
