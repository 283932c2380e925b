//go:build linux

package tests

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// statusFields parses --status output: "KEY VALUE" lines, with continuation
// lines (no key) appended to the last key's values.
func statusFields(t *testing.T, out string) map[string][]string {
	t.Helper()
	f := map[string][]string{}
	key := ""
	for _, line := range testutil.Lines(out) {
		if len(line) < 12 {
			t.Fatalf("short --status line %q", line)
		}
		if k := strings.TrimSpace(line[:12]); k != "" {
			key = k
		}
		f[key] = append(f[key], line[12:])
	}
	return f
}

// pySquatter listens on the abstract name of pid argv[1] and answers, twice,
// a report naming as supervisor its own pid plus argv[2], with bound
// argv[3] and error argv[4].
const pySquatter = `
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind("\0vipa-exec/" + sys.argv[1])
s.listen()
print("ready", flush=True)
for _ in range(2):
    c, _ = s.accept()
    r = {"supervisor": os.getpid() + int(sys.argv[2]), "program": int(sys.argv[1]), "mode": "detached", "counters": {"bound": int(sys.argv[3])}}
    if sys.argv[4]:
        r["error"] = sys.argv[4]
    c.sendall(json.dumps(r).encode())
    c.close()
`

// TestIntegrationStatus: vipa-exec --status PID finds the supervisor of a
// program, of its descendants and by its own pid, in both modes, and prints
// its pid, policy file, uptime and counters; it refuses other users and
// says when nothing serves PID.
func TestIntegrationStatus(t *testing.T) {
	e := newEnv(t)
	client := cClient(t)
	for _, mode := range []string{"detached", "parent"} {
		t.Run(mode, func(t *testing.T) {
			e := e.with(t)
			pol := e.policy(standardPolicy)
			// Two matched connections, one no rule matches; then a child
			// that waits, and the program waits for stdin.
			script := client + " -w " + dst4.String() + " 8080 >/dev/null; " +
				client + " -w " + dst4.String() + " 8080 >/dev/null; " +
				client + " -w " + other4.String() + " 8080 >/dev/null; " +
				`sleep 300 & echo $$ $!; read x; kill $!`
			cmd := e.command(e.supervised(mode, pol, "/bin/sh", "-c", script)...)
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			p := testutil.Start(t, cmd)
			var program, child int
			if _, err := fmt.Sscanf(p.Line(t), "%d %d", &program, &child); err != nil {
				t.Fatal(err)
			}
			supervisor := p.Pid() // parent mode: vipa-exec itself
			if mode == "detached" {
				supervisor = testutil.WaitSupervisor(t, program)
			}

			for _, pid := range []int{program, child, supervisor} {
				res := e.run(e.vipaExec, "--status", strconv.Itoa(pid))
				wantOK(t, "--status", res)
				f := statusFields(t, res.Stdout)
				want := map[string]string{
					"program":    strconv.Itoa(program),
					"supervisor": fmt.Sprintf("%d (%s)", supervisor, mode),
					"bound":      "2",
					"failed":     "0",
					"left alone": "1 no rule",
					"per source": fmt.Sprintf("2 %v (rule %s:2)", vipa4, pol),
					"calls":      "connect 3, bind 0, sendto 0, sendmsg 0, sendmmsg 0",
				}
				for k, v := range want {
					if got := strings.Join(f[k], "|"); got != v {
						t.Errorf("--status %d: %s %q, want %q\n%s", pid, k, got, v, res.Stdout)
					}
				}
				if got := strings.Join(f["policy"], ""); !strings.HasPrefix(got, pol+", loaded ") || !strings.HasSuffix(got, ", 0 reloads") {
					t.Errorf("--status %d: policy %q, want %s, its load time and 0 reloads", pid, got, pol)
				}
				if len(f["uptime"]) != 1 || !strings.Contains(f["uptime"][0], "s (since ") {
					t.Errorf("--status %d: uptime %q", pid, f["uptime"])
				}
				_, descendant := f["pid"]
				if descendant != (pid == child) {
					t.Errorf("--status %d: pid line %q; want one only for the descendant %d", pid, f["pid"], child)
				}
			}

			// A reload shows: same rules, new bytes.
			if err := os.WriteFile(pol, []byte(standardPolicy+"# edited\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			testutil.WaitFor(t, "--status showing the reload of "+pol, func() bool {
				res := e.run(e.vipaExec, "--status", strconv.Itoa(program))
				return strings.Contains(res.Stdout, ", 1 reload\n")
			})

			// Another user is refused; outside the namespace root's
			// supervisor is found all the same, at its socket path.
			res := e.run(asNobody(e.vipaExec, "--status", strconv.Itoa(program))...)
			if res.Exit != 2 || !strings.Contains(res.Stderr, "runs as root; ask as root (sudo vipa-exec --status "+strconv.Itoa(program)+")") || res.Stdout != "" {
				t.Errorf("--status as nobody: %v, want exit 2 and a refusal that says to ask as root", res)
			}
			res = testutil.Run(t, exec.Command(e.vipaExec, "--status", strconv.Itoa(program)))
			if res.Exit != 0 || strings.Join(statusFields(t, res.Stdout)["program"], "") != strconv.Itoa(program) {
				t.Errorf("--status from outside the namespace: %v, want the report", res)
			}

			_ = stdin.Close()
			wantOK(t, "program", p.Wait(t))
			testutil.WaitSupervisorGone(t, program)
			res = e.run(e.vipaExec, "--status", strconv.Itoa(program))
			if res.Exit != 1 || !strings.Contains(res.Stderr, "no process") {
				t.Errorf("--status of a finished program: %v, want exit 1, no process", res)
			}
		})
	}

	// Abstract names are anybody's: another user who takes a program's
	// name first must not pass off a report of their own, nor an error
	// with escape sequences for root's terminal.
	t.Run("a squatter's report is refused", func(t *testing.T) {
		testutil.RequireTool(t, python)
		e := e.with(t)
		program := testutil.Start(t, e.command("sleep", "300"))
		for _, lie := range []struct {
			name   string
			root   bool   // the squatter runs as root, else as nobody
			offset int    // added to the squatter's own pid in its report
			errMsg string // its report's error
			want   string
		}{
			{"nobody", false, 0, "", "neither root nor you"},
			{"nobody's escape sequences", false, 0, "\x1b]0;pwned\x07\x1b[2J", "neither root nor you"},
			{"root, naming another supervisor", true, 1, "", "which says it is supervisor"},
			{"root's escape sequences", true, 0, "\x1b]0;pwned\x07\x1b[2J", "?]0;pwned??[2J"},
		} {
			argv := []string{python, "-c", pySquatter, strconv.Itoa(program.Pid()), strconv.Itoa(lie.offset), "31337", lie.errMsg}
			if !lie.root {
				argv = asNobody(argv...)
			}
			sq := testutil.Start(t, e.command(argv...))
			if got := sq.Line(t); got != "ready" {
				t.Fatalf("squatter said %q", got)
			}
			res := e.run(e.vipaExec, "--status", strconv.Itoa(program.Pid()))
			if res.Exit != 2 || !strings.Contains(res.Stderr, lie.want) || res.Stdout != "" || strings.ContainsRune(res.Stderr, 0x1b) {
				t.Errorf("--status of a squatted name (%s): %v, want exit 2, %q and no escape", lie.name, res, lie.want)
			}
			// The squatter ends by itself after its accepts: it may be gone.
			if err := sq.Cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
				t.Fatal(err)
			}
			sq.Wait(t)
		}
	})

	// A program that root's vipa-exec runs as nobody can take the names
	// of its own children: root's --status must not print its report as
	// that of their supervisor.
	t.Run("a -u nobody program forging its child's report", func(t *testing.T) {
		testutil.RequireTool(t, python)
		e := e.with(t)
		pol := e.policy(standardPolicy)
		script := `sleep 300 & echo $!; exec ` + python + ` -c "$0" $! 0 31337 ""`
		p := testutil.Start(t, e.command(e.exec("-p", pol, "-u", "nobody", "/bin/sh", "-c", script, pySquatter)...))
		child := p.Line(t)
		if pid, err := strconv.Atoi(child); err == nil {
			// The program's child outlives it: end it with the test.
			t.Cleanup(func() { _ = unix.Kill(pid, unix.SIGKILL) })
		}
		if got := p.Line(t); got != "ready" {
			t.Fatalf("program said %q", got)
		}
		res := e.run(e.vipaExec, "--status", child)
		if res.Exit == 0 || strings.Contains(res.Stdout, "31337") {
			t.Errorf("--status %s: %v; want a refusal, not the forged report", child, res)
		}
		// The squatter ends by itself after its accepts: it may be gone.
		if err := p.Cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Fatal(err)
		}
		p.Wait(t)
	})

	t.Run("no supervisor, bad pid", func(t *testing.T) {
		e := e.with(t)
		res := e.run(e.vipaExec, "--status", "1")
		if res.Exit != 1 || !strings.Contains(res.Stderr, "no vipa-exec supervisor serves pid 1") {
			t.Errorf("--status 1: %v, want exit 1 and no supervisor", res)
		}
		for _, arg := range []string{"abc", "0", "-5"} {
			res := e.run(e.vipaExec, "--status", arg)
			if res.Exit != 2 || len(testutil.Lines(res.Stderr)) != 1 {
				t.Errorf("--status %s: %v, want exit 2 and one line", arg, res)
			}
		}
		res = e.run(e.vipaExec, "--status", "1", "-p", "/etc/p.toml")
		if res.Exit != 2 {
			t.Errorf("--status with --policy: %v, want exit 2", res)
		}
	})
}

