//go:build linux

package tests

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// supervised is the argv that runs argv under vipa-exec --supervise=mode.
func (e *env) supervised(mode, policy string, argv ...string) []string {
	return append(e.exec("--supervise="+mode, "-p", policy), argv...)
}

// parent is the argv that runs argv under vipa-exec --supervise=parent.
func (e *env) parent(policy string, argv ...string) []string {
	return e.supervised("parent", policy, argv...)
}

// TestIntegrationSuperviseParent: with --supervise=parent, vipa-exec stays
// PROGRAM's parent and serves it; PROGRAM and its descendants are rewritten
// as in the detached mode, signals are forwarded, the status is PROGRAM's.
func TestIntegrationSuperviseParent(t *testing.T) {
	e := newEnv(t)
	pol := e.policy(standardPolicy)

	t.Run("clients", func(t *testing.T) {
		for _, c := range clients() {
			if !slices.Contains([]string{"go-static", "busybox-wget", "c-dynamic", "python3"}, c.name) {
				continue
			}
			for _, fam := range []struct{ dst, vipa netip.Addr }{{dst4, vipa4}, {dst6, vipa6}} {
				t.Run(c.name+"/"+fam.dst.String(), func(t *testing.T) {
					e := e.with(t)
					rec := e.rec(fam.dst)
					rec.Reset()
					res := e.run(e.parent(pol, c.argv(t, fam.dst)...)...)
					wantOK(t, "under vipa-exec --supervise=parent", res)
					wantSources(t, "under vipa-exec --supervise=parent", rec, map[netip.Addr]int{fam.vipa: 1})
					wantLocal(t, "under vipa-exec --supervise=parent", res, fam.vipa)
				})
			}
		}
	})

	t.Run("program is the child, and no supervisor is detached", func(t *testing.T) {
		e := e.with(t)
		res := e.run(e.parent(pol, "/bin/sh", "-c", `echo $PPID $$; pgrep -c -f "^vipa-exec-supervisor ($$|$PPID)\$" || true`)...)
		wantOK(t, "sh", res)
		var ppid, pid, detached int
		if _, err := fmt.Sscanf(res.Stdout, "%d %d\n%d", &ppid, &pid, &detached); err != nil {
			t.Fatalf("output %q: %v", res.Stdout, err)
		}
		if ppid != res.Pid || pid == res.Pid {
			t.Errorf("program pid %d, parent %d; want a child of vipa-exec %d", pid, ppid, res.Pid)
		}
		if detached != 0 {
			t.Errorf("%d vipa-exec-supervisor processes serve this program, want none in parent mode", detached)
		}
	})

	t.Run("exit status, and 128+N for death by signal N", func(t *testing.T) {
		e := e.with(t)
		for script, want := range map[string]int{
			"exit 0": 0, "exit 7": 7, "exit 255": 255,
			"kill -TERM $$": 128 + 15, "kill -KILL $$": 128 + 9, "kill -USR1 $$": 128 + 10,
		} {
			res := e.run(e.parent(pol, "/bin/sh", "-c", script)...)
			if res.Exit != want || res.Signal != 0 {
				t.Errorf("%s: got %v, want exit status %d", script, res, want)
			}
		}
	})

	t.Run("signals are forwarded", func(t *testing.T) {
		testutil.RequireTool(t, python)
		e := e.with(t)
		// Handlers for every signal sent below, those vipa-exec must keep
		// (SIGCHLD, SIGURG, SIGPIPE) included; SIGTERM ends the program.
		// os.write, not print: Python may run a handler inside print's
		// flush, where a second print fails as a reentrant call.
		const recorder = `
import os, signal, sys
def h(n, f):
    os.write(1, b"got %d\n" % n)
    if n == signal.SIGTERM:
        sys.exit(5)
for n in sys.argv[1:]:
    signal.signal(int(n), h)
os.write(1, b"ready\n")
while True:
    signal.pause()
`
		forwarded := []unix.Signal{unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGUSR1,
			unix.SIGUSR2, unix.SIGALRM, unix.SIGWINCH, unix.SIGCONT, unix.SIGTSTP,
			unix.SIGTTIN, unix.SIGTTOU, unix.SIGXCPU, unix.SIGPROF, 34, 35, 50, 64}
		kept := []unix.Signal{unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE}
		argv := []string{python, "-c", recorder}
		for _, s := range slices.Concat(forwarded, kept, []unix.Signal{unix.SIGTERM}) {
			argv = append(argv, strconv.Itoa(int(s)))
		}
		p := testutil.Start(t, e.command(e.parent(pol, argv...)...))
		if got := p.Line(t); got != "ready" {
			t.Fatalf("program said %q, want ready", got)
		}
		send := func(s unix.Signal) {
			if err := unix.Kill(p.Pid(), s); err != nil {
				t.Fatalf("kill -%d %d: %v", int(s), p.Pid(), err)
			}
		}
		for _, s := range forwarded {
			send(s)
			if got, want := p.Line(t), fmt.Sprint("got ", int(s)); got != want {
				t.Errorf("after signal %d to vipa-exec the program said %q, want %q", int(s), got, want)
			}
		}
		// A kept signal followed by SIGUSR2: the program must see only the
		// SIGUSR2.
		for _, s := range kept {
			send(s)
			send(unix.SIGUSR2)
			if got, want := p.Line(t), fmt.Sprint("got ", int(unix.SIGUSR2)); got != want {
				t.Errorf("signal %d reached the program: it said %q, want %q", int(s), got, want)
			}
		}
		send(unix.SIGTERM)
		if got, want := p.Line(t), fmt.Sprint("got ", int(unix.SIGTERM)); got != want {
			t.Errorf("after SIGTERM the program said %q, want %q", got, want)
		}
		res := p.Wait(t)
		if res.Exit != 5 {
			t.Errorf("vipa-exec exited with %v, want the program's 5", res)
		}
		if rest := strings.TrimSpace(res.Stdout); strings.Count(rest, "got ") != len(forwarded)+len(kept)+1 {
			t.Errorf("the program saw other signals than those forwarded:\n%s", rest)
		}
	})

	t.Run("orphaned descendants stay covered and are reaped", func(t *testing.T) {
		e := e.with(t)
		e.rec4.Reset()
		// The inner sh is orphaned when the subshell exits: vipa-exec ($V), a
		// subreaper, becomes its parent. It waits for that (a bounded loop
		// on its parent pid: no event announces it), connects, and tells
		// the outer sh through a FIFO, which then waits for vipa-exec to
		// have reaped it.
		inner := `i=0; while [ "$(ps -o ppid= -p $$ | tr -d " ")" != "$V" ] && [ $i -lt 2000 ]; do sleep 0.01; i=$((i+1)); done; ` +
			`echo orphan-parent $(ps -o ppid= -p $$ | tr -d " "); ` + goClient(t) + ` -connect ` + netip.AddrPortFrom(dst4, serverPort).String() + `; echo >"$F"`
		script := `V=$PPID F=$(mktemp -u); export V F; mkfifo "$F"; (/bin/sh -c '` + inner + `' &); read x <"$F"; rm -f "$F"; ` +
			`i=0; while [ "$(ps -o stat= --ppid $V | grep -c Z)" != 0 ] && [ $i -lt 2000 ]; do sleep 0.01; i=$((i+1)); done; ` +
			`echo zombies $(ps -o stat= --ppid $V | grep -c Z)`
		res := e.run(e.parent(pol, "/bin/sh", "-c", script)...)
		wantOK(t, "sh", res)
		lines := testutil.Lines(res.Stdout)
		if len(lines) != 3 {
			t.Fatalf("output %q, want three lines", res.Stdout)
		}
		if want := fmt.Sprint("orphan-parent ", res.Pid); lines[0] != want {
			t.Errorf("orphan says %q, want %q: vipa-exec as its subreaper", lines[0], want)
		}
		if got, _ := localAddr(lines[1]); got != vipa4 {
			t.Errorf("orphan's connection from %q, want %v", lines[1], vipa4)
		}
		if lines[2] != "zombies 0" {
			t.Errorf("%q: vipa-exec left its reparented children unreaped", lines[2])
		}
		wantSources(t, "orphan", e.rec4, map[netip.Addr]int{vipa4: 1})
	})

	t.Run("descendants outliving the program are reported", func(t *testing.T) {
		e := e.with(t)
		// The descendant runs until the test ends it, after vipa-exec exits.
		res := e.run(e.parent(pol, "/bin/sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $!; exit 4")...)
		if pid, err := strconv.Atoi(strings.TrimSpace(res.Stdout)); err == nil {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
		if res.Exit != 4 {
			t.Errorf("got %v, want exit 4", res)
		}
		if n := strings.Count(res.Stderr, "outlive it"); n != 1 {
			t.Errorf("stderr %q: want one warning that descendants outlive the program", res.Stderr)
		}
		res = e.run(e.parent(pol, "/bin/true")...)
		if res.Exit != 0 || res.Stderr != "" {
			t.Errorf("a program without descendants: %v, want exit 0 and nothing on stderr", res)
		}
	})

	t.Run("SIGTERM to vipa-exec alone (KillMode=mixed) stops the program once", func(t *testing.T) {
		testutil.RequireTool(t, python)
		e := e.with(t)
		const shutdown = `
import os, signal, socket, sys, time
n = 0
# os.write, not print: a second SIGTERM may run this handler inside the
# first one's print, where a second print fails as a reentrant call.
def stop(*_):
    global n
    n += 1
    if n > 1:
        os.write(1, b"second SIGTERM\n")
        return
    time.sleep(0.2)
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
    os.write(1, s.getsockname()[0].encode() + b"\n")
    time.sleep(0.3)
    sys.exit(3)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
while True:
    time.sleep(1)
`
		p := testutil.Start(t, e.command(e.parent(pol, python, "-c", shutdown, dst4.String(), "8080")...))
		if got := p.Line(t); got != "ready" {
			t.Fatalf("program said %q, want ready", got)
		}
		if err := unix.Kill(p.Pid(), unix.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if got := p.Line(t); got != vipa4.String() {
			t.Errorf("connection during shutdown from %q, want %v", got, vipa4)
		}
		res := p.Wait(t)
		if res.Exit != 3 || strings.Contains(res.Stdout, "second") {
			t.Errorf("got %v, want the program's exit status 3 after one SIGTERM", res)
		}
	})

	t.Run("PROGRAM not found, bad --supervise", func(t *testing.T) {
		e := e.with(t)
		res := e.run(e.parent(pol, "/nonexistent/program")...)
		if res.Exit != 127 || len(testutil.Lines(res.Stderr)) != 1 {
			t.Errorf("missing program: %v, want exit 127 and one line", res)
		}
		res = e.run(e.exec("--supervise=child", "-p", pol, "/bin/true")...)
		if res.Exit != 2 || !strings.Contains(res.Stderr, "want auto, detached or parent") {
			t.Errorf("--supervise=child: %v, want exit 2 and the choices", res)
		}
	})
}

// withYama runs argv where /proc/sys/kernel/yama/ptrace_scope reads scope:
// this kernel has no Yama, so a private mount namespace puts the file
// where vipa-exec reads it (over the rest of /proc/sys/kernel, which
// vipa-exec does not read).
func withYama(scope int, argv ...string) []string {
	const script = `mount -t tmpfs yama /proc/sys/kernel && mkdir /proc/sys/kernel/yama &&
echo "$0" > /proc/sys/kernel/yama/ptrace_scope && exec "$@"`
	return append([]string{"unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script, strconv.Itoa(scope)}, argv...)
}

// TestIntegrationSuperviseAuto: under Yama ptrace_scope 1 an unprivileged
// vipa-exec supervises as PROGRAM's parent, saying so in one line; root
// stays detached; the scopes that forbid any supervisor are refused.
func TestIntegrationSuperviseAuto(t *testing.T) {
	testutil.RequireTool(t, "unshare")
	e := newEnv(t)
	pol := e.policy(standardPolicy)
	connect := goClient(t) + " -connect " + netip.AddrPortFrom(dst4, serverPort).String()
	// The program prints its parent and pid, then connects.
	program := []string{"/bin/sh", "-c", "echo $PPID $$; exec " + connect}
	const autoLine = "supervising as PROGRAM's parent (--supervise=parent)"

	parse := func(t *testing.T, res testutil.Result) (ppid, pid int) {
		t.Helper()
		if _, err := fmt.Sscanf(res.Stdout, "%d %d", &ppid, &pid); err != nil {
			t.Fatalf("output %q: %v\n%v", res.Stdout, err, res)
		}
		return ppid, pid
	}

	t.Run("scope 1, unprivileged: parent, one line", func(t *testing.T) {
		e := e.with(t)
		e.rec4.Reset()
		res := e.run(withYama(1, asNobody(e.vipa(pol, program...)...)...)...)
		wantOK(t, "program", res)
		if n := strings.Count(res.Stderr, autoLine); n != 1 {
			t.Errorf("stderr %q: want the line %q once", res.Stderr, autoLine)
		}
		if ppid, pid := parse(t, res); ppid != res.Pid || pid == res.Pid {
			t.Errorf("program %d with parent %d, want a child of vipa-exec %d", pid, ppid, res.Pid)
		}
		wantSources(t, "unprivileged parent mode", e.rec4, map[netip.Addr]int{vipa4: 1})
	})

	t.Run("scope 1, root: detached", func(t *testing.T) {
		e := e.with(t)
		e.rec4.Reset()
		res := e.run(withYama(1, e.vipa(pol, program...)...)...)
		wantOK(t, "program", res)
		if strings.Contains(res.Stderr, autoLine) {
			t.Errorf("root chose the parent mode: %q", res.Stderr)
		}
		if _, pid := parse(t, res); pid != res.Pid {
			t.Errorf("program pid %d, want vipa-exec's %d (detached)", pid, res.Pid)
		}
		wantSources(t, "root under scope 1", e.rec4, map[netip.Addr]int{vipa4: 1})
		e.supervisorGone(res)
	})

	t.Run("scope 0, unprivileged: detached", func(t *testing.T) {
		e := e.with(t)
		res := e.run(withYama(0, asNobody(e.vipa(pol, program...)...)...)...)
		wantOK(t, "program", res)
		if _, pid := parse(t, res); pid != res.Pid || strings.Contains(res.Stderr, autoLine) {
			t.Errorf("program pid %d, want vipa-exec's %d (detached); stderr %q", pid, res.Pid, res.Stderr)
		}
		e.supervisorGone(res)
	})

	for _, tt := range []struct {
		name  string
		scope int
		argv  []string
		want  string
	}{
		{"scope 1, unprivileged, --supervise=detached", 1,
			asNobody(e.supervised("detached", pol, program...)...), "use --supervise=parent"},
		{"scope 2, unprivileged", 2, asNobody(e.vipa(pol, program...)...), "ptrace_scope is 2"},
		{"scope 3, root", 3, e.vipa(pol, program...), "ptrace_scope is 3"},
	} {
		t.Run(tt.name+": refused", func(t *testing.T) {
			e := e.with(t)
			res := e.run(withYama(tt.scope, tt.argv...)...)
			if res.Exit != 2 || res.Stdout != "" || !strings.Contains(res.Stderr, tt.want) {
				t.Errorf("got %v; want exit 2, no program output, and %q on stderr", res, tt.want)
			}
			if n := len(testutil.Lines(res.Stderr)); n != 1 {
				t.Errorf("%d lines on stderr, want one:\n%s", n, res.Stderr)
			}
		})
	}
}