// pyDaemon daemonizes the way a Type=forking service does (fork, setsid,
// fork, the parents exit), then, as the daemon, connects to argv[1]:8080,
// hands its pid to the first parent, which prints it and exits, and waits
// for a signal with its stdio on /dev/null.
const pyDaemon = `
import os, signal, socket, sys
r, w = os.pipe()
if os.fork():
    os.close(w)
    print(os.read(r, 64).decode(), flush=True)
    os._exit(0)
os.close(r)
os.setsid()
if os.fork():
    os._exit(0)
socket.create_connection((sys.argv[1], 8080)).close()
null = os.open("/dev/null", os.O_RDWR)
for fd in range(3):
    os.dup2(null, fd)
os.write(w, str(os.getpid()).encode())
os.close(w)
signal.pause()
`

// listHeader is the header of the --status listing, a field per column.
var listHeader = []string{"SUPERVISOR", "PROGRAM", "UID", "MODE", "ENGINE", "UPTIME", "CALLS", "BOUND", "FAILED", "LEFT", "ALONE", "POLICY"}

// listed runs vipa-exec --status (the listing) in e and returns the fields
// of the line of supervisor, one per column (the policy file's path has no
// space): supervisor, program, uid, mode, engine, uptime, calls, bound,
// failed, left alone, policy.
func listed(t *testing.T, e *env, supervisor int) []string {
	t.Helper()
	res := e.run(e.vipaExec, "--status")
	wantOK(t, "--status", res)
	if l := testutil.Lines(res.Stdout); len(l) == 0 || !slices.Equal(strings.Fields(l[0]), listHeader) {
		t.Fatalf("--status: want the header %q:\n%s", listHeader, res.Stdout)
	}
	f := listLine(res.Stdout, supervisor)
	if f == nil {
		t.Fatalf("--status: no line for supervisor %d:\n%s", supervisor, res.Stdout)
	}
	return f
}

// listLine returns the fields of the line of supervisor in the --status
// listing out, nil if there is none.
func listLine(out string, supervisor int) []string {
	for _, l := range testutil.Lines(out) {
		if f := strings.Fields(l); len(f) == len(listHeader)-1 && f[0] == strconv.Itoa(supervisor) {
			return f
		}
	}
	return nil
}

// TestIntegrationStatusDaemon: a daemon that forked away from the program
// (reparented, its session its own) is found by --status DAEMON_PID from
// the call it made; --status without a pid lists its supervisor, and
// --status --json prints the documented schema; another user asking gets
// a refusal in plain words.
func TestIntegrationStatusDaemon(t *testing.T) {
	testutil.RequireTool(t, python)
	e := newEnv(t)
	pol := e.policy(standardPolicy)
	cmd := e.command(e.exec("-p", pol, python, "-c", pyDaemon, dst4.String())...)
	stderr, err := os.Create(t.TempDir() + "/stderr") // the supervisor keeps it
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stderr.Close() }()
	cmd.Stderr = stderr
	p := testutil.Start(t, cmd)
	program := p.Pid()
	daemon, err := strconv.Atoi(p.Line(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = unix.Kill(daemon, unix.SIGTERM)
		testutil.WaitSupervisorGone(t, program)
	})
	wantOK(t, "program", p.Wait(t))
	supervisor := testutil.WaitSupervisor(t, program)
	wantSources(t, "the daemon's connection", e.rec4, map[netip.Addr]int{vipa4: 1})

	res := e.run(e.vipaExec, "--status", strconv.Itoa(daemon))
	wantOK(t, "--status DAEMON", res)
	f := statusFields(t, res.Stdout)
	if got, want := strings.Join(f["program"], ""), strconv.Itoa(program); got != want {
		t.Errorf("--status %d: program %q, want %s\n%s", daemon, got, want, res.Stdout)
	}
	if got, want := strings.Join(f["supervisor"], ""), fmt.Sprintf("%d (detached)", supervisor); got != want {
		t.Errorf("--status %d: supervisor %q, want %q", daemon, got, want)
	}

	// The listing: this supervisor's line among those of the host.
	if f := listed(t, e, supervisor); !slices.Equal(f[1:5], []string{strconv.Itoa(program), "0", "detached", "seccomp"}) ||
		f[6] != "1" || f[7] != "1" || f[10] != pol {
		t.Errorf("--status line %q: want program %d, uid 0, detached, seccomp, 1 call, 1 bound, policy %s", f, program, pol)
	}

	// The JSON, by the schema of docs/vipa-exec.8.
	res = e.run(e.vipaExec, "--status", strconv.Itoa(daemon), "--json")
	wantOK(t, "--status DAEMON --json", res)
	var r struct {
		Schema     int `json:"schema"`
		Supervisor int `json:"supervisor"`
		Program    int `json:"program"`
		Counters   struct {
			Calls     map[string]uint64 `json:"calls"`
			Bound     uint64            `json:"bound"`
			LeftAlone map[string]uint64 `json:"left_alone"`
		} `json:"counters"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &r); err != nil {
		t.Fatalf("--status --json: %v\n%s", err, res.Stdout)
	}
	if r.Schema != 1 || r.Supervisor != supervisor || r.Program != program || r.Counters.Bound != 1 ||
		r.Counters.Calls["connect"] != 1 || len(r.Counters.Calls) != 5 {
		t.Errorf("--status --json: %+v, want schema 1, supervisor %d, program %d, 1 connect, 1 bound", r, supervisor, program)
	}
	if n, ok := r.Counters.LeftAlone["no_rule"]; !ok || n != 0 {
		t.Errorf("--status --json: left_alone %v, want no_rule: 0 among them", r.Counters.LeftAlone)
	}
	res = e.run(e.vipaExec, "--status", "--json")
	var l struct {
		Schema      int               `json:"schema"`
		Supervisors []json.RawMessage `json:"supervisors"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &l); err != nil || res.Exit != 0 || l.Schema != 1 || len(l.Supervisors) == 0 {
		t.Errorf("--status --json: %v, want schema 1 and supervisors (%v)", res, err)
	}

	// Another user: root's supervisor refuses, in plain words; the
	// listing has none of root's.
	res = e.run(asNobody(e.vipaExec, "--status", strconv.Itoa(supervisor))...)
	want := fmt.Sprintf("vipa-exec: --status %d: the supervisor (pid %d) runs as root; ask as root (sudo vipa-exec --status %d)\n", supervisor, supervisor, supervisor)
	if res.Exit != 2 || res.Stderr != want || res.Stdout != "" {
		t.Errorf("--status as nobody: %v, want exit 2 and %q", res, want)
	}
	res = e.run(asNobody(e.vipaExec, "--status")...)
	if res.Exit != 1 || strings.Contains(res.Stdout, strconv.Itoa(supervisor)) {
		t.Errorf("--status as nobody: %v, want exit 1 and no root supervisor", res)
	}
}

// TestIntegrationStatusListUsers: root's --status lists the supervisor of
// another user, found at its socket path in that user's runtime directory,
// with its uid; the user's own --status lists it too, and none of root's.
func TestIntegrationStatusListUsers(t *testing.T) {
	e := newEnv(t)
	// A uid of its own, so that no other test's supervisor shares its
	// runtime directory, made here as a login would.
	const uid = 43127
	run := fmt.Sprintf("/run/user/%d", uid)
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(run) })
	if err := os.Chown(run, uid, uid); err != nil {
		t.Fatal(err)
	}
	asUser := func(argv ...string) []string {
		id := strconv.Itoa(uid)
		return append([]string{"setpriv", "--reuid=" + id, "--regid=" + id, "--clear-groups", "--"}, argv...)
	}
	pol := e.policy(standardPolicy)
	// start runs a program that prints its pid and waits for stdin to close.
	start := func(argv ...string) (*testutil.Proc, io.Closer, int) {
		cmd := e.command(append(argv, "-p", pol, "/bin/sh", "-c", "echo $$; read x; exit 0")...)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		p := testutil.Start(t, cmd)
		pid, err := strconv.Atoi(p.Line(t))
		if err != nil {
			t.Fatal(err)
		}
		return p, stdin, pid
	}
	root, rootStdin, rootProgram := start(e.exec()...)
	p, stdin, program := start(asUser(e.exec()...)...)
	supervisor := testutil.WaitSupervisor(t, program)
	rootSupervisor := testutil.WaitSupervisor(t, rootProgram)
	testutil.WaitFor(t, "the user's status socket", func() bool {
		_, err := os.Stat(fmt.Sprintf("%s/vipa-exec/status/%d.sock", run, program))
		return err == nil
	})

	// Outside the namespace: only the socket paths find the supervisors.
	res := testutil.Run(t, exec.Command(e.vipaExec, "--status"))
	wantOK(t, "--status", res)
	if f := listLine(res.Stdout, supervisor); f == nil || f[1] != strconv.Itoa(program) || f[2] != strconv.Itoa(uid) {
		t.Errorf("root's --status: line of supervisor %d %q, want program %d, uid %d\n%s", supervisor, f, program, uid, res.Stdout)
	}
	if listLine(res.Stdout, rootSupervisor) == nil {
		t.Errorf("root's --status: no line for root's supervisor %d\n%s", rootSupervisor, res.Stdout)
	}
	res = e.run(asUser(e.vipaExec, "--status")...)
	wantOK(t, "the user's --status", res)
	if f := listLine(res.Stdout, supervisor); f == nil || listLine(res.Stdout, rootSupervisor) != nil {
		t.Errorf("the user's --status: want the line of %d and none for root's %d\n%s", supervisor, rootSupervisor, res.Stdout)
	}

	_ = stdin.Close()
	wantOK(t, "the user's program", p.Wait(t))
	testutil.WaitSupervisorGone(t, program)
	_ = rootStdin.Close()
	wantOK(t, "root's program", root.Wait(t))
	testutil.WaitSupervisorGone(t, rootProgram)
}
